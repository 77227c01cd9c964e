//! The `Kms` handle: an open store with its unlocked master key, caches and audit writer,
//! plus the two request shapes every operation goes through (key use and management).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::core::audit::{self, AuditWriter};
use crate::core::ciphertext::{context_keys, Context};
use crate::core::config::Config;
use crate::core::crypto::{self, Secret};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::hot::{Hot, HotEntry};
use crate::core::keys::KeyInfo;
use crate::core::lifecycle;
use crate::core::model::*;
use crate::core::policy::{self, Decision};
use crate::core::seal::{self, KdfParams, Sealer};
use crate::core::store::postgres::PgStore;
use crate::core::store::sqlite::SqliteStore;
use crate::core::store::{self, Store, Tx};
use crate::core::types::*;

/// Name of the keyring every new store starts with.
pub const DEFAULT_KEYRING: &str = "default";
/// Name of the owner identity every new store starts with.
pub const OWNER: &str = "owner";

/// An authenticated principal: the keyring it belongs to and its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    pub keyring: u64,
    pub keyring_name: String,
    pub identity: String,
}

/// Unsealed material of one key version, with its use count.
pub(crate) struct Loaded {
    pub material: Secret,
    /// The public key (SubjectPublicKeyInfo DER) of an asymmetric version, derived from the
    /// sealed private key: verification uses it, never the stored (unauthenticated) copy.
    pub public: Option<Vec<u8>>,
    /// The expanded AES-GCM key, for AES keys (saves the key schedule per message).
    pub gcm: Option<crypto::AesGcmKey>,
    /// The prepared HMAC key, for HMAC keys (SHA-256 for generic secrets, the PKCS#11
    /// `CKM_SHA256_HMAC` case).
    pub mac: Option<crypto::HmacKey>,
    /// The parsed private key of an asymmetric version (saves parsing, key checks and RSA
    /// blinding set-up per signature).
    pub private: Option<crypto::PrivateKey>,
    pub uses_base: u64,
    pub uses_local: AtomicU64,
}

#[derive(Default)]
pub(crate) struct Cache {
    pub keys: CacheMap<u64, Arc<KeyRecord>>,
    /// keyring -> key name -> key id
    pub names: CacheMap<u64, CacheMap<String, u64>>,
    pub material: CacheMap<(u64, u32), Arc<Loaded>>,
    /// keyring -> identity -> record (looked up without allocating)
    pub identities: CacheMap<u64, CacheMap<String, Arc<IdentityRecord>>>,
    pub grants: CacheMap<u64, CacheMap<String, Arc<Vec<GrantRecord>>>>,
    /// key id -> the cached key record a description was built from, and the description
    /// (versions without use counts), for [`Kms::describe_key_cached`].
    pub described: CacheMap<u64, (Arc<KeyRecord>, Arc<KeyInfo>)>,
}

/// The cache's maps: every operation makes about six lookups, so they use [`CacheHasher`]
/// instead of SipHash (a fifth of an audited encrypt's own time went to SipHash).
pub(crate) type CacheMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<CacheHasher>>;

/// A multiply-rotate hash (the Fx scheme: 8 bytes per step). Not collision-resistant
/// against chosen input: the keys here are store-assigned ids and the names of keys and
/// identities, which only administrators choose (the audit chaining also keys a batch's
/// index terms, key ids, identity and action names, by it), and a collision costs time, not
/// correctness.
#[derive(Default, Clone, Copy)]
pub(crate) struct CacheHasher(u64);

impl CacheHasher {
    const K: u64 = 0x517c_c1b7_2722_0a95;

    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(Self::K);
    }
}

impl std::hash::Hasher for CacheHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.add(n as u64);
    }
    fn write_u32(&mut self, n: u32) {
        self.add(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// The shared cache locked for a change (see [`Kms::cache_write`]).
pub(crate) struct CacheWrite<'a> {
    guard: std::sync::RwLockWriteGuard<'a, Cache>,
    hot: &'a Hot,
}

impl std::ops::Deref for CacheWrite<'_> {
    type Target = Cache;
    fn deref(&self) -> &Cache {
        &self.guard
    }
}

impl std::ops::DerefMut for CacheWrite<'_> {
    fn deref_mut(&mut self) -> &mut Cache {
        &mut self.guard
    }
}

impl Drop for CacheWrite<'_> {
    fn drop(&mut self) {
        // still locked: the guard field is dropped after this
        self.hot.invalidate();
    }
}

pub(crate) struct Inner {
    pub store: Arc<dyn Store>,
    pub sealer: RwLock<Sealer>,
    pub store_id: [u8; 16],
    /// Shared with the background thread, which holds it only while it works: the handle's
    /// last user closes it ([`Inner`]'s drop), not that thread.
    pub audit: Arc<AuditWriter>,
    pub cfg: Config,
    pub cache: RwLock<Cache>,
    /// Each thread's own copies of hot cache entries (see [`hot`]).
    pub hot: Hot,
    pub pid: u32,
}

/// An open key store. Cheap to clone; safe to share between threads.
#[derive(Clone)]
pub struct Kms {
    pub(crate) inner: Arc<Inner>,
}

/// A dummy PHC so that an unknown identity costs the same Argon2 work as a known one.
fn dummy_phc(kdf: KdfParams) -> String {
    hash_secret(b"kms-no-such-identity", kdf).unwrap_or_default()
}

/// Hashes an identity secret as an Argon2id PHC string.
pub fn hash_secret(secret: &[u8], kdf: KdfParams) -> Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    crypto::random(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::crypto(format!("salt: {e}")))?;
    let params = argon2::Params::new(kdf.m_kib, kdf.t, kdf.p, None)
        .map_err(|e| Error::invalid(format!("argon2 parameters: {e}")))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    Ok(a.hash_password(secret, &salt)
        .map_err(|e| Error::crypto(format!("argon2: {e}")))?
        .to_string())
}

/// Verifies a secret against a PHC string (full Argon2 cost, constant-time compare).
pub fn verify_secret(secret: &[u8], phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(phc) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(secret, &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Quiets one open store handle around a `fork()` (see `boundary::fork`); holds no reference
/// that keeps the handle open.
#[derive(Clone)]
pub struct ForkPause {
    inner: Weak<Inner>,
    /// The store outlives the handle while its last user closes it (chaining what is left).
    store: Weak<dyn Store>,
}

impl ForkPause {
    /// Waits for what is in progress in the handle and holds it back until the returned
    /// value is dropped: chaining passes, calls into the store ([`Store::pause_for_fork`]),
    /// then the short-held locks of the journal, the cache and the per-thread copies. For a
    /// handle being closed, its store only. None when both are gone.
    pub fn pause(&self) -> Option<crate::boundary::fork::HeldWithin> {
        use crate::boundary::fork::HeldWithin;
        if let Some(inner) = self.inner.upgrade() {
            return Some(HeldWithin::new(inner, |i| i.hold_for_fork()));
        }
        let store = Arc::new(self.store.upgrade()?);
        Some(HeldWithin::new(store, |s| {
            vec![StorePaused::pause(s.as_ref())]
        }))
    }

    /// True while the handle or its store is open.
    pub fn is_open(&self) -> bool {
        self.inner.strong_count() > 0 || self.store.strong_count() > 0
    }
}

/// A store paused for a fork; resumes when dropped.
struct StorePaused<'a>(&'a dyn Store);

impl StorePaused<'_> {
    fn pause(s: &dyn Store) -> Box<dyn crate::boundary::fork::Held + '_> {
        s.pause_for_fork();
        Box::new(StorePaused(s))
    }
}

impl Drop for StorePaused<'_> {
    fn drop(&mut self) {
        self.0.resume_after_fork();
    }
}

impl Drop for Inner {
    /// The handle's last user closes the journal on its own thread (see
    /// [`AuditWriter::close`]).
    fn drop(&mut self) {
        self.audit.close();
    }
}

impl Inner {
    /// See [`ForkPause::pause`]; the guards in the order taken. A chaining pass calls the
    /// store, so it is waited for before the store is paused; the short-held locks are
    /// never held while calling the store, so they are taken after.
    fn hold_for_fork(&self) -> Vec<Box<dyn crate::boundary::fork::Held + '_>> {
        let mut held = self.audit.hold_passes();
        held.push(StorePaused::pause(self.store.as_ref()));
        held.extend(self.audit.hold_files());
        // the cache before the per-thread copies: a cache write empties them under it
        held.push(Box::new(
            self.cache.write().unwrap_or_else(|p| p.into_inner()),
        ));
        held.push(self.hot.hold());
        held
    }
}

impl Kms {
    /// The handle a front end keeps to quiesce this store around `fork()`.
    pub fn fork_pause(&self) -> ForkPause {
        ForkPause {
            inner: Arc::downgrade(&self.inner),
            store: Arc::downgrade(&self.inner.store),
        }
    }

    /// Opens the store `cfg` names, creating it (with its master key and owner identity)
    /// when it does not exist yet.
    pub fn open(cfg: Config) -> Result<Kms> {
        crate::boundary::fork::opening(|| Kms::open_here(cfg))
    }

    /// [`Kms::open`] inside [`crate::boundary::fork::opening`].
    fn open_here(cfg: Config) -> Result<Kms> {
        if let Some(url) = cfg.store_url() {
            // A shared store: whoever comes first initialises it, and must be able to
            // write the owner's secret somewhere.
            let store: Arc<dyn Store> = Arc::new(PgStore::open(url)?);
            let may_create = cfg.owner_secret_file.is_some();
            return Kms::open_on_here(store, cfg, may_create).map_err(|e| {
                if !may_create && e.kind() == ErrorKind::NotFound {
                    Error::invalid(
                        "the PostgreSQL store is not initialised: set KMS_OWNER_SECRET_FILE \
                         on the host that creates it (the owner's secret is written there)",
                    )
                } else {
                    e
                }
            });
        }
        let existed = cfg.store_path.exists();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&cfg.store_path)?);
        Kms::open_on_here(store, cfg, !existed)
    }

    /// Opens the store `cfg` names on its backend (SQLite file or PostgreSQL URL) without ever
    /// creating one: `NotFound` when there is none there yet (what an admin tool wants).
    pub fn open_existing(cfg: Config) -> Result<Kms> {
        crate::boundary::fork::opening(|| Kms::open_existing_here(cfg))
    }

    fn open_existing_here(cfg: Config) -> Result<Kms> {
        let store: Arc<dyn Store> = match cfg.store_url() {
            Some(url) => Arc::new(PgStore::open(url)?),
            None => {
                if !cfg.store_path.exists() {
                    return Err(Error::not_found(format!(
                        "no store at {}",
                        cfg.store_path.display()
                    )));
                }
                Arc::new(SqliteStore::open(&cfg.store_path)?)
            }
        };
        Kms::open_on_here(store, cfg, false)
    }

    /// Opens the default store (`KMS_STORE` or the XDG data folder).
    pub fn open_default() -> Result<Kms> {
        Kms::open(Config::from_env()?)
    }

    /// Opens a store on any backend. `may_create` allows initialising an empty store.
    pub fn open_on(store: Arc<dyn Store>, cfg: Config, may_create: bool) -> Result<Kms> {
        crate::boundary::fork::opening(|| Kms::open_on_here(store, cfg, may_create))
    }

    /// Every way of opening ends here, inside [`crate::boundary::fork::opening`] (a fork
    /// waits for an open in progress, whose store calls are not paused yet); the handle is
    /// tracked before its background thread starts.
    fn open_on_here(store: Arc<dyn Store>, cfg: Config, may_create: bool) -> Result<Kms> {
        if cfg.disable_core_dumps && !crate::secmem::disable_core_dumps() {
            return Err(Error::invalid(
                "KMS_DISABLE_CORE_DUMPS is set but this platform cannot make the process \
                 non-dumpable (Linux prctl(PR_SET_DUMPABLE, 0))",
            ));
        }
        let mut owner_secret: Option<zeroize::Zeroizing<String>> = None;
        let sealer = store::write(store.as_ref(), |tx| {
            let fresh = tx.meta_get("store_id")?.is_none();
            if fresh && !may_create {
                return Err(Error::not_found("the store is not initialised"));
            }
            let sealer = Sealer::unlock(tx, &cfg.master, fresh)?;
            if fresh {
                let now = now();
                let kr = tx.keyring_create(DEFAULT_KEYRING, b"", now)?;
                let secret = zeroize::Zeroizing::new(seal::hex(&crypto::random_vec(24)?));
                tx.identity_insert(&IdentityRecord {
                    id: 0,
                    keyring: kr,
                    name: OWNER.into(),
                    phc: hash_secret(secret.as_bytes(), cfg.identity_kdf)?,
                    roles: Roles(Roles::ALL_BITS),
                    combined_roles: true,
                    disabled: false,
                    failures: 0,
                    locked: false,
                    created: now,
                })?;
                let mut rec = bare_record(kr, OWNER, "create-store", Outcome::Ok, "");
                rec.detail = "store created with keyring 'default' and identity 'owner'".into();
                audit::append_in_tx(tx, &sealer.store_id(), &mut [rec])?;
                owner_secret = Some(secret);
            }
            Ok(sealer)
        })?;
        if let (Some(secret), Some(path)) = (owner_secret, &cfg.owner_secret_file) {
            let line = zeroize::Zeroizing::new(format!("{OWNER}:{}\n", secret.as_str()));
            seal::write_private_file(path, line.as_bytes())?;
        }
        let store_id = sealer.store_id();
        let audit = AuditWriter::new(
            store.clone(),
            store_id.to_vec(),
            cfg.audit,
            cfg.journal_dir.clone(),
        );
        // Chain what processes that died left in their journals.
        audit.ingest_orphans()?;
        let kms = Kms {
            inner: Arc::new(Inner {
                store,
                sealer: RwLock::new(sealer),
                store_id,
                audit: Arc::new(audit),
                cfg,
                cache: RwLock::new(Cache::default()),
                hot: Hot::new(),
                pid: std::process::id(),
            }),
        };
        crate::boundary::fork::track(&kms);
        kms.start_flusher();
        Ok(kms)
    }

    /// Opens the default store and authenticates as its owner with the secret kept beside
    /// it (the embedded default, for tours and local tools).
    pub fn open_default_owner() -> Result<(Kms, Caller)> {
        let kms = Kms::open_default()?;
        let caller = kms.owner()?;
        Ok((kms, caller))
    }

    /// Authenticates as the owner with the secret file written when the store was created.
    pub fn owner(&self) -> Result<Caller> {
        let path = self
            .inner
            .cfg
            .owner_secret_file
            .clone()
            .ok_or_else(|| Error::invalid("no owner secret file configured"))?;
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| {
            Error::new(
                ErrorKind::AuthenticationFailed,
                format!("owner secret file {}: {e}", path.display()),
            )
        })?);
        let (name, secret) = text.trim().split_once(':').ok_or_else(|| {
            Error::new(
                ErrorKind::AuthenticationFailed,
                "owner secret file is malformed",
            )
        })?;
        self.authenticate(DEFAULT_KEYRING, name, secret.as_bytes())
    }

    /// The background threads: one chains journaled usage records (every 20 ms, at the
    /// configured lower priority) and takes over dead processes' journals (every second);
    /// one syncs the journal every audit window, by the clock, at normal priority
    /// ([`AuditWriter::run_syncer`]).
    fn start_flusher(&self) {
        let weak: Weak<AuditWriter> = Arc::downgrade(&self.inner.audit);
        if self.inner.audit.next_sync_in().is_some() {
            let _ = std::thread::Builder::new()
                .name("kms-sync".into())
                .spawn(move || AuditWriter::run_syncer(weak));
        }
        let weak: Weak<AuditWriter> = Arc::downgrade(&self.inner.audit);
        let tick = Duration::from_millis(20);
        let nice = self.inner.cfg.audit.background_nice;
        let _ = std::thread::Builder::new()
            .name("kms-audit".into())
            .spawn(move || {
                if nice > 0 {
                    crate::boundary::thread::set_nice(nice);
                }
                let mut last_orphans = std::time::Instant::now();
                loop {
                    std::thread::sleep(tick);
                    let Some(audit) = weak.upgrade() else { break };
                    if audit.is_closed() {
                        break;
                    }
                    let _ = audit.ingest_own();
                    if last_orphans.elapsed() >= Duration::from_secs(1) {
                        last_orphans = std::time::Instant::now();
                        let _ = audit.ingest_orphans();
                    }
                }
            });
    }

    pub fn config(&self) -> &Config {
        &self.inner.cfg
    }

    pub fn store_id(&self) -> [u8; 16] {
        self.inner.store_id
    }

    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    /// Makes every committed record durable now.
    pub fn flush(&self) -> Result<()> {
        self.inner.audit.flush()
    }

    /// Bytes of usage records this handle journaled that are not chained yet (bounded by
    /// [`crate::core::journal::BACKLOG_LIMIT`]); a gauge for monitoring.
    pub fn audit_backlog(&self) -> u64 {
        self.inner.audit.backlog()
    }

    /// How many times this handle synced its usage journal (every audit window while
    /// records wait to be chained); a gauge for monitoring.
    pub fn audit_journal_syncs(&self) -> u64 {
        self.inner.audit.syncs()
    }

    // ---------------------------------------------------------------- identities

    /// Checks an identity's secret. Every attempt costs one full Argon2 verification, known
    /// name or not; consecutive failures lock the identity.
    pub fn authenticate(&self, keyring: &str, name: &str, secret: &[u8]) -> Result<Caller> {
        let kr = store::read(self.store(), |tx| tx.keyring_by_name(keyring))?;
        let ident = match &kr {
            Some(k) => store::read(self.store(), |tx| tx.identity_get(k.id, name))?,
            None => None,
        };
        let phc = ident
            .as_ref()
            .map(|i| i.phc.clone())
            .unwrap_or_else(|| dummy_phc(self.inner.cfg.identity_kdf));
        let good = verify_secret(secret, &phc);
        let (Some(kr), Some(ident)) = (kr, ident) else {
            let rec = self.record_for(
                0,
                name,
                "authenticate",
                None,
                None,
                Outcome::Denied,
                "authentication failed",
                "",
            );
            let _ = self.inner.audit.record(rec, None, None);
            return Err(Error::new(
                ErrorKind::AuthenticationFailed,
                "authentication failed: unknown identity or wrong secret",
            ));
        };
        if ident.locked || ident.disabled {
            let why = if ident.locked { "locked" } else { "disabled" };
            let rec = self.record_for(
                kr.id,
                name,
                "authenticate",
                None,
                None,
                Outcome::Denied,
                "identity locked",
                why,
            );
            self.inner.audit.record(rec, None, None)?;
            return Err(Error::new(
                ErrorKind::IdentityLocked,
                format!("identity {name} is {why}"),
            ));
        }
        let threshold = self.inner.cfg.lockout_threshold;
        if good {
            if ident.failures > 0 {
                let sid = self.inner.store_id;
                store::write(self.store(), |tx| {
                    if let Some(mut i) = tx.identity_get(kr.id, name)? {
                        i.failures = 0;
                        tx.identity_update(&i)?;
                    }
                    let _ = sid;
                    Ok(())
                })?;
                self.invalidate();
            }
            let rec = self.record_for(kr.id, name, "authenticate", None, None, Outcome::Ok, "", "");
            self.inner.audit.record(rec, None, None)?;
            return Ok(Caller {
                keyring: kr.id,
                keyring_name: kr.name,
                identity: ident.name,
            });
        }
        let sid = self.inner.store_id;
        let locked = store::write(self.store(), |tx| {
            let mut i = tx
                .identity_get(kr.id, name)?
                .ok_or_else(|| Error::not_found("identity vanished"))?;
            i.failures += 1;
            if threshold > 0 && i.failures >= threshold {
                i.locked = true;
            }
            tx.identity_update(&i)?;
            let mut rec = bare_record(
                kr.id,
                name,
                "authenticate",
                Outcome::Denied,
                "authentication failed",
            );
            rec.pid = std::process::id();
            rec.detail = format!(
                "failure {} of {}{}",
                i.failures,
                threshold,
                if i.locked { "; identity locked" } else { "" }
            );
            audit::append_in_tx(tx, &sid, &mut [rec])?;
            Ok(i.locked)
        })?;
        self.invalidate();
        if locked {
            return Err(Error::new(
                ErrorKind::IdentityLocked,
                format!("identity {name} is locked after too many failed authentications"),
            ));
        }
        Err(Error::new(
            ErrorKind::AuthenticationFailed,
            "authentication failed: unknown identity or wrong secret",
        ))
    }

    // ---------------------------------------------------------------- caches

    /// The shared cache, locked for a change: the guard moves the threads' hot sets on
    /// ([`Hot::invalidate`]) before it unlocks.
    pub(crate) fn cache_write(&self) -> std::result::Result<CacheWrite<'_>, ()> {
        let guard = self.inner.cache.write().map_err(|_| ())?;
        Ok(CacheWrite {
            guard,
            hot: &self.inner.hot,
        })
    }

    /// Drops every cached record and all cached key material.
    pub(crate) fn invalidate(&self) {
        if let Ok(mut c) = self.cache_write() {
            *c = Cache::default();
        }
    }

    /// Drops caches when another process changed the store (cheap check per operation).
    pub(crate) fn refresh(&self) -> Result<()> {
        if self.inner.store.changed_elsewhere()? {
            self.invalidate();
        }
        Ok(())
    }

    pub(crate) fn identity(&self, c: &Caller) -> Result<Arc<IdentityRecord>> {
        if let Some(i) = self.inner.cache.read().ok().and_then(|m| {
            m.identities
                .get(&c.keyring)
                .and_then(|x| x.get(&c.identity).cloned())
        }) {
            return Ok(i);
        }
        let i = store::read(self.store(), |tx| tx.identity_get(c.keyring, &c.identity))?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::AuthenticationFailed,
                    format!("identity {} no longer exists", c.identity),
                )
            })?;
        let i = Arc::new(i);
        if let Ok(mut m) = self.cache_write() {
            m.identities
                .entry(c.keyring)
                .or_default()
                .insert(c.identity.clone(), i.clone());
        }
        Ok(i)
    }

    pub(crate) fn grants(&self, c: &Caller) -> Result<Arc<Vec<GrantRecord>>> {
        if let Some(g) = self.inner.cache.read().ok().and_then(|m| {
            m.grants
                .get(&c.keyring)
                .and_then(|x| x.get(&c.identity).cloned())
        }) {
            return Ok(g);
        }
        let g = Arc::new(store::read(self.store(), |tx| {
            tx.grants_for(c.keyring, &c.identity)
        })?);
        if let Ok(mut m) = self.cache_write() {
            m.grants
                .entry(c.keyring)
                .or_default()
                .insert(c.identity.clone(), g.clone());
        }
        Ok(g)
    }

    /// Looks a key up by id (digits) or name within the caller's keyring.
    pub(crate) fn key(&self, c: &Caller, key: &str) -> Result<Arc<KeyRecord>> {
        let key = key.trim();
        if key.is_empty() {
            return Err(Error::invalid("key id or name is empty"));
        }
        if let Ok(id) = key.parse::<u64>() {
            return self.key_by_id(c, id);
        }
        let cached = self.inner.cache.read().ok().and_then(|m| {
            m.names
                .get(&c.keyring)
                .and_then(|n| n.get(key))
                .and_then(|id| m.keys.get(id).cloned())
        });
        if let Some(k) = cached {
            return Ok(k);
        }
        let k = store::read(self.store(), |tx| tx.key_by_name(c.keyring, key))?
            .ok_or_else(|| Error::not_found(format!("no key named '{key}'")))?;
        let k = Arc::new(k);
        if let Ok(mut m) = self.cache_write() {
            m.names
                .entry(c.keyring)
                .or_default()
                .insert(key.to_string(), k.id);
            m.keys.insert(k.id, k.clone());
        }
        Ok(k)
    }

    pub(crate) fn key_by_id(&self, c: &Caller, id: u64) -> Result<Arc<KeyRecord>> {
        let cached = self
            .inner
            .cache
            .read()
            .ok()
            .and_then(|m| m.keys.get(&id).cloned());
        let k = match cached {
            Some(k) => k,
            None => {
                let k = Arc::new(
                    store::read(self.store(), |tx| tx.key_get(id))?
                        .ok_or_else(|| Error::not_found(format!("no key {id}")))?,
                );
                if let Ok(mut m) = self.cache_write() {
                    m.keys.insert(id, k.clone());
                }
                k
            }
        };
        if k.keyring != c.keyring {
            return Err(Error::not_found(format!("no key {id}")));
        }
        Ok(k)
    }

    /// The cached key, identity, grants and (when cached) material for a key use, under one
    /// read lock; None when any of the records is not cached.
    #[allow(clippy::type_complexity)]
    fn cached_use(
        &self,
        c: &Caller,
        key: KeySel<'_>,
        version: Option<u32>,
    ) -> Option<(
        Arc<KeyRecord>,
        Arc<IdentityRecord>,
        Arc<Vec<GrantRecord>>,
        Option<Arc<Loaded>>,
    )> {
        let m = self.inner.cache.read().ok()?;
        let id = match key {
            KeySel::Id(id) => id,
            KeySel::Ref(r) => {
                let r = r.trim();
                match r.parse::<u64>() {
                    Ok(id) => id,
                    Err(_) => *m.names.get(&c.keyring)?.get(r)?,
                }
            }
        };
        let k = m.keys.get(&id)?;
        if k.keyring != c.keyring {
            return None; // the slow path reports it
        }
        let ident = m.identities.get(&c.keyring)?.get(&c.identity)?;
        let grants = m.grants.get(&c.keyring)?.get(&c.identity)?;
        let ver = version.unwrap_or(k.primary_version);
        let l = m.material.get(&(id, ver)).cloned();
        if let Some(l) = &l {
            let entry = HotEntry::new(
                c.keyring,
                &c.identity,
                key,
                version,
                k.clone(),
                ident.clone(),
                grants.clone(),
                l.clone(),
            );
            self.inner.hot.fill(self.inner.hot.generation(), entry);
        }
        Some((k.clone(), ident.clone(), grants.clone(), l))
    }

    /// Unseals (or takes from the cache) the material of one key version.
    pub(crate) fn material(&self, key: &KeyRecord, version: u32) -> Result<Arc<Loaded>> {
        if let Some(l) = self
            .inner
            .cache
            .read()
            .ok()
            .and_then(|m| m.material.get(&(key.id, version)).cloned())
        {
            return Ok(l);
        }
        let v = store::read(self.store(), |tx| tx.version_get(key.id, version))?
            .ok_or_else(|| Error::not_found(format!("key {} has no version {version}", key.id)))?;
        let sealed = match (&v.sealed, v.destroyed) {
            (Some(s), false) => s.clone(),
            _ => {
                return Err(Error::new(
                    ErrorKind::KeyState,
                    format!("key {} version {version} is destroyed", key.id),
                ))
            }
        };
        let spec = key.spec.code();
        let opened = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?
            .unseal(key.id, version, spec, &sealed)?;
        let material = match opened {
            Some(m) => m,
            None => {
                // Another process rotated the master key: pick up the new KEK.
                let s = self
                    .inner
                    .sealer
                    .read()
                    .map_err(|_| Error::internal("lock"))?;
                store::read(self.store(), |tx| s.reload(tx))?;
                s.unseal(key.id, version, spec, &sealed)?.ok_or_else(|| {
                    Error::integrity("sealed material names an unknown master key")
                })?
            }
        };
        let gcm = if key.spec.is_aes() {
            crypto::AesGcmKey::new(&material).ok()
        } else {
            None
        };
        let mac = match key.spec {
            KeySpec::HmacSha256 | KeySpec::Secret => Some(crypto::HashAlg::Sha256),
            KeySpec::HmacSha384 => Some(crypto::HashAlg::Sha384),
            KeySpec::HmacSha512 => Some(crypto::HashAlg::Sha512),
            _ => None,
        }
        .map(|h| crypto::HmacKey::new(h, &material));
        let public = if key.spec.is_symmetric() {
            None
        } else {
            let derived = crypto::public_key_spki(key.spec, &material)?;
            if v.public.as_ref().is_some_and(|p| *p != derived) {
                return Err(Error::integrity(format!(
                    "the stored public key of key {} version {version} does not match its \
                     sealed private key",
                    key.id
                )));
            }
            Some(derived)
        };
        let private = if key.spec.is_symmetric() {
            None
        } else {
            crypto::PrivateKey::parse(key.spec, &material).ok()
        };
        let l = Arc::new(Loaded {
            gcm,
            mac,
            private,
            material,
            public,
            uses_base: v.uses,
            uses_local: AtomicU64::new(0),
        });
        if let Ok(mut m) = self.cache_write() {
            m.material.insert((key.id, version), l.clone());
        }
        Ok(l)
    }

    // ---------------------------------------------------------------- audit helpers

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn record_for(
        &self,
        keyring: u64,
        identity: &str,
        action: &str,
        key_id: Option<u64>,
        version: Option<u32>,
        outcome: Outcome,
        error: &str,
        detail: &str,
    ) -> AuditRecord {
        let time = now_micros();
        let n = request_number();
        AuditRecord {
            seq: 0,
            time,
            keyring,
            identity: identity.to_string(),
            action: action.to_string(),
            key_id,
            key_version: version,
            outcome,
            error: error.to_string(),
            context: String::new(),
            pid: self.inner.pid,
            request_id: format!("{}-{time}-{n}", self.inner.pid),
            detail: detail.to_string(),
            prev_hash: Vec::new(),
            hash: Vec::new(),
        }
    }

    /// Journals one usage record of a request made at `time` (microseconds since the
    /// epoch) straight from borrowed fields (the per-operation path: no record is built, the
    /// request id is formatted on the stack).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn journal_use(
        &self,
        time: i64,
        c: &Caller,
        action: Action,
        key_id: Option<u64>,
        version: Option<u32>,
        outcome: Outcome,
        error: &str,
        ctx: &Context,
        use_of: Option<(u64, u32)>,
    ) -> Result<()> {
        if !self.inner.cfg.audit.record_usage {
            return Ok(());
        }
        let n = request_number();
        // "<pid>-<time>-<n>", in decimal, without the formatting machinery.
        let mut rid = [0u8; 64];
        let mut used = put_decimal(&mut rid, 0, self.inner.pid as u64);
        rid[used] = b'-';
        used = put_decimal(&mut rid, used + 1, time.max(0) as u64);
        rid[used] = b'-';
        used = put_decimal(&mut rid, used + 1, n);
        let request_id = crate::boundary::text::utf8(&rid[..used])
            .ok_or_else(|| Error::internal("request id"))?;
        let context = if ctx.is_empty() {
            std::borrow::Cow::Borrowed("")
        } else {
            std::borrow::Cow::Owned(self.context_text(ctx))
        };
        self.inner.audit.record_ref(
            &audit::RecordRef {
                time,
                keyring: c.keyring,
                identity: &c.identity,
                action: action.name(),
                key_id,
                key_version: version,
                outcome,
                error,
                context: &context,
                pid: self.inner.pid,
                request_id,
                detail: "",
            },
            use_of,
            None,
        )
    }

    pub(crate) fn context_text(&self, ctx: &Context) -> String {
        if self.inner.cfg.audit.record_context_values {
            ctx.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        } else {
            context_keys(ctx)
        }
    }

    /// Records a refused or failed request (batched) and returns the error.
    pub(crate) fn refuse(
        &self,
        c: &Caller,
        action: Action,
        key_id: Option<u64>,
        version: Option<u32>,
        ctx: &Context,
        e: Error,
    ) -> Error {
        let outcome = if e.kind() == ErrorKind::AccessDenied {
            Outcome::Denied
        } else {
            Outcome::Error
        };
        match self.journal_use(
            now_micros(),
            c,
            action,
            key_id,
            version,
            outcome,
            e.kind().name(),
            ctx,
            None,
        ) {
            Ok(()) => e,
            Err(ae) if self.inner.cfg.audit.fail_closed => ae,
            Err(_) => e,
        }
    }

    /// Policy check for `action` on `key` (or keyring-wide), returning the grant to count.
    pub(crate) fn authorize(
        &self,
        c: &Caller,
        action: Action,
        key: Option<&KeyRecord>,
        ctx: &Context,
    ) -> Result<Option<u64>> {
        let ident = self.identity(c)?;
        let grants = self.grants(c)?;
        match policy::decide(&ident, &grants, action, key, ctx, now()) {
            Decision::Allow { counted_grant } => Ok(counted_grant),
            Decision::Deny(msg) => Err(Error::new(ErrorKind::AccessDenied, msg)),
        }
    }

    // ---------------------------------------------------------------- request shapes

    /// A key-use request: policy, state, usage and version checks, lazy rotation, the
    /// operation itself on the unsealed material, then the audit record and use count.
    /// `version` None means the primary version (operations that protect new data).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn use_key<R>(
        &self,
        c: &Caller,
        key: KeySel<'_>,
        version: Option<u32>,
        action: Action,
        usage: Usage,
        ctx: &Context,
        f: impl FnOnce(&KeyRecord, u32, &[u8]) -> Result<R>,
    ) -> Result<R> {
        self.use_key_loaded(c, key, version, action, usage, ctx, |k, v, l| {
            f(k, v, &l.material)
        })
    }

    /// [`Kms::use_key`] with the loaded version (prepared cipher keys included).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn use_key_loaded<R>(
        &self,
        c: &Caller,
        key: KeySel<'_>,
        version: Option<u32>,
        action: Action,
        usage: Usage,
        ctx: &Context,
        f: impl FnOnce(&KeyRecord, u32, &Loaded) -> Result<R>,
    ) -> Result<R> {
        self.refresh()?;
        let mut f = Some(f);
        if let Some(done) = self.use_hot(c, key, version, action, usage, ctx, &mut f) {
            return done;
        }
        let f = f.ok_or_else(|| Error::internal("key use"))?;
        // Hot keys: key, identity, grants and material from one look at the cache.
        let hot = self.cached_use(c, key, version);
        let (k, grant, pre) = match hot {
            Some((k, ident, grants, pre)) => {
                match policy::decide(&ident, &grants, action, Some(&k), ctx, now()) {
                    Decision::Allow { counted_grant } => (k, counted_grant, pre),
                    Decision::Deny(msg) => {
                        let e = Error::new(ErrorKind::AccessDenied, msg);
                        return Err(self.refuse(c, action, Some(k.id), version, ctx, e));
                    }
                }
            }
            None => {
                let k = match key {
                    KeySel::Ref(r) => self.key(c, r),
                    KeySel::Id(id) => self.key_by_id(c, id),
                };
                let k = match k {
                    Ok(k) => k,
                    Err(e) => return Err(self.refuse(c, action, None, version, ctx, e)),
                };
                match self.authorize(c, action, Some(&k), ctx) {
                    Ok(g) => (k, g, None),
                    Err(e) => return Err(self.refuse(c, action, Some(k.id), version, ctx, e)),
                }
            }
        };
        if let Some(g) = grant {
            if let Err(e) = self.consume_grant(c, g) {
                return Err(self.refuse(c, action, Some(k.id), version, ctx, e));
            }
        }
        let before = k.clone();
        let primary = pre.as_deref().filter(|_| version.is_none());
        let checked = self.check_key_use(c, k, version, action, usage, primary);
        let (k, ver) = match checked {
            Ok(v) => v,
            Err((id, e)) => return Err(self.refuse(c, action, Some(id), version, ctx, e)),
        };
        // The prefetched material is for the version asked (or the primary) of the key as
        // it was looked up; a lazy rotation in between means loading again.
        let pre =
            pre.filter(|_| Arc::ptr_eq(&before, &k) && version.unwrap_or(k.primary_version) == ver);
        let loaded = match pre {
            Some(l) => l,
            None => match self.material(&k, ver) {
                Ok(l) => l,
                Err(e) => return Err(self.refuse(c, action, Some(k.id), Some(ver), ctx, e)),
            },
        };
        let out = f(&k, ver, &loaded);
        count_use(&k, version, &loaded, &out);
        self.finish_use(now_micros(), c, action, k.id, ver, version, ctx, out)
    }

    /// A repeated use, from this thread's hot entry ([`hot`]): taken when policy allows it
    /// outright (no grant whose uses are counted) and the key passes its checks without a
    /// rotation falling due. `None` sends the use the shared way, which decides again and
    /// records any refusal; `f` is taken only when the operation runs here.
    #[allow(clippy::too_many_arguments)]
    fn use_hot<R, F>(
        &self,
        c: &Caller,
        key: KeySel<'_>,
        version: Option<u32>,
        action: Action,
        usage: Usage,
        ctx: &Context,
        f: &mut Option<F>,
    ) -> Option<Result<R>>
    where
        F: FnOnce(&KeyRecord, u32, &Loaded) -> Result<R>,
    {
        // one clock read for the policy decision and the audit record
        let time = now_micros();
        let (out, id, ver) = self
            .inner
            .hot
            .with(c.keyring, &c.identity, key, version, |h| {
                let k = &*h.key;
                let secs = time.div_euclid(1_000_000);
                match policy::decide(&h.ident, &h.grants, action, Some(k), ctx, secs) {
                    Decision::Allow {
                        counted_grant: None,
                    } => {}
                    _ => return None,
                }
                check_key_state(k, version, action, usage).ok()?;
                if version.is_none() && self.rotation_due(k, Some(&h.loaded), secs).is_some() {
                    return None;
                }
                let ver = version.unwrap_or(k.primary_version);
                let out = f.take()?(k, ver, &h.loaded);
                count_use(k, version, &h.loaded, &out);
                Some((out, k.id, ver))
            })
            .flatten()?;
        Some(self.finish_use(time, c, action, id, ver, version, ctx, out))
    }

    /// Records a key use that ran: its audit record (with the use to count when it
    /// protected new data under the primary version), or the refusal when it failed.
    #[allow(clippy::too_many_arguments)]
    fn finish_use<R>(
        &self,
        time: i64,
        c: &Caller,
        action: Action,
        id: u64,
        ver: u32,
        version: Option<u32>,
        ctx: &Context,
        out: Result<R>,
    ) -> Result<R> {
        let out = match out {
            Ok(o) => o,
            Err(e) => return Err(self.refuse(c, action, Some(id), Some(ver), ctx, e)),
        };
        self.journal_use(
            time,
            c,
            action,
            Some(id),
            Some(ver),
            Outcome::Ok,
            "",
            ctx,
            version.is_none().then_some((id, ver)),
        )?;
        Ok(out)
    }

    /// Counts one use of a grant with a use limit, in its own transaction so the limit holds
    /// exactly across threads and processes.
    fn consume_grant(&self, c: &Caller, grant_id: u64) -> Result<()> {
        let r = store::write(self.store(), |tx| {
            let g = tx
                .grants_for(c.keyring, &c.identity)?
                .into_iter()
                .find(|g| g.id == grant_id)
                .ok_or_else(|| Error::new(ErrorKind::AccessDenied, "grant revoked"))?;
            if let Some(max) = g.max_uses {
                if g.uses >= max {
                    return Err(Error::new(
                        ErrorKind::AccessDenied,
                        format!("access denied: grant {grant_id} has used all {max} uses"),
                    ));
                }
            }
            tx.grant_add_uses(grant_id, 1)
        });
        if let Ok(mut m) = self.cache_write() {
            if let Some(x) = m.grants.get_mut(&c.keyring) {
                x.remove(&c.identity);
            }
        }
        r
    }

    /// State, usage and version checks (with lazy rotation); returns the key record to use
    /// (fresh after a rotation) and the version.
    fn check_key_use(
        &self,
        c: &Caller,
        mut k: Arc<KeyRecord>,
        version: Option<u32>,
        action: Action,
        usage: Usage,
        primary: Option<&Loaded>,
    ) -> std::result::Result<(Arc<KeyRecord>, u32), (u64, Error)> {
        let id = k.id;
        check_key_state(&k, version, action, usage).map_err(|e| (id, e))?;
        let ver = match version {
            None => {
                if let Some(observed) = self.rotation_due(&k, primary, now()) {
                    self.rotate_due(c, id, observed).map_err(|e| (id, e))?;
                    k = self.key_by_id(c, id).map_err(|e| (id, e))?;
                }
                k.primary_version
            }
            Some(v) => v,
        };
        Ok((k, ver))
    }

    /// Whether automatic rotation looks due; returns the use count this handle observed
    /// (the transaction that rotates re-checks with it and the stored count).
    /// `primary` is the primary version's material when the caller already has it; `now` is
    /// the time in seconds (the caller's one clock read).
    fn rotation_due(&self, k: &KeyRecord, primary: Option<&Loaded>, now: i64) -> Option<u64> {
        if k.origin == Origin::Imported {
            return None;
        }
        let next = k.next_rotation();
        if next.is_none() && k.rotate_after_uses.is_none() {
            return None; // no schedule: nothing to count
        }
        let observed = match primary {
            Some(l) => l.uses_base + l.uses_local.load(Ordering::Relaxed),
            None => self
                .material(k, k.primary_version)
                .map(|l| l.uses_base + l.uses_local.load(Ordering::Relaxed))
                .unwrap_or(0),
        };
        if let Some(next) = next {
            if now >= next {
                return Some(observed);
            }
        }
        match k.rotate_after_uses {
            Some(limit) if observed >= limit => Some(observed),
            _ => None,
        }
    }

    /// A management request: in one write transaction, re-read the key, check the policy,
    /// run `f`, and append the audit record; a refusal is audited on its own.
    pub(crate) fn manage<R>(
        &self,
        c: &Caller,
        action: Action,
        key: Option<&str>,
        mut f: impl FnMut(&mut dyn Tx, Option<&mut KeyRecord>, &mut AuditRecord) -> Result<R>,
    ) -> Result<R> {
        self.refresh()?;
        let key_id = match key {
            Some(r) => match self.key(c, r) {
                Ok(k) => Some(k.id),
                Err(e) => return Err(self.refuse(c, action, None, None, &Context::new(), e)),
            },
            None => None,
        };
        self.manage_id(c, action, key_id, |tx, k, rec| f(tx, k, rec))
    }

    pub(crate) fn manage_id<R>(
        &self,
        c: &Caller,
        action: Action,
        key_id: Option<u64>,
        mut f: impl FnMut(&mut dyn Tx, Option<&mut KeyRecord>, &mut AuditRecord) -> Result<R>,
    ) -> Result<R> {
        let sid = self.inner.store_id;
        let now = now();
        let res = store::write(self.store(), |tx| {
            let ident = tx.identity_get(c.keyring, &c.identity)?.ok_or_else(|| {
                Error::new(ErrorKind::AuthenticationFailed, "identity no longer exists")
            })?;
            let grants = tx.grants_for(c.keyring, &c.identity)?;
            let mut key = match key_id {
                Some(id) => Some(
                    tx.key_get(id)?
                        .filter(|k| k.keyring == c.keyring)
                        .ok_or_else(|| Error::not_found(format!("no key {id}")))?,
                ),
                None => None,
            };
            if let Decision::Deny(msg) =
                policy::decide(&ident, &grants, action, key.as_ref(), &Context::new(), now)
            {
                return Err(Error::new(ErrorKind::AccessDenied, msg));
            }
            let mut rec = self.record_for(
                c.keyring,
                &c.identity,
                action.name(),
                key_id,
                None,
                Outcome::Ok,
                "",
                "",
            );
            let out = f(tx, key.as_mut(), &mut rec)?;
            if let Some(k) = &key {
                tx.key_update(k)?;
            }
            audit::append_in_tx(tx, &sid, &mut [rec])?;
            Ok(out)
        });
        self.invalidate();
        match res {
            Ok(v) => Ok(v),
            Err(e) => Err(self.refuse(c, action, key_id, None, &Context::new(), e)),
        }
    }
}

/// The checks of a key use that read nothing more than the key: its state, its usages and
/// (when one is asked for) the version.
fn check_key_state(
    k: &KeyRecord,
    version: Option<u32>,
    action: Action,
    usage: Usage,
) -> Result<()> {
    lifecycle::check_use(&|| k.label(), k.state, k.compromised, action)?;
    if !k.usage.contains(usage) {
        return Err(Error::usage(format!(
            "key {} is not for {} (usages: {})",
            k.label(),
            usage.names().join(","),
            k.usage.names().join(",")
        )));
    }
    let Some(v) = version else {
        return Ok(());
    };
    if v != k.primary_version && lifecycle::protects(action) {
        return Err(Error::new(
            ErrorKind::KeyState,
            format!(
                "key {} version {v} is not the primary version ({}): older versions decrypt and verify only",
                k.label(),
                k.primary_version
            ),
        ));
    }
    if v < k.min_decrypt_version {
        return Err(Error::new(
            ErrorKind::KeyState,
            format!(
                "key {} version {v} is below the minimum decryption version {}",
                k.label(),
                k.min_decrypt_version
            ),
        ));
    }
    if v == 0 || v > k.primary_version {
        return Err(Error::not_found(format!(
            "key {} has no version {v}",
            k.label()
        )));
    }
    Ok(())
}

/// Counts a use that protected new data under the primary version (`version` None) in this
/// handle's count, which only rotation by use count reads ([`Kms::rotation_due`]); the
/// stored count is advanced from the journal either way. Skipped for other keys: one shared
/// line fewer written per operation.
fn count_use<R>(k: &KeyRecord, version: Option<u32>, loaded: &Loaded, out: &Result<R>) {
    if out.is_ok() && version.is_none() && k.rotate_after_uses.is_some() {
        loaded.uses_local.fetch_add(1, Ordering::Relaxed);
    }
}

/// How a use request names its key: a caller's reference (id or name) or an id from a
/// ciphertext header.
#[derive(Clone, Copy, Debug)]
pub(crate) enum KeySel<'a> {
    Ref(&'a str),
    Id(u64),
}

/// The number in a request id ("<pid>-<time>-<n>"), unique in this process: each thread
/// takes blocks of numbers from one shared counter, so callers on different cores do not
/// write one shared cache line per operation.
fn request_number() -> u64 {
    use std::cell::Cell;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    const BLOCK: u64 = 4096;
    thread_local! {
        static LOCAL: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    LOCAL.with(|l| {
        let (mut at, mut end) = l.get();
        if at == end {
            at = NEXT.fetch_add(BLOCK, Ordering::Relaxed);
            end = at + BLOCK;
        }
        l.set((at + 1, end));
        at
    })
}

/// Writes `n` in decimal at `buf[at..]` (at most 20 digits); returns the index after it.
fn put_decimal(buf: &mut [u8; 64], at: usize, mut n: u64) -> usize {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - i;
    buf[at..at + len].copy_from_slice(&digits[i..]);
    at + len
}

pub(crate) fn bare_record(
    keyring: u64,
    identity: &str,
    action: &str,
    outcome: Outcome,
    error: &str,
) -> AuditRecord {
    AuditRecord {
        seq: 0,
        time: now_micros(),
        keyring,
        identity: identity.to_string(),
        action: action.to_string(),
        key_id: None,
        key_version: None,
        outcome,
        error: error.to_string(),
        context: String::new(),
        pid: std::process::id(),
        request_id: String::new(),
        detail: String::new(),
        prev_hash: Vec::new(),
        hash: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_are_unique_across_threads() {
        // each thread takes blocks of numbers; more than a block per thread crosses blocks
        let per_thread = 10_000;
        let all: Vec<u64> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..4)
                .map(|_| {
                    sc.spawn(move || {
                        (0..per_thread)
                            .map(|_| request_number())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
        });
        let distinct: std::collections::HashSet<u64> = all.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(all.len(), 4 * per_thread);
    }

    #[test]
    fn decimal_request_id_parts() {
        let mut b = [0u8; 64];
        for n in [0u64, 7, 10, 99, 1_234_567, u64::MAX] {
            let end = put_decimal(&mut b, 3, n);
            assert_eq!(std::str::from_utf8(&b[3..end]).unwrap(), n.to_string());
        }
    }

    #[test]
    fn cache_hasher_spreads_names_and_ids() {
        use std::hash::BuildHasher;
        let h = std::hash::BuildHasherDefault::<CacheHasher>::default();
        let names: std::collections::HashSet<u64> = (0..10_000)
            .map(|i| h.hash_one(format!("key-{i}")))
            .collect();
        assert_eq!(names.len(), 10_000);
        let ids: std::collections::HashSet<u64> = (0..10_000u64).map(|i| h.hash_one(i)).collect();
        assert_eq!(ids.len(), 10_000);
        assert_ne!(h.hash_one("ab"), h.hash_one("ba"));
    }
}
