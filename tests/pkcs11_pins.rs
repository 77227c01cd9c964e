//! PINs through the PKCS#11 module (the `cryptoki` crate loading the release libkms.so):
//! every SO and user PIN set with C_InitToken, C_InitPIN and C_SetPIN is absent from the
//! store's files (raw, hex, base64); guessing a PIN with C_Login locks it after the default
//! threshold (10), shown in the token flags (COUNT_LOW, FINAL_TRY, then USER_PIN_LOCKED);
//! the right PIN is then refused with CKR_PIN_LOCKED until the SO resets it with C_InitPIN;
//! every failed attempt is in the audit trail (without the PIN).
//! One test function: the module's state is per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod scan;

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

fn rv(e: Error) -> RvError {
    match e {
        Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

fn token_slot(p: &Pkcs11, label: &str) -> Slot {
    p.get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| {
            p.get_token_info(*s)
                .map(|t| t.label() == label)
                .unwrap_or(false)
        })
        .unwrap_or_else(|| panic!("no token {label}"))
}

// Distinct, long PINs (a chance match in the files is impossible).
const SO_PIN: &str = "so-pin-Qx7vT2mW9rL4";
const SO_PIN2: &str = "so-pin-new-Hc3nB8pZ";
const USER_PIN: &str = "user-pin-Jk5sD1fG6yU0";
const USER_PIN2: &str = "user-pin-new-Vb2mN7qE";
const USER_PIN3: &str = "user-pin-reset-Lz4xC9wR";
const ALICE_PIN: &str = "alice-pin-Tg8hY3uI5oP1";
const ALICE_PIN2: &str = "alice-pin-new-Ws6eA0kM";

#[test]
fn pins_stay_out_of_the_store_and_guessing_locks_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    std::env::set_var("KMS_STORE", &store);
    // the documented default threshold (10) is what is tested
    std::env::remove_var("KMS_LOCKOUT_THRESHOLD");
    std::env::remove_var("KMS_PASSPHRASE");
    std::env::remove_var("KMS_MASTER_KEY_FILE");
    let p = common::pkcs11_module();

    // ---- every way a PIN is set
    let free = Slot::try_from(0x7fff_ffffu64).unwrap();
    p.init_token(free, &pin(SO_PIN), "pins").unwrap();
    let slot = token_slot(&p, "pins");
    let s = p.open_rw_session(slot).unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN))).unwrap();
    s.init_pin(&pin(USER_PIN)).unwrap();
    s.init_pin(&pin(&format!("alice:{ALICE_PIN}"))).unwrap();
    s.set_pin(&pin(SO_PIN), &pin(SO_PIN2)).unwrap();
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin(USER_PIN))).unwrap();
    s.set_pin(&pin(USER_PIN), &pin(USER_PIN2)).unwrap();
    s.logout().unwrap();
    // C_SetPIN in a public session names the identity in the old PIN
    s.set_pin(
        &pin(&format!("alice:{ALICE_PIN}")),
        &pin(&format!("alice:{ALICE_PIN2}")),
    )
    .unwrap();
    s.login(UserType::User, Some(&pin(&format!("alice:{ALICE_PIN2}"))))
        .unwrap();
    s.logout().unwrap();
    s.login(UserType::So, Some(&pin(SO_PIN2))).unwrap();
    s.logout().unwrap();

    // ---- none of them is in the store's files, read while the module has the store open
    let all_pins = [SO_PIN, SO_PIN2, USER_PIN, USER_PIN2, ALICE_PIN, ALICE_PIN2];
    let check = |when: &str| {
        let files = scan::store_files(&store);
        scan::assert_present(&files, b"pins"); // the token label is stored in the clear
        let mut n = 0;
        for p in all_pins {
            n += scan::assert_absent(&files, &format!("PIN {p} ({when})"), p.as_bytes());
        }
        assert!(n >= all_pins.len() * 9, "{n} searches ({when})");
    };
    check("live");

    // ---- guessing the user PIN: COUNT_LOW, FINAL_TRY, then locked
    let info = p.get_token_info(slot).unwrap();
    assert!(!info.user_pin_count_low() && !info.user_pin_locked());
    for attempt in 1..=9 {
        let e = s
            .login(UserType::User, Some(&pin(&format!("guess-{attempt:04}"))))
            .unwrap_err();
        assert_eq!(rv(e), RvError::PinIncorrect, "attempt {attempt}");
        let info = p.get_token_info(slot).unwrap();
        assert!(info.user_pin_count_low(), "attempt {attempt}");
        assert_eq!(info.user_pin_final_try(), attempt == 9, "attempt {attempt}");
        assert!(!info.user_pin_locked(), "attempt {attempt}");
    }
    let e = s
        .login(UserType::User, Some(&pin("guess-0010")))
        .unwrap_err();
    assert_eq!(rv(e), RvError::PinLocked, "the 10th wrong PIN locks");
    let info = p.get_token_info(slot).unwrap();
    assert!(info.user_pin_locked());
    assert!(!info.user_pin_final_try());
    // the right PIN is refused now, in this session and in a new one
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin(USER_PIN2))).unwrap_err()),
        RvError::PinLocked
    );
    let s2 = p.open_ro_session(slot).unwrap();
    assert_eq!(
        rv(s2.login(UserType::User, Some(&pin(USER_PIN2))).unwrap_err()),
        RvError::PinLocked
    );
    drop(s2);
    // other identities of the token are not affected
    s.login(UserType::User, Some(&pin(&format!("alice:{ALICE_PIN2}"))))
        .unwrap();
    s.logout().unwrap();
    // ---- the SO resets the user PIN (C_InitPIN), which unlocks it
    s.login(UserType::So, Some(&pin(SO_PIN2))).unwrap();
    s.init_pin(&pin(USER_PIN3)).unwrap();
    s.logout().unwrap();
    let info = p.get_token_info(slot).unwrap();
    assert!(!info.user_pin_locked() && !info.user_pin_count_low());
    s.login(UserType::User, Some(&pin(USER_PIN3))).unwrap();
    s.logout().unwrap();
    // a failure count starts again from zero after a good login
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("guess-again")))
            .unwrap_err()),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&pin(USER_PIN3))).unwrap();
    s.logout().unwrap();
    assert!(!p.get_token_info(slot).unwrap().user_pin_count_low());

    // ---- SO PIN guessing locks the SO too (same threshold)
    for attempt in 1..=9 {
        assert_eq!(
            rv(
                s.login(UserType::So, Some(&pin(&format!("so-guess-{attempt}"))))
                    .unwrap_err()
            ),
            RvError::PinIncorrect,
            "SO attempt {attempt}"
        );
    }
    assert!(p.get_token_info(slot).unwrap().so_pin_final_try());
    assert_eq!(
        rv(s.login(UserType::So, Some(&pin("so-guess-10")))
            .unwrap_err()),
        RvError::PinLocked
    );
    assert_eq!(
        rv(s.login(UserType::So, Some(&pin(SO_PIN2))).unwrap_err()),
        RvError::PinLocked
    );
    assert!(p.get_token_info(slot).unwrap().so_pin_locked());
    drop(s);
    p.finalize().unwrap();
    check("closed");

    // ---- every failure is audited, without the PIN: read as the store owner (an auditor)
    // with kmsctl in another process (a second copy of the core and SQLite in this process
    // would not see the module's locks)
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kmsctl"))
        .arg("--store")
        .arg(&store)
        .args(["audit", "export", "--action", "authenticate"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kmsctl audit export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let denied = |who: &str| -> Vec<&str> {
        let id = format!("\"identity\":\"{who}\"");
        text.lines()
            .filter(|l| l.contains(&id) && l.contains("\"outcome\":\"denied\""))
            .collect()
    };
    let user = denied("user");
    // 10 wrong PINs, 2 right PINs while locked, 1 wrong PIN after the reset
    assert_eq!(user.len(), 13, "{user:#?}");
    for (i, r) in user.iter().take(10).enumerate() {
        assert!(
            r.contains(&format!("\"detail\":\"failure {} of 10", i + 1)),
            "{r}"
        );
    }
    assert!(user[9].contains("identity locked"), "{}", user[9]);
    assert!(
        user[10].contains("\"error\":\"identity locked\""),
        "{}",
        user[10]
    );
    assert!(
        user[11].contains("\"error\":\"identity locked\""),
        "{}",
        user[11]
    );
    assert_eq!(denied("so").len(), 11);
    for p in all_pins
        .iter()
        .chain(&[USER_PIN3, "guess-0001", "so-guess-1"])
    {
        assert!(!text.contains(p), "PIN {p} in the audit trail");
    }
}
