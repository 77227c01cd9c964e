//! Secure memory for key buffers: a process-wide arena of `mmap`ed pages excluded from core
//! dumps (`MADV_DONTDUMP`), locked in RAM (`mlock`) where `RLIMIT_MEMLOCK` allows, carved
//! into size-class slots that are zeroized when freed and reused. [`SecureBuf`] is the one
//! safe type the rest of the crate sees (the core's `Secret` stores its bytes in one).
//!
//! Layout. Sizes up to [`MAX_POOLED`] are rounded up to a power-of-two class (16 B .. 1 MiB).
//! Each class owns chunks (one `mmap` each) split into equal slots; a freed slot is zeroized
//! and pushed on its class's free list, and the chunk is kept for reuse (never unmapped: the
//! arena is a high-water mark, like any allocator's pool). Larger buffers get their own
//! mapping, zeroized and unmapped when freed.
//!
//! Locking. Key-sized classes (up to [`MAX_LOCKED_CLASS`], which covers AES and HMAC keys,
//! EC/Ed25519 PKCS#8 and RSA-4096 PKCS#8 DER) are `mlock`ed while the arena's locked total
//! stays within half of `RLIMIT_MEMLOCK` (the other half is left to the application). A chunk
//! that cannot be locked is still used and is recorded as not locked ([`report`]). Larger
//! classes (plaintexts, secrets) are excluded from dumps but not locked, so that they never
//! use up the budget the keys need. Locks are not inherited by a `fork`ed child; the
//! `MADV_DONTDUMP` flag is.
//!
//! SAFETY story. Every pointer handed out is a slot inside a live mapping that is never
//! unmapped while a `SecureBuf` refers to it: pooled chunks are never unmapped, a large mapping
//! is unmapped only by the `Drop` of the one `SecureBuf` that owns it. A slot is owned by
//! exactly one `SecureBuf` (popped from the free list under the arena lock, pushed back only in
//! its `Drop`), so `&[u8]`/`&mut [u8]` views follow Rust's borrow rules through `SecureBuf`.
//! Mappings are anonymous, private, read-write and zero-filled, so every byte is initialised.

use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

/// Smallest slot.
const MIN_CLASS: usize = 16;
/// Largest pooled slot; larger buffers get their own mapping. (1 MiB: a PKCS#11 caller's
/// 64 KiB message plus its tag must not cost an `mmap`, `madvise` and `munmap` per call.)
pub(crate) const MAX_POOLED: usize = 1024 * 1024;
/// Largest class whose chunks are locked in memory (key-sized buffers).
pub(crate) const MAX_LOCKED_CLASS: usize = 4096;
/// Number of classes: 16, 32, ..., 1 MiB.
const NCLASSES: usize = 17;
/// Bytes per chunk: at least one page and at least 4 slots (and a whole number of pages).
const CHUNK_MIN: usize = 16 * 1024;

fn class_of(len: usize) -> usize {
    let size = len.max(MIN_CLASS).next_power_of_two();
    size.trailing_zeros() as usize - MIN_CLASS.trailing_zeros() as usize
}

fn class_size(class: usize) -> usize {
    MIN_CLASS << class
}

fn chunk_size(class: usize) -> usize {
    let size = class_size(class);
    if size > 64 * 1024 {
        // Large classes: one slot per chunk, mapped only when that size is used.
        return size.max(page_size());
    }
    (size * 4).max(CHUNK_MIN).max(page_size())
}

/// Overwrites `buf` with zeros in a way the compiler may not remove (`explicit_bzero`: a
/// plain `memset` the optimiser must keep), at memory speed. (Element-by-element volatile
/// writes, the portable way, take several times as long for a message-sized buffer.)
pub fn wipe(buf: &mut [u8]) {
    if buf.is_empty() {
        return;
    }
    #[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    unsafe {
        libc::explicit_bzero(buf.as_mut_ptr().cast(), buf.len())
    };
    #[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
    zeroize::Zeroize::zeroize(buf);
}

fn page_size() -> usize {
    // SAFETY: sysconf with a valid name has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as usize
    } else {
        4096
    }
}

/// One mapping owned by the arena (pooled chunk or large buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Start address.
    pub start: usize,
    /// Length in bytes (whole pages).
    pub len: usize,
    /// `MADV_DONTDUMP` succeeded.
    pub dontdump: bool,
    /// `mlock` succeeded.
    pub locked: bool,
}

/// What the arena holds, for tests and diagnostics (addresses, no contents).
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every live mapping.
    pub regions: Vec<Region>,
    /// Bytes locked by the arena.
    pub locked_bytes: usize,
    /// The arena's locking budget (half of `RLIMIT_MEMLOCK`; `usize::MAX` when unlimited).
    pub lock_budget: usize,
    /// Slots in use (pooled) plus large buffers.
    pub live_buffers: usize,
}

struct Arena {
    /// Free slot addresses per class.
    free: [Vec<usize>; NCLASSES],
    /// Pooled chunks and live large mappings.
    regions: Vec<Region>,
    locked_bytes: usize,
    lock_budget: Option<usize>,
    live: usize,
}

static ARENA: Mutex<Arena> = Mutex::new(Arena {
    free: [const { Vec::new() }; NCLASSES],
    regions: Vec::new(),
    locked_bytes: 0,
    lock_budget: None,
    live: 0,
});

fn arena() -> MutexGuard<'static, Arena> {
    // Nothing in the arena panics while holding the lock except allocation failure of its
    // own small vectors, after which the state is still consistent: recover from poisoning.
    ARENA.lock().unwrap_or_else(|e| e.into_inner())
}

/// Holds the arena's lock across a `fork()` of the host (the C boundary's fork handlers take
/// it last, once no store call is in progress), so that a child never inherits it held by a
/// thread it does not have.
pub fn hold_for_fork() -> Box<dyn std::any::Any> {
    Box::new(arena())
}

fn memlock_budget() -> usize {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit to the valid pointer it is given.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut r) };
    if rc != 0 {
        return 0;
    }
    if r.rlim_cur == libc::RLIM_INFINITY {
        usize::MAX
    } else {
        usize::try_from(r.rlim_cur / 2).unwrap_or(usize::MAX)
    }
}

impl Arena {
    fn budget(&mut self) -> usize {
        *self.lock_budget.get_or_insert_with(memlock_budget)
    }

    /// Maps `len` bytes (a multiple of the page size), excluded from dumps and locked when
    /// `lock` is asked and the budget allows. `None` when the kernel refuses the mapping.
    fn map(&mut self, len: usize, lock: bool) -> Option<Region> {
        // SAFETY: an anonymous private mapping at an address the kernel chooses; no existing
        // memory is affected. The result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED || p.is_null() {
            return None;
        }
        let dontdump = exclude_from_dumps(p, len);
        let mut locked = false;
        if lock && self.locked_bytes.saturating_add(len) <= self.budget() {
            // SAFETY: [p, p+len) is the mapping just created.
            locked = unsafe { libc::mlock(p, len) } == 0;
            if locked {
                self.locked_bytes += len;
            }
        }
        Some(Region {
            start: p as usize,
            len,
            dontdump,
            locked,
        })
    }

    fn alloc(&mut self, len: usize) -> Option<(NonNull<u8>, usize)> {
        if len > MAX_POOLED {
            let size = len.checked_next_multiple_of(page_size())?;
            let r = self.map(size, false)?;
            self.regions.push(r);
            self.live += 1;
            return NonNull::new(r.start as *mut u8).map(|p| (p, size));
        }
        let class = class_of(len);
        if self.free[class].is_empty() {
            let csize = chunk_size(class);
            let r = self.map(csize, class_size(class) <= MAX_LOCKED_CLASS)?;
            self.regions.push(r);
            let slot = class_size(class);
            // Hand out low addresses first (pop takes from the end).
            self.free[class].extend((0..csize / slot).rev().map(|i| r.start + i * slot));
        }
        let addr = self.free[class].pop()?;
        self.live += 1;
        NonNull::new(addr as *mut u8).map(|p| (p, class_size(class)))
    }

    /// Returns a zeroized slot or large mapping.
    fn release(&mut self, addr: usize, cap: usize) {
        self.live = self.live.saturating_sub(1);
        if cap > MAX_POOLED {
            if let Some(i) = self.regions.iter().position(|r| r.start == addr) {
                let r = self.regions.swap_remove(i);
                if r.locked {
                    self.locked_bytes -= r.len;
                }
                // SAFETY: the mapping was created by `map` for the one SecureBuf now being
                // dropped; nothing else refers to it. munmap also drops any lock.
                unsafe { libc::munmap(r.start as *mut libc::c_void, r.len) };
            }
            return;
        }
        self.free[class_of(cap)].push(addr);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn exclude_from_dumps(p: *mut libc::c_void, len: usize) -> bool {
    // SAFETY: [p, p+len) is a mapping this module just created.
    unsafe { libc::madvise(p, len, libc::MADV_DONTDUMP) == 0 }
}

#[cfg(target_os = "freebsd")]
fn exclude_from_dumps(p: *mut libc::c_void, len: usize) -> bool {
    // SAFETY: [p, p+len) is a mapping this module just created.
    unsafe { libc::madvise(p, len, libc::MADV_NOCORE) == 0 }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn exclude_from_dumps(_p: *mut libc::c_void, _len: usize) -> bool {
    false
}

/// A byte buffer in the secure arena: zeroized and returned to the arena when dropped,
/// grown by copying (the old slot is zeroized), never reallocated in place by the system
/// allocator. An empty buffer owns no slot.
pub struct SecureBuf {
    ptr: NonNull<u8>,
    len: usize,
    /// Slot (or mapping) size; 0 for an empty buffer without a slot.
    cap: usize,
}

// SAFETY: a SecureBuf owns its slot exclusively (see the module's SAFETY story); the arena is
// behind a Mutex. Sharing `&SecureBuf` only gives `&[u8]`.
unsafe impl Send for SecureBuf {}
// SAFETY: as above; no interior mutability.
unsafe impl Sync for SecureBuf {}

impl SecureBuf {
    /// An empty buffer (no allocation).
    pub const fn new() -> SecureBuf {
        SecureBuf {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
        }
    }

    /// A buffer able to hold `cap` bytes without growing.
    pub fn with_capacity(cap: usize) -> SecureBuf {
        let mut b = SecureBuf::new();
        b.reserve(cap);
        b
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> SecureBuf {
        let mut b = SecureBuf::with_capacity(len);
        // Slots are zero when handed out (fresh mappings are zero-filled, freed slots are
        // zeroized), so only the length changes.
        b.len = len;
        b
    }

    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> SecureBuf {
        let mut b = SecureBuf::with_capacity(bytes.len());
        b.extend_from_slice(bytes);
        b
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Makes room for `additional` more bytes (moving to a larger slot by copying).
    pub fn reserve(&mut self, additional: usize) {
        let need = self.len.saturating_add(additional);
        if need <= self.cap {
            return;
        }
        let want = if self.cap == 0 {
            need
        } else {
            need.max(self.cap.saturating_mul(2))
        };
        let (ptr, cap) = match arena().alloc(want) {
            Some(a) => a,
            None => std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(want, 1)
                    .unwrap_or(std::alloc::Layout::new::<u8>()),
            ),
        };
        if self.len > 0 {
            // SAFETY: both regions are valid for len bytes (old slot holds len initialised
            // bytes, the new one has cap >= need > len) and are distinct slots.
            unsafe { std::ptr::copy_nonoverlapping(self.ptr.as_ptr(), ptr.as_ptr(), self.len) };
        }
        let len = self.len;
        self.free_slot();
        self.ptr = ptr;
        self.cap = cap;
        self.len = len;
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        // SAFETY: reserve made cap >= len + bytes.len(); the destination is inside our slot
        // and cannot overlap `bytes` (which a caller cannot borrow from our slot while we hold
        // `&mut self`).
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.ptr.as_ptr().add(self.len),
                bytes.len(),
            )
        };
        self.len += bytes.len();
    }

    pub fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    /// Shortens the buffer, zeroizing the bytes cut off.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            wipe(&mut self.as_mut_slice()[len..]);
            self.len = len;
        }
    }

    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Resizes to `len`, new bytes set to `value`.
    pub fn resize(&mut self, len: usize, value: u8) {
        if len <= self.len {
            self.truncate(len);
            return;
        }
        self.reserve(len - self.len);
        let old = self.len;
        self.len = len;
        self.as_mut_slice()[old..].fill(value);
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised bytes (dangling only when len is 0, which
        // from_raw_parts allows for a non-null aligned pointer).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as for as_slice, and `&mut self` makes the view exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Zeroizes the slot and gives it back; leaves the buffer without a slot. Only the first
    /// `len` bytes can hold data: a slot is zero when handed out, bytes are only ever written
    /// below `len` (`extend_from_slice`, `resize` and the mutable view all end there) and
    /// `truncate` wipes what it cuts off.
    fn free_slot(&mut self) {
        if self.cap == 0 {
            return;
        }
        wipe(self.as_mut_slice());
        arena().release(self.ptr.as_ptr() as usize, self.cap);
        self.ptr = NonNull::dangling();
        self.cap = 0;
        self.len = 0;
    }
}

impl Default for SecureBuf {
    fn default() -> Self {
        SecureBuf::new()
    }
}

impl Drop for SecureBuf {
    fn drop(&mut self) {
        self.free_slot();
    }
}

impl Clone for SecureBuf {
    fn clone(&self) -> Self {
        SecureBuf::from_slice(self)
    }
}

impl PartialEq for SecureBuf {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SecureBuf {}

impl std::ops::Deref for SecureBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl std::ops::DerefMut for SecureBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
}

impl AsRef<[u8]> for SecureBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl AsMut<[u8]> for SecureBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self
    }
}

impl std::fmt::Debug for SecureBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecureBuf(<{} bytes redacted>)", self.len)
    }
}

/// Makes the whole process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`): no core file is
/// written on a crash and other processes of the same user cannot ptrace it or read its
/// memory through /proc. Returns whether it took effect. Process-wide and not undone.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn disable_core_dumps() -> bool {
    // SAFETY: PR_SET_DUMPABLE with an integer argument touches no memory of ours.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong, 0, 0, 0) == 0 }
}

/// Not available on this platform (see the Linux version).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub fn disable_core_dumps() -> bool {
    false
}

/// Whether the process is dumpable (Linux `prctl(PR_GET_DUMPABLE)`; `true` elsewhere).
pub fn dumpable() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: PR_GET_DUMPABLE reads a flag and touches no memory of ours.
        unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        true
    }
}

/// The arena's mappings and locking state (addresses only), for tests and diagnostics.
pub fn report() -> Report {
    let mut a = arena();
    let lock_budget = a.budget();
    Report {
        regions: a.regions.clone(),
        locked_bytes: a.locked_bytes,
        lock_budget,
        live_buffers: a.live,
    }
}

/// Whether `addr` lies inside one of the arena's mappings (for tests).
pub fn contains(addr: usize) -> bool {
    arena()
        .regions
        .iter()
        .any(|r| addr >= r.start && addr < r.start + r.len)
}

/// Reads `len` bytes at `addr` if (and only if) they lie inside a *free* slot of the arena's
/// pooled chunks, to prove that freed slots are zeroized. Returns `None` for any address that
/// is not a currently free slot start (so it cannot read live key bytes or foreign memory).
#[doc(hidden)]
pub fn peek_free_slot(addr: usize) -> Option<Vec<u8>> {
    let a = arena();
    for (class, list) in a.free.iter().enumerate() {
        if list.contains(&addr) {
            let size = class_size(class);
            // SAFETY: addr is the start of a free slot of `size` bytes inside a pooled chunk
            // (never unmapped); holding the arena lock keeps it from being handed out while
            // it is read.
            let s = unsafe { std::slice::from_raw_parts(addr as *const u8, size) };
            return Some(s.to_vec());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_size(class_of(2374)), 4096);
        assert_eq!(class_size(NCLASSES - 1), MAX_POOLED);
        assert_eq!(class_of(MAX_POOLED), NCLASSES - 1);
        for c in 0..NCLASSES {
            assert_eq!(chunk_size(c) % page_size(), 0);
            assert_eq!(chunk_size(c) % class_size(c), 0);
        }
    }

    #[test]
    fn grow_truncate_and_reuse() {
        let mut b = SecureBuf::from_slice(b"0123456789abcdef");
        assert_eq!(b.capacity(), 16);
        b.extend_from_slice(b"more");
        assert_eq!(&b[..], b"0123456789abcdefmore");
        assert!(contains(b.as_ptr() as usize));
        b.truncate(4);
        assert_eq!(&b[..], b"0123");
        b.resize(6, 9);
        assert_eq!(&b[..], b"0123\x09\x09");
        let big = SecureBuf::zeroed(MAX_POOLED + 1);
        assert!(big.iter().all(|&x| x == 0));
        assert!(contains(big.as_ptr() as usize));
        let addr = big.as_ptr() as usize;
        drop(big);
        assert!(!contains(addr));
        let e = SecureBuf::new();
        assert!(e.is_empty() && e.capacity() == 0);
        assert_eq!(&SecureBuf::from_slice(b"x").clone()[..], b"x");
    }
}
