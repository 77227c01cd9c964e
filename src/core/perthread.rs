//! Per-thread copies of shared state ([`PerThread`]), for the paths every call takes.
//!
//! Reading shared state on every call (a lock, reference counts) writes cache lines that
//! every calling thread writes too, so two threads on two cores pull those lines back and
//! forth on every call. Instead each thread keeps its own copy of what it read, behind a
//! lock only it takes (and, briefly, a change emptying it), checked against one counter that
//! moves with every change to the shared state. The core's hot cache entries
//! (`core::hot`) and the PKCS#11 module's session contexts (`pkcs11::state`) use it.
//!
//! A change moves the counter on and empties every thread's copy that is not in use at that
//! moment; a copy in use is emptied by its thread at its next look, when it sees the counter
//! moved. So no thread acts on state older than the last change, and idle threads do not
//! keep alive what the shared state dropped (key material, a closed session, a closed
//! store). A copy made by another process (a forked child's copy of its parent's memory)
//! is never used.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// What a thread keeps: emptied by every change. Each kind has its own thread-local list of
/// slots ([`Copies::slots`], declared with [`thread_slots!`]), so a look finds its slot already
/// typed: no downcast on the per-operation path.
pub(crate) trait Copies: Default + Send + 'static {
    fn clear(&mut self);
    /// This kind's thread-local [`Slots`].
    fn slots() -> &'static std::thread::LocalKey<Slots<Self>>;
}

/// Declares the thread-local [`Slots`] of a [`Copies`] kind and its `slots` method: used
/// inside the kind's `impl Copies`.
macro_rules! thread_slots {
    ($t:ty) => {
        fn slots() -> &'static std::thread::LocalKey<$crate::core::perthread::Slots<$t>> {
            thread_local! {
                static SLOTS: $crate::core::perthread::Slots<$t> =
                    const { $crate::core::perthread::Slots::new() };
            }
            &SLOTS
        }
    };
}
pub(crate) use thread_slots;

struct Slot<T> {
    /// The counter value and the process the copies were read at.
    seen: u64,
    pid: u32,
    copies: T,
}

/// A thread's slot of one [`PerThread`], the owner's id and its closed flag.
type Entry<T> = (u64, Arc<Mutex<Slot<T>>>, Arc<AtomicBool>);

/// One thread's slots of every [`PerThread`] of one kind that it used.
pub(crate) struct Slots<T>(RefCell<Vec<Entry<T>>>);

impl<T> Slots<T> {
    pub const fn new() -> Slots<T> {
        Slots(RefCell::new(Vec::new()))
    }
}

/// The per-thread copies of one piece of shared state.
pub(crate) struct PerThread<T: Copies> {
    /// Tells this owner's slots from other owners' in a thread's list.
    id: u64,
    /// Moves on with every change to the shared state.
    changed: AtomicU64,
    slots: Mutex<Vec<Weak<Mutex<Slot<T>>>>>,
    /// Set when the owner is dropped: threads forget their slot at their next registration.
    closed: Arc<AtomicBool>,
}

impl<T: Copies> PerThread<T> {
    pub fn new() -> PerThread<T> {
        static IDS: AtomicU64 = AtomicU64::new(1);
        PerThread {
            id: IDS.fetch_add(1, Ordering::Relaxed),
            changed: AtomicU64::new(0),
            slots: Mutex::new(Vec::new()),
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The change counter. Read it where changes are excluded (under the shared state's
    /// lock, which every change holds exclusively) to know what a copy is current with.
    pub fn generation(&self) -> u64 {
        self.changed.load(Ordering::Acquire)
    }

    /// Called by every change to the shared state, while the change excludes readers.
    pub fn changed(&self) {
        self.changed.fetch_add(1, Ordering::AcqRel);
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.retain(|w| match w.upgrade() {
            Some(s) => {
                // a slot in use is emptied by its own thread when it next looks
                if let Ok(mut s) = s.try_lock() {
                    s.copies.clear();
                }
                true
            }
            None => false,
        });
    }

    /// The registry of slots, held while the guard lives (a fork: see `boundary::fork`);
    /// a change and a thread's first copy take it.
    pub fn hold(&self) -> std::sync::MutexGuard<'_, impl Sized> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on this thread's copies when they are current. A nested look (from inside
    /// `f`) finds the slot taken and gets `None`.
    pub fn look<R>(&self, f: impl FnOnce(&T) -> Option<R>) -> Option<R> {
        T::slots()
            .try_with(|slots| {
                let slots = slots.0.try_borrow().ok()?;
                let (_, slot, _) = slots.iter().find(|(id, _, _)| *id == self.id)?;
                let mut s = slot.try_lock().ok()?;
                let now = self.generation();
                let pid = crate::boundary::fork::pid();
                if s.seen != now || s.pid != pid {
                    s.copies.clear();
                    s.seen = now;
                    s.pid = pid;
                    return None;
                }
                f(&s.copies)
            })
            .ok()
            .flatten()
    }

    /// Adds to this thread's copies (its slot is made on first use) what `f` puts there,
    /// read when [`PerThread::generation`] was `seen`; nothing when a change came since.
    pub fn keep(&self, seen: u64, f: impl FnOnce(&mut T)) {
        let _ = T::slots().try_with(|slots| {
            let Ok(mut slots) = slots.0.try_borrow_mut() else {
                return;
            };
            let slot = match slots.iter().find(|(id, _, _)| *id == self.id) {
                Some((_, s, _)) => s.clone(),
                None => {
                    // a new owner for this thread: forget the slots of dropped ones
                    slots.retain(|(_, _, closed)| !closed.load(Ordering::Acquire));
                    let s = Arc::new(Mutex::new(Slot {
                        seen,
                        pid: crate::boundary::fork::pid(),
                        copies: T::default(),
                    }));
                    self.slots
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(Arc::downgrade(&s));
                    slots.push((self.id, s.clone(), self.closed.clone()));
                    s
                }
            };
            let Ok(mut s) = slot.try_lock() else {
                return;
            };
            let pid = crate::boundary::fork::pid();
            if s.seen != seen || s.pid != pid {
                s.copies.clear();
                s.seen = seen;
                s.pid = pid;
            }
            if seen == self.generation() {
                f(&mut s.copies);
            }
        });
    }
}

/// Appends `x` to a thread's list of copies, dropping the oldest beyond `cap`.
pub(crate) fn push_bounded<X>(v: &mut Vec<X>, x: X, cap: usize) {
    if v.len() >= cap {
        v.remove(0);
    }
    v.push(x);
}

impl<T: Copies> Drop for PerThread<T> {
    /// The owner is going: every thread's copies are let go now (key material among them),
    /// not when the thread next registers or ends.
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        let slots = self.slots.get_mut().unwrap_or_else(|p| p.into_inner());
        for s in slots.drain(..).filter_map(|w| w.upgrade()) {
            if let Ok(mut s) = s.try_lock() {
                s.copies.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Seen(Vec<u32>);

    impl Copies for Seen {
        fn clear(&mut self) {
            self.0.clear();
        }
        thread_slots!(Seen);
    }

    fn has(p: &PerThread<Seen>, x: u32) -> bool {
        p.look(|s| s.0.contains(&x).then_some(())).is_some()
    }

    #[test]
    fn copies_last_until_the_next_change_on_any_thread() {
        let p = PerThread::<Seen>::new();
        assert!(!has(&p, 1));
        p.keep(p.generation(), |s| s.0.push(1));
        assert!(has(&p, 1));
        // a copy read before a change is not kept
        let old = p.generation();
        p.changed();
        p.keep(old, |s| s.0.push(2));
        assert!(!has(&p, 2));
        assert!(!has(&p, 1));
        // a change on another thread empties this thread's copies
        p.keep(p.generation(), |s| s.0.push(3));
        assert!(has(&p, 3));
        std::thread::scope(|sc| {
            sc.spawn(|| {
                assert!(!has(&p, 3), "each thread has its own copies");
                p.changed();
            });
        });
        assert!(!has(&p, 3));
        // two owners on one thread do not see each other's copies
        let q = PerThread::<Seen>::new();
        q.keep(q.generation(), |s| s.0.push(4));
        p.keep(p.generation(), |s| s.0.push(5));
        assert!(has(&q, 4) && !has(&q, 5) && has(&p, 5) && !has(&p, 4));
        drop(q);
        // a dropped owner's slot is forgotten at the next registration
        let r = PerThread::<Seen>::new();
        r.keep(r.generation(), |s| s.0.push(6));
        assert!(has(&r, 6));
        assert_eq!(Seen::slots().with(|s| s.0.borrow().len()), 2);
    }
}
