//! Parses and re-writes a stream file N times (for profiling): `roundtrip FILE [N]`.
fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: roundtrip FILE [N]");
    let n: usize = args.next().map(|v| v.parse().expect("N")).unwrap_or(1000);
    let data = std::fs::read(&path).expect("readable file");
    let t = std::time::Instant::now();
    for _ in 0..n {
        let s = jser::parse(&data).expect("parses");
        assert_eq!(s.write().expect("writes").len(), data.len());
    }
    let secs = t.elapsed().as_secs_f64();
    println!("{:.1} MB/s", (data.len() * n) as f64 / secs / 1e6);
}
