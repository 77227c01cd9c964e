//! Shared set-up for the core integration tests: a store in a temp folder, opened with
//! light Argon2 parameters so tests that authenticate often stay quick.
//!
//! One suite, two backends: the store is a SQLite file, or a fresh database on a throw-away
//! PostgreSQL server when `KMS_TEST_BACKEND=postgres` is set or when the suite files are
//! compiled into `tests/pg_suite.rs` (which `cargo test` runs). `KMS_TEST_PG_URL` names an
//! existing server to use instead (a libpq key-value string without dbname).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../pg/mod.rs"]
pub mod pg;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use kms::core::seal::{KdfParams, MasterSource};
use kms::core::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A usage-journal entry as versions before CRC-32C wrote it (docs/at-rest.md): 0xA5, the
/// length, the record (`record`: codec 1), its CRC-32 (IEEE 802.3), computed here bit by
/// bit from the definition.
pub fn journal_entry_v1(record: &[u8]) -> Vec<u8> {
    let mut c = 0xFFFF_FFFFu32;
    for b in record {
        c ^= *b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    let mut e = vec![0xA5];
    e.extend_from_slice(&(record.len() as u32).to_be_bytes());
    e.extend_from_slice(record);
    e.extend_from_slice(&(!c).to_be_bytes());
    e
}

/// The backend of this test run.
pub fn backend() -> Backend {
    let env = std::env::var("KMS_TEST_BACKEND").unwrap_or_default();
    if env == "postgres" || module_path!().starts_with("pg_suite::") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// The server every PostgreSQL test store of this test binary lives on (one database each).
fn server_url() -> &'static str {
    static URL: OnceLock<(Option<pg::PgServer>, String)> = OnceLock::new();
    &URL.get_or_init(|| {
        if let Some(u) = std::env::var("KMS_TEST_PG_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            return (None, u);
        }
        let s =
            pg::PgServer::start(&["fsync = off", "synchronous_commit = off"]).stop_with_process();
        let u = format!("host={} port={} user=kms", s.sock.display(), s.port);
        (Some(s), u)
    })
    .1
}

fn new_pg_database() -> String {
    let base = server_url();
    let mut c = postgres::Client::connect(&format!("{base} dbname=postgres"), postgres::NoTls)
        .expect("connect to the test server");
    let name = format!(
        "kms_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    format!("{base} dbname={name}")
}

static NEXT_DB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub struct TestStore {
    pub dir: tempfile::TempDir,
    /// The SQLite file, or the PostgreSQL connection string.
    pub path: PathBuf,
    pub backend: Backend,
}

/// A test configuration of the SQLite store at `path` (key and owner files beside it).
pub fn config(path: &Path) -> Config {
    let mut cfg = Config::at(path).expect("config");
    cfg.master = MasterSource::KeyFile(kms::core::config::sibling(path, "key"));
    light(&mut cfg);
    cfg
}

/// A test configuration of any store, with the key and owner secret files named.
pub fn config_for(store: &str, key_file: &Path, owner_file: &Path) -> Config {
    // Built from a file configuration (a shared store has no defaults to offer), then
    // pointed at `store`.
    let mut cfg = Config::at(key_file.with_extension("unused.db")).expect("config");
    cfg.store_path = PathBuf::from(store);
    cfg.master = MasterSource::KeyFile(key_file.to_path_buf());
    cfg.owner_secret_file = Some(owner_file.to_path_buf());
    light(&mut cfg);
    cfg
}

fn light(cfg: &mut Config) {
    cfg.identity_kdf = KdfParams {
        m_kib: 256,
        t: 1,
        p: 1,
    };
    cfg.min_deletion_days = 0;
    cfg.lockout_threshold = 5;
}

impl TestStore {
    pub fn new() -> TestStore {
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = backend();
        let path = match backend {
            Backend::Sqlite => dir.path().join("kms.db"),
            Backend::Postgres => PathBuf::from(new_pg_database()),
        };
        TestStore { dir, path, backend }
    }

    /// The master key file of this store.
    pub fn key_file(&self) -> PathBuf {
        match self.backend {
            Backend::Sqlite => kms::core::config::sibling(&self.path, "key"),
            Backend::Postgres => self.dir.path().join("kms.key"),
        }
    }

    /// The configuration tests open this store with.
    pub fn config(&self) -> Config {
        match self.backend {
            Backend::Sqlite => config(&self.path),
            Backend::Postgres => config_for(
                self.path.to_str().unwrap(),
                &self.key_file(),
                &self.dir.path().join("kms.owner"),
            ),
        }
    }

    pub fn open(&self) -> Kms {
        Kms::open(self.config()).expect("open store")
    }

    pub fn open_owner(&self) -> (Kms, Caller) {
        let k = self.open();
        let o = k.owner().expect("owner");
        (k, o)
    }

    /// Runs SQL on the store behind the library's back (tampering).
    pub fn sql(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&self.path).unwrap();
                c.execute_batch(sql).unwrap();
            }
            Backend::Postgres => {
                let mut c = postgres::Client::connect(self.path.to_str().unwrap(), postgres::NoTls)
                    .unwrap();
                c.batch_execute(sql).unwrap();
            }
        }
    }

    /// The stored audit batches as (first_seq, last_seq), oldest first, read behind the
    /// library's back.
    pub fn audit_batches(&self) -> Vec<(u64, u64)> {
        const Q: &str = "SELECT first_seq, last_seq FROM audit_batches ORDER BY first_seq";
        match self.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&self.path).unwrap();
                let mut st = c.prepare(Q).unwrap();
                st.query_map([], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
            }
            Backend::Postgres => {
                let mut c = postgres::Client::connect(self.path.to_str().unwrap(), postgres::NoTls)
                    .unwrap();
                c.query(Q, &[])
                    .unwrap()
                    .iter()
                    .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64))
                    .collect()
            }
        }
    }

    /// The sealed blob of version 1 of `key_id`, read behind the library's back.
    pub fn sealed_blob(&self, key_id: u64) -> Vec<u8> {
        match self.backend {
            Backend::Sqlite => {
                let c = rusqlite::Connection::open(&self.path).unwrap();
                c.query_row(
                    "SELECT sealed FROM key_versions WHERE key_id = ?1",
                    [key_id as i64],
                    |r| r.get(0),
                )
                .unwrap()
            }
            Backend::Postgres => {
                let mut c = postgres::Client::connect(self.path.to_str().unwrap(), postgres::NoTls)
                    .unwrap();
                c.query_one(
                    "SELECT sealed FROM key_versions WHERE key_id = $1",
                    &[&(key_id as i64)],
                )
                .unwrap()
                .get(0)
            }
        }
    }

    /// True when the stored bytes contain `needle`. SQLite: the database file and its WAL
    /// after a checkpoint (byte scan). PostgreSQL: any row of any libkms table, as text
    /// (bytea as hex); what the server keeps in dead tuples, WAL and backups is outside
    /// what a client can check (see docs/postgres.md).
    pub fn store_contains(&self, needle: &[u8]) -> bool {
        fn scan(path: &Path, needle: &[u8]) -> bool {
            match std::fs::read(path) {
                Ok(b) => b.windows(needle.len()).any(|w| w == needle),
                Err(_) => false,
            }
        }
        match self.backend {
            Backend::Sqlite => {
                {
                    let c = rusqlite::Connection::open(&self.path).unwrap();
                    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                        .unwrap();
                }
                scan(&self.path, needle)
                    || scan(&kms::core::config::sibling(&self.path, "db-wal"), needle)
            }
            Backend::Postgres => {
                let mut c = postgres::Client::connect(self.path.to_str().unwrap(), postgres::NoTls)
                    .unwrap();
                let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
                // PostgreSQL text cannot hold NUL, so a needle with a zero byte cannot appear
                // as text there: its hex form alone is searched then.
                let text = if needle.contains(&0) {
                    hex.clone()
                } else {
                    String::from_utf8_lossy(needle).to_string()
                };
                let mut n: i64 = 0;
                for t in [
                    "meta",
                    "keyrings",
                    "keys",
                    "key_versions",
                    "identities",
                    "grants",
                    "objects",
                    "audit",
                    "checkpoints",
                ] {
                    let r = c
                        .query_one(
                            &format!(
                                "SELECT count(*) FROM {t} x \
                                 WHERE strpos(x::text, $1) > 0 OR strpos(x::text, $2) > 0"
                            ),
                            &[&hex, &text],
                        )
                        .unwrap();
                    n += r.get::<_, i64>(0);
                }
                n > 0
            }
        }
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
