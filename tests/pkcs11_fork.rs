//! A forked child sees the module as not initialised, must call C_Initialize again, and then
//! works on its own sessions; the parent's sessions keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cryptoki::context::{CInitializeArgs, CInitializeFlags};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn forked_child_must_reinitialise() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    std::env::set_var("KMS_STORE", &store);
    let p = common::pkcs11_module();
    let owner = std::fs::read_to_string(format!("{}.owner", store.display())).unwrap();
    let slot = p.get_slots_with_token().unwrap()[0];
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::User, Some(&AuthPin::new(owner.trim().into())))
        .unwrap();
    let k = s
        .generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Token(true),
                Attribute::ValueLen(32.into()),
                Attribute::Label(b"forky".to_vec()),
            ],
        )
        .unwrap();
    let m = Mechanism::AesCbcPad([5u8; 16]);
    let ct = s.encrypt(&m, k, b"before fork").unwrap();

    // SAFETY: test: the child only calls the module and _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = (|| {
            match p.get_slots_with_token() {
                Err(Error::Pkcs11(RvError::CryptokiNotInitialized, _)) => {}
                _ => return 2,
            }
            if p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                .is_err()
            {
                return 3;
            }
            let Ok(s) = p.open_rw_session(slot) else {
                return 4;
            };
            if s.login(UserType::User, Some(&AuthPin::new(owner.trim().into())))
                .is_err()
            {
                return 5;
            }
            let Ok(found) = s.find_objects(&[Attribute::Label(b"forky".to_vec())]) else {
                return 6;
            };
            let Some(k) = found.first() else { return 7 };
            match s.decrypt(&m, *k, &ct) {
                Ok(pt) if pt == b"before fork" => 0,
                _ => 8,
            }
        })();
        // SAFETY: test: leave the child without running the parent's destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: test: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert!(libc::WIFEXITED(status), "child crashed: {status}");
    assert_eq!(
        libc::WEXITSTATUS(status),
        0,
        "child step failed (see the code in the test)"
    );
    // the parent is unaffected
    assert_eq!(s.decrypt(&m, k, &ct).unwrap(), b"before fork");

    // Fork while another thread of the parent keeps the module busy (every encrypt adds a
    // usage record that the background thread chains into the store): no child may inherit
    // a lock held half-way, so each child re-initialises and works at once.
    let stop = Arc::new(AtomicBool::new(false));
    let busy = {
        let (p, stop) = (p.clone(), stop.clone());
        std::thread::spawn(move || {
            let s = p.open_rw_session(slot).unwrap();
            let m = Mechanism::AesCbcPad([5u8; 16]);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // decrypt too: its plaintext is allocated in the secure-memory arena
                let c = s.encrypt(&m, k, b"busy parent").unwrap();
                assert_eq!(s.decrypt(&m, k, &c).unwrap(), b"busy parent");
                n += 1;
            }
            n
        })
    };
    for round in 0..12 {
        std::thread::sleep(Duration::from_millis(7 * round % 23));
        // SAFETY: test: the child only calls the module and _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let ok = p
                .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                .is_ok()
                && p.open_ro_session(slot).is_ok_and(|s| {
                    s.login(UserType::User, Some(&AuthPin::new(owner.trim().into())))
                        .is_ok()
                        && s.find_objects(&[Attribute::Label(b"forky".to_vec())])
                            .is_ok_and(|f| {
                                f.first().is_some_and(|k| {
                                    s.decrypt(&m, *k, &ct).is_ok_and(|pt| pt == b"before fork")
                                })
                            })
                });
            // SAFETY: test: leave the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let started = Instant::now();
        let mut status = 0;
        loop {
            // SAFETY: test: polling our own child.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                break;
            }
            if started.elapsed() > Duration::from_secs(20) {
                // SAFETY: test: our own child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                panic!("round {round}: the child forked from a busy parent hung");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "round {round}: the child forked from a busy parent failed ({status})"
        );
    }
    stop.store(true, Ordering::Relaxed);
    assert!(busy.join().unwrap() > 0);
    assert_eq!(s.decrypt(&m, k, &ct).unwrap(), b"before fork");
}
