//! Store backends side by side: key creation and AES-256-GCM encryption of 1 KiB on the
//! embedded SQLite file and on PostgreSQL (a throw-away local server, default durability:
//! fsync on, synchronous_commit on). Prints medians per operation and multi-thread
//! throughput. Run: `cargo bench --bench store_backends` (needs Debian's `postgresql`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/pg/mod.rs"]
mod pg;

use std::path::Path;
use std::time::{Duration, Instant};

use kms::core::seal::MasterSource;
use kms::core::*;

fn config(store: &str, dir: &Path) -> Config {
    let mut cfg = Config::at(dir.join("unused.db")).unwrap();
    cfg.store_path = store.into();
    cfg.master = MasterSource::KeyFile(dir.join("kms.key"));
    cfg.owner_secret_file = Some(dir.join("kms.owner"));
    cfg
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    create: Duration,
    encrypt: Duration,
    encrypt_tput: f64,
}

fn run(store: &str, dir: &Path) -> Row {
    let k = Kms::open(config(store, dir)).unwrap();
    let o = k.owner().unwrap();
    let req = |name: String| KeyRequest {
        spec: Some(KeySpec::Aes256),
        name: Some(name),
        ..Default::default()
    };
    let mut t = Vec::new();
    for i in 0..300 {
        let s = Instant::now();
        k.create_key(&o, &req(format!("b{i}"))).unwrap();
        t.push(s.elapsed());
    }
    let create = median(t);
    let data = vec![0x5au8; 1024];
    let ctx = Context::new();
    for _ in 0..200 {
        k.encrypt(&o, "b0", &data, &ctx).unwrap();
    }
    let mut t = Vec::new();
    for _ in 0..3000 {
        let s = Instant::now();
        k.encrypt(&o, "b0", &data, &ctx).unwrap();
        t.push(s.elapsed());
    }
    let encrypt = median(t);
    // 8 threads for 2 s: group commit at work
    let stop = Instant::now() + Duration::from_secs(2);
    let hs: Vec<_> = (0..8)
        .map(|i| {
            let (k, o, data) = (k.clone(), o.clone(), data.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                let name = format!("b{i}");
                while Instant::now() < stop {
                    k.encrypt(&o, &name, &data, &Context::new()).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    let total: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    Row {
        create,
        encrypt,
        encrypt_tput: total as f64 / 2.0,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = run(dir.path().join("kms.db").to_str().unwrap(), dir.path());
    let server = pg::PgServer::start(&[]);
    let db = server.create_db();
    let pdir = tempfile::tempdir().unwrap();
    let socket = run(&server.socket_url(&db), pdir.path());
    let db2 = server.create_db();
    let tdir = tempfile::tempdir().unwrap();
    let tcp = run(&server.tcp_url(&db2), tdir.path());
    println!("| store | create key (median) | encrypt 1 KiB (median, 1 thread) | encrypt 1 KiB (8 threads) |");
    println!("|---|---|---|---|");
    for (name, r) in [
        ("SQLite (WAL, synchronous=FULL)", &sqlite),
        ("PostgreSQL 15, Unix socket", &socket),
        ("PostgreSQL 15, TCP 127.0.0.1", &tcp),
    ] {
        println!(
            "| {name} | {:.0} µs | {:.1} µs | {:.0} ops/s |",
            r.create.as_secs_f64() * 1e6,
            r.encrypt.as_secs_f64() * 1e6,
            r.encrypt_tput
        );
    }
}
