//! Each thread's own copies of what its recent key uses read from the shared cache (the
//! [`PerThread`] pattern).
//!
//! A key use reads a key, an identity, its grants and the key version's unsealed material
//! from the cache. Read from the shared cache, that is a read lock and four reference counts
//! taken and released: about ten writes to cache lines that every calling thread writes, so
//! two threads on two cores pull them back and forth on every operation. A thread's hot set
//! holds its own references, taken once, checked against a counter that every change to
//! the cache moves ([`Hot::invalidate`], a fill as well as an invalidation), so a repeated
//! use writes no shared line, no thread keeps using an entry after a change (a key
//! disabled, an identity locked, a grant revoked), and key material that the cache dropped
//! is not kept alive by idle threads.

use std::sync::Arc;

use crate::core::keys::KeyInfo;
use crate::core::model::{GrantRecord, IdentityRecord, KeyRecord};
use crate::core::perthread::{push_bounded, thread_slots, Copies, PerThread};
use crate::core::service::{Caller, KeySel, Loaded};

/// Entries a thread keeps per store handle; more keys in turn fall back to the shared cache.
const PER_THREAD: usize = 16;

/// What a key use reads, for one caller, key reference and version.
pub(crate) struct HotEntry {
    keyring: u64,
    identity: String,
    sel: Sel,
    version: Option<u32>,
    pub key: Arc<KeyRecord>,
    pub ident: Arc<IdentityRecord>,
    pub grants: Arc<Vec<GrantRecord>>,
    pub loaded: Arc<Loaded>,
}

/// A key's cached description, as one caller reads it (the PKCS#11 object view of every
/// `C_*Init`): the thread's own copy of the description, and what its policy check reads.
pub(crate) struct HotDescribed {
    keyring: u64,
    identity: String,
    pub key: Arc<KeyRecord>,
    pub ident: Arc<IdentityRecord>,
    pub grants: Arc<Vec<GrantRecord>>,
    pub info: Arc<KeyInfo>,
}

impl HotDescribed {
    /// `info` is copied: the thread's references to it then count on a line of its own.
    pub fn new(
        c: &Caller,
        key: Arc<KeyRecord>,
        ident: Arc<IdentityRecord>,
        grants: Arc<Vec<GrantRecord>>,
        info: &KeyInfo,
    ) -> HotDescribed {
        HotDescribed {
            keyring: c.keyring,
            identity: c.identity.clone(),
            key,
            ident,
            grants,
            info: Arc::new(info.clone()),
        }
    }
}

enum Sel {
    Id(u64),
    Ref(String),
}

impl HotEntry {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        keyring: u64,
        identity: &str,
        sel: KeySel<'_>,
        version: Option<u32>,
        key: Arc<KeyRecord>,
        ident: Arc<IdentityRecord>,
        grants: Arc<Vec<GrantRecord>>,
        loaded: Arc<Loaded>,
    ) -> HotEntry {
        HotEntry {
            keyring,
            identity: identity.to_string(),
            sel: match sel {
                KeySel::Id(id) => Sel::Id(id),
                KeySel::Ref(r) => Sel::Ref(r.to_string()),
            },
            version,
            key,
            ident,
            grants,
            loaded,
        }
    }

    fn is_for(&self, keyring: u64, identity: &str, sel: &KeySel<'_>, version: Option<u32>) -> bool {
        self.keyring == keyring
            && self.version == version
            && match (&self.sel, sel) {
                (Sel::Id(a), KeySel::Id(b)) => a == b,
                (Sel::Ref(a), KeySel::Ref(b)) => a == b,
                _ => false,
            }
            && self.identity == identity
    }
}

/// A thread's copies for one store handle.
#[derive(Default)]
pub(crate) struct HotSet {
    entries: Vec<HotEntry>,
    described: Vec<HotDescribed>,
}

impl Copies for HotSet {
    fn clear(&mut self) {
        self.entries.clear();
        self.described.clear();
    }
    thread_slots!(HotSet);
}

/// The hot sets of one store handle.
pub(crate) struct Hot(PerThread<HotSet>);

impl Hot {
    pub fn new() -> Hot {
        Hot(PerThread::new())
    }

    /// The change counter; read under the shared cache's lock (which every change holds
    /// exclusively) to know what a fill is current with.
    pub fn generation(&self) -> u64 {
        self.0.generation()
    }

    /// Held across a fork (see `boundary::fork`), after the shared cache.
    pub fn hold(&self) -> Box<dyn crate::boundary::fork::Held + '_> {
        Box::new(self.0.hold())
    }

    /// Called by every change to the shared cache, while it is locked for writing.
    pub fn invalidate(&self) {
        self.0.changed();
    }

    /// Runs `f` on this thread's current entry for the use, if it has one.
    pub fn with<R>(
        &self,
        keyring: u64,
        identity: &str,
        sel: KeySel<'_>,
        version: Option<u32>,
        f: impl FnOnce(&HotEntry) -> R,
    ) -> Option<R> {
        self.0.look(|set| {
            let e = set
                .entries
                .iter()
                .find(|e| e.is_for(keyring, identity, &sel, version))?;
            Some(f(e))
        })
    }

    /// Runs `f` on this thread's current description of key `key_id` for the caller.
    pub fn with_described<R>(
        &self,
        c: &Caller,
        key_id: u64,
        f: impl FnOnce(&HotDescribed) -> R,
    ) -> Option<R> {
        self.0.look(|set| {
            let d = set.described.iter().find(|d| {
                d.key.id == key_id && d.keyring == c.keyring && d.identity == c.identity
            })?;
            Some(f(d))
        })
    }

    /// Keeps `entry`, read from the shared cache when [`Hot::generation`] was `seen`, in
    /// this thread's set.
    pub fn fill(&self, seen: u64, entry: HotEntry) {
        self.0.keep(seen, |set| {
            push_bounded(&mut set.entries, entry, PER_THREAD)
        });
    }

    /// [`Hot::fill`] for a description.
    pub fn fill_described(&self, seen: u64, d: HotDescribed) {
        self.0
            .keep(seen, |set| push_bounded(&mut set.described, d, PER_THREAD));
    }
}
