//! Shared set-up for the core integration tests: a store in a temp folder, opened with
//! light Argon2 parameters so tests that authenticate often stay quick.
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use kms::core::seal::KdfParams;
use kms::core::*;

pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
}

pub fn config(path: &Path) -> Config {
    let mut cfg = Config::at(path).expect("config");
    cfg.master = kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(path, "key"));
    cfg.identity_kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    cfg.min_deletion_days = 0;
    cfg.lockout_threshold = 5;
    cfg
}

impl TestStore {
    pub fn new() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kms.db");
        TestStore { dir, path }
    }

    pub fn open(&self) -> Kms {
        Kms::open(config(&self.path)).expect("open store")
    }

    pub fn open_owner(&self) -> (Kms, Caller) {
        let k = self.open();
        let o = k.owner().expect("owner");
        (k, o)
    }
}

pub fn aes(name: &str) -> KeyRequest {
    KeyRequest {
        spec: Some(KeySpec::Aes256),
        name: Some(name.to_string()),
        ..Default::default()
    }
}

pub fn ctx(text: &str) -> Context {
    parse_context(text).expect("context")
}

/// Runs the named test function of this test binary in a child process with `env` set.
pub fn child(test: &str, env: &[(&str, &str)]) -> std::process::Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut c = std::process::Command::new(exe);
    c.args([
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
        "--include-ignored",
    ]);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// The SQLite write-ahead log beside a store file.
pub fn wal_path(store: &Path) -> PathBuf {
    let mut s = store.as_os_str().to_os_string();
    s.push("-wal");
    PathBuf::from(s)
}
