//! The Go binding (bindings/go): `go vet` and `go test -race ./...` with cgo against
//! include/kms.h and the release libkms.so, offline (GOPROXY=off, GOFLAGS=-mod=mod, module
//! and build caches in a temp dir; the module needs only the standard library).
//!
//! Needs `cargo build --release` first (see common::lib_dir) and Go (Debian's golang-go;
//! scripts/install-test-deps.sh installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;

fn go() -> PathBuf {
    for cand in ["go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"] {
        if Command::new(cand)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return PathBuf::from(cand);
        }
    }
    panic!("Go not found (go, /usr/lib/go/bin/go): apt-get install golang-go, or run scripts/install-test-deps.sh");
}

fn go_cmd(args: &[&str], tmp: &std::path::Path) -> Command {
    let lib = common::lib_dir();
    let mut cmd = Command::new(go());
    cmd.args(args)
        .current_dir(common::root().join("bindings/go"))
        .env("CGO_ENABLED", "1")
        .env("CGO_LDFLAGS", format!("-L{}", lib.display()))
        .env("LD_LIBRARY_PATH", &lib)
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local")
        .env("GOCACHE", tmp.join("gocache"))
        .env("GOPATH", tmp.join("gopath"))
        .env("GOTMPDIR", tmp)
        .env_remove("KMS_STORE");
    cmd
}

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{cmd:?}\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn go_binding_vet_and_test() {
    let tmp = tempfile::tempdir().unwrap();
    run(go_cmd(&["vet", "./..."], tmp.path()), "go vet ./...");
    let out = run(
        go_cmd(&["test", "-race", "-count=1", "-v", "./..."], tmp.path()),
        "go test ./...",
    );
    for name in [
        "TestHeaderCoverage",
        "TestLifecycle",
        "TestRotationReEncryptDataKeys",
        "TestRefusalsGrantsAudit",
        "TestSecrets",
        "TestConcurrentGoroutines",
        "Example",
    ] {
        assert!(
            out.contains(&format!("--- PASS: {name} ")),
            "{name} did not pass:\n{out}"
        );
    }
}

#[test]
fn go_binding_is_formatted() {
    let Ok(out) = Command::new("gofmt")
        .arg("-l")
        .arg(common::root().join("bindings/go"))
        .output()
    else {
        eprintln!("gofmt not on PATH: skipped");
        return;
    };
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.trim().is_empty(), "gofmt -l lists:\n{listed}");
}
