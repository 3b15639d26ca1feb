//! Temporary.
#[test]
fn peek() {
    let mut g = liucun_gen::Generator::new(&liucun_gen::GenConfig::new(3000, 1));
    let mut out = Vec::new();
    let mut s = String::new();
    while g.next_chunk(1000, &mut out) {
        for (_, e) in out.iter().take(40) { e.push_ndjson(&mut s); }
    }
    std::fs::write("/tmp/peek.ndjson", s).unwrap();
}
