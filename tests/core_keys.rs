//! Key lifecycle, versions and symmetric operations through the core API, on a real
//! SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use kms::core::*;
use util::*;

#[test]
fn encrypt_decrypt_rotate_and_old_ciphertexts() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let key = k.create_key(&o, &aes("orders")).unwrap();
    assert_eq!(key.state, KeyState::Active);
    let c1 = k.encrypt(&o, "orders", b"first", &Context::new()).unwrap();
    assert_eq!(&*k.decrypt(&o, &c1, &Context::new()).unwrap(), b"first");
    let v2 = k.rotate_key(&o, "orders").unwrap();
    assert_eq!(v2, 2);
    let c2 = k.encrypt(&o, "orders", b"second", &Context::new()).unwrap();
    // header names the version
    assert_eq!(u32::from_be_bytes(c2[9..13].try_into().unwrap()), 2);
    assert_eq!(u32::from_be_bytes(c1[9..13].try_into().unwrap()), 1);
    assert_eq!(&*k.decrypt(&o, &c1, &Context::new()).unwrap(), b"first");
    assert_eq!(&*k.decrypt(&o, &c2, &Context::new()).unwrap(), b"second");
    // re-encrypt moves old data to the primary without returning plaintext
    let c1b = k.re_encrypt(&o, &c1, &Context::new(), None, None).unwrap();
    assert_eq!(u32::from_be_bytes(c1b[9..13].try_into().unwrap()), 2);
    // min decryption version floor
    k.set_min_decrypt_version(&o, "orders", 2).unwrap();
    let e = k.decrypt(&o, &c1, &Context::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyState, "{e}");
    assert_eq!(&*k.decrypt(&o, &c1b, &Context::new()).unwrap(), b"first");
    // destroying a non-primary version
    let e = k.destroy_version(&o, "orders", 2).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    k.destroy_version(&o, "orders", 1).unwrap();
    let info = k.describe_key(&o, "orders").unwrap();
    assert!(info.versions[0].destroyed);
    assert!(info.versions[1].primary);
    assert!(info.to_json().contains("\"primary_version\":2"));
}

#[test]
fn encryption_context_is_bound() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("ctx")).unwrap();
    let c = k
        .encrypt(&o, "ctx", b"secret row", &ctx("tenant=acme,row=7"))
        .unwrap();
    assert_eq!(
        &*k.decrypt(&o, &c, &ctx("row=7,tenant=acme")).unwrap(),
        b"secret row"
    );
    for wrong in [
        "",
        "tenant=acme",
        "tenant=evil,row=7",
        "tenant=acme,row=7,x=1",
    ] {
        let e = k.decrypt(&o, &c, &ctx(wrong)).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidCiphertext,
            "context '{wrong}': {e}"
        );
    }
}

#[test]
fn every_flipped_byte_is_detected() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("t")).unwrap();
    let ct = k
        .encrypt(&o, "t", b"tamper me please", &Context::new())
        .unwrap();
    for i in 0..ct.len() {
        for bit in [0x01u8, 0x80] {
            let mut bad = ct.clone();
            bad[i] ^= bit;
            match k.decrypt(&o, &bad, &Context::new()) {
                Ok(p) => panic!("byte {i} flipped yet decrypted to {:?}", &*p),
                Err(e) => assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::InvalidCiphertext | ErrorKind::NotFound | ErrorKind::KeyState
                    ),
                    "byte {i}: {e:?}"
                ),
            }
        }
    }
    for n in 0..ct.len() {
        assert!(
            k.decrypt(&o, &ct[..n], &Context::new()).is_err(),
            "truncated to {n}"
        );
    }
}

#[test]
fn state_transitions_allowed_and_refused() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("life")).unwrap();
    let ct = k.encrypt(&o, "life", b"x", &Context::new()).unwrap();

    // Active -> Suspended: no use at all
    assert_eq!(
        k.disable_key(&o, "life").unwrap().state,
        KeyState::Suspended
    );
    let e = k.encrypt(&o, "life", b"x", &Context::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyState);
    assert!(e.message().contains("suspended"), "{e}");
    assert_eq!(
        k.decrypt(&o, &ct, &Context::new()).unwrap_err().kind(),
        ErrorKind::KeyState
    );
    // Suspended -> Active
    assert_eq!(k.enable_key(&o, "life").unwrap().state, KeyState::Active);
    // enabling an active key is refused with the state named
    let e = k.enable_key(&o, "life").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyState);
    assert!(e.message().contains("active"), "{e}");
    // Active -> Deactivated: decrypt only
    assert_eq!(
        k.deactivate_key(&o, "life").unwrap().state,
        KeyState::Deactivated
    );
    assert_eq!(
        k.encrypt(&o, "life", b"x", &Context::new())
            .unwrap_err()
            .kind(),
        ErrorKind::KeyState
    );
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"x");
    assert_eq!(
        k.enable_key(&o, "life").unwrap_err().kind(),
        ErrorKind::KeyState
    );
    assert_eq!(
        k.rotate_key(&o, "life").unwrap_err().kind(),
        ErrorKind::KeyState
    );
    // Deactivated -> PendingDeletion -> cancel returns to Deactivated
    let pd = k.schedule_deletion(&o, "life", Some(30)).unwrap();
    assert_eq!(pd.state, KeyState::PendingDeletion);
    assert!(pd.deletion_date.unwrap() > now() + 29 * 86400);
    assert_eq!(
        k.decrypt(&o, &ct, &Context::new()).unwrap_err().kind(),
        ErrorKind::KeyState
    );
    assert_eq!(
        k.cancel_deletion(&o, "life").unwrap().state,
        KeyState::Deactivated
    );
    // destroy before the waiting period is refused
    k.schedule_deletion(&o, "life", Some(30)).unwrap();
    assert_eq!(
        k.set_key_state(&o, "life", LifecycleOp::Destroy)
            .unwrap_err()
            .kind(),
        ErrorKind::KeyState
    );

    // PreActive with a future activation date
    let mut r = aes("later");
    r.activation_date = Some(now() + 3600);
    let pre = k.create_key(&o, &r).unwrap();
    assert_eq!(pre.state, KeyState::PreActive);
    assert_eq!(
        k.encrypt(&o, "later", b"x", &Context::new())
            .unwrap_err()
            .kind(),
        ErrorKind::KeyState
    );
    assert_eq!(k.enable_key(&o, "later").unwrap().state, KeyState::Active);

    // compromised: decrypt only
    k.create_key(&o, &aes("leaky")).unwrap();
    let c2 = k.encrypt(&o, "leaky", b"y", &Context::new()).unwrap();
    k.mark_compromised(&o, "leaky").unwrap();
    let e = k.encrypt(&o, "leaky", b"y", &Context::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyState);
    assert!(e.message().contains("compromised"), "{e}");
    assert_eq!(&*k.decrypt(&o, &c2, &Context::new()).unwrap(), b"y");
}

#[test]
fn deletion_waiting_period_minimum_is_enforced() {
    let s = TestStore::new();
    let mut cfg = s.config();
    cfg.min_deletion_days = 7;
    let k = Kms::open(cfg).unwrap();
    let o = k.owner().unwrap();
    k.create_key(&o, &aes("d")).unwrap();
    assert_eq!(
        k.schedule_deletion(&o, "d", Some(3)).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        k.schedule_deletion(&o, "d", None).unwrap().state,
        KeyState::PendingDeletion
    );
}

#[test]
fn scheduled_deletion_destroys_material_and_rows_are_gone() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("doomed")).unwrap();
    let ct = k.encrypt(&o, "doomed", b"bye", &Context::new()).unwrap();
    let info = k.describe_key(&o, "doomed").unwrap();
    let sealed: Vec<u8> = s.sealed_blob(info.key.id);
    assert!(s.store_contains(&sealed[5..40]), "the scan sees the blob");
    k.flush().unwrap();
    k.schedule_deletion(&o, "doomed", Some(0)).unwrap();
    let rep = k.maintain(&o).unwrap();
    assert_eq!(rep.destroyed, vec![info.key.id]);
    let after = k.describe_key(&o, "doomed").unwrap();
    assert_eq!(after.key.state, KeyState::Destroyed);
    assert!(after.versions.iter().all(|v| v.destroyed));
    assert_eq!(
        k.decrypt(&o, &ct, &Context::new()).unwrap_err().kind(),
        ErrorKind::KeyState
    );
    drop(k);
    // SQLite: after a checkpoint, neither the file nor the WAL holds the sealed blob.
    // PostgreSQL: no row holds it (see TestStore::store_contains).
    assert!(
        !s.store_contains(&sealed[5..40]),
        "sealed blob still in the store"
    );
    // the name is not reused while the destroyed key keeps its metadata; a new key can take it
    let (k, o) = s.open_owner();
    let again = k.create_key(&o, &aes("doomed")).unwrap();
    assert!(again.id > info.key.id, "ids are never reused");
    let audit = k
        .audit_query(
            &o,
            &AuditFilter {
                key_id: Some(info.key.id),
                ..Default::default()
            },
        )
        .unwrap();
    let actions: Vec<_> = audit.iter().map(|r| r.action.as_str()).collect();
    assert!(
        actions.contains(&"schedule-deletion") && actions.contains(&"destroy"),
        "{actions:?}"
    );
}

#[test]
fn usages_are_enforced() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::HmacSha256),
            name: Some("mac".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        k.encrypt(&o, "mac", b"x", &Context::new())
            .unwrap_err()
            .kind(),
        ErrorKind::KeyUsage
    );
    let (_, tag) = k.mac(&o, "mac", b"data").unwrap();
    k.mac_verify(&o, "mac", None, b"data", &tag).unwrap();
    assert_eq!(
        k.mac_verify(&o, "mac", None, b"datA", &tag)
            .unwrap_err()
            .kind(),
        ErrorKind::VerificationFailed
    );
    // a usage the spec cannot have
    let bad = KeyRequest {
        spec: Some(KeySpec::HmacSha256),
        usage: Usage::ENCRYPT,
        ..Default::default()
    };
    assert_eq!(
        k.create_key(&o, &bad).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    // names: unique among live keys, never all digits
    k.create_key(&o, &aes("dup")).unwrap();
    assert_eq!(
        k.create_key(&o, &aes("dup")).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        k.create_key(&o, &aes("12345")).unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn data_keys_and_wrap() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("env")).unwrap();
    let (dk, wrapped) = k.generate_data_key(&o, "env", 32, &ctx("file=a")).unwrap();
    assert_eq!(dk.len(), 32);
    assert_eq!(
        &*k.decrypt_data_key(&o, &wrapped, &ctx("file=a")).unwrap(),
        &*dk
    );
    assert!(k.decrypt_data_key(&o, &wrapped, &ctx("file=b")).is_err());
}

#[test]
fn lazy_rotation_by_uses_and_by_time() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let mut r = aes("busy");
    r.rotate_after_uses = Some(3);
    k.create_key(&o, &r).unwrap();
    for _ in 0..3 {
        k.encrypt(&o, "busy", b"m", &Context::new()).unwrap();
    }
    assert_eq!(k.describe_key(&o, "busy").unwrap().key.primary_version, 1);
    let ct = k.encrypt(&o, "busy", b"m", &Context::new()).unwrap();
    assert_eq!(
        u32::from_be_bytes(ct[9..13].try_into().unwrap()),
        2,
        "rotated on the 4th use"
    );

    let mut r = aes("old");
    r.rotation_period = Some(1);
    k.create_key(&o, &r).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let ct = k.encrypt(&o, "old", b"m", &Context::new()).unwrap();
    assert_eq!(
        u32::from_be_bytes(ct[9..13].try_into().unwrap()),
        2,
        "rotated once due by time"
    );
    let audit = k
        .audit_query(
            &o,
            &AuditFilter {
                action: Some("rotate".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit.iter().all(|r| r.detail.contains("automatic")));
}

#[test]
fn master_key_rotation_and_wrong_master_key() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("m")).unwrap();
    let ct = k.encrypt(&o, "m", b"kept", &Context::new()).unwrap();
    // a second handle (as another process would) keeps working across the rotation
    let k2 = s.open();
    let o2 = k2.owner().unwrap();
    assert_eq!(k.rotate_master_key(&o).unwrap(), 1);
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"kept");
    assert_eq!(&*k2.decrypt(&o2, &ct, &Context::new()).unwrap(), b"kept");
    drop((k, k2));
    // a fresh open still works
    let (k, o) = s.open_owner();
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"kept");
    drop(k);
    // another store's key file does not open this store
    let other = TestStore::new();
    drop(other.open());
    let mut cfg = s.config();
    cfg.master = kms::core::seal::MasterSource::KeyFile(other.key_file());
    let e = Kms::open(cfg).err().expect("must refuse");
    assert_eq!(e.kind(), ErrorKind::WrongMasterKey, "{e}");
    // a missing key file is an error, never a new store
    let mut cfg = s.config();
    cfg.master = kms::core::seal::MasterSource::KeyFile(s.dir.path().join("missing.key"));
    assert_eq!(
        Kms::open(cfg).err().unwrap().kind(),
        ErrorKind::WrongMasterKey
    );
}

#[test]
fn passphrase_store() {
    let s = TestStore::new();
    let mut cfg = s.config();
    cfg.master =
        kms::core::seal::MasterSource::Passphrase(zeroize::Zeroizing::new("correct horse".into()));
    let k = Kms::open(cfg.clone()).unwrap();
    let o = k.owner().unwrap();
    k.create_key(&o, &aes("p")).unwrap();
    let ct = k.encrypt(&o, "p", b"pp", &Context::new()).unwrap();
    drop(k);
    let k = Kms::open(cfg.clone()).unwrap();
    let o = k.owner().unwrap();
    assert_eq!(&*k.decrypt(&o, &ct, &Context::new()).unwrap(), b"pp");
    drop(k);
    cfg.master =
        kms::core::seal::MasterSource::Passphrase(zeroize::Zeroizing::new("wrong horse".into()));
    assert_eq!(
        Kms::open(cfg).err().unwrap().kind(),
        ErrorKind::WrongMasterKey
    );
}

#[test]
fn list_with_filters_and_paging() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    for i in 0..25 {
        let mut r = aes(&format!("k{i:02}"));
        if i % 5 == 0 {
            r.tags = vec![("team".into(), "red".into())];
        }
        k.create_key(&o, &r).unwrap();
    }
    let page1 = k
        .list_keys(
            &o,
            &KeyFilter {
                limit: Some(10),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page1.len(), 10);
    let page2 = k
        .list_keys(
            &o,
            &KeyFilter {
                limit: Some(10),
                after_id: page1[9].id,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page2.len(), 10);
    assert!(page2[0].id > page1[9].id);
    let red = k
        .list_keys(
            &o,
            &KeyFilter {
                tag: Some(("team".into(), "red".into())),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(red.len(), 5);
    let pre = k
        .list_keys(
            &o,
            &KeyFilter {
                name_prefix: Some("k1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(pre.len(), 10);
}

#[test]
fn asymmetric_keys_sign_verify_and_decrypt() {
    use kms::core::crypto::{self, OaepHash, SignAlg};
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let cases = [
        (KeySpec::EcP256, SignAlg::EcdsaSha256),
        (KeySpec::EcP384, SignAlg::EcdsaSha384),
        (KeySpec::Ed25519, SignAlg::Ed25519),
        (KeySpec::Rsa2048, SignAlg::RsaPkcs1Sha256),
        (KeySpec::Rsa2048, SignAlg::RsaPssSha256),
    ];
    for (i, (spec, alg)) in cases.iter().enumerate() {
        let name = format!("sig{i}");
        k.create_key(
            &o,
            &KeyRequest {
                spec: Some(*spec),
                name: Some(name.clone()),
                ..Default::default()
            },
        )
        .unwrap();
        let (v, sig) = k.sign(&o, &name, *alg, b"message", false).unwrap();
        assert_eq!(v, 1);
        k.verify(&o, &name, None, *alg, b"message", &sig, false)
            .unwrap();
        let e = k
            .verify(&o, &name, None, *alg, b"messagE", &sig, false)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::VerificationFailed);
        // an independent check with the public key alone
        let spki = k.public_key(&o, &name, None).unwrap();
        crypto::verify(*spec, &spki, *alg, b"message", &sig).unwrap();
        if *spec != KeySpec::Ed25519 {
            let digest = crypto::digest(alg.hash().unwrap(), b"message");
            let (_, sig2) = k.sign(&o, &name, *alg, &digest, true).unwrap();
            k.verify(&o, &name, None, *alg, b"message", &sig2, false)
                .unwrap();
        }
        // after rotation the old version still verifies and cannot sign
        k.rotate_key(&o, &name).unwrap();
        k.verify(&o, &name, Some(1), *alg, b"message", &sig, false)
            .unwrap();
        assert_eq!(
            k.with_key(
                &o,
                k.describe_key(&o, &name).unwrap().key.id,
                Some(1),
                Action::Sign,
                Usage::SIGN,
                |_, _| Ok(())
            )
            .unwrap_err()
            .kind(),
            ErrorKind::KeyState
        );
    }
    // a signing algorithm that does not fit the key
    assert_eq!(
        k.sign(&o, "sig0", SignAlg::RsaPkcs1Sha256, b"m", false)
            .unwrap_err()
            .kind(),
        ErrorKind::KeyUsage
    );
    // RSA-OAEP: encrypt with the public key alone, decrypt in the KMS
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Rsa3072),
            name: Some("oaep".into()),
            usage: Usage::ENCRYPT | Usage::DECRYPT,
            ..Default::default()
        },
    )
    .unwrap();
    let spki = k.public_key(&o, "oaep", None).unwrap();
    let ct = crypto::rsa_oaep_encrypt(&spki, OaepHash::Sha256, b"label", b"session key").unwrap();
    assert_eq!(
        &*k.rsa_decrypt(&o, "oaep", None, OaepHash::Sha256, b"label", &ct)
            .unwrap(),
        b"session key"
    );
    assert!(k
        .rsa_decrypt(&o, "oaep", None, OaepHash::Sha256, b"other", &ct)
        .is_err());
}

#[test]
fn wrap_derive_export_import() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("kek".into()),
            usage: Usage::WRAP | Usage::UNWRAP,
            ..Default::default()
        },
    )
    .unwrap();
    let w = k.wrap(&o, "kek", b"0123456789abcdef0123").unwrap();
    assert_eq!(&*k.unwrap(&o, &w).unwrap(), b"0123456789abcdef0123");
    let mut bad = w.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert_eq!(
        k.unwrap(&o, &bad).unwrap_err().kind(),
        ErrorKind::InvalidCiphertext
    );
    // HKDF from a derive key is deterministic per salt/info
    k.create_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Secret),
            name: Some("root".into()),
            usage: Usage::DERIVE,
            ..Default::default()
        },
    )
    .unwrap();
    let a = k.derive(&o, "root", b"salt", b"info", 42).unwrap();
    assert_eq!(a.len(), 42);
    assert_eq!(*a, *k.derive(&o, "root", b"salt", b"info", 42).unwrap());
    assert_ne!(*a, *k.derive(&o, "root", b"salt", b"info2", 42).unwrap());
    // export only for exportable keys, only wrapped; import elsewhere keeps working material
    k.create_key(&o, &aes("stay")).unwrap();
    assert_eq!(
        k.export_wrapped(&o, "stay", None, "kek")
            .unwrap_err()
            .kind(),
        ErrorKind::KeyUsage
    );
    let mut r = aes("mobile");
    r.exportable = true;
    k.create_key(&o, &r).unwrap();
    let ct = k
        .encrypt(&o, "mobile", b"travelling", &Context::new())
        .unwrap();
    let blob = k.export_wrapped(&o, "mobile", None, "kek").unwrap();
    let copy = k.import_wrapped(&o, &aes("mobile-copy"), &blob).unwrap();
    assert_eq!(copy.origin, Origin::Imported);
    let ct2 = k.encrypt(&o, "mobile-copy", b"x", &Context::new()).unwrap();
    assert_eq!(&*k.decrypt(&o, &ct2, &Context::new()).unwrap(), b"x");
    let _ = ct;
    // imported keys rotate only with new material
    assert_eq!(
        k.rotate_key(&o, "mobile-copy").unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let fresh = kms::core::crypto::random_vec(32).unwrap();
    assert_eq!(
        k.rotate_key_with_material(&o, "mobile-copy", &fresh)
            .unwrap(),
        2
    );
}

#[test]
fn describe_shows_each_versions_public_key() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let req = KeyRequest {
        spec: Some(KeySpec::EcP256),
        name: Some("signer".into()),
        ..Default::default()
    };
    k.create_key(&o, &req).unwrap();
    k.rotate_key(&o, "signer").unwrap();
    let info = k.describe_key(&o, "signer").unwrap();
    assert_eq!(info.versions.len(), 2);
    for v in &info.versions {
        let spki = k.public_key(&o, "signer", Some(v.version)).unwrap();
        assert_eq!(v.public.as_deref(), Some(&spki[..]));
    }
    assert_ne!(info.versions[0].public, info.versions[1].public);
    k.create_key(&o, &aes("sym")).unwrap();
    let info = k.describe_key(&o, "sym").unwrap();
    assert_eq!(info.versions[0].public, None);
}

#[test]
fn cached_description_follows_every_change() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let id = k.create_key(&o, &aes("cached")).unwrap().id;
    // the same facts as describe_key, without use counts
    k.encrypt(&o, "cached", b"x", &Context::new()).unwrap();
    let same = |k: &Kms| {
        let exact = k.describe_key(&o, "cached").unwrap();
        let cached = k.describe_key_cached(&o, id).unwrap();
        assert_eq!(cached.key, exact.key);
        let strip = |v: &[kms::core::keys::VersionInfo]| {
            v.iter()
                .map(|v| {
                    (
                        v.version,
                        v.created,
                        v.destroyed,
                        v.primary,
                        v.public.clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(strip(&cached.versions), strip(&exact.versions));
        assert!(cached.versions.iter().all(|v| v.uses == 0));
        cached
    };
    assert_eq!(same(&k).versions.len(), 1);
    // changes made through this handle
    k.rotate_key(&o, "cached").unwrap();
    let i = same(&k);
    assert_eq!(i.key.primary_version, 2);
    assert_eq!(i.versions.len(), 2);
    k.destroy_version(&o, "cached", 1).unwrap();
    assert!(same(&k).versions[0].destroyed);
    k.disable_key(&o, "cached").unwrap();
    assert_eq!(same(&k).key.state, KeyState::Suspended);
    // changes made by another handle (as by another process) on the same store
    let (k2, o2) = s.open_owner();
    k2.enable_key(&o2, "cached").unwrap();
    k2.rotate_key(&o2, "cached").unwrap();
    let i = same(&k);
    assert_eq!(i.key.state, KeyState::Active);
    assert_eq!(i.key.primary_version, 3);
    assert_eq!(i.versions.len(), 3);
    // an unknown key is refused as describe_key refuses it
    let e = k.describe_key_cached(&o, id + 1000).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}
