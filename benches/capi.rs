//! The native C API measured the way a C program uses it: `libkms.so` from the release build
//! is loaded with `dlopen` and every call goes through its exported `kms_*` symbols. Two
//! parts, in one run:
//!
//! 1. throughput and latency (ops/s, p50, p99) of audited, policy-checked AES-256-GCM 1 KiB
//!    encrypt and decrypt, generate data key, ECDSA P-256 and Ed25519 signing, with 1 and 2
//!    threads sharing one context handle, beside raw AES-GCM (aws-lc-rs `aead`, no libkms);
//! 2. a store growing to `KMS_BENCH_MAX_KEYS` keys (default 1000000 on tmpfs, 100000 on
//!    a disk): key creation time as the store grows, lookup time on random keys in a freshly
//!    opened context (cold, then warm), store file sizes and the RSS of a process that only
//!    opens the store.
//!
//! Run: `cargo build --release && cargo bench --bench capi`;
//! a quicker store run: `KMS_BENCH_MAX_KEYS=100000 cargo bench --bench capi`;
//! one part only: `KMS_BENCH_PARTS=throughput` or `KMS_BENCH_PARTS=store`. The growing store
//! lives in /dev/shm (tmpfs) unless `KMS_BENCH_STORE_DIR` names another folder: there is
//! no batch create, and one fsync per key on a shared VM disk (1-8 ms here) would both
//! hide how the library's own cost grows and make the 1M-key build take hours. Durable
//! creation on the disk is measured apart, on 1000 keys.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use kms::capi::{
    kms_audit_report, kms_buffer, kms_ctx, kms_error, kms_key_params, kms_status,
    KMS_CIPHERTEXT_OVERHEAD, KMS_MAX_SIGNATURE, KMS_NO_HANDLE, KMS_OK, KMS_SIGN_ECDSA_SHA256,
    KMS_SIGN_ED25519, KMS_SPEC_AES256, KMS_SPEC_EC_P256, KMS_SPEC_ED25519,
};

const MSG: usize = 1024;
const ROUNDS: usize = 5;
const ROUND: Duration = Duration::from_millis(300);
/// Random keys looked up at each store size.
const LOOKUPS: usize = 1000;

type Err = *mut *mut kms_error;
type Strs = *const *const c_char;

/// The exported functions used here, resolved with `dlsym` from libkms.so. Each pointer's
/// type is checked at compile time against the crate's own definition of the same export
/// (see `load`), so a signature change in src/capi fails to compile here.
#[derive(Clone, Copy)]
struct Api {
    open_default_owner: extern "C" fn(*const c_char, *mut kms_ctx, Err) -> kms_status,
    close: extern "C" fn(kms_ctx) -> kms_status,
    flush: extern "C" fn(kms_ctx, Err) -> kms_status,
    key_create: extern "C" fn(kms_ctx, *const kms_key_params, *mut u64, Err) -> kms_status,
    key_describe: extern "C" fn(kms_ctx, *const c_char, *mut c_char, *mut usize, Err) -> kms_status,
    #[allow(clippy::type_complexity)]
    encrypt: extern "C" fn(
        kms_ctx,
        *const c_char,
        *const u8,
        usize,
        Strs,
        Strs,
        usize,
        *mut u8,
        *mut usize,
        Err,
    ) -> kms_status,
    #[allow(clippy::type_complexity)]
    decrypt: extern "C" fn(
        kms_ctx,
        *const u8,
        usize,
        Strs,
        Strs,
        usize,
        *mut u8,
        *mut usize,
        Err,
    ) -> kms_status,
    #[allow(clippy::type_complexity)]
    generate_data_key: extern "C" fn(
        kms_ctx,
        *const c_char,
        usize,
        Strs,
        Strs,
        usize,
        *mut kms_buffer,
        *mut u8,
        *mut usize,
        Err,
    ) -> kms_status,
    #[allow(clippy::type_complexity)]
    sign: extern "C" fn(
        kms_ctx,
        *const c_char,
        u32,
        *const u8,
        usize,
        u32,
        *mut u8,
        *mut usize,
        *mut u32,
        Err,
    ) -> kms_status,
    buffer_free: extern "C" fn(*mut kms_buffer),
    audit_verify:
        extern "C" fn(kms_ctx, *const u8, usize, *mut kms_audit_report, Err) -> kms_status,
    error_message: extern "C" fn(*const kms_error) -> *const c_char,
    error_free: extern "C" fn(*mut kms_error),
}

/// Resolves `name` in `lib`. `twin` is the same export as compiled into this crate: it is
/// not called, it only fixes `F` (so the symbol gets exactly the exported signature).
fn load<F: Copy>(lib: *mut c_void, name: &CStr, twin: F) -> F {
    let _ = twin;
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<*mut c_void>());
    // SAFETY: `lib` is a live handle from dlopen; `name` is NUL-terminated.
    let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
    assert!(!p.is_null(), "libkms.so does not export {name:?}");
    // SAFETY: `p` is the address of the exported function `name`, whose signature is `F`
    // (the crate's own definition of it); a function pointer and a data pointer have the
    // same size on the platforms libkms supports (checked above).
    unsafe { std::mem::transmute_copy::<*mut c_void, F>(&p) }
}

impl Api {
    /// dlopens the release build's libkms.so (fails if it is missing or older than src/).
    fn open() -> Api {
        let path = common::lib_dir().join("libkms.so");
        let c = CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path; the library stays loaded for the process lifetime
        // (never dlclosed).
        let lib = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
        assert!(!lib.is_null(), "dlopen {} failed", path.display());
        use kms::capi as k;
        Api {
            open_default_owner: load(lib, c"kms_open_default_owner", k::kms_open_default_owner),
            close: load(lib, c"kms_close", k::kms_close),
            flush: load(lib, c"kms_flush", k::kms_flush),
            key_create: load(lib, c"kms_key_create", k::kms_key_create),
            key_describe: load(lib, c"kms_key_describe", k::kms_key_describe),
            encrypt: load(lib, c"kms_encrypt", k::kms_encrypt),
            decrypt: load(lib, c"kms_decrypt", k::kms_decrypt),
            generate_data_key: load(lib, c"kms_generate_data_key", k::kms_generate_data_key),
            sign: load(lib, c"kms_sign", k::kms_sign),
            buffer_free: load(lib, c"kms_buffer_free", k::kms_buffer_free),
            audit_verify: load(lib, c"kms_audit_verify", k::kms_audit_verify),
            error_message: load(lib, c"kms_error_message", k::kms_error_message),
            error_free: load(lib, c"kms_error_free", k::kms_error_free),
        }
    }

    /// Panics with the library's message unless `st` is KMS_OK.
    fn check(&self, what: &str, st: kms_status, err: *mut kms_error) {
        if st == KMS_OK {
            return;
        }
        let msg = if err.is_null() {
            String::new()
        } else {
            // SAFETY: a live error object from the failed call; its message is NUL-terminated.
            let m = unsafe { CStr::from_ptr((self.error_message)(err)) }
                .to_string_lossy()
                .into_owned();
            (self.error_free)(err);
            m
        };
        panic!("{what}: status {st}: {msg}");
    }

    fn open_store(&self, path: &Path) -> kms_ctx {
        let p = CString::new(path.to_str().unwrap()).unwrap();
        let mut ctx = KMS_NO_HANDLE;
        let mut err = std::ptr::null_mut();
        let st = (self.open_default_owner)(p.as_ptr(), &mut ctx, &mut err);
        self.check("kms_open_default_owner", st, err);
        ctx
    }

    fn create(&self, ctx: kms_ctx, spec: u32, name: &CStr) -> u64 {
        let p = kms_key_params {
            spec,
            usage: 0,
            name: name.as_ptr(),
            description: std::ptr::null(),
            tags: std::ptr::null(),
            activation_date: 0,
            rotation_period_seconds: 0,
            rotate_after_uses: 0,
            exportable: 0,
            pre_active: 0,
        };
        let mut id = 0u64;
        let mut err = std::ptr::null_mut();
        let st = (self.key_create)(ctx, &p, &mut id, &mut err);
        self.check("kms_key_create", st, err);
        id
    }

    /// Encrypts `msg` under `key` into `out`; returns the ciphertext length.
    fn encrypt(&self, ctx: kms_ctx, key: &CStr, msg: &[u8], out: &mut [u8]) -> usize {
        let mut len = out.len();
        let mut err = std::ptr::null_mut();
        let nul = std::ptr::null();
        let st = (self.encrypt)(
            ctx,
            key.as_ptr(),
            msg.as_ptr(),
            msg.len(),
            nul,
            nul,
            0,
            out.as_mut_ptr(),
            &mut len,
            &mut err,
        );
        self.check("kms_encrypt", st, err);
        len
    }

    fn decrypt(&self, ctx: kms_ctx, ct: &[u8], out: &mut [u8]) -> usize {
        let mut len = out.len();
        let mut err = std::ptr::null_mut();
        let nul = std::ptr::null();
        let st = (self.decrypt)(
            ctx,
            ct.as_ptr(),
            ct.len(),
            nul,
            nul,
            0,
            out.as_mut_ptr(),
            &mut len,
            &mut err,
        );
        self.check("kms_decrypt", st, err);
        len
    }

    fn generate_data_key(&self, ctx: kms_ctx, key: &CStr, wrapped: &mut [u8]) -> usize {
        let mut plain = kms_buffer {
            data: std::ptr::null_mut(),
            len: 0,
        };
        let mut len = wrapped.len();
        let mut err = std::ptr::null_mut();
        let nul = std::ptr::null();
        let st = (self.generate_data_key)(
            ctx,
            key.as_ptr(),
            32,
            nul,
            nul,
            0,
            &mut plain,
            wrapped.as_mut_ptr(),
            &mut len,
            &mut err,
        );
        self.check("kms_generate_data_key", st, err);
        assert_eq!(plain.len, 32);
        (self.buffer_free)(&mut plain);
        len
    }

    fn sign(&self, ctx: kms_ctx, key: &CStr, alg: u32, msg: &[u8], out: &mut [u8]) -> usize {
        let mut len = out.len();
        let mut err = std::ptr::null_mut();
        let st = (self.sign)(
            ctx,
            key.as_ptr(),
            alg,
            msg.as_ptr(),
            msg.len(),
            0,
            out.as_mut_ptr(),
            &mut len,
            std::ptr::null_mut(),
            &mut err,
        );
        self.check("kms_sign", st, err);
        len
    }

    /// Describes `key` (id or name); returns the JSON length.
    fn describe(&self, ctx: kms_ctx, key: &CStr, out: &mut [u8]) -> usize {
        let mut len = out.len();
        let mut err = std::ptr::null_mut();
        let st = (self.key_describe)(
            ctx,
            key.as_ptr(),
            out.as_mut_ptr().cast(),
            &mut len,
            &mut err,
        );
        self.check("kms_key_describe", st, err);
        len
    }

    fn flush(&self, ctx: kms_ctx) {
        let mut err = std::ptr::null_mut();
        let st = (self.flush)(ctx, &mut err);
        self.check("kms_flush", st, err);
    }

    fn close(&self, ctx: kms_ctx) {
        let st = (self.close)(ctx);
        self.check("kms_close", st, std::ptr::null_mut());
    }

    fn audit_ok(&self, ctx: kms_ctx) -> kms_audit_report {
        let mut r = kms_audit_report {
            records: 0,
            first_seq: 0,
            last_seq: 0,
            checkpoints: 0,
            ok: 0,
            problem_seq: 0,
        };
        let mut err = std::ptr::null_mut();
        let st = (self.audit_verify)(ctx, std::ptr::null(), 0, &mut r, &mut err);
        self.check("kms_audit_verify", st, err);
        r
    }
}

// ---------------------------------------------------------------------------------------
// Part 1: throughput and latency

type Op = Arc<dyn Fn() + Send + Sync>;

/// CPU time used so far by the whole process (all threads, the library's audit thread too).
fn process_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs `op` on `threads` threads for one round; returns total ops per wall-clock second
/// and per CPU-second of the process (the second does not depend on what else the machine
/// runs).
fn round(threads: usize, op: &Op) -> (f64, f64) {
    let start = Instant::now();
    let cpu = process_cpu();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                let t0 = Instant::now();
                while t0.elapsed() < ROUND {
                    for _ in 0..32 {
                        op();
                    }
                    n += 32;
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let wall = start.elapsed().as_secs_f64();
    let cpu = (process_cpu() - cpu).as_secs_f64();
    (total as f64 / wall, total as f64 / cpu)
}

/// One round with every operation timed on its own; returns the per-operation times (ns) of
/// all threads. Kept apart from the throughput rounds, whose figures carry no clock reads.
fn latencies(threads: usize, op: &Op) -> Vec<u64> {
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                let mut v = Vec::with_capacity(1 << 20);
                let t0 = Instant::now();
                while t0.elapsed() < ROUND {
                    let s = Instant::now();
                    op();
                    v.push(s.elapsed().as_nanos() as u64);
                }
                v
            })
        })
        .collect();
    handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// The p-th percentile (0..=100) of `v`, sorted in place.
fn pct(v: &mut [u64], p: f64) -> u64 {
    v.sort_unstable();
    let i = ((v.len() as f64 - 1.0) * p / 100.0).round() as usize;
    v[i]
}

fn us(ns: u64) -> String {
    if ns >= 100_000 {
        format!("{:.0} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} µs", ns as f64 / 1e3)
    }
}

fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Measured {
    tput: [f64; 2],
    per_cpu: [f64; 2],
    p50: [u64; 2],
    p99: [u64; 2],
}

fn measure(op: &Op) -> Measured {
    let mut m = Measured {
        tput: [0.0; 2],
        per_cpu: [0.0; 2],
        p50: [0; 2],
        p99: [0; 2],
    };
    // warm-up: caches, the journal file, page faults
    round(1, op);
    for (i, threads) in [1usize, 2].into_iter().enumerate() {
        let r: Vec<(f64, f64)> = (0..ROUNDS).map(|_| round(threads, op)).collect();
        m.tput[i] = median(r.iter().map(|x| x.0).collect());
        m.per_cpu[i] = median(r.iter().map(|x| x.1).collect());
        let mut l = latencies(threads, op);
        m.p50[i] = pct(&mut l, 50.0);
        m.p99[i] = pct(&mut l, 99.0);
    }
    m
}

fn throughput(api: &Api, dir: &Path) {
    let ctx = api.open_store(&dir.join("tput.db"));
    let aes = CString::new("aes").unwrap();
    let p256 = CString::new("p256").unwrap();
    let ed = CString::new("ed25519").unwrap();
    api.create(ctx, KMS_SPEC_AES256, &aes);
    api.create(ctx, KMS_SPEC_EC_P256, &p256);
    api.create(ctx, KMS_SPEC_ED25519, &ed);
    let msg = Arc::new(vec![0x5au8; MSG]);
    let mut ct = vec![0u8; MSG + KMS_CIPHERTEXT_OVERHEAD];
    let n = api.encrypt(ctx, &aes, &msg, &mut ct);
    ct.truncate(n);
    let ct = Arc::new(ct);

    let mut raw_key = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw_key).unwrap();
    let raw = Arc::new(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &raw_key).unwrap(),
    ));
    let raw_ct = {
        let mut b = msg.to_vec();
        raw.seal_in_place_append_tag(Nonce::assume_unique_for_key([1; 12]), Aad::empty(), &mut b)
            .unwrap();
        Arc::new(b)
    };

    let api = *api;
    let cases: Vec<(&str, Op)> = vec![
        ("raw AES-256-GCM encrypt 1 KiB (aws-lc-rs)", {
            let (raw, msg) = (raw.clone(), msg.clone());
            Arc::new(move || {
                // as the audited path: a random nonce, the output in a fresh buffer
                let mut nonce = [0u8; 12];
                aws_lc_rs::rand::fill(&mut nonce).unwrap();
                let mut out = Vec::with_capacity(MSG + 16);
                out.extend_from_slice(&msg);
                raw.seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::empty(),
                    &mut out,
                )
                .unwrap();
                std::hint::black_box(out);
            })
        }),
        ("raw AES-256-GCM decrypt 1 KiB (aws-lc-rs)", {
            let (raw, ct) = (raw.clone(), raw_ct.clone());
            Arc::new(move || {
                let mut buf = ct.to_vec();
                let pt = raw
                    .open_in_place(
                        Nonce::assume_unique_for_key([1; 12]),
                        Aad::empty(),
                        &mut buf,
                    )
                    .unwrap();
                std::hint::black_box(pt.len());
            })
        }),
        ("kms_encrypt AES-256-GCM 1 KiB", {
            let (aes, msg) = (aes.clone(), msg.clone());
            Arc::new(move || {
                let mut out = [0u8; MSG + KMS_CIPHERTEXT_OVERHEAD];
                std::hint::black_box(api.encrypt(ctx, &aes, &msg, &mut out));
            })
        }),
        ("kms_decrypt AES-256-GCM 1 KiB", {
            let ct = ct.clone();
            Arc::new(move || {
                let mut out = [0u8; MSG];
                std::hint::black_box(api.decrypt(ctx, &ct, &mut out));
            })
        }),
        ("kms_generate_data_key (32 B, AES-256 key)", {
            let aes = aes.clone();
            Arc::new(move || {
                let mut out = [0u8; 32 + KMS_CIPHERTEXT_OVERHEAD];
                std::hint::black_box(api.generate_data_key(ctx, &aes, &mut out));
            })
        }),
        ("kms_sign ECDSA P-256 SHA-256 (32 B message)", {
            let p256 = p256.clone();
            Arc::new(move || {
                let mut out = [0u8; KMS_MAX_SIGNATURE];
                std::hint::black_box(api.sign(
                    ctx,
                    &p256,
                    KMS_SIGN_ECDSA_SHA256,
                    &[7; 32],
                    &mut out,
                ));
            })
        }),
        ("kms_sign Ed25519 (32 B message)", {
            let ed = ed.clone();
            Arc::new(move || {
                let mut out = [0u8; KMS_MAX_SIGNATURE];
                std::hint::black_box(api.sign(ctx, &ed, KMS_SIGN_ED25519, &[7; 32], &mut out));
            })
        }),
    ];

    println!();
    println!(
        "## Part 1: C API throughput (one shared context handle; median of {ROUNDS} rounds of \
         {ROUND:?}; p50/p99 from one more timed round)"
    );
    println!();
    println!(
        "| operation | 1 thread: ops/s | ops/CPU-s | p50 | p99 | 2 threads: ops/s | ops/CPU-s | p50 | p99 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut res = Vec::new();
    let mut drains = Vec::new();
    for (name, op) in &cases {
        let m = measure(op);
        // The callers' figures do not wait for the background thread that chains the
        // journaled usage records into the store; what it had not chained yet is chained
        // here, and timed.
        let t = Instant::now();
        api.flush(ctx);
        drains.push((name, t.elapsed()));
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
            thousands(m.tput[0]),
            thousands(m.per_cpu[0]),
            us(m.p50[0]),
            us(m.p99[0]),
            thousands(m.tput[1]),
            thousands(m.per_cpu[1]),
            us(m.p50[1]),
            us(m.p99[1]),
        );
        res.push(m);
    }
    println!();
    for (raw, audited, what) in [(0, 2, "encrypt"), (1, 3, "decrypt")] {
        println!(
            "raw / audited AES-GCM {what}: {:.2}x (1 thread), {:.2}x (2 threads); per CPU-second \
             {:.2}x and {:.2}x; p50 {:.2}x",
            res[raw].tput[0] / res[audited].tput[0],
            res[raw].tput[1] / res[audited].tput[1],
            res[raw].per_cpu[0] / res[audited].per_cpu[0],
            res[raw].per_cpu[1] / res[audited].per_cpu[1],
            res[audited].p50[0] as f64 / res[raw].p50[0] as f64,
        );
    }
    let enc2 = res[2].tput[1];
    let ratio2 = res[0].tput[1] / enc2;
    println!(
        "target: audited encrypt >= 1,000,000 ops/s over 2 threads: {} ({}); within 5x of raw: {} ({:.2}x)",
        if enc2 >= 1e6 { "met" } else { "MISSED" },
        thousands(enc2),
        if ratio2 <= 5.0 { "met" } else { "MISSED" },
        ratio2
    );
    println!();
    for (name, d) in drains {
        println!(
            "kms_flush after \"{name}\" (chains the usage records the audit thread had not \
             chained yet): {:.2} s",
            d.as_secs_f64()
        );
    }
    let t = Instant::now();
    let r = api.audit_ok(ctx);
    println!(
        "kms_audit_verify: {} records, intact: {}, {:.1} s",
        r.records,
        r.ok == 1,
        t.elapsed().as_secs_f64()
    );
    api.close(ctx);
}

// ---------------------------------------------------------------------------------------
// Part 2: store size

/// The resident set (and its peak) of this process, from /proc/self/status, in KiB.
fn rss_kib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The child process: loads libkms.so, opens the store, prints its RSS and exits.
fn rss_child(store: &Path) {
    let api = Api::open();
    let (before, _) = rss_kib();
    let t = Instant::now();
    let ctx = api.open_store(store);
    let open = t.elapsed();
    let (after, peak) = rss_kib();
    println!("rss {before} {after} {peak} {}", open.as_micros());
    api.close(ctx);
}

struct Rss {
    loaded_kib: u64,
    opened_kib: u64,
    peak_kib: u64,
    open: Duration,
}

fn rss_of_fresh_open(store: &Path) -> Rss {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("--rss-child")
        .arg(store)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rss child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("rss ")).unwrap();
    let v: Vec<u64> = line[4..].split(' ').map(|x| x.parse().unwrap()).collect();
    Rss {
        loaded_kib: v[0],
        opened_kib: v[1],
        peak_kib: v[2],
        open: Duration::from_micros(v[3]),
    }
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn mib(b: u64) -> String {
    format!("{:.1} MiB", b as f64 / (1024.0 * 1024.0))
}

/// xorshift64*: reproducible random key picks without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64) as usize
    }
}

fn key_name(i: usize) -> CString {
    CString::new(format!("key-{i:07}")).unwrap()
}

struct SizeRow {
    keys: usize,
    create_p50: u64,
    create_p99: u64,
    create_mean: u64,
    enc_cold: (u64, u64),
    enc_warm: (u64, u64),
    desc_cold: (u64, u64),
    desc_warm: (u64, u64),
    db: u64,
    wal: u64,
    rss: Rss,
}

/// Lookups on random keys in a context opened for the purpose (empty key cache, empty
/// SQLite page cache; the OS file cache is warm): encrypt 1 KiB by name, first use (cold)
/// then again (warm); describe by id, first then again.
fn lookups(api: &Api, store: &Path, ids: &[u64], rng: &mut Rng) -> [(u64, u64); 4] {
    let ctx = api.open_store(store);
    let msg = [0x5au8; MSG];
    let mut out = vec![0u8; MSG + KMS_CIPHERTEXT_OVERHEAD];
    let mut json = vec![0u8; 64 * 1024];
    let mut t: [Vec<u64>; 4] = Default::default();
    for _ in 0..LOOKUPS {
        let i = rng.below(ids.len());
        let name = key_name(i);
        // first use (cold), then again (warm)
        for times in t[..2].iter_mut() {
            let s = Instant::now();
            std::hint::black_box(api.encrypt(ctx, &name, &msg, &mut out));
            times.push(s.elapsed().as_nanos() as u64);
        }
        let j = rng.below(ids.len());
        let id = CString::new(ids[j].to_string()).unwrap();
        for times in t[2..].iter_mut() {
            let s = Instant::now();
            std::hint::black_box(api.describe(ctx, &id, &mut json));
            times.push(s.elapsed().as_nanos() as u64);
        }
    }
    api.close(ctx);
    t.map(|mut v| (pct(&mut v, 50.0), pct(&mut v, 99.0)))
}

/// Creation time (p50, p99) of `n` keys made one by one in a new store at `store`.
fn create_times(api: &Api, store: &Path, n: usize) -> (u64, u64) {
    let ctx = api.open_store(store);
    let mut t: Vec<u64> = (0..n)
        .map(|i| {
            let name = key_name(i);
            let s = Instant::now();
            api.create(ctx, KMS_SPEC_AES256, &name);
            s.elapsed().as_nanos() as u64
        })
        .collect();
    api.close(ctx);
    (pct(&mut t, 50.0), pct(&mut t, 99.0))
}

fn store_sizes(api: &Api, disk: &Path, grow: &Path, max: usize) {
    let durable = create_times(api, &disk.join("durable.db"), 1000);
    let store = grow.join("size.db");
    let ctx = api.open_store(&store);
    let sizes: Vec<usize> = [1_000, 10_000, 100_000, 1_000_000, 10_000_000]
        .into_iter()
        .filter(|&n| n <= max)
        .chain((![1_000, 10_000, 100_000, 1_000_000, 10_000_000].contains(&max)).then_some(max))
        .collect();
    let mut ids = Vec::with_capacity(max);
    let mut create = Vec::with_capacity(max);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut rows = Vec::new();
    let started = Instant::now();
    for &n in &sizes {
        while ids.len() < n {
            let name = key_name(ids.len());
            let s = Instant::now();
            ids.push(api.create(ctx, KMS_SPEC_AES256, &name));
            create.push(s.elapsed().as_nanos() as u64);
            if ids.len() % 50_000 == 0 {
                eprintln!(
                    "  {} keys created ({:.0} s)",
                    ids.len(),
                    started.elapsed().as_secs_f64()
                );
            }
        }
        let mut last: Vec<u64> = create[n.saturating_sub(1000)..n].to_vec();
        let create_mean = last.iter().sum::<u64>() / last.len() as u64;
        let (create_p50, create_p99) = (pct(&mut last, 50.0), pct(&mut last, 99.0));
        api.flush(ctx);
        let rss = rss_of_fresh_open(&store);
        let [enc_cold, enc_warm, desc_cold, desc_warm] = lookups(api, &store, &ids, &mut rng);
        api.flush(ctx);
        rows.push(SizeRow {
            keys: n,
            create_p50,
            create_p99,
            create_mean,
            enc_cold,
            enc_warm,
            desc_cold,
            desc_warm,
            db: file_size(&store),
            wal: file_size(&with_suffix(&store, "-wal")),
            rss,
        });
        eprintln!("  measured at {n} keys");
    }
    api.close(ctx);

    println!();
    println!(
        "## Part 2: store size (AES-256 keys created one by one with kms_key_create; \
         {LOOKUPS} random keys looked up per size in a freshly opened context)"
    );
    println!();
    println!(
        "durable key creation on disk ({}), 1000 keys in a new store: p50 {}, p99 {} \
         (one fsync per key)",
        disk.display(),
        us(durable.0),
        us(durable.1)
    );
    println!(
        "growing store in {}{}",
        grow.display(),
        if grow.starts_with("/dev/shm") {
            " (tmpfs: fsync costs nothing, so creation times below are libkms' and SQLite's \
             own work; add the durable figure's fsync on disk)"
        } else {
            ""
        }
    );
    println!();
    println!(
        "| keys | create p50 / p99 / mean (last 1000) | encrypt by name, cold p50 / p99 | warm p50 / p99 \
         | describe by id, cold p50 / p99 | warm p50 / p99 | store file + WAL | open | RSS: loaded / after open (peak) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} / {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} + {} | {:.0} ms | {} / {} ({}) |",
            thousands(r.keys as f64),
            us(r.create_p50),
            us(r.create_p99),
            us(r.create_mean),
            us(r.enc_cold.0),
            us(r.enc_cold.1),
            us(r.enc_warm.0),
            us(r.enc_warm.1),
            us(r.desc_cold.0),
            us(r.desc_cold.1),
            us(r.desc_warm.0),
            us(r.desc_warm.1),
            mib(r.db),
            mib(r.wal),
            r.rss.open.as_secs_f64() * 1e3,
            mib(r.rss.loaded_kib * 1024),
            mib(r.rss.opened_kib * 1024),
            mib(r.rss.peak_kib * 1024),
        );
    }
    let first = &rows[0];
    let last = rows.last().unwrap();
    println!();
    let flat = |a: u64, b: u64| if b <= 2 * a { "met" } else { "MISSED" };
    println!(
        "targets at {} keys vs 1,000: creation p50 within 2x: {} ({:.2}x); cold encrypt \
         lookup p50 within 2x: {} ({:.2}x); describe p50 within 2x: {} ({:.2}x); RSS after \
         open < 64 MiB: {} ({})",
        thousands(last.keys as f64),
        flat(first.create_p50, last.create_p50),
        last.create_p50 as f64 / first.create_p50 as f64,
        flat(first.enc_cold.0, last.enc_cold.0),
        last.enc_cold.0 as f64 / first.enc_cold.0 as f64,
        flat(first.desc_cold.0, last.desc_cold.0),
        last.desc_cold.0 as f64 / first.desc_cold.0 as f64,
        if last.rss.opened_kib < 64 * 1024 {
            "met"
        } else {
            "MISSED"
        },
        mib(last.rss.opened_kib * 1024),
    );
    println!(
        "building {} keys took {:.0} s",
        thousands(max as f64),
        started.elapsed().as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--rss-child") {
        rss_child(Path::new(&args[i + 1]));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Usage journals beside the stores, not in the user's data folder.
    std::env::set_var("KMS_JOURNAL_DIR", dir.path().join("journals"));
    let parts = std::env::var("KMS_BENCH_PARTS").unwrap_or_default();
    let max_keys = |default: usize| -> usize {
        std::env::var("KMS_BENCH_MAX_KEYS")
            .ok()
            .map(|v| v.parse().expect("KMS_BENCH_MAX_KEYS: a number"))
            .unwrap_or(default)
    };
    let api = Api::open();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_default();
    println!(
        "# libkms C API (dlopen {}), {} cores, {cpu}",
        common::lib_dir().join("libkms.so").display(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let load = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split(' ')
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("load average at start: {}", load());
    if parts.is_empty() || parts.contains("store") {
        // The growing store: on tmpfs unless told otherwise (see store_sizes' output).
        // 1M keys take about two minutes on tmpfs; on a disk (one fsync per key) 100k
        // already take minutes.
        let (grow_in, max) = match std::env::var_os("KMS_BENCH_STORE_DIR") {
            Some(d) => (PathBuf::from(d), max_keys(100_000)),
            None if Path::new("/dev/shm").is_dir() => {
                (PathBuf::from("/dev/shm"), max_keys(1_000_000))
            }
            None => (dir.path().to_path_buf(), max_keys(100_000)),
        };
        let grow = tempfile::tempdir_in(grow_in).unwrap();
        store_sizes(&api, dir.path(), grow.path(), max);
        println!("load average: {}", load());
    }
    if parts.is_empty() || parts.contains("throughput") {
        throughput(&api, dir.path());
        println!("load average at the end: {}", load());
    }
}
