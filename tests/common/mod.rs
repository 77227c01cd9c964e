//! Shared helpers of the integration tests that use the built library and a C compiler.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

/// The crate root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory where `cargo build --release` put libkms.so / libkms.a:
/// `$CARGO_TARGET_DIR/release` (relative to the crate root if relative), else
/// `target/release`. Fails with a clear message when the library is missing or older than
/// the sources: these tests use the release build, they do not build it.
pub fn lib_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root().join(d),
        None => root().join("target"),
    };
    let dir = target.join("release");
    let lib = dir.join("libkms.so");
    let built = match std::fs::metadata(&lib).and_then(|m| m.modified()) {
        Ok(t) => t,
        Err(_) => panic!(
            "{} not found: run cargo build --release first (these tests link the release library)",
            lib.display()
        ),
    };
    if let Some((src, changed)) = newest_source() {
        assert!(
            changed <= built,
            "{} is older than {}: run cargo build --release first",
            lib.display(),
            src.display()
        );
    }
    dir
}

fn newest_source() -> Option<(PathBuf, SystemTime)> {
    let mut newest: Option<(PathBuf, SystemTime)> = None;
    // The library's own sources (the command line under src/bin does not go into it).
    let mut stack = vec![root().join("src")];
    while let Some(p) = stack.pop() {
        if p == root().join("src").join("bin") {
            continue;
        }
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if let Ok(m) = meta.modified() {
            if newest.as_ref().is_none_or(|(_, t)| m > *t) {
                newest = Some((p, m));
            }
        }
    }
    newest
}

fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(&rustc)
        .arg("-vV")
        .output()
        .unwrap_or_else(|e| panic!("running {rustc} -vV: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no host line in {rustc} -vV"))
}

/// The C (or C++) compiler that the `cc` crate detects for this host (honours `CC`/`CXX`).
pub fn compiler(cpp: bool) -> cc::Tool {
    let triple = host_triple();
    cc::Build::new()
        .cargo_metadata(false)
        .cargo_warnings(false)
        .target(&triple)
        .host(&triple)
        .opt_level(1)
        .debug(true)
        .cpp(cpp)
        .try_get_compiler()
        .unwrap_or_else(|e| panic!("no {} compiler found: {e}", if cpp { "C++" } else { "C" }))
}

/// Compiles one C or C++ source against include/kms.h and links it with the release
/// libkms.so (rpath set, so it runs without LD_LIBRARY_PATH). `extra` flags go first
/// (e.g. sanitizers). Panics with the compiler's output on failure.
pub fn compile(src: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    let cpp = src.extension().is_some_and(|e| e == "cpp");
    let lib = lib_dir();
    let mut cmd = compiler(cpp).to_command();
    cmd.args(extra);
    if cpp {
        cmd.args(["-std=c++11"]);
    } else {
        cmd.args(["-std=c99"]);
    }
    cmd.args(["-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("tests/c"))
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg(format!("-L{}", lib.display()))
        .arg("-lkms")
        .arg(format!("-Wl,-rpath,{}", lib.display()));
    let res = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        res.status.success(),
        "compiling {} failed:\n{cmd:?}\n{}{}",
        src.display(),
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    out.to_path_buf()
}

/// The C test programs: every tests/c/*.c.
pub fn c_tests() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("tests/c"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| p.extension().is_some_and(|e| e == "c"));
    v.sort();
    assert!(!v.is_empty(), "no tests/c/*.c found");
    v
}

/// Asserts a C test run succeeded and printed its closing line `<name>: all passed`.
pub fn assert_passed(name: &str, how: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains(&format!("{name}: all passed")),
        "{name} ({how}) failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
}

/// Whether a program can be run (found on PATH or as a path).
pub fn have_tool(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// The release libkms.so loaded as a PKCS#11 module through the `cryptoki` crate and
/// initialised (OS locking); the store comes from the environment (`KMS_STORE` ...), set
/// before this call.
pub fn pkcs11_module() -> cryptoki::context::Pkcs11 {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    let p = Pkcs11::new(lib_dir().join("libkms.so")).expect("load libkms.so");
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    p
}

/// Runs OpenSC's `pkcs11-tool` on the release libkms.so with the store at `store` (another
/// process, so another PKCS#11 application); fails when the tool is missing or fails, and
/// returns what it printed.
pub fn pkcs11_tool(store: &Path, args: &[&str]) -> String {
    assert!(
        have_tool("pkcs11-tool"),
        "pkcs11-tool not found: install OpenSC (Debian package `opensc`) to run this test"
    );
    let out = Command::new("pkcs11-tool")
        .env("KMS_STORE", store)
        .env("KMS_MIN_DELETION_DAYS", "0")
        .arg("--module")
        .arg(lib_dir().join("libkms.so"))
        .args(args)
        .output()
        .expect("run pkcs11-tool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "pkcs11-tool {args:?} failed:\n{text}");
    text
}
