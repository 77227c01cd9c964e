//! Application secrets (stored with the core, `kmsctl secret put` or `kms_secret_put`) are
//! PKCS#11 data objects: found by label as CKO_DATA and read through CKA_VALUE, under the
//! same policy as reading them through the other front ends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use kms::core::*;

#[test]
fn secrets_are_data_objects() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kms.db");
    // Provision with the core: a key, a secret with two versions, an identity without rights.
    {
        let mut cfg = Config::at(&path).unwrap();
        cfg.master =
            kms::core::seal::MasterSource::KeyFile(kms::core::config::sibling(&path, "key"));
        let k = Kms::open(cfg).unwrap();
        let o = k.owner().unwrap();
        k.create_key(
            &o,
            &KeyRequest {
                spec: Some(KeySpec::Aes256),
                name: Some("vault".into()),
                ..Default::default()
            },
        )
        .unwrap();
        k.put_secret(&o, "db-password", "vault", b"first").unwrap();
        k.put_secret(&o, "db-password", "vault", b"second").unwrap();
        k.create_identity(&o, "reader", b"reader-secret", Roles::NONE, false)
            .unwrap();
        k.create_identity(&o, "app", b"app-secret", Roles::USER, false)
            .unwrap();
        k.create_identity(&o, "aud", b"aud-secret", Roles::AUDITOR, false)
            .unwrap();
        k.grant(
            &o,
            &GrantRequest {
                identity: "reader".into(),
                key: Some("vault".into()),
                actions: ActionSet::of(&[Action::GetSecret]),
                ..Default::default()
            },
        )
        .unwrap();
        // finding objects needs the right to list the keyring
        k.grant(
            &o,
            &GrantRequest {
                identity: "reader".into(),
                actions: ActionSet::of(&[Action::List]),
                ..Default::default()
            },
        )
        .unwrap();
    }
    std::env::set_var("KMS_STORE", &path);
    let p = common::pkcs11_module();
    let slot = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| {
            p.get_token_info(*s)
                .map(|t| t.label().starts_with("default"))
                .unwrap_or(false)
        })
        .expect("the default keyring is a token");
    let owner_secret = std::fs::read_to_string(kms::core::config::sibling(&path, "owner")).unwrap();
    let read_as = |pin: &str| -> std::result::Result<Vec<u8>, cryptoki::error::Error> {
        let s = p.open_ro_session(slot)?;
        s.login(UserType::User, Some(&AuthPin::new(pin.into())))?;
        let found = s.find_objects(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Label(b"db-password".to_vec()),
        ])?;
        assert_eq!(found.len(), 1, "one object per secret (its latest version)");
        let attrs = s.get_attributes(found[0], &[AttributeType::Value])?;
        s.logout()?;
        match &attrs[0] {
            Attribute::Value(v) => Ok(v.clone()),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(read_as(owner_secret.trim()).unwrap(), b"second");
    assert_eq!(read_as("reader:reader-secret").unwrap(), b"second");
    // the key-user role reads it too; an auditor sees the object but cannot read its value
    assert_eq!(read_as("app:app-secret").unwrap(), b"second");
    assert!(
        read_as("aud:aud-secret").is_err(),
        "an auditor must not read secret values"
    );
    p.finalize().unwrap();
}
