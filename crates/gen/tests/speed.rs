//! Temporary timing.
#[test]
fn speed() {
    let n: u64 = std::env::var("N")
        .map(|v| v.parse().unwrap())
        .unwrap_or(2_000_000);
    for name in [std::env::var("F").unwrap_or("events.parquet".into())] {
        let name = name.as_str();
        let dir = tempfile::tempdir().unwrap();
        let t = std::time::Instant::now();
        let files = liucun_gen::write_files(
            &liucun_gen::GenConfig::new(n, 42),
            &dir.path().join(name),
            &mut |_| {},
        )
        .unwrap();
        let secs = t.elapsed().as_secs_f64();
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(&f.path).unwrap().len())
            .sum();
        eprintln!(
            "{name}: {n} events in {secs:.2}s = {:.2} M/s, {:.1} MB, {:.1} B/event",
            n as f64 / secs / 1e6,
            bytes as f64 / 1e6,
            bytes as f64 / n as f64
        );
    }
}
