//! A forked child sees the module as not initialised, must call C_Initialize again, and then
//! works on its own sessions; the parent's sessions keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::Attribute;
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

#[test]
fn forked_child_must_reinitialise() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    std::env::set_var("KMS_STORE", &store);
    let p = Pkcs11::new(common::lib_dir().join("libkms.so")).unwrap();
    p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
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
}
