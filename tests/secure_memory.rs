//! Key buffers in memory: the bytes of every `Secret` (key versions, KEKs, data keys, secrets,
//! derived keys) live in the secure arena, whose mappings the kernel reports as excluded from
//! core dumps (`dd`) and locked (`lo`) where RLIMIT_MEMLOCK allows; freed buffers are zeroed;
//! a core dump of a process holding known keys (taken with gdb's gcore) does not contain them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use kms::core::crypto::{self, Secret, SignAlg};
use kms::core::*;
use kms::secmem;
use util::*;

/// One mapping of /proc/self/smaps: range and VmFlags.
struct Vma {
    start: usize,
    end: usize,
    flags: Vec<String>,
}

fn smaps(pid: &str) -> Vec<Vma> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut out: Vec<Vma> = Vec::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(s), Ok(e)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                out.push(Vma {
                    start: s,
                    end: e,
                    flags: Vec::new(),
                });
                continue;
            }
        }
        if let Some(f) = line.strip_prefix("VmFlags:") {
            out.last_mut().unwrap().flags = f.split_whitespace().map(str::to_string).collect();
        }
    }
    out
}

/// The soft RLIMIT_MEMLOCK of this process in bytes (`None` = unlimited).
fn memlock_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max locked memory"))
        .unwrap();
    let soft = line["Max locked memory".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    (soft != "unlimited").then(|| soft.parse().unwrap())
}

/// Keys of every spec, used once each, plus a data key, a secret and a derived key that the
/// caller keeps: returns what the caller holds.
fn exercise(k: &Kms, o: &Caller) -> Vec<Secret> {
    for (name, spec) in [
        ("aes", KeySpec::Aes256),
        ("hmac", KeySpec::HmacSha256),
        ("ec", KeySpec::EcP256),
        ("ed", KeySpec::Ed25519),
        ("rsa", KeySpec::Rsa4096),
    ] {
        k.create_key(
            o,
            &KeyRequest {
                spec: Some(spec),
                name: Some(name.into()),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let ctx = Context::new();
    let ct = k.encrypt(o, "aes", b"hello", &ctx).unwrap();
    k.mac(o, "hmac", b"m").unwrap();
    k.sign(o, "ec", SignAlg::EcdsaSha256, b"m", false).unwrap();
    k.sign(o, "ed", SignAlg::Ed25519, b"m", false).unwrap();
    k.sign(o, "rsa", SignAlg::RsaPssSha256, b"m", false)
        .unwrap();
    let (dk, _) = k.generate_data_key(o, "aes", 32, &ctx).unwrap();
    let pt = k.decrypt(o, &ct, &ctx).unwrap();
    k.put_secret(o, "s", "aes", b"application secret").unwrap();
    let s = k.get_secret(o, "s", None).unwrap();
    vec![dk, pt, s]
}

#[test]
fn key_buffers_are_in_dontdump_mappings_locked_where_the_limit_allows() {
    let ts = TestStore::new();
    let (k, o) = ts.open_owner();
    let held = exercise(&k, &o);
    for s in &held {
        assert!(
            secmem::contains(s.as_ptr() as usize),
            "a Secret returned by the core is outside the secure arena"
        );
    }
    let rep = secmem::report();
    assert!(!rep.regions.is_empty());
    let vmas = smaps("self");
    let limit = memlock_limit();
    let generous = limit.is_none_or(|l| l >= 1024 * 1024);
    let mut locked = 0;
    for r in &rep.regions {
        let v = vmas
            .iter()
            .find(|v| v.start <= r.start && r.start + r.len <= v.end)
            .unwrap_or_else(|| panic!("arena region {:#x} not in smaps", r.start));
        assert!(
            r.dontdump,
            "madvise(MADV_DONTDUMP) failed for {:#x}",
            r.start
        );
        assert!(
            v.flags.iter().any(|f| f == "dd"),
            "arena region {:#x}+{} lacks dd: {:?}",
            r.start,
            r.len,
            v.flags
        );
        let lo = v.flags.iter().any(|f| f == "lo");
        assert_eq!(lo, r.locked, "lock state of {:#x} misreported", r.start);
        if r.locked {
            locked += r.len;
        }
    }
    assert_eq!(locked, rep.locked_bytes);
    println!(
        "RLIMIT_MEMLOCK {limit:?}: {} arena regions, {} bytes locked (budget {})",
        rep.regions.len(),
        rep.locked_bytes,
        rep.lock_budget
    );
    if generous {
        // The key-sized chunks (a handful of 16-64 KiB mappings) fit in half of a limit of
        // 1 MiB or more, so every one of them is locked; larger classes are never locked.
        let key_sized = rep.regions.iter().filter(|r| r.len <= 64 * 1024);
        for r in key_sized.clone() {
            assert!(r.locked, "key chunk {:#x}+{} not locked", r.start, r.len);
        }
        assert!(key_sized.count() >= 3);
    }
    drop(held);
}

#[test]
fn without_memlock_allowance_buffers_still_work_unlocked() {
    if let Some(dir) = std::env::var_os("KMS_SECMEM_NOLOCK_CHILD") {
        let ts_path = PathBuf::from(dir).join("kms.db");
        let k = Kms::open(config(&ts_path)).unwrap();
        let o = k.owner().unwrap();
        let held = exercise(&k, &o);
        let rep = secmem::report();
        assert_eq!(rep.lock_budget, 0);
        assert_eq!(rep.locked_bytes, 0);
        assert!(rep.regions.iter().all(|r| !r.locked && r.dontdump));
        let vmas = smaps("self");
        for s in &held {
            let a = s.as_ptr() as usize;
            let v = vmas.iter().find(|v| v.start <= a && a < v.end).unwrap();
            assert!(v.flags.iter().any(|f| f == "dd"));
            assert!(!v.flags.iter().any(|f| f == "lo"));
        }
        println!("NOLOCK-CHILD-OK");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("prlimit")
        .arg("--memlock=0:0")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "without_memlock_allowance_buffers_still_work_unlocked",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KMS_SECMEM_NOLOCK_CHILD", dir.path())
        .output()
        .expect("prlimit (util-linux) is needed for this test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("NOLOCK-CHILD-OK"),
        "child under RLIMIT_MEMLOCK=0 failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn freed_buffers_are_zeroed_and_reused() {
    // 40 000 bytes: the 64 KiB class, which no other test of this file uses, so no other
    // thread takes the slot between the drop and the look.
    let mut s = Secret::zeroed(40_000);
    s.fill(0xA5);
    let addr = s.as_ptr() as usize;
    assert!(secmem::contains(addr));
    assert_eq!(
        secmem::peek_free_slot(addr),
        None,
        "a live slot is not free"
    );
    drop(s);
    let slot = secmem::peek_free_slot(addr).expect("the slot is back on its free list");
    assert_eq!(slot.len(), 64 * 1024);
    assert!(slot.iter().all(|&b| b == 0), "freed slot not zeroized");
    // The next buffer of that class reuses the slot, and starts zeroed.
    let again = Secret::zeroed(50_000);
    assert_eq!(again.as_ptr() as usize, addr);
    assert!(again.iter().all(|&b| b == 0));

    // Growing moves to a larger slot and wipes the old one.
    let mut g = Secret::from_slice(&[0x5A; 33_000]);
    let old = g.as_ptr() as usize;
    drop(again);
    g.extend_from_slice(&[0x5A; 40_000]);
    assert_ne!(g.as_ptr() as usize, old);
    assert_eq!(g.len(), 73_000);
    assert!(g.iter().all(|&b| b == 0x5A), "growing lost bytes");
    // 33 000 bytes were in the 64 KiB class too (the slot `again` left is the other free one).
    let wiped = secmem::peek_free_slot(old).expect("old slot freed");
    assert!(wiped.iter().all(|&b| b == 0));
    g.truncate(10);
    assert_eq!(&g[..], &[0x5A; 10]);
    // Byte-by-byte growth of a small buffer keeps every byte (moves 16 -> 32 -> 64 B slots).
    let mut small = Secret::with_capacity(0);
    for i in 0..100u8 {
        small.push(i);
    }
    assert_eq!(&small[..], &(0..100u8).collect::<Vec<_>>()[..]);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn read_secret(path: &Path) -> Secret {
    let mut f = std::fs::File::open(path).unwrap();
    let mut s = Secret::zeroed(32);
    f.read_exact(&mut s).unwrap();
    s
}

/// The child: imports known keys read straight into `Secret`s, uses them, keeps a data key
/// and a secret, then stops itself so that gdb can dump its memory.
fn core_dump_child(dir: &Path) {
    let k = Kms::open(config(&dir.join("kms.db"))).unwrap();
    let o = k.owner().unwrap();
    let aes = read_secret(&dir.join("aes.bin"));
    let hmac = read_secret(&dir.join("hmac.bin"));
    let value = read_secret(&dir.join("secret.bin"));
    for (name, spec, m) in [
        ("aes", KeySpec::Aes256, &aes),
        ("hmac", KeySpec::HmacSha256, &hmac),
    ] {
        k.import_key(
            &o,
            &KeyRequest {
                spec: Some(spec),
                name: Some(name.into()),
                ..Default::default()
            },
            m,
        )
        .unwrap();
    }
    drop((aes, hmac));
    let ctx = Context::new();
    let ct = k.encrypt(&o, "aes", b"hello", &ctx).unwrap();
    assert_eq!(&k.decrypt(&o, &ct, &ctx).unwrap()[..], b"hello");
    k.mac(&o, "hmac", b"m").unwrap();
    k.put_secret(&o, "s", "aes", &value).unwrap();
    drop(value);
    let (dk, wrapped) = k.generate_data_key(&o, "aes", 32, &ctx).unwrap();
    std::fs::write(dir.join("dk.hex"), hex(&dk)).unwrap();
    // An ordinary heap buffer the parent can recognise: shows the dump holds the heap.
    let marker: Vec<u8> = dk.iter().map(|b| b ^ 0xFF).collect();
    let dk2 = k.decrypt_data_key(&o, &wrapped, &ctx).unwrap();
    let s = k.get_secret(&o, "s", None).unwrap();
    // Stop here (SIGSTOP): gdb, our parent, takes the core while everything above is alive.
    // SAFETY: test: raise is async-signal-safe; SIGSTOP is directed at this very thread, so
    // the debugger sees the stop before the thread goes on.
    unsafe { libc::raise(libc::SIGSTOP) };
    drop((dk, dk2, s, k, marker));
}

fn count(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).filter(|w| *w == needle).count()
}

#[test]
fn core_dump_holds_no_key_buffer() {
    if let Some(dir) = std::env::var_os("KMS_SECMEM_CORE_CHILD") {
        core_dump_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let known: Vec<(&str, Secret)> = ["aes", "hmac", "secret"]
        .iter()
        .map(|n| (*n, crypto::random_vec(32).unwrap()))
        .collect();
    for (n, v) in &known {
        std::fs::write(dir.path().join(format!("{n}.bin")), &v[..]).unwrap();
    }
    let core = dir.path().join("core");
    let out = Command::new("gdb")
        .args(["-batch", "-nx", "-ex", "run", "-ex"])
        .arg(format!("gcore {}", core.display()))
        .args(["-ex", "kill", "--args"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "core_dump_holds_no_key_buffer",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KMS_SECMEM_CORE_CHILD", dir.path())
        .output()
        .expect("gdb is needed for this test (scripts/install-test-deps.sh installs it)");
    let dump = std::fs::read(&core).unwrap_or_else(|e| {
        panic!(
            "no core file ({e}); gdb said:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(dump.len() > 1024 * 1024, "core file suspiciously small");

    let key_file = std::fs::read_to_string(kms::core::config::sibling(
        &dir.path().join("kms.db"),
        "key",
    ))
    .unwrap();
    let master = unhex(key_file.split_whitespace().nth(1).unwrap());
    let dk = unhex(&std::fs::read_to_string(dir.path().join("dk.hex")).unwrap());
    // Sanity: the dump does hold the process's ordinary heap (the child keeps the data key
    // with every bit flipped in a plain Vec).
    let marker: Vec<u8> = dk.iter().map(|b| b ^ 0xFF).collect();
    assert!(count(&dump, &marker) > 0, "core lacks ordinary heap data");

    let mut needles: Vec<(&str, Vec<u8>)> = known.iter().map(|(n, v)| (*n, v.to_vec())).collect();
    needles.push(("master key (key file)", master));
    needles.push(("data key", dk));
    let mut found = Vec::new();
    for (name, n) in &needles {
        let c = count(&dump, n);
        println!("{name}: {c} occurrence(s) in the core dump");
        // The AES key also lives in aws-lc's expanded key schedule (the first round keys of an
        // AES-256 schedule are the key itself), which is outside our arena.
        if c > 0 && *name != "aes" {
            found.push(*name);
        }
    }
    assert!(found.is_empty(), "key bytes in the core dump: {found:?}");
}

#[test]
fn disable_core_dumps_makes_the_process_non_dumpable() {
    if let Some(dir) = std::env::var_os("KMS_SECMEM_NODUMP_CHILD") {
        // KMS_DISABLE_CORE_DUMPS=1 is in this child's environment.
        let cfg = config(&PathBuf::from(dir).join("kms.db"));
        assert!(cfg.disable_core_dumps);
        assert!(secmem::dumpable());
        let k = Kms::open(cfg).unwrap();
        assert!(!secmem::dumpable());
        // The store works as before.
        let o = k.owner().unwrap();
        exercise(&k, &o);
        println!("NODUMP-CHILD-OK");
        return;
    }
    // Off by default: opening a store leaves the process dumpable.
    let ts = TestStore::new();
    let (_k, _o) = ts.open_owner();
    assert!(secmem::dumpable());
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "disable_core_dumps_makes_the_process_non_dumpable",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KMS_SECMEM_NODUMP_CHILD", dir.path())
        .env("KMS_DISABLE_CORE_DUMPS", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("NODUMP-CHILD-OK"),
        "child with KMS_DISABLE_CORE_DUMPS=1 failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
