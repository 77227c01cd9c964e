//! examples/db_encryption: the Python + SQLite envelope-encryption demo runs to its end
//! (column encryption bound to row and column, rotation with rewrap of the stored data keys,
//! crypto-shredding), against the release libkms.so and the in-tree Python binding.
//!
//! Needs `cargo build --release` first, python3 and the `cryptography` package
//! (scripts/install-test-deps.sh installs it).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

#[test]
fn db_encryption_example_runs() {
    let lib = common::lib_dir();
    let py = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    match Command::new(&py).args(["-c", "import cryptography"]).output() {
        Err(e) => panic!("{py} not found ({e}): install python3"),
        Ok(o) if !o.status.success() => panic!(
            "{py} lacks the cryptography package: pip install cryptography (or run scripts/install-test-deps.sh)"
        ),
        Ok(_) => {}
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(&py)
        .arg(common::root().join("examples/db_encryption/app.py"))
        .arg("--dir")
        .arg(dir.path().join("demo"))
        .env("KMS_LIBRARY", lib.join("libkms.so"))
        .env("PYTHONPATH", common::root().join("bindings/python/src"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("KMS_MIN_DELETION_DAYS", "0")
        .env_remove("KMS_STORE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("db_encryption: ok"),
        "db_encryption failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for step in [
        "refused",
        "rewrapped",
        "crypto-shredded",
        "audit trail verified",
    ] {
        assert!(stdout.contains(step), "missing step {step:?}:\n{stdout}");
    }
}
