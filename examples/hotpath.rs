//! A profiling aid: runs audited `Kms::encrypt` of 1 KiB in a loop for a few seconds
//! (`cargo run --release --example hotpath -- [seconds] [audit:0|1]`), for perf/callgrind.

use kms::core::seal::KdfParams;
use kms::core::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3.0);
    let audited = args.get(2).map(|s| s != "0").unwrap_or(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hot.db");
    let mut cfg = Config::at(&path).expect("config");
    cfg.master = kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(&path, "key"));
    cfg.identity_kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    cfg.audit.record_usage = audited;
    let k = Kms::open(cfg).expect("open");
    let o = k.owner().expect("owner");
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("hot".into()),
            ..Default::default()
        },
    )
    .expect("key");
    let msg = vec![1u8; 1024];
    let ctx = Context::new();
    let t0 = std::time::Instant::now();
    let mut n = 0u64;
    while t0.elapsed().as_secs_f64() < secs {
        for _ in 0..100 {
            std::hint::black_box(k.encrypt(&o, "hot", &msg, &ctx).expect("encrypt"));
        }
        n += 100;
    }
    println!(
        "{n} encrypts in {:.2}s: {:.0}/s",
        t0.elapsed().as_secs_f64(),
        n as f64 / t0.elapsed().as_secs_f64()
    );
}
