//! Surface tests of the `liucun` binary: run it in a temporary directory and check exit codes and output.

use std::path::Path;
use std::process::{Command, Output};

fn liucun(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liucun"))
        .arg("--data")
        .arg(data)
        .args(args)
        .output()
        .expect("run liucun")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn gen_import_inspect_and_reimport() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("ev.ndjson");
    let o = liucun(
        &data,
        &[
            "gen",
            "--events",
            "3000",
            "--seed",
            "5",
            "--apps",
            "2",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let files: Vec<(String, String)> = stdout(&o)
        .lines()
        .map(|l| {
            let mut p = l.split('\t');
            (p.next().unwrap().to_string(), p.next().unwrap().to_string())
        })
        .collect();
    assert_eq!(files.len(), 2);
    for (project, path) in &files {
        let o = liucun(&data, &["import", "--project", project, path]);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout(&o).contains("rejected 0"), "{}", stdout(&o));
    }
    let o = liucun(&data, &["inspect", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let total: u64 = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["events"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 3000);
    // The import derived every segment's dense ids and activity by hour, and each project's dictionary and persons.
    let segments: u64 = v["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["segments"].as_u64().unwrap())
        .sum();
    let ids = &v["dense_ids"];
    assert_eq!(ids["segment_files"]["files"], 2 * segments, "{ids}");
    assert_eq!(ids["project_files"]["files"], 4, "{ids}");
    assert!(ids["segment_files"]["bytes"].as_u64().unwrap() > 0);
    // Importing again writes nothing new.
    let (project, path) = &files[0];
    let o = liucun(&data, &["import", "--project", project, path]);
    assert!(stdout(&o).contains("written 0"), "{}", stdout(&o));
    // A report round-trips through verify.
    let o = liucun(
        &data,
        &[
            "retention",
            "-p",
            project,
            "--type",
            "first-time",
            "--as-of",
            "2025-06-01T00:00:00Z",
            "--format",
            "json",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report = tmp.path().join("report.json");
    std::fs::write(&report, &o.stdout).unwrap();
    let o = liucun(&data, &["verify", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn rejected_rows_set_the_exit_code_and_land_in_the_rejects_file() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let input = tmp.path().join("in.ndjson");
    std::fs::write(
        &input,
        "{\"distinct_id\":\"a\",\"event\":\"x\",\"timestamp\":\"2025-01-01T00:00:00Z\"}\n{\"event\":\"x\",\"timestamp\":\"2025-01-01T00:00:00Z\"}\n",
    )
    .unwrap();
    let rejects = tmp.path().join("rejects.txt");
    let o = liucun(
        &data,
        &[
            "import",
            "-p",
            "p",
            input.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("in.ndjson:2") && stderr.contains("missing_distinct_id"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&rejects).unwrap();
    assert!(text.starts_with("{\"event\":\"x\""), "{text}");
    assert!(text.contains("missing_distinct_id"), "{text}");
    let o = liucun(
        &data,
        &[
            "import",
            "-p",
            "p",
            input.to_str().unwrap(),
            "--allow-rejects",
        ],
    );
    assert_eq!(o.status.code(), Some(0));
    let o = liucun(&data, &["quarantine", "list"]);
    assert!(stdout(&o).contains("missing_distinct_id"), "{}", stdout(&o));
}

#[test]
fn invalid_arguments_exit_2_with_a_hint() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = liucun(&data, &["import", "-p", "Bad Name", "x.ndjson"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--project"));
    let o = liucun(&data, &["inspect"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("not a liucun data directory"));
}

#[test]
fn project_settings_are_set_shown_and_applied_by_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let events = tmp.path().join("events.ndjson");
    std::fs::write(
        &events,
        concat!(
            r#"{"uuid":"00000000-0000-4000-8000-000000000001","distinct_id":"a","event":"chat","timestamp":"2025-06-02T23:30:00Z"}"#,
            "\n",
            r#"{"uuid":"00000000-0000-4000-8000-000000000002","distinct_id":"qa","event":"chat","timestamp":"2025-06-02T10:00:00Z","properties":{"internal":true}}"#,
            "\n"
        ),
    )
    .unwrap();
    let o = liucun(
        &data,
        &[
            "import",
            "--quiet",
            "--project",
            "chat",
            events.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = liucun(
        &data,
        &[
            "projects",
            "set",
            "chat",
            "--timezone",
            "Asia/Shanghai",
            "--week-start",
            "sunday",
            "--non-activity-events",
            "$set,$identify",
            "--test-account-filter",
            "internal is_not_set",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let shown: serde_json::Value =
        serde_json::from_slice(&liucun(&data, &["projects", "show", "chat"]).stdout).unwrap();
    assert_eq!(shown["timezone"], "Asia/Shanghai");
    assert_eq!(shown["week_start"], "sunday");
    assert_eq!(
        shown["non_activity_events"],
        serde_json::json!(["$set", "$identify"])
    );
    assert_eq!(shown["test_account_filters"][0]["operator"], "is_not_set");

    let trends = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "trends",
            "--project",
            "chat",
            "--from",
            "2025-06-01",
            "--to",
            "2025-06-04",
            "--as-of",
            "2025-06-10T00:00:00Z",
            "--format",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = liucun(&data, &args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let r = trends(&[]);
    assert_eq!(r["parameters"]["timezone"], "Asia/Shanghai");
    assert_eq!(r["parameters"]["week_start"], "sunday");
    let counts = |r: &serde_json::Value| -> Vec<u64> {
        r["series"][0]["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(counts(&r), [0, 1, 1, 0]);
    assert_eq!(counts(&trends(&["--filter-test-accounts"])), [0, 0, 1, 0]);

    // An invalid setting is refused naming the field, and nothing changes.
    let o = liucun(
        &data,
        &["projects", "set", "chat", "--timezone", "Mars/Base"],
    );
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("timezone"));
    let o = liucun(&data, &["projects", "set", "chat", "--reset"]);
    assert!(o.status.success());
    let shown: serde_json::Value =
        serde_json::from_slice(&liucun(&data, &["projects", "show", "chat"]).stdout).unwrap();
    assert_eq!(shown["timezone"], "UTC");
}

/// A data directory holding one generated app's events; returns it with the project's name.
fn small_data(tmp: &Path) -> (std::path::PathBuf, String) {
    let data = tmp.join("data");
    let out = tmp.join("ev.ndjson");
    let o = liucun(
        &data,
        &[
            "gen",
            "--events",
            "3000",
            "--seed",
            "5",
            "--apps",
            "1",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let line = stdout(&o);
    let mut fields = line.lines().next().unwrap().split('\t');
    let project = fields.next().unwrap().to_string();
    let path = fields.next().unwrap().to_string();
    let o = liucun(&data, &["import", "--quiet", "--project", &project, &path]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    (data, project)
}

#[test]
fn issue_17_a_closed_stdout_ends_quietly_with_exit_0() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    for args in [
        vec!["inspect", "--days"],
        vec!["cost", "export", "-p", project.as_str()],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_liucun"))
            .arg("--data")
            .arg(&data)
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before the process writes, as `| head -0` would.
        drop(child.stdout.take());
        let o = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

#[test]
fn issue_17_date_flags_take_values_that_start_with_a_hyphen() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    for args in [
        vec!["retention", "-p", &project, "--from", "-30d", "--to", "-1d"],
        vec!["trends", "-p", &project, "--from", "-7d"],
        vec!["stickiness", "-p", &project, "--from", "-2w"],
    ] {
        let o = liucun(&data, &args);
        assert_eq!(
            o.status.code(),
            Some(0),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn issue_17_an_unknown_filter_operator_lists_the_valid_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = liucun(
        &data,
        &["retention", "-p", "chat", "--where", "$ai_model like gpt"],
    );
    assert_eq!(o.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("unknown operator \"like\"; expected one of eq, neq, contains"),
        "{stderr}"
    );
    assert!(stderr.contains("is_not_set, regex"), "{stderr}");
}

#[test]
fn issue_17_params_take_shared_flags_as_overrides_and_refuse_the_kinds_own() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    let params = tmp.path().join("r.json");
    std::fs::write(
        &params,
        format!(
            r#"{{"projects": ["{project}"], "period": "day", "total_intervals": 3,
                "date_from": "2025-01-01", "date_to": "2025-01-10"}}"#
        ),
    )
    .unwrap();
    let params = params.to_str().unwrap();
    let o = liucun(
        &data,
        &[
            "retention",
            "--params",
            params,
            "--from",
            "2025-01-02",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["parameters"]["date_from"], "2025-01-02", "{v}");
    assert_eq!(v["parameters"]["date_to"], "2025-01-10", "{v}");

    let o = liucun(&data, &["retention", "--params", params, "-p", "nobody"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("\"nobody\""),
        "{o:?}"
    );

    let o = liucun(
        &data,
        &["retention", "--params", params, "--intervals", "9"],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("--intervals cannot be combined with --params"),
        "{stderr}"
    );
}

#[test]
fn issue_17_quarantine_export_hands_back_the_bytes_kept_and_rfc3339_times() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("x.ndjson");
    std::fs::write(
        &file,
        b"{\"event\":\"a\",\"distinct_id\":\"u1\",\"timestamp\":\"2025-01-01T00:00:00Z\"}\n\
          not json \xc3\x28\n\
          {\"event\": 5}\n",
    )
    .unwrap();
    let o = liucun(&data, &["import", "-p", "chat", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    let o = liucun(&data, &["quarantine", "export"]);
    assert!(o.status.success(), "{o:?}");
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    // "not json \xc3\x28" in base64: the exact bytes, not U+FFFD.
    assert_eq!(rows[0]["raw"], "bm90IGpzb24gwyg=", "{rows:?}");
    assert_eq!(rows[0]["raw_encoding"], "base64");
    assert_eq!(rows[1]["raw"], "{\"event\": 5}");
    assert_eq!(rows[1]["raw_encoding"], "utf8");
    for r in &rows {
        let t = r["received_at"].as_str().unwrap();
        assert!(
            t.len() == 27 && t.as_bytes()[10] == b'T' && t.ends_with('Z'),
            "{t}"
        );
    }
}

#[test]
fn issue_17_demo_uses_the_global_data_directory_and_never_replaces_other_data() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let data = tmp.path().join("mine");
    let demo = |data: &Path| {
        liucun(
            data,
            &["demo", "--events", "3000", "--dir", dir.to_str().unwrap()],
        )
    };
    let o = demo(&data);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(data.join("MANIFEST").exists());
    assert!(!dir.join("data").exists());
    assert!(stdout(&o).contains(&format!("--data {}", data.display())));
    // A second demo replaces its own data …
    let o = demo(&data);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // … but not a directory that holds other data.
    let (other, _) = small_data(&tmp.path().join("other"));
    let o = demo(&other);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("no demo wrote"));
    assert!(other.join("MANIFEST").exists());
}

#[test]
fn issue_17_a_port_in_use_says_so_once_and_leaves_no_data_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = tmp.path().join("new");
    let o = liucun(&data, &["serve", "--bind", &addr]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.matches("in use").count(), 1, "{stderr}");
    assert!(stderr.contains(&format!("binding {addr}")), "{stderr}");
    assert!(!data.exists(), "a failed serve left {}", data.display());
}

#[test]
fn funnels_from_flags_verify_and_list_the_persons_behind_each_step() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    let report = tmp.path().join("funnel.json");
    let args = [
        "funnels",
        "-p",
        project.as_str(),
        "--step",
        "$identify",
        "--step",
        "chat_message",
        "--step",
        "payment",
        "--window",
        "30d",
        "--from",
        "2025-01-01",
        "--to",
        "2025-03-31",
        "--as-of",
        "2025-04-01T00:00:00Z",
    ];
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json", "--out", report.to_str().unwrap()]);
    let o = liucun(&data, &json_args);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(r["kind"], "funnels");
    let steps = r["series"][0]["steps"].as_array().unwrap();
    let counts: Vec<u64> = steps.iter().map(|s| s["count"].as_u64().unwrap()).collect();
    assert_eq!(counts.len(), 3);
    assert!(
        counts[0] > 0 && counts[0] >= counts[1] && counts[1] >= counts[2],
        "{counts:?}"
    );
    let o = liucun(&data, &["verify", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // The persons listing agrees with every count and drop-off.
    for (flag, k, want) in [
        ("--reached", 1, counts[0]),
        ("--reached", 3, counts[2]),
        ("--dropped-at", 2, counts[0] - counts[1]),
        ("--dropped-at", 3, counts[1] - counts[2]),
    ] {
        let mut list = vec!["funnel-persons"];
        list.extend_from_slice(&args[1..]);
        let k = k.to_string();
        list.extend([flag, k.as_str(), "--format", "json", "--limit", "2"]);
        let o = liucun(&data, &list);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let page: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(page["total"].as_u64(), Some(want), "{flag} {k}");
        assert!(page["persons"].as_array().unwrap().len() <= 2);
    }
    // A table names every step; a bad window names the flag.
    let o = liucun(&data, &args);
    assert!(stdout(&o).contains("chat_message"), "{o:?}");
    let mut bad = args.to_vec();
    bad[10] = "30x";
    let o = liucun(&data, &bad);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--window"),
        "{o:?}"
    );
}

#[test]
fn economics_by_model_splits_the_cost_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    let report = tmp.path().join("economics.json");
    let prices = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo_prices.toml");
    let args = [
        "economics",
        "-p",
        project.as_str(),
        "--prices",
        prices,
        "--from",
        "2025-01-01",
        "--to",
        "2025-03-31",
        "--as-of",
        "2025-04-01T00:00:00Z",
        "--breakdown",
        "$ai_model",
    ];
    let mut json_args = args.to_vec();
    json_args.extend(["--format", "json", "--out", report.to_str().unwrap()]);
    let o = liucun(&data, &json_args);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let values = r["breakdown_values"][0]["values"].as_array().unwrap();
    assert!(values.len() >= 2, "{values:?}");
    // Each model's cost adds up to the cost of the whole cohort.
    let cost = |r: &serde_json::Value| -> f64 {
        r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row["cells"].as_array().unwrap())
            .filter_map(|c| c["inference_cost"].as_str())
            .map(|v| v.parse::<f64>().unwrap())
            .sum()
    };
    let o = liucun(
        &data,
        &[&json_args[..11], &["--format", "json"][..]].concat(),
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let whole: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(cost(&whole) > 0.0);
    assert!(
        (cost(&r) - cost(&whole)).abs() < 1e-4,
        "{} vs {}",
        cost(&r),
        cost(&whole)
    );
    let o = liucun(&data, &["verify", report.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    // The table names the value of each block; CSV carries it in a column.
    let table = stdout(&liucun(&data, &args));
    for v in values {
        let name = match v.as_str() {
            Some("") => "(none)",
            Some(v) => v,
            None => "Other",
        };
        assert!(
            table.contains(&format!("{project} · {name} ")),
            "{name}: {table}"
        );
    }
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let csv = stdout(&liucun(&data, &csv_args));
    assert!(
        csv.starts_with("project,breakdown_value,is_other,"),
        "{csv}"
    );
}

#[test]
fn prices_lookup_names_the_table_stage_and_version() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mine.toml");
    std::fs::write(
        &file,
        "schema_version = 1\n[[model]]\nid = \"mine/chat\"\nprovider = \"mine\"\nmatch = 'chat-\\d+'\n\
         currency = \"EUR\"\nsource = \"https://mine.example\"\nchecked = 2025-01-01\n\
         [[model.price]]\neffective_from = 2025-01-01\noutput = \"2.50\"\n",
    )
    .unwrap();
    let lookup = |args: &[&str]| {
        let mut all = vec![
            "prices",
            "lookup",
            "chat-7",
            "--prices",
            file.to_str().unwrap(),
        ];
        all.extend(args);
        liucun(tmp.path(), &all)
    };
    let o = lookup(&["--at", "2025-06-01"]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(
        out.contains("searched   mine.toml, default.toml, history.toml\n"),
        "{out}"
    );
    let stage = "match      mine/chat (stage 3 regex: chat-\\d+; provider mine, priority 0)\n";
    assert!(out.contains(stage), "{out}");
    assert!(
        out.contains("version    2025-01-01\nper 1M     output 2.5\n"),
        "{out}"
    );
    let o = lookup(&["--at", "2024-06-01", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["unpriced_reason"], "no_price_version");
    assert_eq!(lookup(&["--at", "June"]).status.code(), Some(2));
    std::fs::write(&file, "schema_version = 1\n[[model]]\nid = \"x\"\n").unwrap();
    let o = lookup(&[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("price file mine.toml: model x: provider: missing"),
        "{err}"
    );
}

#[test]
fn prices_import_writes_a_loadable_table_and_prints_the_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("litellm.json");
    std::fs::write(
        &src,
        r#"{"gpt-4o": {"litellm_provider": "openai", "mode": "chat",
            "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05},
            "text-embedding-3-small": {"litellm_provider": "openai", "mode": "embedding"}}"#,
    )
    .unwrap();
    let out_file = tmp.path().join("out.toml");
    let o = liucun(
        tmp.path(),
        &[
            "prices",
            "import",
            "--from",
            "litellm",
            src.to_str().unwrap(),
            "--date",
            "2026-01-02",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    assert!(out.contains("models     1 (1 new"), "{out}");
    assert!(
        out.contains("skipped    1 entries: mode=embedding"),
        "{out}"
    );
    let table = std::fs::read_to_string(&out_file).unwrap();
    assert!(table.contains("uncached_input = \"2.5\""), "{table}");
    let o = liucun(
        tmp.path(),
        &[
            "prices",
            "lookup",
            "gpt-4o",
            "--at",
            "2026-02-01",
            "--prices",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(stdout(&o).contains("match      openai/gpt-4o"), "{o:?}");
}

#[test]
fn prices_import_from_genai_prices_writes_dated_versions_and_refuses_previous() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("data.json");
    std::fs::write(
        &src,
        r#"[{"id": "anthropic", "name": "Anthropic", "api_pattern": "x", "model_match": {"contains": "claude"},
             "pricing_urls": ["https://www.anthropic.com/pricing#api"], "models": [
               {"id": "claude-sonnet-4-6", "match": {"starts_with": "claude-sonnet-4-6"},
                "prices": [{"prices": {"input_mtok": 3, "output_mtok": 15}},
                           {"constraint": {"start_date": "2026-03-13"},
                            "prices": {"input_mtok": 0.075, "output_mtok": 12, "input_audio_mtok": 1}}]},
               {"id": "claude-free", "match": {"equals": "claude-free"}, "prices": {}}]}]"#,
    )
    .unwrap();
    let out_file = tmp.path().join("genai.toml");
    let import = |extra: &[&str]| {
        let mut args = vec![
            "prices",
            "import",
            "--from",
            "genai-prices",
            src.to_str().unwrap(),
            "--date",
            "2026-01-02",
            "--source-version",
            "0.2.5",
            "--out",
            out_file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        liucun(tmp.path(), &args)
    };
    let o = import(&[]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    for want in [
        "models     1 (1 new",
        "skipped    1 entries: no prices (genai-prices charges nothing)",
        "unpriced   field input_audio_mtok in 1 entries",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let table = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        table.starts_with(
            "# Generated by `liucun prices import --from genai-prices` on 2026-01-02; edit by re-importing, not \
             by hand.\n# Source: pydantic/genai-prices, data.json (0.2.5), https://github.com/pydantic/genai-prices\n"
        ),
        "{table}"
    );
    let o = liucun(
        tmp.path(),
        &[
            "prices",
            "lookup",
            "claude-sonnet-4-6-20260101",
            "--at",
            "2026-04-01",
            "--prices",
            out_file.to_str().unwrap(),
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("match      anthropic/claude-sonnet-4-6 (stage 3 regex"),
        "{out}"
    );
    assert!(
        out.contains("versions   1970-01-01, 2026-03-13\nversion    2026-03-13\nper 1M     uncached_input 0.075, output 12\n"),
        "{out}"
    );
    let o = import(&["--previous", out_file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
}

#[test]
fn cost_export_writes_one_record_per_ai_event_the_report_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    let prices = concat!(env!("CARGO_MANIFEST_DIR"), "/src/demo_prices.toml");
    let o = liucun(
        &data,
        &[
            "economics",
            "-p",
            &project,
            "--prices",
            prices,
            "--from",
            "2025-01-01",
            "--to",
            "2025-03-31",
            "--as-of",
            "2025-04-01T00:00:00Z",
            "--format",
            "json",
        ],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let report: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let costing = &report["provenance"]["costing"];
    let counted: u64 = costing["by_source"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(counted > 0, "{costing}");

    let export = |format: &str| {
        let o = liucun(
            &data,
            &[
                "cost",
                "export",
                "-p",
                &project,
                "--prices",
                prices,
                "--to",
                "2025-03-31",
                "--format",
                format,
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        stdout(&o)
    };
    let ndjson = export("ndjson");
    let records: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len() as u64, counted);
    // Per source and per price version, the records are what the report counted.
    for (source, n) in costing["by_source"].as_object().unwrap() {
        let have = records.iter().filter(|r| r["source"] == *source).count() as u64;
        assert_eq!(have, n.as_u64().unwrap(), "{source}");
    }
    for v in costing["price_versions"].as_array().unwrap() {
        let version = v["version"].as_str().unwrap();
        let mine: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| {
                format!(
                    "{}@{}",
                    r["model_id"].as_str().unwrap_or_default(),
                    r["price_version"].as_str().unwrap_or_default()
                ) == version
            })
            .collect();
        assert_eq!(
            mine.len() as u64,
            v["events"].as_u64().unwrap(),
            "{version}"
        );
        let nano: i128 = mine
            .iter()
            .map(|r| {
                let c = r["cost"].as_str().unwrap().replace('.', "");
                c.parse::<i128>().unwrap()
            })
            .sum();
        // The report rounds the version's total to 6 digits; the records carry 9.
        let total = v["cost"]
            .as_str()
            .unwrap()
            .replace('.', "")
            .parse::<i128>()
            .unwrap();
        assert!(
            (nano - total * 1000).abs() <= 500,
            "{version}: {nano} vs {total}"
        );
        // Bucket costs add up to the record's cost.
        for r in &mine {
            let buckets: i128 = r["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| {
                    b["cost"]
                        .as_str()
                        .unwrap()
                        .replace('.', "")
                        .parse::<i128>()
                        .unwrap()
                })
                .sum();
            assert_eq!(
                buckets,
                r["cost"]
                    .as_str()
                    .unwrap()
                    .replace('.', "")
                    .parse::<i128>()
                    .unwrap()
            );
        }
    }
    let digest = records[0]["costing"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert!(records.iter().all(|r| r["costing"] == digest));
    // Records come in (time, uuid) order.
    let times: Vec<&str> = records
        .iter()
        .map(|r| r["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));

    let csv = export("csv");
    let mut lines = csv.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("uuid,timestamp,distinct_id,event,source,currency,cost,"),
        "{header}"
    );
    assert!(header.ends_with(",request_units,request_cost"), "{header}");
    assert_eq!(lines.count(), records.len());

    // A bad day is refused, naming the flag.
    let o = liucun(
        &data,
        &["cost", "export", "-p", &project, "--from", "2025-13-01"],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--from"),
        "{o:?}"
    );
}

#[test]
fn fx_rates_read_from_toml_match_the_json_form() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, project) = small_data(tmp.path());
    let json_rates = tmp.path().join("rates.json");
    let toml_rates = tmp.path().join("rates.toml");
    std::fs::write(
        &json_rates,
        r#"[{"date": "2025-01-01", "from": "USD", "to": "CNY", "rate": "7.25", "source": "test"},
            {"date": "2025-02-01", "from": "USD", "to": "CNY", "rate": "7.3", "source": "test"}]"#,
    )
    .unwrap();
    std::fs::write(
        &toml_rates,
        "[[rate]]\ndate = 2025-01-01\nfrom = \"USD\"\nto = \"CNY\"\nrate = 7.25\nsource = \"test\"\n\n\
         [[rate]]\ndate = \"2025-02-01\"\nfrom = \"USD\"\nto = \"CNY\"\nrate = \"7.3\"\nsource = \"test\"\n",
    )
    .unwrap();
    let run = |rates: &Path| {
        let o = liucun(
            &data,
            &[
                "economics",
                "-p",
                &project,
                "--from",
                "2025-01-01",
                "--to",
                "2025-03-31",
                "--as-of",
                "2025-04-01T00:00:00Z",
                "--currency",
                "CNY",
                "--fx",
                rates.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        stdout(&o)
    };
    let (a, b) = (run(&json_rates), run(&toml_rates));
    assert_eq!(a, b);
    assert!(a.contains("7.25"), "the rates are echoed in the parameters");
    std::fs::write(&toml_rates, "[[rate]\n").unwrap();
    let o = liucun(
        &data,
        &[
            "economics",
            "-p",
            &project,
            "--fx",
            toml_rates.to_str().unwrap(),
        ],
    );
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("not TOML"),
        "{o:?}"
    );
}
