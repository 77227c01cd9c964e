//! The C API as C sees it: tests/c/*.c compiled with strict flags against include/kms.h and
//! the release libkms.so, run plainly, under ASAN+UBSan (with leak detection) and under
//! valgrind; and the header compiled as C++.
//!
//! Needs `cargo build --release` first (see common::lib_dir).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

/// A command running a program linked against the release libkms.so. `cargo test` puts
/// target/debug/deps on LD_LIBRARY_PATH, which the dynamic loader prefers to the program's
/// RUNPATH: without this the programs would silently load the debug build's libkms.so.
fn cmd(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.env("LD_LIBRARY_PATH", common::lib_dir());
    c
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn c_tests_run() {
    let dir = tempfile::tempdir().unwrap();
    for src in common::c_tests() {
        let name = stem(&src);
        let exe = common::compile(&src, &dir.path().join(&name), &[]);
        let out = cmd(&exe).output().unwrap();
        common::assert_passed(&name, "plain", &out);
    }
}

/// AddressSanitizer + UBSan in the C program; the Rust library is not instrumented, but it
/// allocates with the system malloc, which ASAN intercepts: leaks of library objects the
/// test forgot to free, and out-of-bounds use of library buffers, are caught.
#[test]
fn c_tests_under_asan() {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "-fsanitize=address,undefined",
        "-fno-omit-frame-pointer",
        "-fno-sanitize-recover=all",
    ];
    for src in common::c_tests() {
        let name = stem(&src);
        let exe = common::compile(&src, &dir.path().join(format!("{name}-asan")), &flags);
        let out = cmd(&exe)
            .env(
                "ASAN_OPTIONS",
                "detect_leaks=1:abort_on_error=0:exitcode=23",
            )
            .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
            .output()
            .unwrap();
        common::assert_passed(&name, "ASAN+UBSan", &out);
    }
}

#[test]
fn c_tests_under_valgrind() {
    assert!(
        common::have_tool("valgrind"),
        "valgrind not found: install it (apt-get install valgrind) to run the C tests under it"
    );
    let dir = tempfile::tempdir().unwrap();
    for src in common::c_tests() {
        let name = stem(&src);
        let exe = common::compile(&src, &dir.path().join(&name), &[]);
        let out = cmd("valgrind")
            .args([
                "--quiet",
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
            ])
            .arg(format!(
                "--suppressions={}",
                common::root().join("tests/valgrind.supp").display()
            ))
            .arg(&exe)
            .output()
            .unwrap();
        common::assert_passed(&name, "valgrind", &out);
    }
}

#[test]
fn header_compiles_as_cxx() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::root().join("tests/c/header_cxx.cpp");
    let exe = common::compile(&src, &dir.path().join("header_cxx"), &[]);
    let out = cmd(&exe).output().unwrap();
    assert!(out.status.success(), "header_cxx exited {}", out.status);
}

/// The examples a user copies from build with the strict flags and run against a temporary
/// store (KMS_STORE): the C quickstart, the envelope file tool (round trip of a file
/// spanning several chunks, and a tampered file refused), and the C++ quickstart.
#[test]
fn examples_build_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    let run = |exe: &Path, args: &[&Path]| {
        cmd(exe)
            .args(args)
            .env("KMS_STORE", &store)
            .output()
            .unwrap()
    };
    let examples = common::root().join("examples");
    for (src, ok_line) in [
        ("c/quickstart.c", "quickstart: ok"),
        ("cpp/quickstart.cpp", "quickstart_cpp: ok"),
    ] {
        let src = examples.join(src);
        let exe = common::compile(&src, &dir.path().join(stem(&src)), &[]);
        let out = run(&exe, &[]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains(ok_line),
            "{} failed: {}\n{stdout}\n{}",
            src.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let src = examples.join("c/envelope_file.c");
    let exe = common::compile(&src, &dir.path().join("envelope_file"), &[]);
    let plain = dir.path().join("plain.bin");
    let sealed = dir.path().join("plain.bin.kms");
    let back = dir.path().join("back.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&plain, &data).unwrap();
    let enc = cmd(&exe)
        .arg("encrypt")
        .args([&plain, &sealed])
        .env("KMS_STORE", &store)
        .output()
        .unwrap();
    assert!(enc.status.success(), "encrypt: {enc:?}");
    let sealed_bytes = std::fs::read(&sealed).unwrap();
    assert!(sealed_bytes.len() > data.len());
    assert!(!sealed_bytes.windows(64).any(|w| w == &data[1000..1064]));
    let dec = cmd(&exe)
        .arg("decrypt")
        .args([&sealed, &back])
        .env("KMS_STORE", &store)
        .output()
        .unwrap();
    assert!(dec.status.success(), "decrypt: {dec:?}");
    assert_eq!(std::fs::read(&back).unwrap(), data);

    let mut tampered = sealed_bytes;
    let mid = tampered.len() / 2;
    tampered[mid] ^= 1;
    std::fs::write(&sealed, &tampered).unwrap();
    std::fs::remove_file(&back).unwrap();
    let dec = cmd(&exe)
        .arg("decrypt")
        .args([&sealed, &back])
        .env("KMS_STORE", &store)
        .output()
        .unwrap();
    assert!(!dec.status.success(), "a tampered file must be refused");
    assert!(String::from_utf8_lossy(&dec.stderr).contains("invalid ciphertext"));
    assert!(!back.exists(), "no partial output is left behind");
}
