//! PyKCS11 (Python) drives the module through a key's lifecycle (tests/pkcs11/lifecycle.py),
//! with a rotation made through the core in between. Fails (does not skip) when python3 or
//! PyKCS11 is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

fn python(store: &std::path::Path, phase: &str, work: &std::path::Path) {
    let script = common::root().join("tests/pkcs11/lifecycle.py");
    let lib = common::lib_dir().join("libkms.so");
    let out = Command::new("python3")
        .env("KMS_STORE", store)
        .env("KMS_MIN_DELETION_DAYS", "0")
        .arg(&script)
        .arg(&lib)
        .arg(phase)
        .arg(work)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 not runnable ({e}): install python3 and `pip install PyKCS11`")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains("No module named 'PyKCS11'"),
        "PyKCS11 is missing: `pip install PyKCS11` to run this test\n{text}"
    );
    assert!(
        out.status.success() && text.contains("OK"),
        "lifecycle.py {phase} failed:\n{text}"
    );
}

#[test]
fn pykcs11_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    python(&store, "create", dir.path());
    let cfg = kms::core::Config::at(&store).unwrap();
    let core = kms::core::Kms::open(cfg).unwrap();
    let user = core.authenticate("pytok", "user", b"py-user-pin").unwrap();
    assert_eq!(core.rotate_key(&user, "pykey").unwrap(), 2);
    core.flush().unwrap();
    python(&store, "rotated", dir.path());
}
