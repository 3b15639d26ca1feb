//! The ClickHouse back end against the embedded engine: the same data exported with `liucun export clickhouse`,
//! the same parameters, byte-identical report JSON.
//!
//! It needs a ClickHouse server: `LIUCUN_CLICKHOUSE_URL` names one (`.ci/run` starts `tests/clickhouse/chdb_server.py`,
//! ClickHouse's engine embedded in chDB behind its HTTP interface). Without it the tests say so and pass.
//! Each run writes to its own database (`liucun_test_<pid>_<test>`), and drops it at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn url() -> Option<String> {
    let url = std::env::var("LIUCUN_CLICKHOUSE_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("LIUCUN_CLICKHOUSE_URL is not set: the ClickHouse equality tests did not run");
    }
    url
}

/// Sends one statement to the server (plain `http://host:port` URLs only): what the tests need besides liucun.
fn post(url: &str, database: Option<&str>, sql: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).expect("connect to ClickHouse");
    let path = match database {
        Some(d) => format!("/?database={d}"),
        None => "/".into(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        sql.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(sql.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn liucun(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liucun"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run liucun")
}

fn ok(o: Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    String::from_utf8(o.stdout).expect("utf-8 output")
}

/// Events no generator writes: personless persons, a merge that arrives late, a personless id merged later,
/// property values of every JSON type and numeric strings, names and values with quotes and backslashes, and
/// activity across New York's 2025 spring-forward.
fn edge_events() -> String {
    let mut lines = Vec::new();
    let mut n = 0u32;
    let mut ev = |id: &str, name: &str, ts: &str, props: serde_json::Value| {
        n += 1;
        lines.push(
            serde_json::json!({
                "uuid": format!("00000000-0000-7000-8000-{n:012}"),
                "distinct_id": id, "event": name, "timestamp": ts, "properties": props,
            })
            .to_string(),
        );
    };
    let odd = "it's \"odd\" \\name {p0:String}";
    let values = [
        serde_json::json!(3),
        serde_json::json!("3"),
        serde_json::json!(" 3 "),
        serde_json::json!(3.0),
        serde_json::json!(2.5),
        serde_json::json!("abc"),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!([1, 2]),
        serde_json::json!({"a": 1}),
        serde_json::json!("中文 O'Brien"),
        serde_json::json!("1e400"),
        serde_json::json!(-7),
        serde_json::json!("1."),
        serde_json::json!(".5"),
        serde_json::json!("+2"),
        serde_json::json!("5\u{a0}"),
        serde_json::json!("a\nb"),
    ];
    for (i, v) in values.iter().enumerate() {
        let id = format!("v{i}");
        for day in [1, 2, 4, 9, 10, 15] {
            let ts = format!("2025-03-{day:02}T{:02}:30:00Z", (i * 5 + day) % 24);
            let name = if day % 2 == 0 { "chat_message" } else { odd };
            ev(
                &id,
                name,
                &ts,
                serde_json::json!({"x": v, "plan": if i % 3 == 0 { "pro" } else { "free" }}),
            );
        }
    }
    // A value met once, on the day before a one-day trends window: it scores nothing there.
    ev(
        "lb",
        "chat_message",
        "2025-03-03T12:00:00Z",
        serde_json::json!({"x": "only-on-the-3rd"}),
    );
    let off = serde_json::json!({"$process_person_profile": false});
    for day in [2, 3, 9] {
        ev(
            "ghost",
            "chat_message",
            &format!("2025-03-{day:02}T06:00:00Z"),
            off.clone(),
        );
        ev(
            "shade",
            "chat_message",
            &format!("2025-03-{day:02}T07:00:00Z"),
            off.clone(),
        );
    }
    ev(
        "shade",
        "$identify",
        "2025-03-12T08:00:00Z",
        serde_json::json!({"$anon_distinct_id": "shade-anon", "$process_person_profile": false}),
    );
    // A personless person met only before a local window's start, on the window's first UTC day.
    ev(
        "early-ghost",
        "chat_message",
        "2025-03-02T03:00:00Z",
        off.clone(),
    );
    // One personless event does not make a person personless.
    ev("mixed", "chat_message", "2025-03-02T05:00:00Z", off.clone());
    ev(
        "mixed",
        "chat_message",
        "2025-03-04T05:00:00Z",
        serde_json::json!({}),
    );
    let merge_late = [
        ("shade-anon", "$pageview", "2025-03-01T09:00:00Z", None),
        ("anon-1", "$pageview", "2025-03-02T10:00:00Z", None),
        ("anon-1", "chat_message", "2025-03-03T03:00:00Z", None),
        ("user-1", "chat_message", "2025-03-05T03:00:00Z", None),
        (
            "user-1",
            "$identify",
            "2025-03-11T03:00:00Z",
            Some("anon-1"),
        ),
        ("user-1", "chat_message", "2025-03-16T03:00:00Z", None),
    ];
    for (id, name, ts, anon) in merge_late {
        let props = match anon {
            Some(a) => serde_json::json!({"$anon_distinct_id": a}),
            None => serde_json::json!({}),
        };
        ev(id, name, ts, props);
    }
    // Person properties: set, set once, unset, Sensors' increment and append, two updates of one instant, and
    // updates of two ids that a merge joins later (m-anon into m-user on the 11th), folded in time order.
    let updates = [
        (
            "m-anon",
            "2025-03-02T11:00:00Z",
            serde_json::json!({"$set": {"tier": "gold", "seats": 3}}),
        ),
        (
            "m-user",
            "2025-03-04T03:00:00Z",
            serde_json::json!({"$set": {"tier": "silver"}}),
        ),
        (
            "m-user",
            "2025-03-05T03:00:00Z",
            serde_json::json!({"$set_once": {"tier": "never", "first": "x"}}),
        ),
        (
            "m-anon",
            "2025-03-12T03:00:00Z",
            serde_json::json!({"$set_once": {"first": "y", "coupon": "A"}}),
        ),
        (
            "v6",
            "2025-03-01T00:00:00Z",
            serde_json::json!({"$set": {"tier": "team", "seats": "12"}}),
        ),
        (
            "v6",
            "2025-03-09T00:00:00Z",
            serde_json::json!({"$unset": ["tier"]}),
        ),
        (
            "v6",
            "2025-03-10T00:00:00Z",
            serde_json::json!({"$set_once": {"tier": "late"}}),
        ),
        (
            "v7",
            "2025-03-02T00:00:00Z",
            serde_json::json!({"$increment": {"seats": 5}, "$append": {"tags": ["a", "b"]}}),
        ),
        (
            "v7",
            "2025-03-04T00:00:00Z",
            serde_json::json!({"$increment": {"seats": 2.5}, "$append": {"tags": ["b", "c"]}}),
        ),
        (
            "v8",
            "2025-03-03T00:00:00Z",
            serde_json::json!({"$set": {"tier": "gold"}}),
        ),
        (
            "v8",
            "2025-03-03T00:00:00Z",
            serde_json::json!({"$set": {"tier": "team"}}),
        ),
    ];
    for (id, ts, props) in updates {
        ev(id, "chat_message", ts, props);
    }
    ev(
        "m-user",
        "$identify",
        "2025-03-11T03:00:00Z",
        serde_json::json!({"$anon_distinct_id": "m-anon"}),
    );
    // Money (economics.md): payments in a currency with a rate and in one without, tax, fees, a refund; AI events
    // whose `$ai_` text needs escaping (quotes, a backslash, a tab, non-ASCII), an unknown model, a supplied cost,
    // an embedding; a payment from a person of no cohort, and one from a personless person.
    let money = [
        (
            "payer-1",
            "chat_message",
            "2025-03-02T09:00:00Z",
            serde_json::json!({"plan": "pro"}),
        ),
        (
            "payer-1",
            "payment",
            "2025-03-02T10:00:00Z",
            serde_json::json!({"amount": "19.90", "currency": "USD", "kind": "new", "tax": "1.90", "fee": "0.88"}),
        ),
        (
            "payer-1",
            "$ai_generation",
            "2025-03-03T10:00:00Z",
            serde_json::json!({"$ai_model": "gpt-4o", "$ai_provider": "openai", "$ai_input_tokens": 1200,
                               "$ai_output_tokens": 350, "$ai_trace_id": "t\"1\"\\ \t 中文"}),
        ),
        (
            "payer-1",
            "payment",
            "2025-03-10T10:00:00Z",
            serde_json::json!({"amount": "19.90", "currency": "USD", "kind": "refund", "tax": "1.90"}),
        ),
        (
            "payer-2",
            "chat_message",
            "2025-03-04T09:00:00Z",
            serde_json::json!({}),
        ),
        (
            "payer-2",
            "payment",
            "2025-03-05T09:00:00Z",
            serde_json::json!({"amount": "68", "currency": "CNY", "kind": "renewal", "fee": "2.04"}),
        ),
        (
            "payer-2",
            "payment",
            "2025-03-06T09:00:00Z",
            serde_json::json!({"amount": "1000", "currency": "JPY"}),
        ),
        (
            "payer-2",
            "$ai_generation",
            "2025-03-05T10:00:00Z",
            serde_json::json!({"$ai_model": "it's \"odd\" {p0:String}", "$ai_input_tokens": 10,
                               "$ai_output_tokens": 5}),
        ),
        (
            "payer-2",
            "$ai_generation",
            "2025-03-12T10:00:00Z",
            serde_json::json!({"$ai_model": "my-model", "$ai_total_cost_usd": 0.0125,
                               "$ai_input_tokens": 10}),
        ),
        (
            "payer-2",
            "$ai_embedding",
            "2025-03-12T11:00:00Z",
            serde_json::json!({"$ai_model": "text-embedding-3-small", "$ai_input_tokens": 5000}),
        ),
        (
            "payer-3",
            "payment",
            "2025-03-07T09:00:00Z",
            serde_json::json!({"amount": "5.00", "currency": "USD", "kind": "one_time"}),
        ),
        (
            "ghost",
            "payment",
            "2025-03-09T06:30:00Z",
            serde_json::json!({"amount": "3.00", "currency": "USD", "$process_person_profile": false}),
        ),
    ];
    for (id, name, ts, props) in money {
        ev(id, name, ts, props);
    }
    for h in 0..10 {
        ev(
            "dst",
            "chat_message",
            &format!("2025-03-09T{:02}:15:00Z", 4 + h),
            serde_json::json!({}),
        );
    }
    lines.join("\n") + "\n"
}

/// Generated and hand-written data in a data directory, exported to a fresh database.
struct Fixture {
    data: PathBuf,
    database: String,
    url: String,
    projects: Vec<String>,
}

impl Fixture {
    fn new(tmp: &Path, url: String, test: &str) -> Fixture {
        let data = tmp.join("data");
        let out = tmp.join("gen.parquet");
        let listing = ok(liucun(
            &data,
            &[
                "gen",
                "--events",
                "12000",
                "--seed",
                "11",
                "--apps",
                "2",
                "--out",
                out.to_str().unwrap(),
            ],
        ));
        let mut projects = Vec::new();
        for line in listing.lines() {
            let f: Vec<&str> = line.split('\t').collect();
            ok(liucun(
                &data,
                &["import", "--quiet", "--project", f[0], f[1]],
            ));
            if let Some(persons) = f.get(3) {
                let path = tmp.join(persons);
                let path = if path.exists() {
                    path
                } else {
                    PathBuf::from(persons)
                };
                ok(liucun(
                    &data,
                    &[
                        "import",
                        "--quiet",
                        "--persons",
                        "--project",
                        f[0],
                        path.to_str().unwrap(),
                    ],
                ));
            }
            projects.push(f[0].to_string());
        }
        let edge = tmp.join("edge.ndjson");
        std::fs::write(&edge, edge_events()).unwrap();
        ok(liucun(
            &data,
            &[
                "import",
                "--quiet",
                "--project",
                "edge",
                edge.to_str().unwrap(),
            ],
        ));
        // Creation instants that override the first event (activity.md §3.2 rule 4): inside and before the
        // window, a later import overriding an earlier one, an id merged into another person later, an id with no
        // events, and a record without one.
        let persons = tmp.join("edge-persons.ndjson");
        std::fs::write(
            &persons,
            [
                r#"{"distinct_ids": ["v1"], "created_at": "2025-03-04T00:00:00Z"}"#,
                r#"{"distinct_ids": ["v2", "v2-alias"], "created_at": "2024-01-01T00:00:00Z"}"#,
                r#"{"distinct_ids": ["v3"], "created_at": "2025-03-01T00:00:00Z"}"#,
                r#"{"distinct_ids": ["v3"], "created_at": "2025-03-09T12:00:00Z"}"#,
                r#"{"distinct_ids": ["anon-1"], "created_at": "2025-03-05T12:00:00Z"}"#,
                r#"{"distinct_ids": ["nobody"], "created_at": "2025-03-02T00:00:00Z"}"#,
                r#"{"distinct_ids": ["v4"], "properties": {"plan": "pro"}}"#,
            ]
            .join("\n"),
        )
        .unwrap();
        ok(liucun(
            &data,
            &[
                "import",
                "--quiet",
                "--persons",
                "--project",
                "edge",
                persons.to_str().unwrap(),
            ],
        ));
        projects.push("edge".into());
        let database = format!("liucun_test_{}_{test}", std::process::id());
        let fx = Fixture {
            data,
            database,
            url,
            projects,
        };
        let exported = ok(fx.run(&["export", "clickhouse", "--quiet"]));
        assert_eq!(exported.lines().count(), fx.projects.len(), "{exported}");
        fx
    }

    /// Runs liucun with the fixture's ClickHouse flags appended.
    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend([
            "--clickhouse-url",
            &self.url,
            "--clickhouse-database",
            &self.database,
        ]);
        liucun(&self.data, &all)
    }

    /// The retention report on both engines ([`Fixture::same_kind`]).
    fn same(&self, args: &[&str]) -> String {
        self.same_kind("retention", args)
    }

    /// A report of `kind` on both engines; they must be byte-identical (or refuse with the same message).
    fn same_kind(&self, kind: &str, args: &[&str]) -> String {
        let mut args: Vec<&str> = [&[kind], args].concat();
        args.extend(["--format", "json"]);
        let embedded = liucun(&self.data, &args);
        let mut ch = args.clone();
        ch.extend(["--engine", "clickhouse"]);
        let clickhouse = self.run(&ch);
        if embedded.status.code() != Some(0) {
            assert_eq!(embedded.status.code(), Some(2), "{args:?}: {embedded:?}");
            assert_eq!(
                (clickhouse.status.code(), &clickhouse.stderr),
                (embedded.status.code(), &embedded.stderr),
                "{args:?}: both engines refuse alike"
            );
            return String::new();
        }
        let (embedded, clickhouse) = (ok(embedded), ok(clickhouse));
        if embedded != clickhouse {
            let (e, c): (serde_json::Value, serde_json::Value) = (
                serde_json::from_str(&embedded).unwrap(),
                serde_json::from_str(&clickhouse).unwrap(),
            );
            let diff = first_difference(&e, &c, String::new());
            panic!("the engines differ for {args:?}: {diff}");
        }
        embedded
    }

    /// [`Fixture::same`] for a parameters object (values no flag can spell).
    fn same_params(&self, params: serde_json::Value) -> String {
        self.same_params_kind("retention", params)
    }

    /// [`Fixture::same_kind`] for a parameters object.
    fn same_params_kind(&self, kind: &str, params: serde_json::Value) -> String {
        let path = self
            .data
            .with_file_name(format!("params-{}.json", std::process::id()));
        std::fs::write(&path, params.to_string()).unwrap();
        self.same_kind(kind, &["--params", path.to_str().unwrap()])
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        post(
            &self.url,
            None,
            &format!("DROP DATABASE IF EXISTS {}", self.database),
        );
    }
}

fn first_difference(a: &serde_json::Value, b: &serde_json::Value, at: String) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if w == v => {}
                    Some(w) => return first_difference(v, w, format!("{at}.{k}")),
                    None => return format!("{at}.{k} missing"),
                }
            }
            format!(
                "{at}: keys {:?} vs {:?}",
                x.keys().collect::<Vec<_>>(),
                y.keys().collect::<Vec<_>>()
            )
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find(|(_, (v, w))| v != w)
            .map(|(i, (v, w))| first_difference(v, w, format!("{at}[{i}]")))
            .unwrap_or_default(),
        _ => format!("{at}: embedded {a} vs clickhouse {b}"),
    }
}

/// A small deterministic generator (xorshift), so a failing case can be re-run from its seed.
struct Rng(u64);

impl Rng {
    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        from[(self.0 % from.len() as u64) as usize]
    }
}

#[test]
fn retention_on_clickhouse_matches_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "retention");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let odd = "it's \"odd\" \\name {p0:String}";

    // The spec's shapes one by one.
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--period",
            "week",
            "--intervals",
            "6",
        ],
        vec![
            "--project",
            gen_a,
            "--project",
            gen_b,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--from",
            "2025-01-06",
            "--to",
            "2025-03-30",
            "--type",
            "first-time",
            "--intervals",
            "10",
        ],
        vec![
            "--project",
            gen_b,
            "--as-of",
            "2025-02-20T13:00:00Z",
            "--type",
            "first-ever",
            "--target",
            "chat_message",
            "--returning",
            "$ai_generation",
            "--intervals",
            "14",
            "--tz",
            "Asia/Shanghai",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--period",
            "month",
            "--intervals",
            "3",
            "--cumulative",
            "--week-start",
            "sunday",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--period",
            "day",
            "--intervals",
            "31",
            "--brackets",
            "1,3,7,14",
            "--min-occurrences",
            "2",
            "--tz",
            "America/New_York",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--where",
            "$ai_model contains gpt",
            "--target",
            "$ai_generation",
            "--target-where",
            "$ai_input_tokens gt 500",
            "--lang",
            "zh-CN",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-16",
            "--intervals",
            "16",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-10T00:00:00Z",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-09",
            "--intervals",
            "16",
            "--include-personless",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--period",
            "hour",
            "--from",
            "2025-03-09T00:00:00",
            "--to",
            "2025-03-09T23:00:00",
            "--intervals",
            "24",
            "--tz",
            "America/New_York",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--target",
            odd,
            "--returning",
            odd,
            "--from",
            "2025-03-01",
            "--intervals",
            "20",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--target",
            "no_such_event",
            "--intervals",
            "4",
        ],
        vec![
            "--project",
            "no-such-project",
            "--as-of",
            "2025-03-20T00:00:00Z",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2024-12-01T00:00:00Z",
            "--intervals",
            "5",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-05-01T00:00:00Z",
            "--to",
            "2025-03-01",
            "--intervals",
            "9",
        ],
    ];
    for args in &fixed {
        fx.same(args);
    }
    // Personless persons met on the first UTC day read, before the local window starts.
    fx.same(&[
        "--project",
        "edge",
        "--as-of",
        "2025-03-20T00:00:00Z",
        "--from",
        "2025-03-02",
        "--tz",
        "America/New_York",
        "--intervals",
        "10",
    ]);
    // 24-hour windows (§14): every type and period, brackets, minimum occurrences, a breakdown.
    for (kind, period, extra) in [
        ("recurring", "day", "--min-occurrences=2"),
        ("first-time", "day", "--brackets=1,3,7"),
        ("first-ever", "week", "--breakdown=$ai_model"),
        ("first-time", "hour", "--tz=America/New_York"),
        ("recurring", "month", "--include-personless"),
    ] {
        for project in [gen_a, "edge"] {
            let (from, to) = match period {
                "hour" => ("2025-03-09T00:00:00", "2025-03-10T00:00:00"),
                _ => ("2025-01-01", "2025-03-31"),
            };
            fx.same(&[
                "--project",
                project,
                "--as-of",
                "2025-04-01T00:00:00Z",
                "--from",
                from,
                "--to",
                to,
                "--period",
                period,
                "--intervals",
                "8",
                "--type",
                kind,
                "--windows",
                "24h",
                extra,
            ]);
        }
    }
    // Event breakdowns (§10): every type, the fold into Other, a property of every JSON type.
    for (kind, by, limit) in [
        ("recurring", "$ai_model", "2"),
        ("first-time", "$ai_model", "25"),
        ("first-ever", "$os", "1"),
        ("recurring", "x", "25"),
        ("first-time", "x", "3"),
    ] {
        for project in [gen_a, "edge"] {
            fx.same(&[
                "--project",
                project,
                "--as-of",
                "2025-04-01T00:00:00Z",
                "--from",
                "2025-01-01",
                "--to",
                "2025-03-31",
                "--period",
                "week",
                "--intervals",
                "6",
                "--type",
                kind,
                "--breakdown",
                by,
                "--breakdown-limit",
                limit,
                "--min-occurrences",
                "2",
            ]);
        }
    }

    // Every filter operator on every kind of value.
    let filters = [
        "x eq 3",
        "x eq \"3\"",
        "x eq 2.5",
        "x eq abc",
        "x eq true",
        "x eq [1,2]",
        "x neq 3",
        "x eq [\"abc\",3]",
        "x contains b",
        "x contains 3",
        "x not_contains A",
        "x contains 中",
        "x gt 2",
        "x gte 3",
        "x lt 0",
        "x lte 2.5",
        "x is_set",
        "x is_not_set",
        "x regex ^[0-9]",
        "x regex (?i)ABC",
        "x eq O'Brien",
        "plan eq pro",
        "plan neq pro",
        "x contains '",
        "x eq -7",
        "x gt -10",
        "x eq 1",
        "x eq 0.5",
        "x eq 5",
        "x lt 3",
        "x regex 3",
        "x regex ^a.b$",
        "x regex (?s)^a.b$",
    ];
    for f in filters {
        fx.same(&[
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--intervals",
            "16",
            "--where",
            f,
        ]);
    }

    // Random combinations, each reproducible from the seed printed on failure.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..40 {
        let project = rng.pick(&[gen_a, gen_b, "edge"]);
        let as_of = rng.pick(&[
            "2025-04-01T00:00:00Z",
            "2025-02-15T12:00:00Z",
            "2025-03-09T07:30:00Z",
            "2025-01-20T00:00:00Z",
        ]);
        let period = rng.pick(&["day", "day", "week", "month", "hour"]);
        let (from, to, intervals) = match period {
            "hour" => ("2025-01-15T00:00:00", "2025-01-17T00:00:00", "30"),
            "day" => (
                rng.pick(&["2025-01-01", "2025-02-10", "-20d"]),
                rng.pick(&["2025-03-01", "-1d", "2025-04-30"]),
                "15",
            ),
            "week" => ("2025-01-01", "2025-03-31", "8"),
            _ => ("2024-12-01", "2025-04-01", "4"),
        };
        let mut args = vec![
            "--project",
            project,
            "--as-of",
            as_of,
            "--period",
            period,
            "--from",
            from,
            "--to",
            to,
            "--intervals",
            intervals,
        ];
        args.extend([
            "--type",
            rng.pick(&["recurring", "first-time", "first-ever"]),
        ]);
        args.extend([
            "--tz",
            rng.pick(&[
                "UTC",
                "Asia/Shanghai",
                "America/New_York",
                "Asia/Kolkata",
                "Europe/London",
            ]),
        ]);
        args.extend([
            "--target",
            rng.pick(&[
                "any",
                "chat_message",
                "$pageview,chat_message",
                "$ai_generation",
            ]),
        ]);
        args.extend([
            "--returning",
            rng.pick(&["any", "chat_message", "$ai_generation"]),
        ]);
        match rng.pick(&[
            "",
            "",
            "24h",
            "cumulative",
            "min2",
            "brackets",
            "sunday",
            "personless",
            "breakdown",
            "breakdown",
        ]) {
            "cumulative" => args.push("--cumulative"),
            "24h" => args.extend(["--windows", "24h"]),
            "min2" => args.extend(["--min-occurrences", "2"]),
            "brackets" => args.extend(["--brackets", "2,5"]),
            "sunday" => args.extend(["--week-start", "sunday"]),
            "personless" => args.push("--include-personless"),
            "breakdown" => args.extend([
                "--breakdown",
                rng.pick(&["$ai_model", "$os", "x", "plan"]),
                "--breakdown-limit",
                rng.pick(&["1", "2", "25"]),
            ]),
            _ => {}
        }
        match rng.pick(&["", "", "global", "target", "returning"]) {
            "global" => args.extend([
                "--where",
                rng.pick(&["$os eq iOS", "$ai_model is_set", "x gt 1"]),
            ]),
            "target" => args.extend([
                "--target-where",
                rng.pick(&["message_index gt 2", "$current_url contains chat"]),
            ]),
            "returning" => args.extend([
                "--returning-where",
                rng.pick(&["$ai_output_tokens gte 100", "x is_not_set"]),
            ]),
            _ => {}
        }
        eprintln!("case {case}: {args:?}");
        fx.same(&args);
    }
}

/// A pattern that matches `text` literally.
fn regex_quote(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == ' ' || !c.is_ascii() {
                c.to_string()
            } else if c.is_ascii_control() {
                format!("\\x{:02x}", c as u32)
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

#[test]
fn values_reach_clickhouse_as_parameters_never_as_sql() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "injection");
    let evil = [
        "'; DROP TABLE liucun_events; --",
        "\\'); DROP DATABASE default; --",
        "{p0:String}",
        "x' OR 1=1 OR 'a'='a",
        "\u{0}\t\n\r",
    ];
    for e in evil {
        let filter = |key: &str, operator: &str, value: serde_json::Value| {
            serde_json::json!({"projects": ["edge"], "as_of": "2025-03-20T00:00:00Z", "date_from": "2025-03-01",
                "total_intervals": 20, "properties": [{"type": "event", "key": key, "operator": operator, "value": value}]})
        };
        fx.same_params(filter("x", "eq", serde_json::json!(e)));
        fx.same_params(filter("x", "contains", serde_json::json!([e, "b"])));
        fx.same_params(filter(e, "is_not_set", serde_json::Value::Null));
        fx.same_params(filter("plan", "regex", serde_json::json!(regex_quote(e))));
        fx.same_params(serde_json::json!({"projects": ["edge"], "as_of": "2025-03-20T00:00:00Z",
            "target": {"event": e, "properties": []}, "returning": {"event": [e, "chat_message"], "properties": []}}));
        fx.same_params(serde_json::json!({"projects": [e], "as_of": "2025-03-20T00:00:00Z"}));
        fx.same_params(
            serde_json::json!({"projects": ["edge"], "as_of": "2025-03-20T00:00:00Z",
            "breakdown": {"type": "event", "property": e, "limit": 3}}),
        );
        fx.same_params_kind(
            "trends",
            serde_json::json!({"projects": ["edge"], "as_of": "2025-03-20T00:00:00Z",
            "date_from": "all", "series": [{"entity": {"event": e, "properties": [
                {"type": "event", "key": e, "operator": "neq", "value": e}]}, "math": "total"}]}),
        );
        fx.same_params_kind(
            "funnels",
            serde_json::json!({"projects": ["edge"], "as_of": "2025-03-20T00:00:00Z",
            "date_from": "all", "steps": [
                {"event": null, "properties": [{"type": "event", "key": e, "operator": "neq", "value": e}]},
                {"event": [e, "chat_message"], "properties": [
                    {"type": "person", "key": "plan", "operator": "regex", "value": regex_quote(e)}]}],
            "exclusions": [{"event": e, "from_step": 1, "to_step": 2}],
            "breakdown": {"type": "event", "property": [e, "x"], "attribution": "all_events"}}),
        );
        let economics = fx.same_params_kind(
            "economics",
            serde_json::json!({"projects": ["edge"], "as_of": "2025-03-20T00:00:00Z",
            "date_from": "2025-03-01", "period": "week", "total_intervals": 3,
            "target": {"event": [e, "chat_message"], "properties": [
                {"type": "event", "key": e, "operator": "neq", "value": e}]},
            "properties": [{"type": "person", "key": "plan", "operator": "not_contains", "value": e}],
            "other_costs": {"per_event": {e: "0.25", "payment": "0.1"}},
            "breakdown": {"type": "event", "property": e, "limit": 3}}),
        );
        assert!(
            !economics.is_empty(),
            "{e:?}: the economics report computes"
        );
    }
    // Every table is still there and whole.
    let after = fx.same(&[
        "--project",
        "edge",
        "--as-of",
        "2025-03-20T00:00:00Z",
        "--from",
        "2025-03-01",
    ]);
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    assert!(
        v["provenance"]["events_in_scope"].as_u64().unwrap() > 0,
        "{after}"
    );
}

#[test]
fn clickhouse_reports_verify_and_refuse_what_is_not_compiled() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "surface");
    let project = fx.projects[0].clone();
    let common = [
        "--project",
        project.as_str(),
        "--as-of",
        "2025-04-01T00:00:00Z",
    ];

    let file = tmp.path().join("report.json");
    // A report computed on ClickHouse verifies against the data directory.
    let verifies_on_the_data = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--engine", "clickhouse", "--format", "json"]);
        args.extend(common);
        std::fs::write(&file, ok(fx.run(&args))).unwrap();
        let verified = ok(liucun(&fx.data, &["verify", file.to_str().unwrap()]));
        assert!(
            verified.contains("every number and the data fingerprint"),
            "{args:?}: {verified}"
        );
    };
    verifies_on_the_data(&["retention", "--type", "first-time"]);
    verifies_on_the_data(&[
        "funnels",
        "--from",
        "2025-01-01",
        "--step",
        "$pageview",
        "--step",
        "chat_message",
        "--step-where",
        "2:message_index gt 2",
    ]);
    let prices = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo_prices.toml");
    verifies_on_the_data(&[
        "economics",
        "--from",
        "2025-01-01",
        "--to",
        "2025-03-31",
        "--prices",
        prices,
        "--breakdown",
        "event:$ai_model",
    ]);

    // And the other way round: an embedded report verifies on ClickHouse.
    let mut args: Vec<&str> = vec!["trends", "--format", "json", "--series", "any:dau"];
    args.extend(common);
    std::fs::write(&file, ok(liucun(&fx.data, &args))).unwrap();
    let verified = ok(fx.run(&["verify", file.to_str().unwrap(), "--engine", "clickhouse"]));
    assert!(
        verified.contains("every number and the data fingerprint"),
        "{verified}"
    );

    // --explain prints SQL with bound parameters and runs nothing.
    let explains = |args: &[&str], shows: &str| {
        let mut args = args.to_vec();
        args.extend([
            "--engine",
            "clickhouse",
            "--explain",
            "--where",
            "plan eq pro",
        ]);
        args.extend(common);
        let sql = ok(fx.run(&args));
        assert!(sql.contains(shows) && sql.contains("{p0:String}"), "{sql}");
        assert!(
            !sql.lines()
                .any(|l| !l.starts_with("--") && l.contains("'pro'")),
            "values stay parameters: {sql}"
        );
    };
    explains(&["retention"], "FROM liucun_events");
    explains(
        &[
            "funnels",
            "--from",
            "all",
            "--step",
            "chat_message",
            "--step",
            "payment",
        ],
        "the earliest event matching a step",
    );

    explains(
        &[
            "economics",
            "--period",
            "week",
            "--cost-per-event",
            "chat_message=0.01",
        ],
        "the events that may bear money",
    );

    // An invalid parameter is refused before anything is sent, naming it (exit 2).
    let mut args = vec!["economics", "--engine", "clickhouse", "--tz", "+08:00"];
    args.extend(common);
    let o = fx.run(&args);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("timezone"), "{args:?}: {err}");

    // A server that is not there is a failure (exit 1) naming it.
    let mut args: Vec<&str> = vec![
        "retention",
        "--engine",
        "clickhouse",
        "--clickhouse-url",
        "http://127.0.0.1:9",
    ];
    args.extend(common);
    let o = liucun(&fx.data, &args);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("127.0.0.1:9"),
        "{o:?}"
    );
}

/// The events loaded by ClickHouse straight from the segments (docs/clickhouse.md), the identity from
/// `export clickhouse --no-events`: the same report. Needs a server that reads this machine's files (the chDB server
/// `tests/clickhouse/run.sh` starts says so with `LIUCUN_CLICKHOUSE_READS_LOCAL_FILES=1`).
#[test]
fn events_loaded_from_the_segments_give_the_same_report() {
    let Some(url) = url() else { return };
    if std::env::var("LIUCUN_CLICKHOUSE_READS_LOCAL_FILES").as_deref() != Ok("1") {
        eprintln!("the server does not read local files: the segments recipe did not run");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "segments");
    let copy = format!("{}_from_segments", fx.database);
    let args = [
        "export",
        "clickhouse",
        "--quiet",
        "--no-events",
        "--clickhouse-url",
        &fx.url,
        "--clickhouse-database",
        &copy,
    ];
    ok(liucun(&fx.data, &args));
    let recipe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/clickhouse.md"
    ))
    .unwrap();
    let start = recipe
        .find("INSERT INTO liucun_events")
        .expect("the recipe in docs/clickhouse.md");
    let end = start + recipe[start..].find("```").unwrap();
    for project in &fx.projects {
        let glob = fx.data.join("segments").join(project).join("*/*.parquet");
        let sql = recipe[start..end]
            .replace("'PROJECT'", &format!("'{project}'"))
            .replace(
                "/path/to/liucun-data/segments/PROJECT/*/*.parquet",
                glob.to_str().unwrap(),
            );
        let (status, answer) = post(&fx.url, Some(&copy), &sql);
        assert_eq!(status, 200, "{sql}: {answer}");
    }
    for project in &fx.projects {
        let mut args = vec![
            "retention",
            "--project",
            project,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--format",
            "json",
        ];
        let embedded = ok(liucun(&fx.data, &args));
        args.extend([
            "--engine",
            "clickhouse",
            "--clickhouse-url",
            &fx.url,
            "--clickhouse-database",
            &copy,
        ]);
        assert_eq!(ok(liucun(&fx.data, &args)), embedded, "{project}");
    }
    post(&fx.url, None, &format!("DROP DATABASE IF EXISTS {copy}"));
}

#[test]
fn trends_on_clickhouse_match_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "trends");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-01-15",
            "--to",
            "2025-02-20",
            "--series",
            "chat_message:total",
            "--series",
            "any:dau",
            "--series",
            "any:wau",
            "--series",
            "any:mau",
            "--series",
            "any:dau_mau",
        ],
        vec![
            "--project",
            gen_a,
            "--project",
            gen_b,
            "--as-of",
            "2025-02-10T12:00:00Z",
            "--from",
            "all",
            "--series",
            "$ai_generation:unique_persons",
            "--interval",
            "week",
            "--tz",
            "Asia/Shanghai",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--interval",
            "hour",
            "--from",
            "2025-01-10T00:00:00",
            "--to",
            "2025-01-11T00:00:00",
            "--series",
            "any:total",
            "--where",
            "$os eq iOS",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--series",
            "any:dau",
            "--series",
            "chat_message:unique_persons",
            "--tz",
            "America/New_York",
            "--include-personless",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-10T00:00:00Z",
            "--from",
            "all",
            "--series",
            "any:wau",
            "--series-where",
            "x is_set",
        ],
        vec![
            "--project",
            gen_b,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--interval",
            "month",
            "--series",
            "any:unique_persons",
            "--series",
            "payment:total",
            "--lang",
            "zh-CN",
        ],
        vec![
            "--project",
            "no-such-project",
            "--as-of",
            "2025-03-01T00:00:00Z",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2024-12-01T00:00:00Z",
            "--from",
            "all",
        ],
    ];
    for args in &fixed {
        fx.same_kind("trends", args);
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for case in 0..30 {
        let mut args = vec!["--project", rng.pick(&[gen_a, gen_b, "edge"])];
        args.extend([
            "--as-of",
            rng.pick(&[
                "2025-04-01T00:00:00Z",
                "2025-02-15T12:00:00Z",
                "2025-03-09T07:30:00Z",
            ]),
        ]);
        let interval = rng.pick(&["day", "day", "week", "month", "hour"]);
        args.extend(["--interval", interval]);
        match interval {
            "hour" => args.extend([
                "--from",
                "2025-01-15T00:00:00",
                "--to",
                "2025-01-16T12:00:00",
            ]),
            _ => args.extend([
                "--from",
                rng.pick(&["2025-01-01", "-20d", "all", "2025-02-20"]),
            ]),
        }
        args.extend([
            "--tz",
            rng.pick(&["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"]),
        ]);
        let maths: &[&str] = if interval == "day" {
            &["total", "unique_persons", "dau", "wau", "mau", "dau_mau"]
        } else {
            &["total", "unique_persons"]
        };
        for _ in 0..2 {
            let event = rng.pick(&[
                "any",
                "chat_message",
                "$pageview,chat_message",
                "$ai_generation",
            ]);
            let math = rng.pick(maths);
            args.extend([
                "--series",
                Box::leak(format!("{event}:{math}").into_boxed_str()),
            ]);
        }
        match rng.pick(&["", "", "where", "personless", "series-where"]) {
            "where" => args.extend([
                "--where",
                rng.pick(&["$ai_model contains gpt", "x gt 1", "$os is_set"]),
            ]),
            "personless" => args.push("--include-personless"),
            "series-where" => args.extend([
                "--series-where",
                rng.pick(&["message_index gt 2", "x is_not_set"]),
            ]),
            _ => {}
        }
        eprintln!("case {case}: {args:?}");
        fx.same_kind("trends", &args);
    }
}

/// Common arguments of a random stickiness or lifecycle case: project, as_of, interval, range and zone.
fn activity_case<'a>(rng: &mut Rng, projects: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--project", rng.pick(projects)];
    args.extend([
        "--as-of",
        rng.pick(&[
            "2025-04-01T00:00:00Z",
            "2025-02-15T12:00:00Z",
            "2025-03-09T07:30:00Z",
        ]),
    ]);
    let interval = rng.pick(&["day", "day", "week", "month", "hour"]);
    args.extend(["--interval", interval]);
    match interval {
        "hour" => args.extend([
            "--from",
            rng.pick(&["2025-01-15T00:00:00", "2025-03-09T01:00:00"]),
            "--to",
            rng.pick(&["2025-01-16T12:00:00", "2025-03-09T20:00:00"]),
        ]),
        _ => args.extend([
            "--from",
            rng.pick(&["2025-01-01", "-20d", "2025-02-20", "2025-03-02"]),
        ]),
    }
    args.extend([
        "--tz",
        rng.pick(&["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"]),
    ]);
    args.extend([
        "--event",
        rng.pick(&[
            "any",
            "chat_message",
            "$pageview,chat_message",
            "$ai_generation",
        ]),
    ]);
    match rng.pick(&["", "", "where", "event-where"]) {
        "where" => args.extend([
            "--where",
            rng.pick(&["$ai_model contains gpt", "x gt 1", "$os is_set"]),
        ]),
        "event-where" => args.extend([
            "--event-where",
            rng.pick(&["message_index gt 2", "x is_not_set"]),
        ]),
        _ => {}
    }
    args
}

#[test]
fn stickiness_on_clickhouse_matches_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "stickiness");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-02-01",
            "--to",
            "2025-02-28",
            "--event",
            "chat_message",
        ],
        vec![
            "--project",
            gen_b,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-01-06",
            "--to",
            "2025-02-23",
            "--interval",
            "week",
            "--criteria",
            "gte:3",
            "--cumulative",
            "--tz",
            "Asia/Shanghai",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-01-01",
            "--to",
            "2025-02-27",
            "--interval-count",
            "7",
            "--criteria",
            "lte:2",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--tz",
            "America/New_York",
            "--include-personless",
            "--criteria",
            "exact:1",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-09T00:00:00",
            "--to",
            "2025-03-09T23:00:00",
            "--interval",
            "hour",
            "--tz",
            "America/New_York",
            "--lang",
            "zh-CN",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-01-01",
            "--interval",
            "month",
            "--criteria",
            "exact:0",
        ],
        vec![
            "--project",
            "no-such-project",
            "--as-of",
            "2025-03-01T00:00:00Z",
        ],
    ];
    for args in &fixed {
        let out = fx.same_kind("stickiness", args);
        assert!(
            out.contains("\"kind\": \"stickiness\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for case in 0..25 {
        let mut args = activity_case(&mut rng, &[gen_a, gen_b, "edge"]);
        args.extend(["--interval-count", rng.pick(&["1", "1", "2", "3"])]);
        match rng.pick(&["", "gte:2", "lte:1", "exact:2", "gte:0"]) {
            "" => {}
            c => args.extend(["--criteria", c]),
        }
        if rng.pick(&["", "c"]) == "c" {
            args.push("--cumulative");
        }
        if rng.pick(&["", "", "p"]) == "p" {
            args.push("--include-personless");
        }
        eprintln!("case {case}: {args:?}");
        fx.same_kind("stickiness", &args);
    }
}

#[test]
fn lifecycle_on_clickhouse_matches_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "lifecycle");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-02-01",
            "--to",
            "2025-02-28",
        ],
        vec![
            "--project",
            gen_b,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "all",
            "--interval",
            "week",
            "--event",
            "chat_message",
            "--tz",
            "Asia/Shanghai",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--tz",
            "America/New_York",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-10T00:00:00Z",
            "--from",
            "all",
            "--event",
            "chat_message",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-09T00:00:00",
            "--to",
            "2025-03-09T23:00:00",
            "--interval",
            "hour",
            "--tz",
            "America/New_York",
            "--lang",
            "zh-CN",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--from",
            "2025-01-01",
            "--interval",
            "month",
            "--event",
            "payment",
        ],
        vec![
            "--project",
            "no-such-project",
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "all",
        ],
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2024-12-01T00:00:00Z",
            "--from",
            "all",
        ],
    ];
    for args in &fixed {
        let out = fx.same_kind("lifecycle", args);
        assert!(
            out.contains("\"kind\": \"lifecycle\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0xd1b5_4a32_d192_ed03);
    for case in 0..25 {
        let mut args = activity_case(&mut rng, &[gen_a, gen_b, "edge"]);
        if rng.pick(&["", "", "", "all"]) == "all" {
            let at = args.iter().position(|a| *a == "--from").unwrap();
            args[at + 1] = "all";
        }
        eprintln!("case {case}: {args:?}");
        fx.same_kind("lifecycle", &args);
    }
}

#[test]
fn growth_on_clickhouse_matches_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "growth");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let launch_a = format!("{gen_a}=2024-12-20");
    let launch_b = format!("{gen_b}=2025-05-01");
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "--project",
            gen_a,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--milestones",
            "1,10,100,100000",
        ],
        vec![
            "--project",
            gen_b,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--metric",
            "mau",
            "--tz",
            "Asia/Shanghai",
        ],
        vec![
            "--project",
            gen_a,
            "--project",
            gen_b,
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--launch-date",
            &launch_a,
            "--launch-date",
            &launch_b,
            "--event",
            "chat_message",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--tz",
            "America/New_York",
            "--include-personless",
            "--metric",
            "mau",
        ],
        vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--where",
            "$ai_model contains gpt",
            "--lang",
            "zh-CN",
        ],
        vec![
            "--project",
            "no-such-project",
            "--as-of",
            "2025-03-01T00:00:00Z",
        ],
        vec![
            "--project",
            "no-such-project",
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--launch-date",
            "no-such-project=2025-02-01",
            "--metric",
            "mau",
        ],
        vec!["--project", gen_a, "--as-of", "2024-12-01T00:00:00Z"],
    ];
    for args in &fixed {
        let out = fx.same_kind("growth", args);
        assert!(
            out.contains("\"kind\": \"growth\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for case in 0..25 {
        let mut args = activity_case(&mut rng, &[gen_a, gen_b, "edge"]);
        // Growth reads all history: no interval and no range.
        for flag in ["--interval", "--from", "--to"] {
            if let Some(at) = args.iter().position(|a| *a == flag) {
                args.drain(at..at + 2);
            }
        }
        args.extend(["--metric", rng.pick(&["cumulative_persons", "mau"])]);
        args.extend(["--milestones", rng.pick(&["1,5,20", "3", "1,2,3,4,5,6"])]);
        if rng.pick(&["", "", "p"]) == "p" {
            args.push("--include-personless");
        }
        eprintln!("case {case}: {args:?}");
        fx.same_kind("growth", &args);
    }
}

#[test]
fn trends_breakdowns_on_clickhouse_match_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "trends_breakdowns");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let base = |project: &'static str| -> Vec<&'static str> {
        vec![
            "--project",
            project,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-02-01",
            "--to",
            "2025-02-20",
        ]
    };
    let (a, b): (&'static str, &'static str) = (
        Box::leak(gen_a.to_string().into_boxed_str()),
        Box::leak(gen_b.to_string().into_boxed_str()),
    );
    let mut fixed: Vec<Vec<&str>> = Vec::new();
    // Every count math, kept whole and folded into Other.
    for math in ["total", "unique_persons", "dau", "wau", "mau", "dau_mau"] {
        for limit in ["1", "25"] {
            let mut args = base(a);
            args.extend([
                "--series",
                Box::leak(format!("any:{math}").into_boxed_str()),
                "--series",
                "chat_message:unique_persons",
                "--breakdown",
                "$ai_model",
                "--breakdown-limit",
                limit,
            ]);
            fixed.push(args);
        }
    }
    // Properties of every JSON type, a missing value, several projects, `all`, a zone and hours.
    for (project, key) in [("edge", "x"), ("edge", "plan"), (b, "$os")] {
        let mut args = base(project);
        args.extend([
            "--series",
            "any:total",
            "--breakdown",
            key,
            "--breakdown-limit",
            "2",
        ]);
        fixed.push(args);
    }
    fixed.push(vec![
        "--project",
        a,
        "--project",
        b,
        "--as-of",
        "2025-02-10T12:00:00Z",
        "--from",
        "all",
        "--interval",
        "week",
        "--tz",
        "Asia/Shanghai",
        "--series",
        "$ai_generation:unique_persons",
        "--breakdown",
        "$ai_model",
        "--breakdown-limit",
        "2",
    ]);
    fixed.push(vec![
        "--project",
        "edge",
        "--as-of",
        "2025-03-20T00:00:00Z",
        "--interval",
        "hour",
        "--from",
        "2025-03-09T00:00:00",
        "--to",
        "2025-03-09T23:00:00",
        "--tz",
        "America/New_York",
        "--series",
        "any:unique_persons",
        "--breakdown",
        "$ai_model",
        "--include-personless",
    ]);
    // Values whose first-series events lie only in the look-back periods (or only in another series) score zero
    // and belong to no group, not to Other.
    for (first, to) in [
        ("chat_message:total", "2025-02-12"),
        ("chat_message:dau", "2025-02-10"),
        ("chat_message:wau", "2025-02-10"),
    ] {
        fixed.push(vec![
            "--project",
            a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-02-10",
            "--to",
            to,
            "--series",
            first,
            "--series",
            "any:mau",
            "--breakdown",
            "message_index",
            "--breakdown-limit",
            "1",
        ]);
    }
    fixed.push(vec![
        "--project",
        "edge",
        "--as-of",
        "2025-03-20T00:00:00Z",
        "--from",
        "2025-03-04",
        "--to",
        "2025-03-04",
        "--series",
        "chat_message:dau",
        "--series",
        "any:mau",
        "--breakdown",
        "x",
        "--breakdown-limit",
        "1",
    ]);
    // A breakdown whose first series counts nothing: no group at all.
    fixed.push(vec![
        "--project",
        a,
        "--as-of",
        "2025-03-01T00:00:00Z",
        "--from",
        "2025-02-01",
        "--series",
        "no_such_event:total",
        "--series",
        "any:total",
        "--breakdown",
        "$ai_model",
    ]);
    for args in &fixed {
        let out = fx.same_kind("trends", args);
        assert!(
            out.contains("\"breakdown_values\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x0bad_5eed_1234_5678);
    for case in 0..25 {
        let mut args = activity_case(&mut rng, &[a, b, "edge"]);
        let interval = args[args.iter().position(|a| *a == "--interval").unwrap() + 1];
        let maths: &[&str] = if interval == "day" {
            &["total", "unique_persons", "dau", "wau", "mau", "dau_mau"]
        } else {
            &["total", "unique_persons"]
        };
        // `activity_case` names one entity; trends takes series.
        let at = args.iter().position(|a| *a == "--event").unwrap();
        let event = args[at + 1];
        args.drain(at..at + 2);
        for e in [event, rng.pick(&["any", "chat_message", "$ai_generation"])] {
            let math = rng.pick(maths);
            args.extend([
                "--series",
                Box::leak(format!("{e}:{math}").into_boxed_str()),
            ]);
        }
        if let Some(at) = args.iter().position(|a| *a == "--event-where") {
            args[at] = "--series-where";
        }
        args.extend([
            "--breakdown",
            rng.pick(&["$ai_model", "$os", "x", "plan", "message_index"]),
            "--breakdown-limit",
            rng.pick(&["1", "2", "3", "25"]),
        ]);
        eprintln!("case {case}: {args:?}");
        fx.same_kind("trends", &args);
    }
}

#[test]
fn trends_property_maths_on_clickhouse_match_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "trends_maths");
    let (a, b): (&'static str, &'static str) = (
        Box::leak(fx.projects[0].clone().into_boxed_str()),
        Box::leak(fx.projects[1].clone().into_boxed_str()),
    );
    const MATHS: [&str; 8] = ["sum", "avg", "min", "max", "median", "p90", "p95", "p99"];
    let mut fixed: Vec<Vec<&str>> = Vec::new();
    // Every math on tokens (integers) and latency (floats), by day.
    for math in MATHS {
        fixed.push(vec![
            "--project",
            a,
            "--as-of",
            "2025-03-01T00:00:00Z",
            "--from",
            "2025-02-01",
            "--to",
            "2025-02-14",
            "--series",
            Box::leak(format!("$ai_generation:{math}:$ai_input_tokens").into_boxed_str()),
            "--series",
            Box::leak(format!("$ai_generation:{math}:$ai_latency").into_boxed_str()),
        ]);
    }
    // Values of every JSON type (numbers, numeric strings with spaces and signs, non-numeric ones, 1e400), with a
    // breakdown folded into Other, and a count math beside.
    for math in MATHS {
        fixed.push(vec![
            "--project",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--tz",
            "America/New_York",
            "--series",
            Box::leak(format!("any:{math}:x").into_boxed_str()),
            "--series",
            "any:unique_persons",
            "--breakdown",
            "plan",
            "--breakdown-limit",
            "1",
        ]);
    }
    // Values that score zero or less (negative, non-numeric) belong to no group, not to Other.
    fixed.push(vec![
        "--project",
        "edge",
        "--as-of",
        "2025-03-20T00:00:00Z",
        "--from",
        "2025-03-01",
        "--series",
        "any:sum:x",
        "--series",
        "any:unique_persons",
        "--breakdown",
        "x",
        "--breakdown-limit",
        "2",
    ]);
    fixed.push(vec![
        "--project",
        a,
        "--project",
        b,
        "--as-of",
        "2025-02-10T12:00:00Z",
        "--from",
        "all",
        "--interval",
        "week",
        "--series",
        "$ai_generation:p90:$ai_output_tokens",
        "--breakdown",
        "$ai_model",
        "--breakdown-limit",
        "2",
        "--lang",
        "zh-CN",
    ]);
    fixed.push(vec![
        "--project",
        a,
        "--as-of",
        "2025-03-01T00:00:00Z",
        "--interval",
        "month",
        "--from",
        "2025-01-01",
        "--series",
        "chat_message:sum:no_such_property",
    ]);
    for args in &fixed {
        let out = fx.same_kind("trends", args);
        assert!(
            out.contains("\"kind\": \"trends\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x5851_f42d_4c95_7f2d);
    for case in 0..25 {
        let mut args = activity_case(&mut rng, &[a, b, "edge"]);
        let at = args.iter().position(|a| *a == "--event").unwrap();
        let event = args[at + 1];
        args.drain(at..at + 2);
        let key = rng.pick(&["$ai_input_tokens", "$ai_latency", "x", "message_index"]);
        args.extend([
            "--series",
            Box::leak(format!("{event}:{}:{key}", rng.pick(&MATHS)).into_boxed_str()),
        ]);
        if let Some(at) = args.iter().position(|a| *a == "--event-where") {
            args[at] = "--series-where";
        }
        if rng.pick(&["", "b"]) == "b" {
            args.extend([
                "--breakdown",
                rng.pick(&["$ai_model", "plan", "x"]),
                "--breakdown-limit",
                rng.pick(&["1", "3"]),
            ]);
        }
        eprintln!("case {case}: {args:?}");
        fx.same_kind("trends", &args);
    }
}

#[test]
fn person_properties_on_clickhouse_match_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "person_properties");
    let (a, b): (&'static str, &'static str) = (
        Box::leak(fx.projects[0].clone().into_boxed_str()),
        Box::leak(fx.projects[1].clone().into_boxed_str()),
    );
    let mut fixed: Vec<(&str, Vec<&str>)> = Vec::new();
    // The edge project's updates, seen at instants before and after each of them and the merge.
    for as_of in [
        "2025-03-03T12:00:00Z",
        "2025-03-04T12:00:00Z",
        "2025-03-09T12:00:00Z",
        "2025-03-10T00:00:00Z",
        "2025-03-11T12:00:00Z",
        "2025-03-20T00:00:00Z",
    ] {
        for (kind, extra) in [
            ("retention", vec!["--breakdown", "person:tier"]),
            ("retention", vec!["--where", "person.seats gt 4"]),
            (
                "trends",
                vec![
                    "--breakdown",
                    "person:first",
                    "--series",
                    "any:unique_persons",
                ],
            ),
            (
                "trends",
                vec!["--where", "person.tags contains b", "--series", "any:total"],
            ),
            (
                "trends",
                vec!["--breakdown", "person:seats", "--series", "any:total"],
            ),
            ("stickiness", vec!["--where", "person.tier is_set"]),
            ("lifecycle", vec!["--where", "person.tier neq gold"]),
            ("growth", vec!["--where", "person.coupon is_not_set"]),
        ] {
            let mut args = vec!["--project", "edge", "--as-of", as_of];
            if kind != "growth" {
                args.extend(["--from", "2025-03-01"]);
            }
            args.extend(extra);
            fixed.push((kind, args));
        }
    }
    // The generated apps: plans set by events and by persons imports.
    for project in [a, b] {
        for (kind, extra) in [
            (
                "retention",
                vec!["--breakdown", "person:plan", "--from", "2025-01-01"],
            ),
            (
                "retention",
                vec!["--where", "person.plan eq pro", "--from", "2025-01-01"],
            ),
            (
                "trends",
                vec![
                    "--breakdown",
                    "person:plan",
                    "--series",
                    "any:dau",
                    "--from",
                    "2025-02-01",
                ],
            ),
            (
                "lifecycle",
                vec!["--where", "person.plan eq pro", "--from", "2025-02-01"],
            ),
        ] {
            let mut args = vec!["--project", project, "--as-of", "2025-03-01T00:00:00Z"];
            args.extend(extra);
            fixed.push((kind, args));
        }
    }
    for (kind, args) in &fixed {
        let out = fx.same_kind(kind, args);
        assert!(
            out.contains(&format!("\"kind\": \"{kind}\"")),
            "{kind} {args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x1405_7b7e_f767_814f);
    for case in 0..25 {
        let kind = rng.pick(&["retention", "trends", "stickiness", "lifecycle", "growth"]);
        let mut args = activity_case(&mut rng, &[a, b, "edge"]);
        let at = args.iter().position(|a| *a == "--event").unwrap();
        let event = args[at + 1];
        args.drain(at..at + 2);
        match kind {
            "retention" => args.extend(["--target", event]),
            "trends" => args.extend([
                "--series",
                Box::leak(format!("{event}:unique_persons").into_boxed_str()),
            ]),
            "growth" => {
                for flag in ["--interval", "--from", "--to"] {
                    if let Some(at) = args.iter().position(|a| *a == flag) {
                        args.drain(at..at + 2);
                    }
                }
            }
            _ => args.extend(["--event", event]),
        }
        if let Some(at) = args.iter().position(|a| *a == "--event-where") {
            args.drain(at..at + 2);
        }
        if kind == "retention" {
            let at = args.iter().position(|a| *a == "--interval").unwrap();
            args[at] = "--period";
            if args[at + 1] == "hour" {
                args[at + 1] = "day";
                // Hour windows name local times; a day's window takes dates.
                let from = args.iter().position(|a| *a == "--from").unwrap();
                args.drain(from..from + 4);
            }
        }
        args.extend([
            "--where",
            rng.pick(&[
                "person.plan eq pro",
                "person.plan is_not_set",
                "person.tier is_set",
                "person.seats gt 4",
                "person.tags contains c",
            ]),
        ]);
        if matches!(kind, "retention" | "trends") && rng.pick(&["", "b"]) == "b" {
            args.extend(["--breakdown", rng.pick(&["person:plan", "person:tier"])]);
        }
        eprintln!("case {case}: {kind} {args:?}");
        fx.same_kind(kind, &args);
    }
}

#[test]
fn funnels_on_clickhouse_match_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "funnels");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let as_of = "2025-03-01T00:00:00Z";
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-01-01",
            "--step",
            "$pageview",
            "--step",
            "chat_message",
            "--step",
            "payment",
            "--window",
            "14d",
        ],
        // Several projects side by side, strict order, a short window.
        vec![
            "-p",
            gen_a,
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-02-01",
            "--step",
            "chat_message",
            "--step",
            "$ai_generation",
            "--window",
            "30min",
            "--order",
            "strict",
        ],
        // First-time steps read all history; an exclusion; step filters.
        vec![
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-02-10",
            "--step",
            "chat_message",
            "--step",
            "chat_message",
            "--first-time",
            "1",
            "--step-where",
            "2:message_index gt 2",
            "--exclude",
            "payment:1-2",
            "--window",
            "7d",
        ],
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "all",
            "--step",
            "any",
            "--step",
            "payment",
            "--order",
            "unordered",
            "--window",
            "1mo",
            "--tz",
            "Asia/Shanghai",
        ],
        // Strict order broken by other activity; an exclusion that blocks only the last move.
        vec![
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-01-01",
            "--step",
            "$pageview",
            "--step",
            "chat_message",
            "--order",
            "strict",
            "--window",
            "1d",
        ],
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-01-01",
            "--step",
            "$pageview",
            "--step",
            "chat_message",
            "--step",
            "$ai_generation",
            "--exclude",
            "$identify:2-3",
            "--window",
            "1d",
        ],
        // Breakdowns with each attribution.
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-01-15",
            "--step",
            "$pageview",
            "--step",
            "$ai_generation",
            "--breakdown",
            "event:$ai_model",
            "--attribution",
            "last-touch",
            "--breakdown-limit",
            "2",
        ],
        vec![
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-01-15",
            "--step",
            "chat_message",
            "--step",
            "$ai_generation",
            "--step",
            "payment",
            "--breakdown",
            "event:$ai_model",
            "--attribution",
            "step",
            "--attribution-step",
            "2",
            "--window",
            "30d",
        ],
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-02-01",
            "--step",
            "$ai_generation",
            "--step",
            "chat_message",
            "--breakdown",
            "event:$ai_model",
            "--attribution",
            "all-events",
            "--order",
            "unordered",
        ],
        // Conversion by entry period, and the time to convert.
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-01-06",
            "--step",
            "$pageview",
            "--step",
            "chat_message",
            "--step",
            "payment",
            "--viz",
            "trends",
            "--interval",
            "week",
            "--to-step",
            "3",
            "--tz",
            "America/New_York",
        ],
        vec![
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-02-20",
            "--step",
            "$pageview",
            "--step",
            "chat_message",
            "--viz",
            "time-to-convert",
            "--bins",
            "7",
        ],
        // The edge project: odd property values, a person breakdown, personless persons, a DST day.
        vec![
            "-p",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--step",
            "any",
            "--step",
            "chat_message",
            "--breakdown",
            "person:plan",
            "--include-personless",
            "--tz",
            "America/New_York",
            "--lang",
            "zh-CN",
        ],
        vec![
            "-p",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--step",
            "any",
            "--step",
            "any",
            "--where",
            "x is_set",
            "--viz",
            "trends",
            "--interval",
            "hour",
            "--from",
            "2025-03-09T00:00:00",
            "--to",
            "2025-03-09T23:00:00",
        ],
        vec![
            "-p",
            "no-such-project",
            "--as-of",
            as_of,
            "--step",
            "a",
            "--step",
            "b",
        ],
    ];
    for args in &fixed {
        let out = fx.same_kind("funnels", args);
        assert!(
            out.is_empty() || out.contains("\"kind\": \"funnels\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let names = [
        "$pageview",
        "chat_message",
        "$ai_generation",
        "payment",
        "any",
    ];
    let mut computed = 0;
    for case in 0..40 {
        let mut args: Vec<&str> = vec!["-p", rng.pick(&[gen_a, gen_b, "edge"])];
        if rng.pick(&["", "", "", "two"]) == "two" {
            args.extend(["-p", rng.pick(&[gen_a, gen_b, "edge"])]);
        }
        args.extend([
            "--as-of",
            rng.pick(&[
                "2025-04-01T00:00:00Z",
                "2025-02-15T12:00:00Z",
                "2025-03-09T07:30:00Z",
            ]),
            "--from",
            rng.pick(&["2025-01-01", "-20d", "2025-02-20", "all", "2025-03-02"]),
            "--tz",
            rng.pick(&["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"]),
            "--window",
            rng.pick(&["1h", "1d", "14d", "30min", "1mo"]),
            "--order",
            rng.pick(&["ordered", "ordered", "strict", "unordered"]),
        ]);
        let n = rng.pick(&["2", "3", "4"]).parse::<usize>().unwrap();
        for _ in 0..n {
            args.extend(["--step", rng.pick(&names)]);
        }
        match rng.pick(&["", "", "first", "where", "exclude", "global"]) {
            "first" => args.extend(["--first-time", rng.pick(&["1", "2"])]),
            "where" => args.extend([
                "--step-where",
                rng.pick(&[
                    "2:message_index gt 2",
                    "1:$ai_model contains gpt",
                    "2:x is_not_set",
                ]),
            ]),
            "exclude" => args.extend(["--exclude", rng.pick(&["payment:1-2", "$identify:1-2"])]),
            "global" => args.extend(["--where", rng.pick(&["$os is_set", "x gt 1"])]),
            _ => {}
        }
        match rng.pick(&["steps", "steps", "trends", "time"]) {
            "trends" => args.extend([
                "--viz",
                "trends",
                "--interval",
                rng.pick(&["day", "week", "month"]),
            ]),
            "time" => args.extend(["--viz", "time-to-convert"]),
            _ => {}
        }
        if rng.pick(&["", "", "b"]) == "b" {
            args.extend([
                "--breakdown",
                rng.pick(&["event:$ai_model", "person:plan", "$os"]),
                "--attribution",
                rng.pick(&["first-touch", "last-touch", "all-events", "step"]),
                "--breakdown-limit",
                rng.pick(&["1", "3", "25"]),
            ]);
            if args.contains(&"step") {
                args.extend(["--attribution-step", rng.pick(&["1", "2"])]);
            }
        }
        if rng.pick(&["", "", "p"]) == "p" {
            args.push("--include-personless");
        }
        eprintln!("case {case}: {args:?}");
        if !fx.same_kind("funnels", &args).is_empty() {
            computed += 1;
        }
    }
    // Refusals must agree too, but most cases must compute.
    assert!(computed >= 30, "{computed} of 40 random funnels computed");
}

#[test]
fn economics_on_clickhouse_matches_the_embedded_engine() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "economics");
    let (gen_a, gen_b) = (fx.projects[0].as_str(), fx.projects[1].as_str());
    let prices = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo_prices.toml");
    // One rate for CNY; JPY has none, so its amounts stay unconverted.
    let rates = tmp.path().join("fx.json");
    std::fs::write(
        &rates,
        r#"[{"date": "2024-12-01", "from": "CNY", "to": "USD", "rate": "0.1375", "source": "test"},
            {"date": "2025-03-05", "from": "CNY", "to": "USD", "rate": "0.1381", "source": "test"},
            {"date": "2024-12-01", "from": "USD", "to": "CNY", "rate": "7.25", "source": "test"}]"#,
    )
    .unwrap();
    let rates = rates.to_str().unwrap();
    let as_of = "2025-04-01T00:00:00Z";
    let fixed: Vec<Vec<&str>> = vec![
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--period",
            "month",
            "--intervals",
            "3",
            "--prices",
            prices,
            "--fx",
            rates,
        ],
        // Several projects, weekly cohorts of a named target, a target filter, fees as contra-revenue, other costs.
        vec![
            "-p",
            gen_a,
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-01-06",
            "--to",
            "2025-03-02",
            "--period",
            "week",
            "--intervals",
            "6",
            "--target",
            "chat_message",
            "--target-where",
            "$os is_set",
            "--fee-treatment",
            "contra-revenue",
            "--cost-per-active-user",
            "0.02",
            "--cost-per-event",
            "chat_message=0.001",
            "--prices",
            prices,
            "--fx",
            rates,
        ],
        // Breakdowns: by an event property (the model), by a person property; Other.
        vec![
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-02-01",
            "--to",
            "2025-03-15",
            "--period",
            "day",
            "--intervals",
            "10",
            "--breakdown",
            "event:$ai_model",
            "--breakdown-limit",
            "2",
            "--prices",
            prices,
            "--fx",
            rates,
            "--cost-per-active-user",
            "0.5",
        ],
        vec![
            "-p",
            gen_a,
            "--as-of",
            as_of,
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--breakdown",
            "person:plan",
            "--prices",
            prices,
            "--fx",
            rates,
            "--currency",
            "CNY",
            "--tz",
            "Asia/Shanghai",
        ],
        // Global filters shape anchors and activity, never money; a spend and CAC.
        vec![
            "-p",
            gen_a,
            "--as-of",
            "2025-02-20T12:00:00Z",
            "--from",
            "2025-01-01",
            "--to",
            "2025-02-28",
            "--where",
            "$os is_set",
            "--spend",
            "2025-01-15=1200",
            "--spend",
            "2025-02-01=800:CNY",
            "--prices",
            prices,
            "--fx",
            rates,
            "--tz",
            "America/New_York",
        ],
        // The edge project: escaped AI text, unpriced models, a supplied cost, an unconverted currency, a refund,
        // personless persons in and out.
        vec![
            "-p",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-19",
            "--period",
            "day",
            "--intervals",
            "14",
            "--fx",
            rates,
        ],
        vec![
            "-p",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-19",
            "--period",
            "week",
            "--intervals",
            "3",
            "--include-personless",
            "--breakdown",
            "event:$ai_model",
            "--fx",
            rates,
            "--prices",
            prices,
            "--cost-per-event",
            "payment=0.3",
        ],
        vec![
            "-p",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-19",
            "--period",
            "hour",
            "--intervals",
            "48",
            "--from",
            "2025-03-02T00:00:00",
            "--to",
            "2025-03-03T23:00:00",
            "--breakdown",
            "person:plan",
            "--target",
            "chat_message",
        ],
        // A global filter some activity fails: fewer active persons, the same money.
        vec![
            "-p",
            "edge",
            "--as-of",
            "2025-03-20T00:00:00Z",
            "--from",
            "2025-03-01",
            "--to",
            "2025-03-19",
            "--period",
            "day",
            "--intervals",
            "14",
            "--where",
            "plan eq pro",
            "--fx",
            rates,
        ],
        vec![
            "-p",
            gen_b,
            "--as-of",
            as_of,
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--period",
            "week",
            "--intervals",
            "8",
            "--where",
            "message_index gt 3",
            "--target",
            "chat_message",
        ],
        vec![
            "-p",
            "no-such-project",
            "--as-of",
            as_of,
            "--prices",
            prices,
        ],
    ];
    for args in &fixed {
        let out = fx.same_kind("economics", args);
        assert!(
            out.is_empty() || out.contains("\"kind\": \"economics\""),
            "{args:?} computes: {out}"
        );
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut computed = 0;
    for case in 0..30 {
        let mut args: Vec<&str> = vec!["-p", rng.pick(&[gen_a, gen_b, "edge"])];
        if rng.pick(&["", "", "", "two"]) == "two" {
            args.extend(["-p", rng.pick(&[gen_a, gen_b, "edge"])]);
        }
        let period = rng.pick(&["day", "week", "month", "month"]);
        args.extend([
            "--as-of",
            rng.pick(&[
                "2025-04-01T00:00:00Z",
                "2025-02-15T12:00:00Z",
                "2025-03-09T07:30:00Z",
            ]),
            "--from",
            rng.pick(&["2025-01-01", "2025-02-01", "2025-03-01"]),
            "--to",
            rng.pick(&["2025-03-31", "2025-02-28", "2025-03-15"]),
            "--tz",
            rng.pick(&["UTC", "Asia/Shanghai", "America/New_York", "Asia/Kolkata"]),
            "--period",
            period,
            "--intervals",
            rng.pick(&["1", "3", "8"]),
            "--target",
            rng.pick(&["any", "any", "chat_message", "$pageview", "payment"]),
            "--fee-treatment",
            rng.pick(&["cogs", "contra-revenue"]),
            "--currency",
            rng.pick(&["USD", "USD", "CNY", "EUR"]),
            "--fx",
            rates,
        ]);
        if rng.pick(&["", "p"]) == "p" {
            args.extend(["--prices", prices]);
        }
        match rng.pick(&["", "", "where", "target-where", "active", "event"]) {
            "where" => args.extend([
                "--where",
                rng.pick(&["$os is_set", "x gt 1", "plan eq pro"]),
            ]),
            "target-where" => args.extend([
                "--target-where",
                rng.pick(&["$os is_set", "message_index gt 2"]),
            ]),
            "active" => args.extend(["--cost-per-active-user", rng.pick(&["0.02", "1"])]),
            "event" => args.extend([
                "--cost-per-event",
                rng.pick(&["chat_message=0.001", "$pageview=0.0005"]),
            ]),
            _ => {}
        }
        if rng.pick(&["", "", "b"]) == "b" {
            args.extend([
                "--breakdown",
                rng.pick(&[
                    "event:$ai_model",
                    "person:plan",
                    "$os",
                    "event:$ai_provider",
                ]),
                "--breakdown-limit",
                rng.pick(&["1", "3", "25"]),
            ]);
        }
        if rng.pick(&["", "", "p"]) == "p" {
            args.push("--include-personless");
        }
        eprintln!("case {case}: {args:?}");
        if !fx.same_kind("economics", &args).is_empty() {
            computed += 1;
        }
    }
    assert!(
        computed >= 20,
        "{computed} of 30 random economics reports computed"
    );
}

#[test]
fn export_resumes_and_sends_only_what_clickhouse_lacks() {
    let Some(url) = url() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let fx = Fixture::new(tmp.path(), url, "resume");
    let scalar = |sql: &str| -> String {
        let (status, body) = post(&fx.url, Some(&fx.database), sql);
        assert_eq!(status, 200, "{sql}: {body}");
        body.trim().to_string()
    };
    let count = || {
        scalar("SELECT count() FROM liucun_events")
            .parse::<u64>()
            .unwrap()
    };
    // Written and already-there events per project, from the export's lines.
    let export = || -> Vec<(String, u64, u64)> {
        let out = ok(fx.run(&["export", "clickhouse", "--quiet"]));
        out.lines()
            .map(|l| {
                let (project, rest) = l.split_once(": ").unwrap();
                let written = rest.split(' ').next().unwrap().parse().unwrap();
                let kept = rest.split_once('(').unwrap().1.split(' ').next().unwrap();
                (project.to_string(), written, kept.parse().unwrap())
            })
            .collect()
    };
    let all = count();
    // The binary rows arrive as written: a uuid, an instant and a digest read back as the data directory has them.
    assert_eq!(
        scalar(
            "SELECT toString(timestamp), length(properties) > 0, digest != 0 FROM liucun_events \
             WHERE project = 'edge' AND uuid = toUUID('00000000-0000-7000-8000-000000000001')"
        ),
        "2025-03-01 01:30:00.000000\t1\t1"
    );
    // Run again, nothing is sent.
    for (project, written, kept) in export() {
        assert_eq!(written, 0, "{project}");
        assert!(kept > 0, "{project}");
    }
    assert_eq!(count(), all);

    // An export cut short (part of a segment missing) and rows of a segment the data directory no longer has.
    scalar("DELETE FROM liucun_events WHERE project = 'edge' AND distinct_id = 'v1'");
    scalar(
        "INSERT INTO liucun_events (project, segment, uuid, distinct_id, event, timestamp, properties, digest, \
         personless, ai_usage_invalid, received_at, source) VALUES ('edge', 'segments/gone.parquet', \
         generateUUIDv4(), 'stray', 'chat_message', now64(6), '{}', 0, false, false, now64(6), 'test')",
    );
    let resumed = export();
    let edge = resumed.iter().find(|(p, _, _)| p == "edge").unwrap();
    assert!(
        edge.1 > 0 && edge.2 > 0,
        "only the damaged segments are sent again: {edge:?}"
    );
    for (project, written, _) in &resumed {
        if project != "edge" {
            assert_eq!(*written, 0, "{project}");
        }
    }
    assert_eq!(count(), all, "every event once, the stray row gone");
    let args = [
        "--project",
        "edge",
        "--as-of",
        "2025-03-20T00:00:00Z",
        "--from",
        "2025-03-01",
    ];
    fx.same(&args);

    // New events, then a compaction that replaces the segments: both reach ClickHouse, nothing twice.
    let more = tmp.path().join("more.ndjson");
    std::fs::write(
        &more,
        (0..50)
            .map(|i| {
                format!(
                    r#"{{"uuid": "00000000-0000-7000-9000-{i:012}", "distinct_id": "late-{}", "event": "chat_message", "timestamp": "2025-03-{:02}T12:00:00Z", "properties": {{}}}}"#,
                    i % 7,
                    1 + i % 18
                )
            })
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    ok(liucun(
        &fx.data,
        &[
            "import",
            "--quiet",
            "--project",
            "edge",
            more.to_str().unwrap(),
        ],
    ));
    let grown = export();
    let edge = grown.iter().find(|(p, _, _)| p == "edge").unwrap();
    assert_eq!(edge.1, 50, "only the new events: {edge:?}");
    assert_eq!(count(), all + 50);
    ok(liucun(&fx.data, &["compact"]));
    export();
    assert_eq!(
        count(),
        all + 50,
        "compacted segments replace the rows of theirs"
    );
    fx.same(&args);
}
