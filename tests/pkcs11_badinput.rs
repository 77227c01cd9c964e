//! The PKCS#11 bad-input matrix (issue 10): tests/pkcs11/badinput.c, a plain C PKCS#11
//! application that dlopens the release libkms.so and reaches every C_* function through
//! C_GetFunctionList / C_GetInterface, run plainly, under valgrind (leak check) and with
//! AddressSanitizer+UBSan in the program (ASAN intercepts the library's malloc, so leaks of
//! library allocations and out-of-bounds access to caller buffers are caught). Each run uses a
//! fresh store (KMS_STORE). The header is p11-kit's pkcs11.h (libp11-kit-dev, installed by
//! scripts/install-test-deps.sh).
//!
//! Needs `cargo build --release` first (see common::lib_dir).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const P11_INCLUDE: &str = "/usr/include/p11-kit-1";
const SRC: &str = "tests/pkcs11/badinput.c";

fn compile(out: &Path, extra: &[&str]) -> PathBuf {
    assert!(
        Path::new(P11_INCLUDE).join("p11-kit/pkcs11.h").exists(),
        "{P11_INCLUDE}/p11-kit/pkcs11.h not found: install libp11-kit-dev \
         (scripts/install-test-deps.sh does)"
    );
    let mut cmd = common::compiler(false).to_command();
    cmd.args(extra)
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg(format!("-I{P11_INCLUDE}"))
        .arg(common::root().join(SRC))
        .arg("-o")
        .arg(out)
        .arg("-ldl");
    let res = cmd.output().unwrap();
    assert!(
        res.status.success(),
        "compiling {SRC} failed:\n{cmd:?}\n{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    out.to_path_buf()
}

fn module() -> PathBuf {
    common::lib_dir().join("libkms.so")
}

/// Runs `program args...` with a fresh store; returns its output.
fn run(dir: &Path, program: &Path, args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    let store = dir.join("store");
    std::fs::create_dir_all(&store).unwrap();
    let mut c = Command::new(program);
    c.args(args)
        .env("KMS_STORE", store.join("kms.db"))
        .env_remove("KMS_PASSPHRASE")
        .env_remove("KMS_MASTER_KEY_FILE");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn assert_passed(how: &str, out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("pkcs11_badinput: all passed"),
        "pkcs11 badinput ({how}) failed: {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let count: u64 = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("pkcs11_badinput: ")?
                .strip_suffix(" cases checked")
        })
        .and_then(|n| n.parse().ok())
        .expect("the program prints its case count");
    assert!(count >= 800, "only {count} cases checked");
    println!("pkcs11 badinput ({how}): {count} cases checked");
}

#[test]
fn pkcs11_badinput_plain() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(&dir.path().join("badinput"), &[]);
    let out = run(dir.path(), &exe, &[module().as_os_str()], &[]);
    assert_passed("plain", &out);
}

#[test]
fn pkcs11_badinput_under_valgrind() {
    assert!(
        common::have_tool("valgrind"),
        "valgrind not found: install it (apt-get install valgrind)"
    );
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(&dir.path().join("badinput"), &[]);
    let supp = format!(
        "--suppressions={}",
        common::root().join("tests/valgrind.supp").display()
    );
    let args: Vec<std::ffi::OsString> = [
        "--quiet",
        "--error-exitcode=1",
        "--leak-check=full",
        "--errors-for-leak-kinds=definite,indirect",
        supp.as_str(),
    ]
    .iter()
    .map(Into::into)
    .chain([exe.into_os_string(), module().into_os_string()])
    .collect();
    let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = run(dir.path(), Path::new("valgrind"), &args, &[]);
    assert_passed("valgrind", &out);
}

#[test]
fn pkcs11_badinput_under_asan() {
    let dir = tempfile::tempdir().unwrap();
    let exe = compile(
        &dir.path().join("badinput-asan"),
        &[
            "-fsanitize=address,undefined",
            "-fno-omit-frame-pointer",
            "-fno-sanitize-recover=all",
        ],
    );
    let out = run(
        dir.path(),
        &exe,
        &[module().as_os_str()],
        &[
            (
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:exitcode=23",
            ),
            ("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"),
        ],
    );
    assert_passed("ASAN+UBSan", &out);
}
