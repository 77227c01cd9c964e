//! The C API as C sees it: tests/c/*.c compiled with strict flags against include/kms.h and
//! the release libkms.so, run plainly, under ASAN+UBSan (with leak detection) and under
//! valgrind; and the header compiled as C++.
//!
//! Needs `cargo build --release` first (see common::lib_dir).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

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
        let out = Command::new(&exe).output().unwrap();
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
        let out = Command::new(&exe)
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
        let out = Command::new("valgrind")
            .args([
                "--quiet",
                "--error-exitcode=1",
                "--leak-check=full",
                "--errors-for-leak-kinds=definite,indirect",
            ])
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
    let out = Command::new(&exe).output().unwrap();
    assert!(out.status.success(), "header_cxx exited {}", out.status);
}
