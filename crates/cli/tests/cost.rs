//! Surface tests of `liucun cost`: run the binary in a temporary directory and check the printed estimate, the JSON
//! and the exit code of invalid input (economics.md §7).

use std::process::{Command, Output};

fn liucun(args: &[&str]) -> Output {
    let tmp = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_liucun"))
        .current_dir(tmp.path())
        .args(args)
        .output()
        .expect("run liucun")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// GPT-3 on V100 at 28 TFLOP/s effective and $1.50 per GPU-hour: $4.68M (economics.md §7 check 2).
const GPT3_ON_V100: [&str; 14] = [
    "cost",
    "train",
    "--params",
    "175B",
    "--tokens",
    "300e9",
    "--flop",
    "3.145e23",
    "--gpu",
    "v100",
    "--utilization",
    "0.224",
    "--price-per-hour",
    "1.5",
];

#[test]
fn cost_train_prints_the_gpt3_check_with_its_assumptions() {
    let o = liucun(&GPT3_ON_V100);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "FLOP         3.145e23 (given; 6 × N × D would be 3.15e23)\n",
        "GPU          V100 SXM2: 125 TFLOP/s peak dense, FP16 tensor\n",
        "utilisation  0.224 → 28 TFLOP/s achieved per GPU\n",
        "GPU-hours    3,120,040\n",
        "GPU-years    356.2\n",
        "cost         $4,680,060 ($4.68M)\n",
        "one final training run: experiments, failed runs, data, staff and inference excluded",
        "C = 6 × N_active × D",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    // The band: 0.2, the chosen 0.224, 0.5.
    let band: Vec<&str> = out
        .split("utilisation band\n")
        .nth(1)
        .unwrap()
        .lines()
        .take(4)
        .collect();
    assert!(band[1].trim_start().starts_with("0.2 "), "{band:?}");
    assert!(
        band[2].contains("$4,680,060") && band[2].ends_with("(chosen)"),
        "{band:?}"
    );
    assert!(band[3].trim_start().starts_with("0.5 "), "{band:?}");
}

#[test]
fn cost_train_json_parses_and_gives_days_on_a_gpu_count() {
    let o = liucun(&[
        "cost",
        "train",
        "--active-params",
        "30B",
        "--total-params",
        "200B",
        "--tokens",
        "10T",
        "--gpu",
        "H100",
        "--utilization",
        "0.4",
        "--price-per-hour",
        "2.5",
        "--gpus",
        "2048",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let number = |key: &str| v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v:#}"));
    let within_3pct = |got: f64, want: f64| (got - want).abs() <= 0.03 * want;
    assert!(within_3pct(number("flop"), 1.8e24), "{v:#}");
    assert!(within_3pct(number("gpu_hours"), 1.26e6), "{v:#}");
    assert!(within_3pct(number("cost"), 3.16e6), "{v:#}");
    assert!(within_3pct(number("days"), 25.7), "{v:#}");
    assert_eq!(v["hardware"]["name"], "H100 SXM");
    assert_eq!(v["flop_source"], "formula");
    assert_eq!(v["band"].as_array().unwrap().len(), 3);
    assert!(v["assumptions"].as_array().unwrap().len() >= 5);
}

#[test]
fn cost_train_refuses_invalid_input_with_exit_2() {
    let with = |flag: &str, value: &str| {
        let mut args = GPT3_ON_V100.to_vec();
        match args.iter().position(|a| *a == flag) {
            Some(i) => args[i + 1] = value,
            None => args.extend([flag, value]),
        }
        liucun(&args)
    };
    for (flag, value, want) in [
        (
            "--gpu",
            "x100",
            "error: --gpu: unknown GPU \"x100\"; known: V100 SXM2,",
        ),
        (
            "--params",
            "-5",
            "error: --params: must be positive, got -5",
        ),
        (
            "--tokens",
            "300G",
            "error: --tokens: \"300G\" has an unknown suffix (use K, M, B or T)",
        ),
        (
            "--utilization",
            "1.5",
            "error: --utilization: must be in (0, 1], got 1.5",
        ),
        (
            "--price-per-hour",
            "NaN",
            "error: --price-per-hour: \"NaN\" is not a number",
        ),
        ("--gpus", "0", "error: --gpus: must be positive, got 0"),
        (
            "--overhead",
            "0",
            "error: --overhead: must be positive, got 0",
        ),
    ] {
        let o = with(flag, value);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {o:?}");
        assert!(
            stderr(&o).starts_with(want),
            "{flag} {value}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn cost_hardware_lists_the_table_and_a_file_or_a_peak_replaces_it() {
    let o = liucun(&["cost", "hardware"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("never a \"with sparsity\" figure"), "{out}");
    assert!(out.contains("H100 SXM"), "{out}");
    let o = liucun(&["cost", "hardware", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(v["gpus"].as_array().unwrap().len() >= 10, "{v:#}");

    // GPT-3's 3.145e23 FLOP at 100 TFLOP/s achieved: 873,611 GPU-hours either way.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("mine.toml");
    std::fs::write(
        &file,
        "schema_version = 1\n[[gpu]]\nname = \"X1\"\naliases = [\"x-1\"]\npeak_dense_tflops = 200\n\
         precision = \"BF16\"\nsource = \"our lab\"\n",
    )
    .unwrap();
    let run = |peak: &[&str]| {
        let mut args = vec![
            "cost",
            "train",
            "--flop",
            "3.145e23",
            "--utilization",
            "0.5",
        ];
        args.extend(peak);
        liucun(&args)
    };
    let o = run(&["--gpu", "X-1", "--hardware", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("GPU-hours    873,611\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("cost         - (no --price-per-hour)\n"),
        "{}",
        stdout(&o)
    );
    let o = run(&["--peak-tflops", "200"]);
    assert!(
        stdout(&o).contains("GPU-hours    873,611\n"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        run(&["--gpu", "h100", "--hardware", file.to_str().unwrap()])
            .status
            .code(),
        Some(2)
    );
    std::fs::write(&file, "schema_version = 1\n").unwrap();
    let o = run(&["--gpu", "x1", "--hardware", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("hardware table mine.toml: gpu: no [[gpu]] rows"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        run(&[]).status.code(),
        Some(2),
        "neither --gpu nor --peak-tflops"
    );
}
