//! Configuration: where the store lives, how its master key is unlocked, and the knobs of
//! audit, lockout and deletion; read from the environment (`KMS_*`) or built in code.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::core::audit::{AuditConfig, Durability};
use crate::core::error::{Error, Result};
use crate::core::seal::{KdfParams, MasterSource};

/// Everything needed to open a store.
#[derive(Clone, Debug)]
pub struct Config {
    pub store_path: PathBuf,
    pub master: MasterSource,
    pub audit: AuditConfig,
    /// Consecutive failed authentications that lock an identity (0 = never).
    pub lockout_threshold: u32,
    /// Smallest deletion waiting period accepted, in days (7 by default; 0 for tests).
    pub min_deletion_days: u32,
    /// Default waiting period when the caller names none.
    pub default_deletion_days: u32,
    /// Argon2id parameters for new identity secrets.
    pub identity_kdf: KdfParams,
    /// Write the owner identity's secret beside a new store (embedded default).
    pub owner_secret_file: Option<PathBuf>,
    /// Folder of the usage journals (per-operation audit records before they are chained).
    pub journal_dir: PathBuf,
    /// Make the whole process non-dumpable when a store is opened (`KMS_DISABLE_CORE_DUMPS=1`;
    /// Linux `prctl(PR_SET_DUMPABLE, 0)`): no core file at all, which also covers what the
    /// secure arena cannot (aws-lc key schedules, stack copies). Off by default because it
    /// changes the host process (no core files for its own crashes, no ptrace by the user).
    pub disable_core_dumps: bool,
}

impl Config {
    /// The default store location: `$KMS_STORE`, else `$XDG_DATA_HOME/kms/kms.db`, else
    /// `~/.local/share/kms/kms.db`.
    pub fn default_store_path() -> PathBuf {
        if let Some(p) = std::env::var_os("KMS_STORE").filter(|p| !p.is_empty()) {
            return PathBuf::from(p);
        }
        data_dir().join("kms").join("kms.db")
    }

    /// The PostgreSQL connection string when the store is one (`postgres://...`,
    /// `postgresql://...` or libpq `key=value` form); None for a SQLite file.
    pub fn store_url(&self) -> Option<&str> {
        self.store_path
            .to_str()
            .filter(|s| crate::core::store::postgres::is_url(s))
    }

    /// The configuration for a store at `path`, with defaults; `KMS_MASTER_KEY_FILE`,
    /// `KMS_PASSPHRASE` and the other `KMS_*` variables apply. For a PostgreSQL store
    /// (`path` is a connection string) nothing can live "beside the store": the master key
    /// must come from `KMS_MASTER_KEY_FILE` or `KMS_PASSPHRASE`, and the owner's secret is
    /// written to (and read from) `KMS_OWNER_SECRET_FILE` when set.
    pub fn at(path: impl AsRef<Path>) -> Result<Config> {
        let store_path = path.as_ref().to_path_buf();
        let shared = store_path
            .to_str()
            .is_some_and(crate::core::store::postgres::is_url);
        let master = if let Some(p) = std::env::var_os("KMS_PASSPHRASE").filter(|p| !p.is_empty()) {
            let s = p
                .into_string()
                .map_err(|_| Error::invalid("KMS_PASSPHRASE is not valid UTF-8"))?;
            MasterSource::Passphrase(Zeroizing::new(s))
        } else if let Some(p) = std::env::var_os("KMS_MASTER_KEY_FILE").filter(|p| !p.is_empty()) {
            MasterSource::KeyFile(PathBuf::from(p))
        } else if shared {
            return Err(Error::invalid(
                "a PostgreSQL store needs KMS_MASTER_KEY_FILE or KMS_PASSPHRASE \
                 (the master key cannot live beside a shared database)",
            ));
        } else {
            MasterSource::KeyFile(sibling(&store_path, "key"))
        };
        let mut audit = AuditConfig::default();
        if let Some(v) = env_u64("KMS_AUDIT_WINDOW_MS")? {
            audit.durability = Durability::Batched {
                window: std::time::Duration::from_millis(v),
            };
        }
        if std::env::var("KMS_AUDIT_STRICT")
            .map(|v| v == "1")
            .unwrap_or(false)
        {
            audit.durability = Durability::Strict;
        }
        if std::env::var("KMS_AUDIT_FAIL_OPEN")
            .map(|v| v == "1")
            .unwrap_or(false)
        {
            audit.fail_closed = false;
        }
        if let Some(v) = env_u64("KMS_AUDIT_NICE")? {
            if v > 19 {
                return Err(Error::invalid("KMS_AUDIT_NICE must be 0 to 19"));
            }
            audit.background_nice = v as u8;
        }
        if std::env::var("KMS_AUDIT_CONTEXT_VALUES")
            .map(|v| v == "1")
            .unwrap_or(false)
        {
            audit.record_context_values = true;
        }
        let owner_secret_file = if shared {
            std::env::var_os("KMS_OWNER_SECRET_FILE")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        } else {
            Some(sibling(&store_path, "owner"))
        };
        // Usage journals are local files: beside an embedded store; for a shared store in
        // KMS_JOURNAL_DIR or the local data folder (one subfolder per store id).
        let journal_dir = if shared {
            std::env::var_os("KMS_JOURNAL_DIR")
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir().join("kms").join("journal"))
        } else {
            sibling(&store_path, "journal")
        };
        Ok(Config {
            owner_secret_file,
            journal_dir,
            store_path,
            master,
            audit,
            lockout_threshold: env_u64("KMS_LOCKOUT_THRESHOLD")?.unwrap_or(10) as u32,
            min_deletion_days: env_u64("KMS_MIN_DELETION_DAYS")?.unwrap_or(7) as u32,
            default_deletion_days: 30,
            identity_kdf: KdfParams::default(),
            disable_core_dumps: env_u64("KMS_DISABLE_CORE_DUMPS")?.unwrap_or(0) != 0,
        })
    }

    /// The configuration of the default store (see [`Config::default_store_path`]).
    pub fn from_env() -> Result<Config> {
        Config::at(Config::default_store_path())
    }
}

/// `$XDG_DATA_HOME`, else `~/.local/share`.
fn data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// `kms.db` -> `kms.db.key` (a file beside the store).
pub fn sibling(store: &Path, ext: &str) -> PathBuf {
    let mut s = store.as_os_str().to_os_string();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn env_u64(name: &str) -> Result<Option<u64>> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| Error::invalid(format!("{name} must be a whole number"))),
        _ => Ok(None),
    }
}
