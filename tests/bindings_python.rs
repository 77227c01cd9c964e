//! The Python binding (bindings/python) as a user gets it: a fresh venv in a temp dir,
//! `pip install --no-index ./bindings/python` into it (no network: the in-tree build backend
//! needs only the standard library; pytest comes from the system site through
//! `--system-site-packages`), then its pytest suite
//! from that venv with KMS_LIBRARY pointing at the release libkms.so.
//!
//! Needs `cargo build --release` first (see common::lib_dir), python3 with venv and pytest
//! (scripts/install-test-deps.sh installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{cmd:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn python3() -> String {
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&py)
        .args(["-c", "import venv, ensurepip, pytest"])
        .output();
    match probe {
        Err(e) => panic!("{py} not found ({e}): install python3 (scripts/install-test-deps.sh)"),
        Ok(o) if !o.status.success() => panic!(
            "{py} lacks venv/ensurepip or pytest (run scripts/install-test-deps.sh, \
             or apt-get install python3-venv python3-pytest):\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Ok(_) => py,
    }
}

/// A fresh venv in `dir` with the binding installed; returns its python.
pub fn venv_with_binding(dir: &Path) -> PathBuf {
    let py = python3();
    let venv = dir.join("venv");
    run(
        Command::new(&py)
            .args(["-m", "venv", "--system-site-packages"])
            .arg(&venv),
        "python3 -m venv",
    );
    let vpy = venv.join("bin/python");
    // The build resolves src/kms/kms.h (a symlink to include/kms.h) into the wheel.
    run(
        Command::new(&vpy)
            .args([
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--no-index",
                "--disable-pip-version-check",
                "-q",
            ])
            .arg(common::root().join("bindings/python"))
            .env("TMPDIR", dir),
        "pip install ./bindings/python",
    );
    vpy
}

#[test]
fn python_binding_pytest_in_fresh_venv() {
    let lib = common::lib_dir();
    let dir = tempfile::tempdir().unwrap();
    let vpy = venv_with_binding(dir.path());
    let out = run(
        Command::new(&vpy)
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o"])
            .arg(format!("cache_dir={}", dir.path().join("cache").display()))
            .arg(common::root().join("bindings/python/tests"))
            .current_dir(dir.path())
            .env("KMS_LIBRARY", lib.join("libkms.so"))
            .env("KMS_TEST_INSTALLED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env_remove("KMS_STORE")
            .env_remove("PYTHONPATH"),
        "pytest bindings/python/tests",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" passed"), "no pytest summary:\n{stdout}");
    assert!(!stdout.contains("skipped"), "tests were skipped:\n{stdout}");
    eprintln!("{}", stdout.lines().last().unwrap_or_default());
}
