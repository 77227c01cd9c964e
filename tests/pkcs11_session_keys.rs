//! Session keys (`CKA_TOKEN` false) through the release libkms.so and the `cryptoki` crate:
//! found and used by every session of the application that made them, not shown to another
//! application on the same token (`pkcs11-tool`, a second process), and gone with the
//! session that made them. One test function: the module's state is per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

fn by_label(s: &Session, label: &str) -> Vec<ObjectHandle> {
    s.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ])
    .unwrap()
}

fn aes_key(s: &Session, label: &str, token: bool) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(token),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ],
    )
    .unwrap()
}

fn round_trip(s: &Session, key: ObjectHandle) {
    let mut iv = [7u8; 12];
    let ct = s
        .encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into()).unwrap()),
            key,
            b"session data",
        )
        .unwrap();
    let pt = s
        .decrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut iv, b"aad", 128.into()).unwrap()),
            key,
            &ct,
        )
        .unwrap();
    assert_eq!(pt, b"session data");
}

/// The secret keys another application on the token (pkcs11-tool, another process) lists.
fn seen_by_another_application(store: &Path) -> String {
    common::pkcs11_tool(
        store,
        &[
            "--token-label",
            "sesskeys",
            "--login",
            "--pin",
            "user-pin",
            "--list-objects",
            "--type",
            "secrkey",
        ],
    )
}

#[test]
fn session_keys_belong_to_their_application_and_end_with_their_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("kms.db");
    std::env::set_var("KMS_STORE", &store);
    let p = common::pkcs11_module();
    let free = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| !p.get_token_info(*s).unwrap().token_initialized())
        .expect("free slot");
    p.init_token(free, &pin("so-secret"), "sesskeys").unwrap();
    let slot = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| p.get_token_info(*s).unwrap().label() == "sesskeys")
        .expect("token");
    let so = p.open_rw_session(slot).unwrap();
    so.login(UserType::So, Some(&pin("so-secret"))).unwrap();
    so.init_pin(&pin("user-pin")).unwrap();
    so.logout().unwrap();
    drop(so);

    let s1 = p.open_rw_session(slot).unwrap();
    s1.login(UserType::User, Some(&pin("user-pin"))).unwrap();
    let s2 = p.open_rw_session(slot).unwrap();
    let tok = aes_key(&s1, "durable", true);
    let eph = aes_key(&s1, "ephemeral", false);

    // every session of this application finds and uses both keys
    for s in [&s1, &s2] {
        assert_eq!(by_label(s, "durable"), vec![tok]);
        assert_eq!(by_label(s, "ephemeral"), vec![eph]);
        round_trip(s, tok);
        round_trip(s, eph);
    }
    let token = s2
        .get_attributes(eph, &[cryptoki::object::AttributeType::Token])
        .unwrap();
    assert!(matches!(token[..], [Attribute::Token(false)]), "{token:?}");

    // another application on the same token sees the token key only
    let listed = seen_by_another_application(&store);
    assert!(listed.contains("durable"), "token key listed:\n{listed}");
    assert!(
        !listed.contains("ephemeral"),
        "another application must not see this one's session key:\n{listed}"
    );

    // the session that made it ends: the key is gone for every session
    drop(s1);
    assert!(by_label(&s2, "ephemeral").is_empty());
    assert_eq!(by_label(&s2, "durable"), vec![tok]);
    assert!(s2
        .encrypt(
            &Mechanism::AesGcm(GcmParams::new(&mut [7u8; 12], b"", 128.into()).unwrap()),
            eph,
            b"x",
        )
        .is_err());
    round_trip(&s2, tok);
}
