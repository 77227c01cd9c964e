//! The store trait: everything the core persists, behind one interface, so that the embedded
//! SQLite file and a shared database offer the same semantics. Nothing backend-specific leaks.

pub mod postgres;
pub mod sqlite;

use crate::core::error::Result;
use crate::core::model::*;

/// A sealed version as master key rotation sees it: key id, version, spec code, blob.
pub type SealedRow = (u64, u32, u32, Vec<u8>);

/// A transaction on the store: reads see one snapshot; writes commit together or not at all.
pub trait Tx {
    fn meta_get(&mut self, key: &str) -> Result<Option<Vec<u8>>>;
    fn meta_put(&mut self, key: &str, value: &[u8]) -> Result<()>;
    fn meta_delete(&mut self, key: &str) -> Result<()>;
    fn meta_list(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;

    fn keyring_create(&mut self, name: &str, attrs: &[u8], now: i64) -> Result<u64>;
    fn keyring_by_name(&mut self, name: &str) -> Result<Option<KeyringRecord>>;
    fn keyring_get(&mut self, id: u64) -> Result<Option<KeyringRecord>>;
    fn keyring_list(&mut self) -> Result<Vec<KeyringRecord>>;
    fn keyring_set_attrs(&mut self, id: u64, attrs: &[u8]) -> Result<()>;

    /// Inserts a key (its `id` is ignored) and returns the new, never-reused id.
    fn key_insert(&mut self, key: &KeyRecord) -> Result<u64>;
    fn key_update(&mut self, key: &KeyRecord) -> Result<()>;
    fn key_get(&mut self, id: u64) -> Result<Option<KeyRecord>>;
    fn key_by_name(&mut self, keyring: u64, name: &str) -> Result<Option<KeyRecord>>;
    fn key_list(&mut self, filter: &KeyFilter) -> Result<Vec<KeyRecord>>;
    fn key_count(&mut self, keyring: u64) -> Result<u64>;

    fn version_insert(&mut self, v: &VersionRecord) -> Result<()>;
    fn version_get(&mut self, key_id: u64, version: u32) -> Result<Option<VersionRecord>>;
    fn versions(&mut self, key_id: u64) -> Result<Vec<VersionRecord>>;
    /// Replaces the sealed material (master key rotation) or wipes it (destroy).
    fn version_set_sealed(
        &mut self,
        key_id: u64,
        version: u32,
        sealed: Option<&[u8]>,
    ) -> Result<()>;
    fn version_add_uses(&mut self, key_id: u64, version: u32, n: u64) -> Result<()>;
    /// Every (key id, version, sealed) still holding material, for re-sealing.
    fn sealed_all(&mut self) -> Result<Vec<SealedRow>>;

    fn identity_insert(&mut self, id: &IdentityRecord) -> Result<u64>;
    fn identity_update(&mut self, id: &IdentityRecord) -> Result<()>;
    fn identity_get(&mut self, keyring: u64, name: &str) -> Result<Option<IdentityRecord>>;
    fn identity_list(&mut self, keyring: u64) -> Result<Vec<IdentityRecord>>;
    fn identity_delete(&mut self, keyring: u64, name: &str) -> Result<()>;

    fn grant_insert(&mut self, g: &GrantRecord) -> Result<u64>;
    fn grant_delete(&mut self, id: u64) -> Result<bool>;
    fn grants_for(&mut self, keyring: u64, identity: &str) -> Result<Vec<GrantRecord>>;
    fn grants_list(&mut self, keyring: u64, key_id: Option<u64>) -> Result<Vec<GrantRecord>>;
    fn grant_add_uses(&mut self, id: u64, n: u64) -> Result<()>;

    fn object_insert(&mut self, o: &ObjectRecord) -> Result<u64>;
    fn object_update(&mut self, o: &ObjectRecord) -> Result<()>;
    fn object_get(&mut self, id: u64) -> Result<Option<ObjectRecord>>;
    fn object_list(
        &mut self,
        keyring: u64,
        class: Option<&str>,
        label: Option<&str>,
    ) -> Result<Vec<ObjectRecord>>;
    fn object_delete(&mut self, id: u64) -> Result<()>;

    /// The last record's sequence number and hash (0 and empty for an empty trail), over
    /// single records and batches.
    fn audit_head(&mut self) -> Result<(u64, Vec<u8>)>;
    /// Appends one record as its own row (events of the service; usage records arrive in
    /// batches, [`Tx::audit_batch_insert`]).
    fn audit_append(&mut self, rec: &AuditRecord) -> Result<()>;
    /// The single-record rows matching `filter`. Batches are read with
    /// [`Tx::audit_batches`]; `audit::query` merges both, which is what callers want.
    fn audit_rows(&mut self, filter: &AuditFilter) -> Result<Vec<AuditRecord>>;
    /// Stores a batch with its index terms (one index row per term).
    fn audit_batch_insert(&mut self, batch: &AuditBatch, terms: &[Vec<u8>]) -> Result<()>;
    /// The batches `q` names, in first-sequence order (descending when asked), at most
    /// `q.limit`.
    fn audit_batches(&mut self, q: &BatchQuery) -> Result<Vec<AuditBatch>>;
    /// The index terms stored for the batch starting at `first_seq` (verification compares
    /// them with the batch's records).
    fn audit_batch_terms(&mut self, first_seq: u64) -> Result<Vec<Vec<u8>>>;
    /// Removes the batch starting at `first_seq` and its terms.
    fn audit_batch_delete(&mut self, first_seq: u64) -> Result<()>;
    /// Removes the rows before `seq` and the batches wholly before it; the count of records
    /// removed.
    fn audit_delete_before(&mut self, seq: u64) -> Result<u64>;
    fn checkpoint_insert(&mut self, c: &CheckpointRecord) -> Result<()>;
    fn checkpoints(&mut self) -> Result<Vec<CheckpointRecord>>;

    // ---- restore (backup/restore keeps ids). Backends that do not support restore keep
    // the defaults, which refuse with `Unsupported`.

    /// Inserts a keyring with its given id.
    fn keyring_restore(&mut self, _k: &KeyringRecord) -> Result<()> {
        Err(crate::core::Error::unsupported(
            "this store cannot restore keyrings",
        ))
    }
    /// Removes an (empty) keyring; used only to clear a fresh store before a restore.
    fn keyring_delete(&mut self, _id: u64) -> Result<()> {
        Err(crate::core::Error::unsupported(
            "this store cannot delete keyrings",
        ))
    }
    /// Inserts a key with its given id (ids stay never-reused: the id counter moves past it).
    fn key_restore(&mut self, _k: &KeyRecord) -> Result<()> {
        Err(crate::core::Error::unsupported(
            "this store cannot restore keys",
        ))
    }
    /// Inserts an identity with its given id.
    fn identity_restore(&mut self, _i: &IdentityRecord) -> Result<()> {
        Err(crate::core::Error::unsupported(
            "this store cannot restore identities",
        ))
    }
    /// Inserts a grant with its given id.
    fn grant_restore(&mut self, _g: &GrantRecord) -> Result<()> {
        Err(crate::core::Error::unsupported(
            "this store cannot restore grants",
        ))
    }
    /// Inserts an object with its given id.
    fn object_restore(&mut self, _o: &ObjectRecord) -> Result<()> {
        Err(crate::core::Error::unsupported(
            "this store cannot restore objects",
        ))
    }
    /// Every object of a keyring, deleted application secret versions included.
    fn object_list_all(&mut self, _keyring: u64) -> Result<Vec<ObjectRecord>> {
        Err(crate::core::Error::unsupported(
            "this store cannot list all objects",
        ))
    }
}

/// A store: opens transactions and tells whether another process changed it.
pub trait Store: Send + Sync {
    /// Runs `f` in a write transaction (serialised with every other writer, in every process).
    fn write(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;
    /// A write that changes nothing other processes cache (usage records, use counts): it
    /// does not make [`Store::changed_elsewhere`] report a change elsewhere.
    fn write_quiet(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()> {
        self.write(f)
    }
    /// Runs `f` on a consistent read snapshot.
    fn read(&self, f: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;
    /// True when another connection (another process) committed since the last call.
    /// Cheap enough to call on every operation.
    fn changed_elsewhere(&self) -> Result<bool>;
    /// Makes everything committed so far durable on disk (bounds the power-loss window).
    fn sync(&self) -> Result<()>;
    /// Whether a [`Store::write_quiet`] transaction is durable once it commits (no
    /// [`Store::sync`] needed). The usage journal then need not sync records it has chained.
    fn quiet_writes_durable(&self) -> bool {
        false
    }
    /// A short description of the backend and location (no credentials).
    fn describe(&self) -> String;
    /// Waits until no call into the database library is in progress and holds new ones
    /// back until [`Store::resume_after_fork`], so that a `fork()` copies no lock that a
    /// thread of the parent held half-way (an embedded database keeps its lock state in
    /// process memory; a child inheriting a held lock would wait on it forever).
    fn pause_for_fork(&self) {}
    /// Lets calls held back by [`Store::pause_for_fork`] go on (in the parent and the child).
    fn resume_after_fork(&self) {}
}

/// Runs `f` in a write transaction and returns its value.
pub fn write<R>(store: &dyn Store, mut f: impl FnMut(&mut dyn Tx) -> Result<R>) -> Result<R> {
    let mut out = None;
    store.write(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| crate::core::Error::internal("transaction returned no value"))
}

/// Runs `f` in a quiet write transaction (see [`Store::write_quiet`]) and returns its value.
pub fn write_quiet<R>(store: &dyn Store, mut f: impl FnMut(&mut dyn Tx) -> Result<R>) -> Result<R> {
    let mut out = None;
    store.write_quiet(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| crate::core::Error::internal("transaction returned no value"))
}

/// Runs `f` on a read snapshot and returns its value.
pub fn read<R>(store: &dyn Store, mut f: impl FnMut(&mut dyn Tx) -> Result<R>) -> Result<R> {
    let mut out = None;
    store.read(&mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| crate::core::Error::internal("transaction returned no value"))
}
