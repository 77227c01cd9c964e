//! The generational handle registry: opaque `uint64_t` handles for C, mapped to `Arc<T>`,
//! so a stale, closed, forged or wrong-kind handle is `KMS_ERR_INVALID_HANDLE`, never UB.
//!
//! Handle layout (64 bits, opaque to callers): `kind:8 | generation:32 | index:24`.
//! - `kind` (1..=255) is fixed per registry, so a key handle passed as a context is rejected;
//! - `generation` (starting at 1) changes each time a slot is reused, so an old handle to a
//!   reused slot is rejected; a slot whose generation would wrap is retired, never reused;
//! - `index` is the slot (at most 2^24 live objects per registry).
//!
//! Handles are never 0 (`KMS_NO_HANDLE`), so C callers may use 0 as "none".

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::guard::{BResult, BoundaryError};
use super::status::KMS_ERR_LIMIT_EXCEEDED;

/// The value no handle ever has; a handle variable may be initialized to it.
pub const KMS_NO_HANDLE: u64 = 0;

const INDEX_BITS: u32 = 24;
const GEN_BITS: u32 = 32;
const INDEX_MASK: u64 = (1 << INDEX_BITS) - 1;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const MAX_SLOTS: usize = 1 << INDEX_BITS;

struct Slot<T> {
    generation: u32,
    value: Option<Arc<T>>,
}

struct Slots<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    live: usize,
}

/// A thread-safe table of objects of one kind, addressed by generational handles. Meant to
/// be a `static` in the capi file of its noun:
/// `static KEYS: Registry<Key> = Registry::new(2, "key");`
pub struct Registry<T> {
    kind: u8,
    name: &'static str,
    inner: RwLock<Slots<T>>,
}

impl<T> Registry<T> {
    /// A registry whose handles carry `kind` (1..=255, unique per registry in the crate) and
    /// whose errors name the object `name`.
    pub const fn new(kind: u8, name: &'static str) -> Registry<T> {
        assert!(kind != 0, "handle kind 0 is reserved");
        Registry {
            kind,
            name,
            inner: RwLock::new(Slots {
                slots: Vec::new(),
                free: Vec::new(),
                live: 0,
            }),
        }
    }

    // A panic cannot leave the table half-updated (each update is one assignment), so a
    // poisoned lock is still consistent: take it over instead of failing forever.
    fn read(&self) -> RwLockReadGuard<'_, Slots<T>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Slots<T>> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the table's write lock for the length of a `fork()` (see `boundary::fork`), so
    /// that no thread of the parent holds it half-way when the child is made.
    pub fn hold_for_fork(&'static self) -> Box<dyn std::any::Any>
    where
        T: 'static,
    {
        Box::new(self.write())
    }

    fn pack(&self, index: usize, generation: u32) -> u64 {
        (u64::from(self.kind) << (GEN_BITS + INDEX_BITS))
            | (u64::from(generation) << INDEX_BITS)
            | (index as u64 & INDEX_MASK)
    }

    /// Splits a handle into (index, generation) if its kind is this registry's.
    fn unpack(&self, handle: u64) -> BResult<(usize, u32)> {
        let kind = (handle >> (GEN_BITS + INDEX_BITS)) as u8;
        if handle == KMS_NO_HANDLE || kind != self.kind {
            return Err(BoundaryError::invalid_handle(format!(
                "not a {} handle",
                self.name
            )));
        }
        let generation = ((handle >> INDEX_BITS) & GEN_MASK) as u32;
        Ok(((handle & INDEX_MASK) as usize, generation))
    }

    fn stale(&self) -> BoundaryError {
        BoundaryError::invalid_handle(format!("{} handle is closed or stale", self.name))
    }

    /// Registers an object and returns its new handle (never 0). Fails with
    /// `KMS_ERR_LIMIT_EXCEEDED` when 2^24 objects of this kind are live.
    pub fn insert(&self, value: T) -> BResult<u64> {
        self.insert_arc(Arc::new(value))
    }

    /// As `insert`, for an object already shared.
    pub fn insert_arc(&self, value: Arc<T>) -> BResult<u64> {
        let mut t = self.write();
        let index = match t.free.pop() {
            Some(i) => i as usize,
            None => {
                if t.slots.len() >= MAX_SLOTS {
                    return Err(BoundaryError::new(
                        KMS_ERR_LIMIT_EXCEEDED,
                        format!("too many open {} handles", self.name),
                    ));
                }
                t.slots.push(Slot {
                    generation: 1,
                    value: None,
                });
                t.slots.len() - 1
            }
        };
        let slot = &mut t.slots[index];
        slot.value = Some(value);
        let generation = slot.generation;
        t.live += 1;
        Ok(self.pack(index, generation))
    }

    /// The object behind a handle (a clone of its `Arc`: it stays alive for the caller even if
    /// another thread closes the handle meanwhile).
    pub fn get(&self, handle: u64) -> BResult<Arc<T>> {
        let (index, generation) = self.unpack(handle)?;
        let t = self.read();
        match t.slots.get(index) {
            Some(Slot {
                generation: g,
                value: Some(v),
            }) if *g == generation => Ok(Arc::clone(v)),
            _ => Err(self.stale()),
        }
    }

    /// Closes a handle and returns its object. A second close (or any later use) of the same
    /// handle is `KMS_ERR_INVALID_HANDLE`.
    pub fn remove(&self, handle: u64) -> BResult<Arc<T>> {
        let (index, generation) = self.unpack(handle)?;
        let mut t = self.write();
        let slot = match t.slots.get_mut(index) {
            Some(s) if s.generation == generation && s.value.is_some() => s,
            _ => return Err(self.stale()),
        };
        let value = slot.value.take().ok_or_else(|| self.stale())?;
        let retire = slot.generation == u32::MAX;
        slot.generation = slot.generation.wrapping_add(1);
        t.live -= 1;
        if !retire {
            t.free.push(index as u32);
        }
        Ok(value)
    }

    /// How many handles are open.
    pub fn len(&self) -> usize {
        self.read().live
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boundary::status::KMS_ERR_INVALID_HANDLE;

    fn status<T: std::fmt::Debug>(r: BResult<T>) -> i32 {
        r.err().map(|e| e.status()).unwrap_or(0)
    }

    #[test]
    fn insert_get_remove() -> BResult<()> {
        let reg = Registry::new(1, "thing");
        let a = reg.insert("a")?;
        let b = reg.insert("b")?;
        assert_ne!(a, KMS_NO_HANDLE);
        assert_ne!(a, b);
        assert_eq!(*reg.get(a)?, "a");
        assert_eq!(*reg.get(b)?, "b");
        assert_eq!(reg.len(), 2);
        assert_eq!(*reg.remove(a)?, "a");
        assert_eq!(reg.len(), 1);
        assert_eq!(status(reg.get(KMS_NO_HANDLE)), KMS_ERR_INVALID_HANDLE);
        assert_eq!(status(reg.get(u64::MAX)), KMS_ERR_INVALID_HANDLE);
        Ok(())
    }

    #[test]
    fn stale_and_double_close() -> BResult<()> {
        let reg = Registry::new(1, "thing");
        let a = reg.insert(1)?;
        reg.remove(a)?;
        assert_eq!(status(reg.get(a)), KMS_ERR_INVALID_HANDLE);
        assert_eq!(
            status(reg.remove(a)),
            KMS_ERR_INVALID_HANDLE,
            "double close"
        );
        // The slot is reused with a new generation: the old handle stays dead.
        let b = reg.insert(2)?;
        assert_ne!(a, b);
        assert_eq!(a & INDEX_MASK, b & INDEX_MASK, "same slot reused");
        assert_eq!(status(reg.get(a)), KMS_ERR_INVALID_HANDLE);
        assert_eq!(status(reg.remove(a)), KMS_ERR_INVALID_HANDLE);
        assert_eq!(*reg.get(b)?, 2);
        // A handle to a slot that never existed.
        assert_eq!(status(reg.get(b + 1000)), KMS_ERR_INVALID_HANDLE);
        Ok(())
    }

    #[test]
    fn foreign_kind_is_rejected() -> BResult<()> {
        let keys: Registry<&str> = Registry::new(2, "key");
        let ctxs: Registry<&str> = Registry::new(3, "context");
        let k = keys.insert("key")?;
        let c = ctxs.insert("ctx")?;
        // Same index and generation, different kind.
        assert_eq!(k & !(0xff << 56), c & !(0xff << 56));
        assert_eq!(status(ctxs.get(k)), KMS_ERR_INVALID_HANDLE);
        assert_eq!(status(keys.remove(c)), KMS_ERR_INVALID_HANDLE);
        assert_eq!(*keys.get(k)?, "key");
        Ok(())
    }

    #[test]
    fn retired_slot_is_not_reused() -> BResult<()> {
        let reg = Registry::new(1, "thing");
        let a = reg.insert(1)?;
        reg.write().slots[0].generation = u32::MAX;
        let a_max = reg.pack(0, u32::MAX);
        assert_ne!(a, a_max);
        reg.write().slots[0].value = Some(Arc::new(1));
        reg.remove(a_max)?;
        let b = reg.insert(2)?;
        assert_eq!(b & INDEX_MASK, 1, "retired slot 0 skipped");
        assert_eq!(status(reg.get(reg.pack(0, 0))), KMS_ERR_INVALID_HANDLE);
        Ok(())
    }

    #[test]
    fn concurrent_use() {
        static REG: Registry<u64> = Registry::new(9, "thing");
        let threads: Vec<_> = (0..8u64)
            .map(|t| {
                std::thread::spawn(move || -> BResult<()> {
                    for i in 0..2000u64 {
                        let v = t * 1_000_000 + i;
                        let h = REG.insert(v)?;
                        assert_eq!(*REG.get(h)?, v);
                        assert_eq!(*REG.remove(h)?, v);
                        assert!(REG.get(h).is_err());
                        assert!(REG.remove(h).is_err());
                    }
                    Ok(())
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().ok(), Some(Ok(())));
        }
        assert!(REG.is_empty());
        // Slots were recycled rather than grown without bound.
        assert!(REG.read().slots.len() <= 8);
    }
}
