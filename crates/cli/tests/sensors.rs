//! `liucun serve` and the Sensors Data SDKs (ingest-sensors.md §12): every request recorded from the real SDKs is
//! replayed byte for byte over a socket, and what is stored is read back through the API: each expected event
//! once (resent batches add nothing), merges joining the ids of one person, items quarantined. Then the raw-HTTP
//! checks of §12.5.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

const TOKEN: &str = "lcw_SensorsFixtureToken0000000000000";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_liucun")
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sensors")
}

fn cli(data: &Path, args: &[&str]) -> String {
    let o = Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run liucun");
    assert!(
        o.status.success(),
        "liucun {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A running `liucun serve` with project `sx`, whose write token is the fixtures' token.
struct Server {
    child: Child,
    addr: SocketAddr,
    read_key: String,
    admin_key: String,
}

impl Server {
    fn start(data: &Path) -> Server {
        let admin = cli(data, &["keys", "create-admin"]);
        cli(data, &["projects", "create", "sx"]);
        let read_key = cli(
            data,
            &["keys", "create", "--project", "sx", "--kind", "read"],
        );
        let addr_file = data.with_extension("addr");
        let child = Command::new(bin())
            .arg("--data")
            .arg(data)
            .args([
                "serve",
                "--bind",
                "127.0.0.1:0",
                "--flush-interval",
                "1",
                "--addr-file",
            ])
            .arg(&addr_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start liucun serve");
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(text) = std::fs::read_to_string(&addr_file)
                && let Ok(a) = text.trim().parse()
            {
                break a;
            }
            assert!(Instant::now() < deadline, "server did not start");
            std::thread::sleep(Duration::from_millis(20));
        };
        let server = Server {
            child,
            addr,
            read_key,
            admin_key: admin.clone(),
        };
        let body = json!({"project": "sx", "kind": "write", "token": TOKEN}).to_string();
        let r = server.call(
            "POST",
            "/api/v1/keys",
            &[
                ("Authorization", &format!("Bearer {admin}")),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, 201, "{}", r.text());
        server
    }

    /// Sends raw request bytes and reads one answer.
    fn raw(&self, request: &[u8]) -> Answer {
        let mut s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(request).expect("send");
        read_answer(&mut s)
    }

    fn call(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Answer {
        let mut req = format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.raw(&bytes)
    }

    fn api(&self, target: &str) -> Value {
        let auth = format!("Bearer {}", self.read_key);
        let r = self.call("GET", target, &[("Authorization", &auth)], b"");
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        serde_json::from_slice(&r.body).unwrap()
    }

    fn events(&self) -> Vec<Value> {
        let v = self.api("/api/v1/projects/sx/events?limit=10000");
        assert_eq!(v["truncated"], false);
        v["events"].as_array().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 answer with a `Content-Length` body (the connection may stay open).
fn read_answer(s: &mut TcpStream) -> Answer {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = s.read(&mut chunk).expect("read the answer");
        assert!(n > 0, "connection closed before the answer's headers");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).expect("read the body");
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The fixtures: name, description, raw request.
fn recorded() -> Vec<(String, Value, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let desc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let raw = std::fs::read(path.with_extension("http")).unwrap();
        out.push((desc["name"].as_str().unwrap().to_string(), desc, raw));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 46);
    out
}

/// The identity of a stored or expected event: (distinct id, event, Sensors type, track id or "").
type Key = (String, String, String, String);

#[test]
fn recorded_sdk_requests_store_their_expectations_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let fixtures = recorded();

    // Replayed once each, then again where every message carries a `_track_id` (the resend case).
    let mut want: BTreeMap<Key, u32> = BTreeMap::new();
    let mut times: BTreeMap<Key, Vec<(i64, Option<i64>)>> = BTreeMap::new();
    let mut n_quarantined = 0;
    let sent_from = now_ms();
    for (name, desc, raw) in &fixtures {
        let deterministic = desc["expect"].as_array().unwrap().iter().all(|e| {
            e.get("quarantine").is_some() || e["uuid"].as_str().unwrap().starts_with("v5")
        });
        let sends = if deterministic { 2 } else { 1 };
        for _ in 0..sends {
            let a = server.raw(raw);
            assert_eq!(a.status, 200, "{name}: {}", a.text());
            if desc["request"]["method"] == "GET" && desc["request"]["path"] == "/sa.gif" {
                assert_eq!(a.header("content-type"), Some("image/gif"), "{name}");
            }
        }
        for (msg, e) in desc["messages"]
            .as_array()
            .unwrap()
            .iter()
            .zip(desc["expect"].as_array().unwrap())
        {
            if e.get("quarantine").is_some() {
                n_quarantined += 1;
                continue;
            }
            let track_id = msg
                .get("_track_id")
                .map_or(String::new(), |t| t.to_string());
            let key = (
                e["distinct_id"].as_str().unwrap().to_string(),
                e["event"].as_str().unwrap().to_string(),
                msg["type"].as_str().unwrap().to_string(),
                track_id.clone(),
            );
            times
                .entry(key.clone())
                .or_default()
                .push((e["time"].as_i64().unwrap(), e["sent_at"].as_i64()));
            let n = want.entry(key).or_insert(0);
            // A message with a `_track_id` is stored once however often it is sent; others once per send.
            *n = if track_id.is_empty() { *n + 1 } else { 1 };
        }
    }
    let sent_to = now_ms();

    let mut got: BTreeMap<Key, u32> = BTreeMap::new();
    for e in server.events() {
        let p = &e["properties"];
        let key = (
            e["distinct_id"].as_str().unwrap().to_string(),
            e["event"].as_str().unwrap().to_string(),
            p["$sensors_type"].as_str().unwrap_or("").to_string(),
            p.get("$sensors_track_id")
                .map_or(String::new(), |t| t.to_string()),
        );
        *got.entry(key.clone()).or_insert(0) += 1;
        // Web and app times move by the skew of their send; Python times are stored as sent.
        let stored = jiff_ms(e["timestamp"].as_str().unwrap());
        let Some(candidates) = times.get(&key) else {
            panic!("unexpected stored event {key:?}");
        };
        let fits = |(time, sent): &(i64, Option<i64>)| match sent {
            None => stored == *time,
            Some(sent) => {
                let skew = time - sent;
                (sent_from + skew - 1..=sent_to + skew + 1).contains(&stored)
            }
        };
        assert!(
            candidates.iter().any(fits),
            "{key:?}: stored at {stored}, expected one of {candidates:?} (sent between {sent_from} and {sent_to})"
        );
    }
    assert_eq!(got, want);

    // Items are quarantined with their reason.
    let q = server.api("/api/v1/projects/sx/quarantine?reason=unsupported_event_type");
    assert!(
        q.to_string().matches("unsupported_event_type").count() >= n_quarantined,
        "{q}"
    );

    // Sign-ups, binds and logged-in messages join the devices of u-42 into one identified person.
    let person = server.api("/api/v1/projects/sx/persons/u-42");
    assert_eq!(person["identified"], true, "{person}");
    let ids: Vec<&str> = person["distinct_ids"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for id in [
        "u-42",
        "$identity_mobile+13800000000",
        "0f3c2a9e-5b1d-4c7e-9a61-2d8e4b7f1c05",
        "1a2450e68313ec-0b1b449e2a47c78-16462c6e-27266573-1a2450e6832f9f",
        "1796454962302-9575445-0555e9aa74ba424-26880066",
    ] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    let p77 = server.api("/api/v1/projects/sx/persons/a-77");
    assert_eq!(
        p77["person_id"],
        server.api("/api/v1/projects/sx/persons/u-77")["person_id"]
    );

    // §5.4: each unbind (one identity each, from the Web and Python fixtures) is in the identity log, not applied.
    let inspection: Value = serde_json::from_str(&cli(&data, &["inspect", "--json"])).unwrap();
    let sx = &inspection["projects"][0];
    assert_eq!(sx["project"], "sx", "{inspection}");
    assert_eq!(
        sx["merges_refused"]["unbind_not_applied"], 2,
        "{inspection}"
    );
}

/// Epoch milliseconds of an RFC 3339 timestamp as the API writes it (`YYYY-MM-DDTHH:MM:SS.ffffffZ`).
fn jiff_ms(text: &str) -> i64 {
    let (date, rest) = text.split_once('T').unwrap();
    let mut d = date.split('-').map(|x| x.parse::<i64>().unwrap());
    let (y, m, day) = (d.next().unwrap(), d.next().unwrap(), d.next().unwrap());
    let rest = rest.trim_end_matches('Z');
    let (hms, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().unwrap());
    let (h, mi, s) = (t.next().unwrap(), t.next().unwrap(), t.next().unwrap());
    let frac_ms: i64 = format!("{frac:0<3}")[..3].parse().unwrap();
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + frac_ms
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= c.len() {
                out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    child.wait_with_output().unwrap().stdout
}

fn form(server: &Server, method: &str, target: &str, extra: &[(&str, &str)], body: &str) -> Answer {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    server.call(method, target, &headers, body.as_bytes())
}

#[test]
fn raw_http_answers_of_the_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let now = now_ms();
    let track = |event: &str, extra: &str| {
        format!(r#"{{"type":"track","event":"{event}","distinct_id":"raw-u","time":{now}{extra}}}"#)
    };
    let q = format!("/sa?project={TOKEN}");
    let status = |a: Answer| {
        (
            a.status,
            a.json()["code"].as_str().unwrap_or("").to_string(),
        )
    };
    let data_of = |m: &str| format!("data={}", b64(m.as_bytes()));

    assert_eq!(
        status(form(&server, "POST", "/sa", &[], &data_of(&track("a", "")))).0,
        401
    );
    assert_eq!(
        status(form(
            &server,
            "POST",
            "/sa?project=lcw_Unknown00000000000000000000000000",
            &[],
            &data_of(&track("a", ""))
        )),
        (403, "unknown_api_key".to_string())
    );
    assert_eq!(
        status(form(
            &server,
            "POST",
            &q,
            &[],
            &data_of(&track("a", r#","project":"other""#))
        )),
        (401, "inconsistent_api_key".to_string())
    );
    let a = form(
        &server,
        "POST",
        &format!("/sa?project=production&token={TOKEN}"),
        &[],
        &data_of(&track("labelled", "")),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let spaced = data_of(&track("spaced>>>?", "")).replace('+', " ");
    assert_eq!(form(&server, "POST", &q, &[], &spaced).status, 200);
    assert_eq!(
        status(form(
            &server,
            "POST",
            &q,
            &[],
            &format!("{}&gzip=1", data_of(&track("a", "")))
        )),
        (400, "invalid_gzip".to_string())
    );
    let gz = b64(&gzip(track("sniffed", "").as_bytes()));
    assert_eq!(
        form(&server, "POST", &q, &[], &format!("data_list={gz}")).status,
        200
    );
    assert_eq!(
        status(form(&server, "POST", &q, &[], "data=x&gzip=9")),
        (400, "encrypted_payload".to_string())
    );
    assert_eq!(
        status(form(&server, "POST", &q, &[], "data=e30&data_list=W10")),
        (400, "ambiguous_payload".to_string())
    );
    let admin = format!("Bearer {}", server.admin_key);
    let metrics = || {
        server
            .call("GET", "/metrics", &[("Authorization", &admin)], b"")
            .text()
    };
    let before = metrics();
    assert_eq!(
        form(
            &server,
            "POST",
            &q,
            &[],
            &format!("{}&crc=1", data_of(&track("crc", "")))
        )
        .status,
        200
    );
    let after = metrics();
    let count = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("liucun_sensors_checksum_mismatch_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(count(&after) - count(&before), 1.0, "{after}");
    let list = format!(
        "[{},{},{}]",
        track("t1", ""),
        r#"{"type":"item_set","item_type":"b","item_id":"1","properties":{}}"#,
        track("t2", "")
    );
    let a = form(
        &server,
        "POST",
        &q,
        &[],
        &format!("data_list={}", b64(list.as_bytes())),
    );
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["accepted"], 2);
    assert_eq!(
        a.json()["quarantine"][0]["reason"],
        "unsupported_event_type"
    );
    let inc = r#"{"type":"profile_increment","distinct_id":"raw-u","time":1796454801357,"properties":{"n":"3"}}"#;
    let a = form(&server, "POST", &q, &[], &data_of(inc));
    assert_eq!(
        a.json()["quarantine"][0]["reason"],
        "invalid_properties",
        "{}",
        a.text()
    );
    let a = server.call(
        "GET",
        &format!("/sa.gif?project={TOKEN}&{}", data_of(&track("img", ""))),
        &[],
        b"",
    );
    assert_eq!(
        (a.status, a.header("content-type")),
        (200, Some("image/gif"))
    );
    assert!(a.body.starts_with(b"GIF89a"));
    let hour = 3_600_000;
    let ahead = track(
        "ahead",
        &format!(r#","_flush_time":{},"_track_id":1"#, now + hour),
    );
    assert_eq!(form(&server, "POST", &q, &[], &data_of(&ahead)).status, 200);
    let a = form(
        &server,
        "POST",
        &format!("/debug?project={TOKEN}"),
        &[("Dry-Run", "true")],
        &data_of(&track("dry", "")),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let a = form(
        &server,
        "POST",
        &format!("/sa/?project={TOKEN}"),
        &[],
        &data_of(&track("slash", "")),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let a = server.call("OPTIONS", &q, &[("Origin", "http://app.example.com")], b"");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("access-control-allow-origin"),
        Some("http://app.example.com")
    );

    let events = server.events();
    let named = |name: &str| {
        events
            .iter()
            .filter(|e| e["event"] == name)
            .collect::<Vec<_>>()
    };
    assert_eq!(named("dry").len(), 0);
    for name in [
        "labelled",
        "spaced>>>?",
        "sniffed",
        "crc",
        "t1",
        "t2",
        "img",
        "slash",
    ] {
        assert_eq!(named(name).len(), 1, "{name}");
    }
    let labelled = named("labelled")[0];
    assert_eq!(labelled["properties"]["$sensors_type"], "track");
    let ahead = named("ahead");
    let stored = jiff_ms(ahead[0]["timestamp"].as_str().unwrap());
    assert!(
        (stored - (now - hour)).abs() < 60_000,
        "{stored} vs {}",
        now - hour
    );
}

#[test]
fn profile_messages_fold_into_person_properties() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = Server::start(&data);
    let q = format!("/sa?project={TOKEN}");
    let t0 = now_ms() - 60_000;
    let profile = |i: i64, ty: &str, props: &str| {
        format!(
            r#"{{"type":"{ty}","distinct_id":"fold-u","time":{},"_track_id":{i},"properties":{props}}}"#,
            t0 + i
        )
    };
    let person = || server.api("/api/v1/projects/sx/persons/fold-u")["properties"].clone();
    let send = |msgs: &[String]| {
        let list = format!("[{}]", msgs.join(","));
        let a = form(
            &server,
            "POST",
            &q,
            &[],
            &format!("data_list={}", b64(list.as_bytes())),
        );
        assert_eq!(
            (a.status, a.json()["quarantined"].as_u64()),
            (200, Some(0)),
            "{}",
            a.text()
        );
    };
    send(&[
        profile(1, "profile_set", r#"{"plan":"pro","n":1,"trial":true}"#),
        profile(2, "profile_increment", r#"{"n":2.5,"fresh":3}"#),
        profile(3, "profile_append", r#"{"tags":["a","b"]}"#),
        profile(4, "profile_append", r#"{"tags":["b","c"]}"#),
        profile(5, "profile_unset", r#"{"trial":true}"#),
        profile(6, "profile_set_once", r#"{"plan":"free","first":"x"}"#),
    ]);
    assert_eq!(
        person(),
        json!({"plan": "pro", "n": 3.5, "fresh": 3, "tags": ["a", "b", "c"], "first": "x"})
    );
    send(&[
        profile(7, "profile_delete", "{}"),
        profile(8, "profile_set", r#"{"after":1}"#),
    ]);
    assert_eq!(person(), json!({"after": 1}));
}

#[test]
fn every_acknowledged_sensors_batch_survives_a_sigkill() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data);
    let addr = server.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    // Android-shaped batches: 50 messages, gzip, `data_list`, each with its own `_track_id`.
    let sender = std::thread::spawn(move || {
        let mut acked: Vec<i64> = Vec::new();
        let mut batch = 0i64;
        while !stop2.load(Ordering::SeqCst) {
            let now = now_ms();
            let msgs: Vec<String> = (0..50)
                .map(|j| {
                    let id = batch * 50 + j;
                    format!(
                        r#"{{"type":"track","event":"Crash","distinct_id":"crash-u{}","time":{now},"_track_id":{id},"_flush_time":{now},"properties":{{"n":{id}}}}}"#,
                        j % 7
                    )
                })
                .collect();
            let gz = b64(&gzip(format!("[{}]", msgs.join(",")).as_bytes()));
            let body = format!(
                "crc=0&gzip=1&data_list={}",
                gz.replace('+', "%2B")
                    .replace('/', "%2F")
                    .replace('=', "%3D")
            );
            let req = format!(
                "POST /sa?project={TOKEN} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let Ok(mut s) = TcpStream::connect(addr) else {
                break;
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            if s.write_all(req.as_bytes()).is_err() {
                break;
            }
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            if out.starts_with(b"HTTP/1.1 200") {
                acked.extend(batch * 50..batch * 50 + 50);
            } else if out.is_empty() {
                break;
            }
            batch += 1;
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL: no drain, no flush.
    let _ = server.child.kill();
    let _ = server.child.wait();
    stop.store(true, Ordering::SeqCst);
    let acked = sender.join().unwrap();
    assert!(
        acked.len() >= 50,
        "nothing was acknowledged before the kill"
    );

    let engine = liucun::Engine::open(
        &data,
        liucun::OpenMode::Existing,
        liucun::EngineConfig::default(),
    )
    .expect("reopen after SIGKILL");
    // The WAL replays into the tail; a flush puts it in segments, where `read_events` looks.
    engine.flush().expect("flush");
    let (read, failed) = engine.with_store(|s| {
        s.read_events(&store::ScanFilter {
            projects: vec!["sx".to_string()],
            days: None,
        })
    });
    assert!(failed.is_empty());
    let mut stored: BTreeMap<i64, u32> = BTreeMap::new();
    for (_, events) in read {
        for e in events {
            let p: Value = serde_json::from_str(e.properties()).unwrap();
            if let Some(id) = p["$sensors_track_id"].as_i64() {
                *stored.entry(id).or_insert(0) += 1;
            }
        }
    }
    for id in &acked {
        assert_eq!(stored.get(id), Some(&1), "acknowledged _track_id {id}");
    }
}
