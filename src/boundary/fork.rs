//! Making `fork()` safe while other threads of the host use libkms.
//!
//! A forked child has only the thread that called `fork()`. Any lock another thread held at
//! that instant stays held in the child forever: a Rust mutex of ours (the handle tables, the
//! PKCS#11 state, the secure-memory arena), or the lock state SQLite keeps in process memory
//! for an open transaction (the child's new connections would then wait on it until the busy
//! timeout). The module's own background thread (the audit
//! journal's chaining) writes to the store every few milliseconds, so without this a child
//! that re-initialises fails at random.
//!
//! A child may also go on using a handle it inherited (a C API context): then the
//! handle's own locks (the audit journal's files and chaining, the caches) must be free in
//! the child too.
//!
//! So one set of `pthread_atfork` handlers, registered on first use: before the fork it takes
//! the front ends' global locks (registered with [`hold_across_fork`]), then for every open
//! store ([`track`], [`ForkPause`]): waits for a chaining pass in progress and holds new ones
//! back, pauses the store (waits for calls into it to finish, holds new ones back) and takes
//! the handle's short-held locks (journal files, caches, per-thread copies); last it takes
//! the secure-memory arena's lock. After the fork, in the parent and in the child, it
//! releases all of it in the reverse order.
//! The child then initialises again and opens the store with fresh connections, or goes on
//! with the handles it inherited.

use std::any::Any;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, RwLock};

use crate::core::{ForkPause, Kms};

/// Takes a lock and returns its guard, held across the fork.
pub type Hold = fn() -> Box<dyn Any>;

/// Anything held across the fork and released by dropping it: a lock guard, or a paused
/// store that resumes when dropped.
pub trait Held {}
impl<T> Held for T {}

/// Locks of one shared structure held across the fork: the guards borrow from the
/// structure, which this keeps alive until they are released (last taken, first released).
pub struct HeldWithin {
    /// Declared before `_owner`, so dropped before it.
    guards: Vec<Box<dyn Held>>,
    _owner: Arc<dyn Send + Sync>,
}

impl HeldWithin {
    /// Runs `take` on `owner`, keeping what it returns (guards borrowing from `owner`)
    /// together with `owner`.
    pub fn new<O: Send + Sync + 'static>(
        owner: Arc<O>,
        take: impl for<'a> FnOnce(&'a O) -> Vec<Box<dyn Held + 'a>>,
    ) -> HeldWithin {
        let guards = take(&owner);
        // SAFETY: only the lifetime bound of the trait objects changes (same layout). The
        // guards borrow from `*owner`, which the `Arc` kept here keeps alive at the same
        // address for as long as the guards exist: they are dropped first (field order and
        // `Drop` below) and never handed out. `take` is generic over the borrow's lifetime,
        // so it cannot have kept a reference anywhere else.
        let guards: Vec<Box<dyn Held + 'static>> = unsafe { std::mem::transmute(guards) };
        HeldWithin {
            guards,
            _owner: owner,
        }
    }
}

impl HeldWithin {
    /// Releases the guards, last taken first; returns the structure, to be let go of once
    /// every other lock is released (it may be its last reference, and closing it takes
    /// locks of its own).
    fn release(mut self) -> Arc<dyn Send + Sync> {
        while let Some(g) = self.guards.pop() {
            drop(g);
        }
        self._owner.clone()
    }
}

impl Drop for HeldWithin {
    fn drop(&mut self) {
        while let Some(g) = self.guards.pop() {
            drop(g);
        }
    }
}

static HOLDS: Mutex<Vec<Hold>> = Mutex::new(Vec::new());
/// Held (shared) by every store being opened: its store calls are not paused by the fork
/// handlers until it is tracked, so a fork waits for opens in progress.
static OPENING: RwLock<()> = RwLock::new(());
static STORES: Mutex<Vec<ForkPause>> = Mutex::new(Vec::new());
static REGISTER: Once = Once::new();

thread_local! {
    /// What the forking thread holds between the prepare and the after handlers (the child
    /// is a copy of this thread, so it finds the same list).
    static HELD: RefCell<Vec<Box<dyn Any>>> = const { RefCell::new(Vec::new()) };
    static PAUSED: RefCell<Vec<HeldWithin>> = const { RefCell::new(Vec::new()) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn register() {
    REGISTER.call_once(|| {
        // SAFETY: the three handlers are plain `extern "C" fn()` that never unwind (each body
        // runs under catch_unwind) and only take locks and flip atomics.
        let rc = unsafe { libc::pthread_atfork(Some(prepare), Some(after), Some(after_child)) };
        debug_assert_eq!(rc, 0, "pthread_atfork");
    });
}

/// This process's id, cached (`getpid` is a system call, and the PKCS#11 module checks it on
/// every call to tell a forked child from its parent). The fork handlers clear the cache in
/// the child, so a child never sees its parent's id; they are registered before the first id
/// is cached.
static PID: AtomicU32 = AtomicU32::new(0);

/// The id of the calling process (see [`PID`]).
pub fn pid() -> u32 {
    let p = PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    register();
    let p = std::process::id();
    PID.store(p, Ordering::Relaxed);
    p
}

/// Runs `f`, an open of a store (not nested), with forks held back.
pub fn opening<R>(f: impl FnOnce() -> R) -> R {
    register();
    let _g = OPENING.read().unwrap_or_else(|p| p.into_inner());
    f()
}

/// Keeps `kms`'s store quiet across any later `fork()` of this process (every open does).
pub fn track(kms: &Kms) {
    register();
    let mut stores = lock(&STORES);
    stores.retain(ForkPause::is_open);
    stores.push(kms.fork_pause());
}

/// Registers a global lock of a front end to hold across `fork()`. Locks are taken in
/// registration order, before the stores are paused (a thread holding one of them may be
/// in a store call, which must be let finish).
pub fn hold_across_fork(hold: Hold) {
    register();
    let mut holds = lock(&HOLDS);
    if !holds.iter().any(|h| std::ptr::fn_addr_eq(*h, hold)) {
        holds.push(hold);
    }
}

extern "C" fn prepare() {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let holds: Vec<Hold> = lock(&HOLDS).clone();
        let mut held: Vec<Box<dyn Any>> = holds.iter().map(|h| h()).collect();
        // After the front ends' locks: PKCS#11 opens its store under its lock.
        held.push(Box::new(OPENING.write().unwrap_or_else(|p| p.into_inner())));
        let stores = lock(&STORES);
        let paused: Vec<HeldWithin> = stores.iter().filter_map(ForkPause::pause).collect();
        // The store list itself stays locked too, so no store is added mid-fork.
        held.push(Box::new(stores));
        // Last, the secure-memory arena: a store call in progress may still allocate there,
        // and nothing holding the arena waits on anything else.
        held.push(crate::secmem::hold_for_fork());
        PAUSED.with(|p| *p.borrow_mut() = paused);
        HELD.with(|h| *h.borrow_mut() = held);
    }));
}

extern "C" fn after_child() {
    PID.store(0, Ordering::Relaxed);
    after();
}

extern "C" fn after() {
    let _ = catch_unwind(AssertUnwindSafe(|| {
        let mut paused = PAUSED.with(|p| std::mem::take(&mut *p.borrow_mut()));
        let mut owners = Vec::with_capacity(paused.len());
        while let Some(s) = paused.pop() {
            owners.push(s.release());
        }
        let mut held = HELD.with(|h| std::mem::take(&mut *h.borrow_mut()));
        // Release in the reverse order of taking.
        while let Some(g) = held.pop() {
            drop(g);
        }
        // Last, with no lock held: a handle whose last user let go during the fork closes
        // here.
        drop(owners);
    }));
}
