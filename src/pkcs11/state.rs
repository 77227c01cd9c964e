//! The one global the specification forces: whether `C_Initialize` ran (in this process:
//! a forked child sees the parent's state as uninitialised and must initialise again), the
//! open store, sessions, per-slot login state and the object handle table.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use cryptoki_sys::*;

use super::ffi::{self, Rv};
use super::session::{Session, SessionEntry};
use crate::core::audit::Durability;
use crate::core::perthread::{push_bounded, thread_slots, Copies, PerThread};
use crate::core::{Caller, Config, Kms};

/// Who is logged in on a slot (shared by every session of the slot, as PKCS#11 says).
#[derive(Clone, Debug)]
pub struct Login {
    pub user_type: CK_USER_TYPE,
    /// Shared: every call clones the login into its context.
    pub caller: Arc<Caller>,
}

/// What an object handle names: one version of a key seen as a secret, private or public
/// key object, or a stored object (certificate, data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ObjRef {
    Secret { key: u64, version: u32 },
    Private { key: u64, version: u32 },
    Public { key: u64, version: u32 },
    Stored { id: u64 },
}

impl ObjRef {
    pub fn key(self) -> Option<(u64, u32)> {
        match self {
            ObjRef::Secret { key, version }
            | ObjRef::Private { key, version }
            | ObjRef::Public { key, version } => Some((key, version)),
            ObjRef::Stored { .. } => None,
        }
    }
}

/// Object handles: stable for the life of the initialised module (every session sees the
/// same handle for the same object).
#[derive(Default)]
pub struct Handles {
    by_ref: HashMap<ObjRef, CK_OBJECT_HANDLE>,
    by_handle: HashMap<CK_OBJECT_HANDLE, ObjRef>,
    next: CK_OBJECT_HANDLE,
}

impl Handles {
    pub fn handle(&mut self, r: ObjRef) -> CK_OBJECT_HANDLE {
        if let Some(h) = self.by_ref.get(&r) {
            return *h;
        }
        self.next += 1;
        let h = self.next;
        self.by_ref.insert(r, h);
        self.by_handle.insert(h, r);
        h
    }

    pub fn resolve(&self, h: CK_OBJECT_HANDLE) -> Rv<ObjRef> {
        self.by_handle
            .get(&h)
            .copied()
            .ok_or(CKR_OBJECT_HANDLE_INVALID)
    }
}

pub struct Module {
    pub pid: u32,
    pub kms: Kms,
    pub sessions: HashMap<CK_SESSION_HANDLE, Arc<SessionEntry>>,
    pub next_session: CK_SESSION_HANDLE,
    pub logins: HashMap<CK_SLOT_ID, Login>,
    pub handles: Handles,
    /// Session keys (CKA_TOKEN false): key id -> the session that owns it.
    pub session_keys: HashMap<u64, CK_SESSION_HANDLE>,
}

static STATE: Mutex<Option<Module>> = Mutex::new(None);

fn lock() -> MutexGuard<'static, Option<Module>> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Holds the module state across a `fork()` of the host (see `boundary::fork`).
fn hold_for_fork() -> Box<dyn std::any::Any> {
    Box::new(lock())
}

/// Runs `f` on the initialised module of this process (`CKR_CRYPTOKI_NOT_INITIALIZED`
/// otherwise, including in a forked child that has not initialised again), as a change:
/// the threads' copies ([`ctx`], [`resolve`], [`session_keys`]) are emptied after it. Keep
/// `f` short: cryptographic work runs outside this lock.
pub fn with<R>(f: impl FnOnce(&mut Module) -> Rv<R>) -> Rv<R> {
    let mut g = lock();
    match g.as_mut() {
        Some(m) if m.pid == crate::boundary::fork::pid() => {
            let r = f(m);
            changed();
            r
        }
        _ => Err(CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}

/// [`with`] for `f` that only reads.
pub fn with_read<R>(f: impl FnOnce(&Module) -> Rv<R>) -> Rv<R> {
    let g = lock();
    match g.as_ref() {
        Some(m) if m.pid == crate::boundary::fork::pid() => f(m),
        _ => Err(CKR_CRYPTOKI_NOT_INITIALIZED),
    }
}

// ------------------------------------------------------------------ per-thread copies
//
// Every session call needs the session's context, and an operation's `C_*Init` resolves
// an object handle and reads the session keys. Read under the one module lock, that is a
// lock every calling thread takes several times per operation, and reference counts every
// thread writes; with two threads on two cores those lines travel between the cores on
// every call. So each thread keeps copies of what it read, checked against one counter
// that moves (under the lock) with every change to the module ([`with`]).

/// Copies per thread of each kind; more sessions or handles in turn are read under the lock.
const COPIES: usize = 16;

/// What a thread keeps of the module.
#[derive(Default)]
struct Kept {
    ctxs: Vec<Arc<Ctx>>,
    handles: Vec<(CK_OBJECT_HANDLE, ObjRef)>,
    session_keys: Option<Vec<u64>>,
}

impl Copies for Kept {
    fn clear(&mut self) {
        self.ctxs.clear();
        self.handles.clear();
        self.session_keys = None;
    }
    thread_slots!(Kept);
}

static KEPT: LazyLock<PerThread<Kept>> = LazyLock::new(PerThread::new);

/// Moves the threads' copies on: called under the module lock by every change.
fn changed() {
    KEPT.changed();
}

/// Looks in this thread's current copies.
fn copied<T>(f: impl FnOnce(&Kept) -> Option<T>) -> Option<T> {
    KEPT.look(f)
}

/// Adds to this thread's copies what was read under the module lock (held by the caller).
fn keep(f: impl FnOnce(&mut Kept)) {
    KEPT.keep(KEPT.generation(), f);
}

/// What object handle `h` names (`CKR_OBJECT_HANDLE_INVALID` if unknown). Handles are
/// never reused while the module is initialised.
pub fn resolve(h: CK_OBJECT_HANDLE) -> Rv<ObjRef> {
    if let Some(r) = copied(|c| c.handles.iter().find(|(x, _)| *x == h).map(|(_, r)| *r)) {
        return Ok(r);
    }
    with_read(|m| {
        let r = m.handles.resolve(h)?;
        keep(|c| push_bounded(&mut c.handles, (h, r), COPIES));
        Ok(r)
    })
}

/// The ids of the session keys (`CKA_TOKEN` false) of every open session.
/// Whether key `id` is one of this application's session keys (without copying the list).
pub fn is_own_session_key(id: u64) -> Rv<bool> {
    if let Some(b) = copied(|c| c.session_keys.as_ref().map(|k| k.contains(&id))) {
        return Ok(b);
    }
    Ok(session_keys()?.contains(&id))
}

pub fn session_keys() -> Rv<Vec<u64>> {
    if let Some(k) = copied(|c| c.session_keys.clone()) {
        return Ok(k);
    }
    with_read(|m| {
        let k: Vec<u64> = m.session_keys.keys().copied().collect();
        keep(|c| c.session_keys = Some(k.clone()));
        Ok(k)
    })
}

/// Where the store is: `store=/path` in the file named by `pReserved`, else `KMS_STORE`
/// (or the default location).
fn config(reserved: Option<&str>) -> Rv<Config> {
    let Some(path) = reserved else {
        return Config::from_env().map_err(|_| CKR_ARGUMENTS_BAD);
    };
    let text = std::fs::read_to_string(path).map_err(|_| CKR_ARGUMENTS_BAD)?;
    let mut store = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .or_else(|| line.split_once(':'))
            .ok_or(CKR_ARGUMENTS_BAD)?;
        match k.trim() {
            "store" => store = Some(v.trim().trim_matches('"').to_string()),
            _ => return Err(CKR_ARGUMENTS_BAD),
        }
    }
    match store {
        Some(s) => Config::at(s).map_err(|_| CKR_ARGUMENTS_BAD),
        None => Config::from_env().map_err(|_| CKR_ARGUMENTS_BAD),
    }
}

/// `C_Initialize`.
pub fn initialize(args: *mut CK_C_INITIALIZE_ARGS) -> Rv<()> {
    let mut reserved = None;
    let mut no_threads = false;
    if !args.is_null() {
        let a = ffi::read(args)?;
        let given = [
            a.CreateMutex.is_some(),
            a.DestroyMutex.is_some(),
            a.LockMutex.is_some(),
            a.UnlockMutex.is_some(),
        ];
        let n = given.iter().filter(|g| **g).count();
        if n != 0 && n != 4 {
            return Err(CKR_ARGUMENTS_BAD);
        }
        // Callbacks without CKF_OS_LOCKING_OK would oblige us to lock with them; the module
        // locks with the OS primitives only.
        if n == 4 && a.flags & CKF_OS_LOCKING_OK == 0 {
            return Err(CKR_CANT_LOCK);
        }
        no_threads = a.flags & CKF_LIBRARY_CANT_CREATE_OS_THREADS != 0;
        if !a.pReserved.is_null() {
            reserved = Some(
                crate::boundary::ptr::in_str(a.pReserved as *const std::ffi::c_char, "pReserved")
                    .map_err(|_| CKR_ARGUMENTS_BAD)?
                    .to_string(),
            );
        }
    }
    crate::boundary::fork::hold_across_fork(hold_for_fork);
    let mut g = lock();
    if let Some(m) = g.as_ref() {
        if m.pid == crate::boundary::fork::pid() {
            return Err(CKR_CRYPTOKI_ALREADY_INITIALIZED);
        }
        // A forked child: the parent's store connection and sessions are not ours to use
        // or to close (closing would release the parent's file locks); leave them be.
        if let Some(old) = g.take() {
            std::mem::forget(old);
        }
    }
    let mut cfg = config(reserved.as_deref())?;
    if no_threads {
        cfg.audit.durability = Durability::Strict;
    }
    let kms = Kms::open(cfg).map_err(|_| CKR_GENERAL_ERROR)?;
    *g = Some(Module {
        pid: crate::boundary::fork::pid(),
        kms,
        sessions: HashMap::new(),
        next_session: 0,
        logins: HashMap::new(),
        handles: Handles::default(),
        session_keys: HashMap::new(),
    });
    changed();
    Ok(())
}

/// `C_Finalize`.
pub fn finalize(reserved: *mut std::ffi::c_void) -> Rv<()> {
    if !reserved.is_null() {
        return Err(CKR_ARGUMENTS_BAD);
    }
    let m = {
        let mut g = lock();
        match g.as_ref() {
            Some(m) if m.pid == crate::boundary::fork::pid() => {
                let m = g.take();
                changed();
                m
            }
            _ => return Err(CKR_CRYPTOKI_NOT_INITIALIZED),
        }
    };
    if let Some(m) = m {
        let keys: Vec<u64> = m.session_keys.keys().copied().collect();
        let logins: Vec<Login> = m.logins.values().cloned().collect();
        super::objects::discard_session_keys(&m.kms, &logins, &keys);
        let _ = m.kms.flush();
    }
    Ok(())
}

/// What a session-scoped call needs, taken out of the global lock.
pub struct Ctx {
    pub kms: Kms,
    pub handle: CK_SESSION_HANDLE,
    pub slot: CK_SLOT_ID,
    pub login: Option<Login>,
    pub session: Arc<SessionEntry>,
    pub rw: bool,
}

impl Ctx {
    /// The logged-in caller, or `CKR_USER_NOT_LOGGED_IN`.
    pub fn caller(&self) -> Rv<&Caller> {
        self.login
            .as_ref()
            .map(|l| &*l.caller)
            .ok_or(CKR_USER_NOT_LOGGED_IN)
    }

    pub fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.ops.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The context of session `h` (`CKR_SESSION_HANDLE_INVALID` if unknown).
pub fn ctx(h: CK_SESSION_HANDLE) -> Rv<Arc<Ctx>> {
    if let Some(c) = copied(|c| c.ctxs.iter().find(|x| x.handle == h).cloned()) {
        return Ok(c);
    }
    with_read(|m| {
        let s = m
            .sessions
            .get(&h)
            .ok_or(CKR_SESSION_HANDLE_INVALID)?
            .clone();
        let (slot, rw) = (s.slot, s.rw);
        let ctx = Arc::new(Ctx {
            kms: m.kms.clone(),
            handle: h,
            slot,
            login: m.logins.get(&slot).cloned(),
            session: s,
            rw,
        });
        keep(|c| push_bounded(&mut c.ctxs, ctx.clone(), COPIES));
        Ok(ctx)
    })
}

/// The module's store handle (for slot and token calls that need no session).
pub fn kms() -> Rv<Kms> {
    with_read(|m| Ok(m.kms.clone()))
}
