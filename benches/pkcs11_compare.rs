//! The same PKCS#11 workload on several modules side by side (default: libkms and SoftHSM2),
//! each on a fresh token, in one process: ops/s, p50 and p99 latency per metric and the ratio
//! of the first module to the others, printed as a table and written as JSON and as an SVG
//! bar chart of the ratios.
//!
//! Run: `cargo build --release && cargo bench --bench pkcs11_compare` (or `scripts/bench.sh`).
//! Knobs (environment):
//! - `KMS_BENCH_MODULES="name=path,..."` modules to compare, first = the subject of the ratios
//!   (default `libkms=target/release/libkms.so,softhsm2=/usr/lib/softhsm/libsofthsm2.so`);
//! - `KMS_BENCH_SECS` seconds per metric and module (default 1), split into
//!   `KMS_BENCH_ROUNDS` rounds (default 5) that alternate between the modules, so that a
//!   burst of load on a shared machine hits every module alike; ops/s is the median round;
//! - `KMS_BENCH_FIND_LARGE` keys in the token for the large find (default 100000);
//! - `KMS_BENCH_FILL_SECS` time budget per module to create those keys (default 150): a
//!   module that has not reached the size by then is measured at the size reached, and the
//!   table says so;
//! - `KMS_BENCH_JSON` / `KMS_BENCH_SVG` output files (default `docs/perf-pkcs11.json`,
//!   `docs/perf-ratios.svg`; an empty value skips the file).
//!
//! Fresh tokens: before any module is loaded, `KMS_STORE=<tmp>/kms.db` (libkms) and
//! `SOFTHSM2_CONF=<tmp>/softhsm2.conf` (token directory `<tmp>/tokens`) are set, so every
//! module is set up the same generic way: `C_InitToken` on the slot holding an uninitialised
//! token, SO login, `C_InitPIN`, user login. Speed is never asserted: the exit status is
//! non-zero only when a module could not be run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

const P256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const SO_PIN: &str = "bench-so-pin";
const USER_PIN: &str = "bench-user-pin";
const TOKEN: &str = "bench";

/// One metric: id (stable, used in JSON), title, and the target ratio (first module over the
/// second) where the issue sets one.
struct Metric {
    id: &'static str,
    title: &'static str,
    target: Option<f64>,
}

const METRICS: &[Metric] = &[
    Metric {
        id: "create_aes",
        title: "AES-256 token key creation",
        target: Some(10.0),
    },
    Metric {
        id: "gcm_enc_1k",
        title: "AES-256-GCM encrypt 1 KiB",
        target: Some(10.0),
    },
    Metric {
        id: "gcm_dec_1k",
        title: "AES-256-GCM decrypt 1 KiB",
        target: Some(10.0),
    },
    Metric {
        id: "gcm_enc_64k",
        title: "AES-256-GCM encrypt 64 KiB",
        target: Some(3.0),
    },
    Metric {
        id: "gcm_dec_64k",
        title: "AES-256-GCM decrypt 64 KiB",
        target: Some(3.0),
    },
    Metric {
        id: "ecdsa_p256",
        title: "ECDSA P-256 sign (32 B digest)",
        target: Some(3.0),
    },
    Metric {
        id: "rsa2048_sha256",
        title: "RSA-2048 SHA256_RSA_PKCS sign 1 KiB",
        target: Some(2.5),
    },
    Metric {
        id: "hmac_sha256_1k",
        title: "HMAC-SHA256 1 KiB",
        target: Some(10.0),
    },
    Metric {
        id: "gcm_enc_1k_2t",
        title: "AES-256-GCM encrypt 1 KiB, 2 threads",
        target: None,
    },
    Metric {
        id: "find_small",
        title: "find by label, 1,000 keys",
        target: Some(1000.0),
    },
    Metric {
        id: "find_large",
        title: "find by label, large token",
        target: None,
    },
];

/// What a child reports for one metric.
#[derive(Clone, Debug)]
struct Res {
    ops: f64,
    p50_us: f64,
    p99_us: f64,
    n: usize,
    /// keys in the token (find metrics), else 0
    keys: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        _ => default,
    }
}

// ------------------------------------------------------------------------------------------
// set-up and reporting

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn modules() -> Vec<(String, PathBuf)> {
    let spec = std::env::var("KMS_BENCH_MODULES").unwrap_or_default();
    if spec.trim().is_empty() {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(|d| root().join(d))
            .unwrap_or_else(|| root().join("target"));
        return vec![
            ("libkms".into(), target.join("release").join("libkms.so")),
            (
                "softhsm2".into(),
                PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            ),
        ];
    }
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| match s.split_once('=') {
            Some((n, p)) => (n.trim().to_string(), PathBuf::from(p.trim())),
            None => {
                let p = PathBuf::from(s.trim());
                let n = p
                    .file_stem()
                    .map(|f| f.to_string_lossy().trim_start_matches("lib").to_string())
                    .unwrap_or_else(|| s.to_string());
                (n, p)
            }
        })
        .collect()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

struct ModuleRun {
    name: String,
    path: PathBuf,
    results: BTreeMap<String, Res>,
    errors: BTreeMap<String, String>,
    notes: Vec<String>,
}

fn fmt_ops(v: f64) -> String {
    let s = format!("{:.0}", v);
    if v < 100.0 {
        return format!("{v:.1}");
    }
    // thousands separators
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An integer count with thousands separators.
fn fmt_count(n: usize) -> String {
    if n < 1000 {
        n.to_string()
    } else {
        fmt_ops(n as f64)
    }
}

fn fmt_us(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} ms", v / 1000.0)
    } else if v >= 100.0 {
        format!("{v:.0} µs")
    } else {
        format!("{v:.1} µs")
    }
}

fn ratio(runs: &[ModuleRun], id: &str, other: usize) -> Option<f64> {
    let a = runs[0].results.get(id)?;
    let b = runs[other].results.get(id)?;
    (b.ops > 0.0).then(|| a.ops / b.ops)
}

/// The same comparison on median latency (the other's p50 over the first's): steadier than
/// ops/s when the machine is shared, since stalls from other load land in the tail.
fn p50_ratio(runs: &[ModuleRun], id: &str, other: usize) -> Option<f64> {
    let a = runs[0].results.get(id)?;
    let b = runs[other].results.get(id)?;
    (a.p50_us > 0.0).then(|| b.p50_us / a.p50_us)
}

fn title_of(m: &Metric, runs: &[ModuleRun]) -> String {
    if !m.id.starts_with("find_") {
        return m.title.to_string();
    }
    let sizes: Vec<String> = runs
        .iter()
        .map(|r| {
            r.results
                .get(m.id)
                .map_or("-".into(), |x| fmt_count(x.keys))
        })
        .collect();
    if sizes.windows(2).all(|w| w[0] == w[1]) {
        format!("find by label, {} keys", sizes[0])
    } else {
        format!("find by label, {} keys", sizes.join(" / "))
    }
}

fn report(runs: &[ModuleRun], secs: f64, large: usize, cores: usize, cpu: &str) {
    // ---- the table (Markdown)
    let mut head = String::from("| metric |");
    let mut rule = String::from("|---|");
    for r in runs {
        let _ = write!(head, " {0} ops/s | {0} p50 | {0} p99 |", r.name);
        rule.push_str("---:|---:|---:|");
    }
    for r in &runs[1..] {
        let _ = write!(head, " ratio {}/{} | p50 ratio |", runs[0].name, r.name);
        rule.push_str("---:|---:|");
    }
    println!();
    println!("{head}");
    println!("{rule}");
    for m in METRICS {
        let mut line = format!("| {} |", title_of(m, runs));
        for r in runs {
            match (r.results.get(m.id), r.errors.get(m.id)) {
                (Some(x), _) => {
                    let _ = write!(
                        line,
                        " {} | {} | {} |",
                        fmt_ops(x.ops),
                        fmt_us(x.p50_us),
                        fmt_us(x.p99_us)
                    );
                }
                (None, Some(_)) => line.push_str(" error | | |"),
                (None, None) => line.push_str(" - | | |"),
            }
        }
        for i in 1..runs.len() {
            for q in [ratio(runs, m.id, i), p50_ratio(runs, m.id, i)] {
                match q {
                    Some(q) => {
                        let _ = write!(line, " {} |", fmt_ratio(q));
                    }
                    None => line.push_str(" - |"),
                }
            }
        }
        println!("{line}");
    }
    // ---- derived figures: thread scaling, large vs small find
    println!();
    for r in runs {
        let scale = match (r.results.get("gcm_enc_1k_2t"), r.results.get("gcm_enc_1k")) {
            (Some(a), Some(b)) if b.ops > 0.0 => format!("{:.2}x", a.ops / b.ops),
            _ => "-".into(),
        };
        let find = match (r.results.get("find_large"), r.results.get("find_small")) {
            (Some(a), Some(b)) if a.ops > 0.0 => format!(
                "at {} keys takes {:.2}x the time per search (median round) as at {} keys",
                fmt_count(a.keys),
                b.ops / a.ops,
                fmt_count(b.keys)
            ),
            _ => "-".into(),
        };
        println!(
            "{}: 2-thread scaling of AES-GCM 1 KiB {scale}; find by label {find}",
            r.name
        );
        for n in &r.notes {
            println!("{}: {n}", r.name);
        }
        for (id, e) in &r.errors {
            println!("{}: {id} failed: {e}", r.name);
        }
    }
    // ---- JSON
    let json_path = std::env::var("KMS_BENCH_JSON")
        .unwrap_or_else(|_| root().join("docs/perf-pkcs11.json").display().to_string());
    if !json_path.is_empty() {
        let json = to_json(runs, secs, large, cores, cpu);
        match std::fs::write(&json_path, json) {
            Ok(()) => println!("results: {json_path}"),
            Err(e) => eprintln!("cannot write {json_path}: {e}"),
        }
    }
    let svg_path = std::env::var("KMS_BENCH_SVG")
        .unwrap_or_else(|_| root().join("docs/perf-ratios.svg").display().to_string());
    if !svg_path.is_empty() && runs.len() > 1 {
        match std::fs::write(&svg_path, to_svg(runs, cores, cpu)) {
            Ok(()) => println!("chart: {svg_path}"),
            Err(e) => eprintln!("cannot write {svg_path}: {e}"),
        }
    }
}

fn fmt_ratio(q: f64) -> String {
    if q >= 100.0 {
        format!("{q:.0}x")
    } else if q >= 10.0 {
        format!("{q:.1}x")
    } else {
        format!("{q:.2}x")
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "null".into()
    }
}

fn to_json(runs: &[ModuleRun], secs: f64, large: usize, cores: usize, cpu: &str) -> String {
    let mut j = String::from("{\n");
    let _ = writeln!(
        j,
        "  \"machine\": {{\"cores\": {cores}, \"cpu\": {}}},",
        json_str(cpu)
    );
    let _ = writeln!(
        j,
        "  \"config\": {{\"secs_per_metric\": {}, \"find_large\": {large}}},",
        json_num(secs)
    );
    j.push_str("  \"modules\": [\n");
    for (i, r) in runs.iter().enumerate() {
        let notes: Vec<String> = r.notes.iter().map(|n| json_str(n)).collect();
        let _ = write!(
            j,
            "    {{\"name\": {}, \"path\": {}, \"notes\": [{}]}}",
            json_str(&r.name),
            json_str(&r.path.display().to_string()),
            notes.join(", ")
        );
        j.push_str(if i + 1 < runs.len() { ",\n" } else { "\n" });
    }
    j.push_str("  ],\n  \"metrics\": [\n");
    for (mi, m) in METRICS.iter().enumerate() {
        let _ = write!(
            j,
            "    {{\"id\": {}, \"title\": {}, \"target_ratio\": {}, \"results\": {{",
            json_str(m.id),
            json_str(&title_of(m, runs)),
            m.target.map_or("null".into(), json_num)
        );
        let mut parts = Vec::new();
        for r in runs {
            let v = match (r.results.get(m.id), r.errors.get(m.id)) {
                (Some(x), _) => format!(
                    "{{\"ops_per_s\": {}, \"p50_us\": {}, \"p99_us\": {}, \"ops\": {}, \"keys\": {}}}",
                    json_num(x.ops),
                    json_num(x.p50_us),
                    json_num(x.p99_us),
                    x.n,
                    x.keys
                ),
                (None, Some(e)) => format!("{{\"error\": {}}}", json_str(e)),
                (None, None) => "null".into(),
            };
            parts.push(format!("{}: {v}", json_str(&r.name)));
        }
        j.push_str(&parts.join(", "));
        j.push_str("}, \"ratios\": {");
        let ratios: Vec<String> = (1..runs.len())
            .map(|i| {
                format!(
                    "{}: {}",
                    json_str(&format!("{}/{}", runs[0].name, runs[i].name)),
                    ratio(runs, m.id, i).map_or("null".into(), json_num)
                )
            })
            .collect();
        j.push_str(&ratios.join(", "));
        j.push_str("}, \"p50_ratios\": {");
        let ratios: Vec<String> = (1..runs.len())
            .map(|i| {
                format!(
                    "{}: {}",
                    json_str(&format!("{}/{}", runs[0].name, runs[i].name)),
                    p50_ratio(runs, m.id, i).map_or("null".into(), json_num)
                )
            })
            .collect();
        j.push_str(&ratios.join(", "));
        j.push('}');
        j.push_str(if mi + 1 < METRICS.len() {
            "},\n"
        } else {
            "}\n"
        });
    }
    j.push_str("  ]\n}\n");
    j
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars of the first module's ratio over the second, log scale, with the target
/// of each metric as a mark.
fn to_svg(runs: &[ModuleRun], cores: usize, cpu: &str) -> String {
    let rows: Vec<(String, Option<f64>, Option<f64>)> = METRICS
        .iter()
        .map(|m| (title_of(m, runs), ratio(runs, m.id, 1), m.target))
        .collect();
    let (lo, hi) = rows
        .iter()
        .flat_map(|(_, r, t)| [*r, *t])
        .flatten()
        .fold((1.0f64, 10.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let lo_e = lo.log10().floor().min(-1.0) as i32;
    let hi_e = hi.log10().ceil().max(1.0) as i32;
    let (label_w, plot_w, row_h, top) = (380.0, 560.0, 28.0, 60.0);
    let width = label_w + plot_w + 90.0;
    let height = top + row_h * rows.len() as f64 + 70.0;
    let x = |v: f64| label_w + (v.log10() - lo_e as f64) / (hi_e - lo_e) as f64 * plot_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        s,
        r##"<rect width="100%" height="100%" fill="white"/>
<text x="{:.0}" y="24" font-size="16" font-weight="bold">PKCS#11 ops/s ratio {} / {} (log scale; mark = target)</text>
<text x="{:.0}" y="44" fill="#555">{cores} cores, {}</text>"##,
        10.0,
        esc(&runs[0].name),
        esc(&runs[1].name),
        10.0,
        esc(cpu)
    );
    // grid: decades
    for e in lo_e..=hi_e {
        let gx = x(10f64.powi(e));
        let label = if e >= 0 {
            format!("{}x", 10u64.pow(e as u32))
        } else {
            format!("{}x", 10f64.powi(e))
        };
        let _ = writeln!(
            s,
            r##"<line x1="{gx:.1}" y1="{top:.0}" x2="{gx:.1}" y2="{:.0}" stroke="{}" stroke-width="1"/>
<text x="{gx:.1}" y="{:.0}" text-anchor="middle" fill="#333">{label}</text>"##,
            top + row_h * rows.len() as f64,
            if e == 0 { "#000" } else { "#ddd" },
            top + row_h * rows.len() as f64 + 18.0
        );
    }
    for (i, (title, r, t)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + row_h * 0.62,
            esc(title)
        );
        if let Some(r) = r {
            let x0 = x(1.0);
            let x1 = x(*r);
            let (bx, bw) = if x1 >= x0 {
                (x0, x1 - x0)
            } else {
                (x1, x0 - x1)
            };
            let color = match t {
                Some(t) if r >= t => "#2e8b57",
                Some(_) => "#e07b39",
                None => "#4a7ab5",
            };
            let _ = writeln!(
                s,
                r##"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{:.1}" fill="{color}"/>
<text x="{:.1}" y="{:.1}" fill="#000">{}</text>"##,
                y + 5.0,
                bw.max(1.0),
                row_h - 10.0,
                x1.max(x0).max(t.map_or(0.0, |t| x(t) + 2.0)) + 4.0,
                y + row_h * 0.62,
                fmt_ratio(*r)
            );
        } else {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#a00">no figure</text>"##,
                x(1.0) + 4.0,
                y + row_h * 0.62
            );
        }
        if let Some(t) = t {
            let tx = x(*t);
            let _ = writeln!(
                s,
                r##"<line x1="{tx:.1}" y1="{:.1}" x2="{tx:.1}" y2="{:.1}" stroke="#c00" stroke-width="3"/>"##,
                y + 2.0,
                y + row_h - 2.0
            );
        }
    }
    let _ = writeln!(
        s,
        r##"<text x="10" y="{:.0}" fill="#555">green: target met, orange: target missed, blue: no ratio target; generated by cargo bench --bench pkcs11_compare</text>"##,
        height - 14.0
    );
    s.push_str("</svg>\n");
    s
}

// ------------------------------------------------------------------------------------------
// the run: every module set up, then every metric with rounds alternating between modules

/// One loaded module with its token, logged-in session and the keys the metrics use.
struct Module {
    run: ModuleRun,
    p: Pkcs11,
    slot: Slot,
    s: Session,
    aes: Result<ObjectHandle, String>,
    ct1k: Result<Vec<u8>, String>,
    ct64k: Result<Vec<u8>, String>,
    ec: Result<ObjectHandle, String>,
    rsa: Result<ObjectHandle, String>,
    hmac: Result<ObjectHandle, String>,
    /// fill keys in the token (labels `fill-000000` ...)
    filled: usize,
    /// next operation number (unique IVs and labels across rounds)
    next: u64,
}

struct Cfg {
    /// metric ids to run (`KMS_BENCH_ONLY`), empty = all
    only: Vec<String>,
    small: usize,
    secs: f64,
    rounds: usize,
    large: usize,
    fill_secs: f64,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    std::process::exit(run());
}

fn run() -> i32 {
    let mods = modules();
    if mods.is_empty() {
        eprintln!("KMS_BENCH_MODULES names no module (name=path,name=path)");
        return 2;
    }
    let small = env_or::<usize>("KMS_BENCH_FIND_SMALL", 1000).max(1);
    let cfg = Cfg {
        only: std::env::var("KMS_BENCH_ONLY")
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        small,
        secs: env_or("KMS_BENCH_SECS", 1.0),
        rounds: env_or::<usize>("KMS_BENCH_ROUNDS", 5).max(1),
        large: env_or::<usize>("KMS_BENCH_FIND_LARGE", 100_000).max(small),
        fill_secs: env_or("KMS_BENCH_FILL_SECS", 150.0),
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = cpu_model();
    let names: Vec<_> = mods.iter().map(|(n, _)| n.as_str()).collect();
    println!(
        "PKCS#11 comparison: {} on {cores} cores ({cpu})",
        names.join(" vs ")
    );
    println!(
        "{} s per metric and module in {} alternating rounds; large token {} keys (fill budget {} s per module)",
        cfg.secs, cfg.rounds, cfg.large, cfg.fill_secs
    );
    // Fresh tokens for every module kind, set before any module reads its environment.
    let dir = tempfile::tempdir().expect("tempdir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).expect("token dir");
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .expect("softhsm2.conf");
    std::env::set_var("KMS_STORE", dir.path().join("kms.db"));
    std::env::set_var("SOFTHSM2_CONF", &conf);

    let mut ms = Vec::new();
    for (name, path) in &mods {
        if !path.exists() {
            eprintln!(
                "module {name}: {} not found{}",
                path.display(),
                if path.ends_with("libkms.so") {
                    " (run cargo build --release first)"
                } else {
                    " (install it, e.g. apt-get install softhsm2, or set KMS_BENCH_MODULES)"
                }
            );
            return 1;
        }
        eprintln!("== {name}: {}", path.display());
        match setup(name, path, cfg.small) {
            Ok(m) => ms.push(m),
            Err(e) => {
                eprintln!("module {name} could not be run: {e}");
                return 1;
            }
        }
    }
    run_all(&mut ms, &cfg);
    let runs: Vec<ModuleRun> = ms.into_iter().map(|m| m.run).collect();
    report(&runs, cfg.secs, cfg.large, cores, &cpu);
    0
}

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

fn e2s(e: cryptoki::error::Error) -> String {
    e.to_string()
}

fn setup(name: &str, path: &std::path::Path, small: usize) -> Result<Module, String> {
    let p = Pkcs11::new(path).map_err(|e| format!("cannot load {}: {e}", path.display()))?;
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| format!("C_Initialize: {e}"))?;
    let free = p
        .get_slots_with_token()
        .map_err(e2s)?
        .into_iter()
        .find(|s| p.get_token_info(*s).is_ok_and(|t| !t.token_initialized()))
        .ok_or("no slot with an uninitialised token")?;
    p.init_token(free, &pin(SO_PIN), TOKEN)
        .map_err(|e| format!("C_InitToken: {e}"))?;
    // the initialised token may show in another slot (SoftHSM2, libkms)
    let slot = p
        .get_slots_with_token()
        .map_err(e2s)?
        .into_iter()
        .find(|s| p.get_token_info(*s).is_ok_and(|t| t.label() == TOKEN))
        .ok_or("initialised token not found")?;
    let s = p.open_rw_session(slot).map_err(e2s)?;
    s.login(UserType::So, Some(&pin(SO_PIN)))
        .map_err(|e| format!("SO login: {e}"))?;
    s.init_pin(&pin(USER_PIN))
        .map_err(|e| format!("C_InitPIN: {e}"))?;
    s.logout().map_err(e2s)?;
    s.login(UserType::User, Some(&pin(USER_PIN)))
        .map_err(|e| format!("user login: {e}"))?;
    let mut notes = Vec::new();
    if let Ok(info) = p.get_library_info() {
        notes.push(format!(
            "library: {} / {} {}.{}",
            info.manufacturer_id(),
            info.library_description(),
            info.library_version().major(),
            info.library_version().minor()
        ));
    }
    let msg1k = vec![0x5au8; 1024];
    let msg64k = vec![0xa5u8; 64 * 1024];
    let aes = gen_aes(&s, "bench-aes").map_err(|e| format!("AES key generation: {e}"));
    let ct1k = aes
        .clone()
        .and_then(|k| gcm_encrypt(&s, k, u64::MAX, &msg1k));
    let ct64k = aes
        .clone()
        .and_then(|k| gcm_encrypt(&s, k, u64::MAX - 1, &msg64k));
    let ec = s
        .generate_key_pair(
            &Mechanism::EccKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Label(b"bench-ec".to_vec()),
                Attribute::EcParams(P256.to_vec()),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Label(b"bench-ec".to_vec()),
                Attribute::Sign(true),
            ],
        )
        .map(|(_, k)| k)
        .map_err(|e| format!("EC P-256 key pair generation: {e}"));
    let rsa = s
        .generate_key_pair(
            &Mechanism::RsaPkcsKeyPairGen,
            &[
                Attribute::Token(true),
                Attribute::Label(b"bench-rsa".to_vec()),
                Attribute::ModulusBits(2048.into()),
                Attribute::PublicExponent(vec![1, 0, 1]),
                Attribute::Verify(true),
            ],
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Label(b"bench-rsa".to_vec()),
                Attribute::Sign(true),
            ],
        )
        .map(|(_, k)| k)
        .map_err(|e| format!("RSA-2048 key pair generation: {e}"));
    let hmac = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Label(b"bench-hmac".to_vec()),
                Attribute::ValueLen(32.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ],
        )
        .map_err(|e| format!("generic secret key generation: {e}"));
    // 1,000 fill keys for the small find (the token then holds them and the keys above)
    let t0 = Instant::now();
    let filled = fill(&s, 0, small, None)?;
    notes.push(format!(
        "{filled} fill keys created in {:.1} s",
        t0.elapsed().as_secs_f64()
    ));
    Ok(Module {
        run: ModuleRun {
            name: name.to_string(),
            path: path.to_path_buf(),
            results: BTreeMap::new(),
            errors: BTreeMap::new(),
            notes,
        },
        p,
        slot,
        s,
        aes,
        ct1k,
        ct64k,
        ec,
        rsa,
        hmac,
        filled,
        next: 0,
    })
}

fn gcm_iv(i: u64) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&i.to_be_bytes());
    iv
}

fn gcm_encrypt(s: &Session, key: ObjectHandle, i: u64, data: &[u8]) -> Result<Vec<u8>, String> {
    let mut iv = gcm_iv(i);
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).map_err(e2s)?);
    s.encrypt(&m, key, data).map_err(e2s)
}

fn gcm_decrypt(s: &Session, key: ObjectHandle, i: u64, ct: &[u8]) -> Result<(), String> {
    let mut iv = gcm_iv(i);
    let m = Mechanism::AesGcm(GcmParams::new(&mut iv, b"", 128.into()).map_err(e2s)?);
    s.decrypt(&m, key, ct).map(drop).map_err(e2s)
}

fn gen_aes(s: &Session, label: &str) -> Result<ObjectHandle, String> {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ],
    )
    .map_err(e2s)
}

fn fill_label(i: usize) -> String {
    format!("fill-{i:06}")
}

/// Creates fill keys `from..to` (token AES keys, one `C_GenerateKey` each: PKCS#11 has no
/// batch creation) until `to` or the deadline; returns how many exist afterwards.
fn fill(s: &Session, from: usize, to: usize, deadline: Option<Instant>) -> Result<usize, String> {
    let t0 = Instant::now();
    let mut last = Instant::now();
    for i in from..to {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(i);
        }
        gen_aes(s, &fill_label(i)).map_err(|e| format!("creating fill key {i}: {e}"))?;
        if last.elapsed() > Duration::from_secs(10) {
            last = Instant::now();
            eprintln!(
                "  filling: {} keys ({:.0} keys/s)",
                i + 1,
                (i + 1 - from) as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    Ok(to)
}

/// Runs `op` (given the operation number) for `dur`, at least once; latencies in ns.
fn timed<F>(dur: Duration, next: &mut u64, mut op: F) -> Result<(Vec<u64>, Duration), String>
where
    F: FnMut(u64) -> Result<(), String>,
{
    let mut lat = Vec::with_capacity(1 << 14);
    let start = Instant::now();
    loop {
        let t = Instant::now();
        op(*next)?;
        lat.push(t.elapsed().as_nanos() as u64);
        *next += 1;
        if start.elapsed() >= dur {
            break;
        }
    }
    Ok((lat, start.elapsed()))
}

type RoundFn<'a> = dyn Fn(&Module, Duration, &mut u64) -> Result<(Vec<u64>, Duration), String> + 'a;

/// One metric on every module: a warm-up, then `rounds` rounds alternating between modules.
/// ops/s = median of the rounds' rates; p50/p99 over every operation.
fn metric(
    ms: &mut [Module],
    cfg: &Cfg,
    id: &str,
    keys: &dyn Fn(&Module) -> usize,
    round: &RoundFn,
) {
    if !cfg.only.is_empty() && !cfg.only.iter().any(|o| o == id) {
        return;
    }
    let per = Duration::from_secs_f64(cfg.secs / cfg.rounds as f64);
    let mut acc: Vec<Option<(Vec<u64>, Vec<f64>)>> = Vec::new();
    for m in ms.iter_mut() {
        let mut next = m.next;
        let warm = round(
            m,
            Duration::from_secs_f64((cfg.secs / 10.0).min(0.1)),
            &mut next,
        );
        m.next = next;
        match warm {
            Ok(_) => acc.push(Some((Vec::new(), Vec::new()))),
            Err(e) => {
                eprintln!("  {:<10} {id:<16} failed: {e}", m.run.name);
                m.run.errors.insert(id.into(), e);
                acc.push(None);
            }
        }
    }
    for _ in 0..cfg.rounds {
        for (m, a) in ms.iter_mut().zip(acc.iter_mut()) {
            let Some((lat, rates)) = a else { continue };
            let mut next = m.next;
            let r = round(m, per, &mut next);
            m.next = next;
            match r {
                Ok((l, el)) => {
                    rates.push(l.len() as f64 / el.as_secs_f64());
                    lat.extend(l);
                }
                Err(e) => {
                    eprintln!("  {:<10} {id:<16} failed: {e}", m.run.name);
                    m.run.errors.insert(id.into(), e);
                    *a = None;
                }
            }
        }
    }
    for (m, a) in ms.iter_mut().zip(acc) {
        let Some((mut lat, mut rates)) = a else {
            continue;
        };
        lat.sort_unstable();
        rates.sort_by(|x, y| x.total_cmp(y));
        let n = lat.len();
        let q = |p: usize| lat[(n * p / 100).min(n - 1)] as f64 / 1000.0;
        let r = Res {
            ops: rates[rates.len() / 2],
            p50_us: q(50),
            p99_us: q(99),
            n,
            keys: keys(m),
        };
        eprintln!(
            "  {:<10} {id:<16} {:>12} ops/s  p50 {:>9}  p99 {:>9}  ({} ops{})",
            m.run.name,
            fmt_ops(r.ops),
            fmt_us(r.p50_us),
            fmt_us(r.p99_us),
            r.n,
            if r.keys > 0 {
                format!(", {} keys", r.keys)
            } else {
                String::new()
            }
        );
        m.run.results.insert(id.into(), r);
    }
}

fn key(k: &Result<ObjectHandle, String>) -> Result<ObjectHandle, String> {
    k.clone()
}

fn ct(c: &Result<Vec<u8>, String>) -> Result<&[u8], String> {
    c.as_deref().map_err(Clone::clone)
}

/// A pseudo-random fill key index for operation `i` (a different key each time).
fn pick(i: u64, keys: usize) -> usize {
    let mut z = i.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    ((z ^ (z >> 31)) % keys as u64) as usize
}

fn find_round(m: &Module, dur: Duration, next: &mut u64) -> Result<(Vec<u64>, Duration), String> {
    timed(dur, next, |i| {
        let label = fill_label(pick(i, m.filled));
        let found =
            m.s.find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.clone().into_bytes()),
            ])
            .map_err(e2s)?;
        if found.len() != 1 {
            return Err(format!(
                "{label}: {} objects found, expected 1",
                found.len()
            ));
        }
        Ok(())
    })
}

fn run_all(ms: &mut [Module], cfg: &Cfg) {
    let none = |_: &Module| 0;
    let filled = |m: &Module| m.filled;
    let msg1k = vec![0x5au8; 1024];
    let msg64k = vec![0xa5u8; 64 * 1024];
    let digest = [0x11u8; 32];

    metric(ms, cfg, "find_small", &filled, &find_round);
    metric(ms, cfg, "gcm_enc_1k", &none, &|m, d, n| {
        let k = key(&m.aes)?;
        timed(d, n, |i| gcm_encrypt(&m.s, k, i, &msg1k).map(drop))
    });
    metric(ms, cfg, "gcm_dec_1k", &none, &|m, d, n| {
        let (k, c) = (key(&m.aes)?, ct(&m.ct1k)?);
        timed(d, n, |_| gcm_decrypt(&m.s, k, u64::MAX, c))
    });
    metric(ms, cfg, "gcm_enc_64k", &none, &|m, d, n| {
        let k = key(&m.aes)?;
        timed(d, n, |i| gcm_encrypt(&m.s, k, i, &msg64k).map(drop))
    });
    metric(ms, cfg, "gcm_dec_64k", &none, &|m, d, n| {
        let (k, c) = (key(&m.aes)?, ct(&m.ct64k)?);
        timed(d, n, |_| gcm_decrypt(&m.s, k, u64::MAX - 1, c))
    });
    metric(ms, cfg, "gcm_enc_1k_2t", &none, &|m, d, n| {
        two_threads(m, key(&m.aes)?, d, n, &msg1k)
    });
    metric(ms, cfg, "ecdsa_p256", &none, &|m, d, n| {
        let k = key(&m.ec)?;
        timed(d, n, |_| {
            m.s.sign(&Mechanism::Ecdsa, k, &digest)
                .map(drop)
                .map_err(e2s)
        })
    });
    metric(ms, cfg, "rsa2048_sha256", &none, &|m, d, n| {
        let k = key(&m.rsa)?;
        timed(d, n, |_| {
            m.s.sign(&Mechanism::Sha256RsaPkcs, k, &msg1k)
                .map(drop)
                .map_err(e2s)
        })
    });
    metric(ms, cfg, "hmac_sha256_1k", &none, &|m, d, n| {
        let k = key(&m.hmac)?;
        timed(d, n, |_| {
            m.s.sign(&Mechanism::Sha256Hmac, k, &msg1k)
                .map(drop)
                .map_err(e2s)
        })
    });
    metric(ms, cfg, "create_aes", &none, &|m, d, n| {
        timed(d, n, |i| gen_aes(&m.s, &format!("create-{i:08}")).map(drop))
    });

    // the large token: every module filled up to the size (or its time budget), then the find
    if !cfg.only.is_empty() && !cfg.only.iter().any(|o| o == "find_large") {
        return;
    }
    for m in ms.iter_mut() {
        eprintln!("== {}: filling the token to {} keys", m.run.name, cfg.large);
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs_f64(cfg.fill_secs);
        match fill(&m.s, m.filled, cfg.large, Some(deadline)) {
            Ok(n) => {
                let took = t0.elapsed().as_secs_f64();
                let made = n - m.filled;
                let msg = format!(
                    "{made} more fill keys (token AES keys, one C_GenerateKey each) in {took:.1} s ({:.0} keys/s), {n} in all",
                    made as f64 / took.max(1e-9)
                );
                eprintln!("  {msg}");
                m.run.notes.push(msg);
                if n < cfg.large {
                    let msg = format!(
                        "fill budget of {} s reached at {n} of {} keys: the large find is measured at {n} keys",
                        cfg.fill_secs, cfg.large
                    );
                    eprintln!("  {msg}");
                    m.run.notes.push(msg);
                }
                m.filled = n;
            }
            Err(e) => {
                eprintln!("  {e}");
                m.run.notes.push(e);
            }
        }
    }
    metric(ms, cfg, "find_large", &filled, &find_round);
}

/// AES-GCM 1 KiB encryption on two threads, each with its own session, for `dur`.
fn two_threads(
    m: &Module,
    key: ObjectHandle,
    dur: Duration,
    next: &mut u64,
    msg: &[u8],
) -> Result<(Vec<u64>, Duration), String> {
    let base = *next;
    type Done = Result<(Vec<u64>, Duration, u64), String>;
    let results: Vec<Done> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..2u64)
            .map(|t| {
                let p = m.p.clone();
                let slot = m.slot;
                sc.spawn(move || {
                    let s = p.open_rw_session(slot).map_err(e2s)?;
                    // distinct IVs: thread number in the top bits
                    let mut n = base | (t << 62);
                    let (lat, el) = timed(dur, &mut n, |i| gcm_encrypt(&s, key, i, msg).map(drop))?;
                    Ok((lat, el, n - (base | (t << 62))))
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("thread panicked".into())))
            .collect()
    });
    let mut all = Vec::new();
    let mut longest = Duration::ZERO;
    let mut most = 0;
    for r in results {
        let (lat, el, done) = r?;
        all.extend(lat);
        longest = longest.max(el);
        most = most.max(done);
    }
    *next = base + most;
    Ok((all, longest))
}
