//! Each thread's own copies of what its recent key uses read from the shared cache.
//!
//! A key use reads a key, an identity, its grants and the key version's unsealed material
//! from the cache. Read from the shared cache, that is a read lock and four reference counts
//! taken and released: about ten writes to cache lines that every calling thread writes, so
//! two threads on two cores pull them back and forth on every operation. A thread's hot set
//! holds its own references, taken once, and is checked against one counter that changes
//! only when the cache does ([`Hot::changed`]), so a repeated use writes no shared line.
//!
//! Every change to the shared cache (a fill as well as an invalidation) moves the counter on
//! and empties every thread's set that is not in use at that moment; a set in use is
//! emptied by its thread at its next look, when it sees the counter moved. So no thread
//! keeps using an entry after a change (a key disabled, an identity locked, a grant
//! revoked), and key material that the cache dropped is not kept alive by idle threads.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use crate::core::keys::KeyInfo;
use crate::core::model::{GrantRecord, IdentityRecord, KeyRecord};
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

struct HotSet {
    /// The value of [`Hot::changed`] the entries were read at.
    seen: u64,
    entries: Vec<HotEntry>,
    described: Vec<HotDescribed>,
    /// The handle was closed: the thread drops its reference at its next registration.
    closed: bool,
}

type SharedSet = Arc<Mutex<HotSet>>;

thread_local! {
    /// This thread's sets, one per store handle it used (by [`Hot::id`]).
    static SETS: RefCell<Vec<(u64, SharedSet)>> = const { RefCell::new(Vec::new()) };
}

/// The hot sets of one store handle.
pub(crate) struct Hot {
    /// Tells this handle's sets from other handles' in a thread's list.
    id: u64,
    /// Moves on with every change to the shared cache.
    changed: AtomicU64,
    sets: Mutex<Vec<Weak<Mutex<HotSet>>>>,
}

impl Hot {
    pub fn new() -> Hot {
        static IDS: AtomicU64 = AtomicU64::new(1);
        Hot {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            changed: AtomicU64::new(0),
            sets: Mutex::new(Vec::new()),
        }
    }

    /// The change counter; read under the shared cache's lock (which every change holds
    /// exclusively) to know what a fill is current with.
    pub fn generation(&self) -> u64 {
        self.changed.load(Ordering::Acquire)
    }

    /// Called by every change to the shared cache, while it is locked for writing.
    pub fn invalidate(&self) {
        self.changed.fetch_add(1, Ordering::AcqRel);
        if let Ok(mut sets) = self.sets.lock() {
            sets.retain(|w| match w.upgrade() {
                Some(s) => {
                    // a set in use is emptied by its own thread when it next looks
                    if let Ok(mut s) = s.try_lock() {
                        s.clear();
                    }
                    true
                }
                None => false,
            });
        }
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
        self.look(|set| {
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
        self.look(|set| {
            let d = set.described.iter().find(|d| {
                d.key.id == key_id && d.keyring == c.keyring && d.identity == c.identity
            })?;
            Some(f(d))
        })
    }

    /// Keeps `entry`, read from the shared cache when [`Hot::generation`] was `seen`, in
    /// this thread's set.
    pub fn fill(&self, seen: u64, entry: HotEntry) {
        self.keep(seen, |set| push_bounded(&mut set.entries, entry));
    }

    /// [`Hot::fill`] for a description.
    pub fn fill_described(&self, seen: u64, d: HotDescribed) {
        self.keep(seen, |set| push_bounded(&mut set.described, d));
    }

    /// Runs `f` on this thread's set, when it is current.
    fn look<R>(&self, f: impl FnOnce(&HotSet) -> Option<R>) -> Option<R> {
        SETS.try_with(|sets| {
            let sets = sets.try_borrow().ok()?;
            let (_, set) = sets.iter().find(|(id, _)| *id == self.id)?;
            // taken only by this thread and, briefly, by a change emptying it; a nested use
            // (from inside `f`) finds it taken and goes the shared way
            let mut set = set.try_lock().ok()?;
            let now = self.changed.load(Ordering::Acquire);
            if set.seen != now {
                set.clear();
                set.seen = now;
                return None;
            }
            f(&set)
        })
        .ok()
        .flatten()
    }

    /// Adds to this thread's set (made on first use) what was read at `seen`.
    fn keep(&self, seen: u64, f: impl FnOnce(&mut HotSet)) {
        let _ = SETS.try_with(|sets| {
            let Ok(mut sets) = sets.try_borrow_mut() else {
                return;
            };
            let set = match sets.iter().find(|(id, _)| *id == self.id) {
                Some((_, s)) => s.clone(),
                None => {
                    // a new handle for this thread: forget the sets of closed handles
                    sets.retain(|(_, s)| s.try_lock().map(|s| !s.closed).unwrap_or(true));
                    let s = Arc::new(Mutex::new(HotSet {
                        seen,
                        entries: Vec::new(),
                        described: Vec::new(),
                        closed: false,
                    }));
                    match self.sets.lock() {
                        Ok(mut all) => all.push(Arc::downgrade(&s)),
                        Err(_) => return,
                    }
                    sets.push((self.id, s.clone()));
                    s
                }
            };
            let Ok(mut set) = set.try_lock() else {
                return;
            };
            if set.seen != seen {
                set.clear();
                set.seen = seen;
            }
            if seen != self.changed.load(Ordering::Acquire) {
                return; // changed since it was read
            }
            f(&mut set);
        });
    }
}

impl HotSet {
    fn clear(&mut self) {
        self.entries.clear();
        self.described.clear();
    }
}

fn push_bounded<T>(v: &mut Vec<T>, x: T) {
    if v.len() >= PER_THREAD {
        v.remove(0);
    }
    v.push(x);
}

impl Drop for Hot {
    /// The handle is closing: every thread's set lets go of its entries (key material
    /// among them) now, not when the thread next opens a handle or ends.
    fn drop(&mut self) {
        if let Ok(sets) = self.sets.get_mut() {
            for s in sets.drain(..).filter_map(|w| w.upgrade()) {
                if let Ok(mut s) = s.try_lock() {
                    s.clear();
                    s.closed = true;
                }
            }
        }
    }
}
