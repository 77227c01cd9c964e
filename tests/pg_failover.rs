//! Failover: a primary with a synchronous standby on loopback; a client loop creates keys and
//! encrypts through a two-host URL (`target_session_attrs=read-write`); the primary is
//! killed (immediate shutdown) and the standby promoted; the loop resumes, and every key and
//! ciphertext reported as successful, before and after, is present and decrypts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kms::core::*;
use util::pg::PgServer;
use util::*;

#[derive(Default)]
struct Done {
    keys: Vec<String>,
    cts: Vec<(Vec<u8>, Vec<u8>)>,
    errors: Vec<String>,
}

#[test]
fn failover_to_a_synchronous_standby_keeps_every_reported_success() {
    let mut primary = PgServer::start(&["synchronous_commit = on"]);
    let db = primary.create_db();
    let standby = PgServer::standby_of(&primary, &[]);
    // commits now wait for the standby (set on the primary only: once promoted, the standby
    // does not wait for a standby of its own)
    primary.set("synchronous_standby_names", "*");
    // wait until the standby streams synchronously
    let mut c = primary.client("postgres");
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = c
            .query(
                "SELECT 1 FROM pg_stat_replication WHERE sync_state = 'sync'",
                &[],
            )
            .unwrap();
        if !rows.is_empty() {
            break;
        }
        assert!(Instant::now() < until, "standby never became synchronous");
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(c);

    let url = format!(
        "host={},{} port={},{} user=kms dbname={db} target_session_attrs=read-write",
        primary.sock.display(),
        standby.sock.display(),
        primary.port,
        standby.port
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_for(
        &url,
        &dir.path().join("kms.key"),
        &dir.path().join("kms.owner"),
    );
    let k = Kms::open(cfg.clone()).unwrap();
    let o = k.owner().unwrap();
    k.create_key(&o, &aes("k-0")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(Mutex::new(Done {
        keys: vec!["k-0".into()],
        ..Default::default()
    }));
    let oks = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (k, o, stop, done, oks) = (
            k.clone(),
            o.clone(),
            stop.clone(),
            done.clone(),
            oks.clone(),
        );
        std::thread::spawn(move || {
            let mut i = 1;
            while !stop.load(Ordering::Acquire) {
                let name = format!("k-{i}");
                match k.create_key(&o, &aes(&name)) {
                    Ok(_) => done.lock().unwrap().keys.push(name),
                    Err(e) => done.lock().unwrap().errors.push(format!("create: {e}")),
                }
                let target = {
                    let d = done.lock().unwrap();
                    d.keys[i % d.keys.len()].clone()
                };
                let pt = format!("message {i} under {target}").into_bytes();
                match k.encrypt(&o, &target, &pt, &Context::new()) {
                    Ok(ct) => done.lock().unwrap().cts.push((ct, pt)),
                    Err(e) => done.lock().unwrap().errors.push(format!("encrypt: {e}")),
                }
                oks.fetch_add(1, Ordering::Release);
                i += 1;
            }
        })
    };

    std::thread::sleep(Duration::from_millis(1500));
    let before = oks.load(Ordering::Acquire);
    assert!(before > 5, "the loop runs ({before} rounds)");
    primary.kill();
    std::thread::sleep(Duration::from_millis(500));
    standby.promote();
    let promoted = Instant::now();
    let at_promotion = oks.load(Ordering::Acquire);
    // the loop resumes on the promoted standby
    while oks.load(Ordering::Acquire) < at_promotion + 20 {
        assert!(
            promoted.elapsed() < Duration::from_secs(60),
            "the loop did not resume after promotion"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    worker.join().unwrap();
    drop(k);

    let d = done.lock().unwrap();
    eprintln!(
        "failover: {} keys, {} ciphertexts reported ok; {} errors: {:?}",
        d.keys.len(),
        d.cts.len(),
        d.errors.len(),
        d.errors
    );
    // Everything reported successful is on the promoted standby, read by a fresh handle.
    let mut cfg2 = cfg.clone();
    cfg2.store_path = standby.socket_url(&db).into();
    let k2 = Kms::open(cfg2).unwrap();
    let o2 = k2.owner().unwrap();
    for name in &d.keys {
        let info = k2.describe_key(&o2, name).unwrap();
        assert_eq!(info.key.state, KeyState::Active, "{name}");
    }
    for (ct, pt) in &d.cts {
        assert_eq!(&*k2.decrypt(&o2, ct, &Context::new()).unwrap(), &pt[..]);
    }
    k2.flush().unwrap();
    let rep = k2.audit_verify(&o2, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
}
