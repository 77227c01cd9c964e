//! The PKCS#11 module through a real client (the `cryptoki` crate) loading the release
//! libkms.so: token init, login as several identities, every mechanism, attribute rules,
//! policy and lifecycle refusals, rotation seen through PKCS#11, two threads.
//! One test function: the module's state is per process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "pg/mod.rs"]
mod pg;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::mechanism::hkdf::{HkdfParams, HkdfSalt};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;

const P256: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const P384: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
const ED25519: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];
const CKA_KMS_VERSION: u64 = 0x8000_0000 | 0x4B4D_0001;
const CKA_KMS_PRIMARY: u64 = 0x8000_0000 | 0x4B4D_0002;

fn pin(s: &str) -> AuthPin {
    AuthPin::new(s.into())
}

fn rv(e: Error) -> RvError {
    match e {
        Error::Pkcs11(rv, _) => rv,
        other => panic!("not a PKCS#11 error: {other:?}"),
    }
}

fn find_one(s: &Session, tmpl: &[Attribute]) -> ObjectHandle {
    let v = s.find_objects(tmpl).unwrap();
    assert!(!v.is_empty(), "no object for {tmpl:?}");
    v[0]
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

fn aes(s: &Session, label: &str) -> ObjectHandle {
    s.generate_key(
        &Mechanism::AesKeyGen,
        &[
            Attribute::Token(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(true),
            Attribute::Unwrap(true),
        ],
    )
    .unwrap()
}

fn pair(
    s: &Session,
    mech: Mechanism,
    public: &[Attribute],
    label: &str,
) -> (ObjectHandle, ObjectHandle) {
    let mut pubt = vec![
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Verify(true),
    ];
    pubt.extend_from_slice(public);
    let privt = [
        Attribute::Token(true),
        Attribute::Label(label.as_bytes().to_vec()),
        Attribute::Sign(true),
        Attribute::Derive(label.starts_with("ec") || label.starts_with("peer")),
        Attribute::Decrypt(label.starts_with("rsa")),
    ];
    s.generate_key_pair(&mech, &pubt, &privt).unwrap()
}

#[test]
fn cryptoki_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    // One suite, two backends: a SQLite file, or (compiled into tests/pkcs11_pg.rs, or with
    // KMS_TEST_BACKEND=postgres) a fresh database on a throw-away PostgreSQL server.
    let on_pg = module_path!().starts_with("pkcs11_pg")
        || std::env::var("KMS_TEST_BACKEND").is_ok_and(|b| b == "postgres");
    let _server;
    let store = if on_pg {
        let server = pg::PgServer::start(&["fsync = off"]);
        let db = server.create_db();
        let url = server.socket_url(&db);
        _server = Some(server);
        std::env::set_var("KMS_MASTER_KEY_FILE", dir.path().join("master.key"));
        std::env::set_var("KMS_OWNER_SECRET_FILE", dir.path().join("owner.secret"));
        std::path::PathBuf::from(url)
    } else {
        _server = None;
        dir.path().join("kms.db")
    };
    // where the store keeps its owner's secret (beside the file, or the configured path)
    let owner_file = if on_pg {
        dir.path().join("owner.secret")
    } else {
        std::path::PathBuf::from(format!("{}.owner", store.display()))
    };
    std::env::set_var("KMS_STORE", &store);
    std::env::set_var("KMS_MIN_DELETION_DAYS", "0");
    std::env::set_var("KMS_LOCKOUT_THRESHOLD", "3");
    let p = common::pkcs11_module();
    assert_eq!(
        rv(
            p.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
                .unwrap_err()
        ),
        RvError::CryptokiAlreadyInitialized
    );

    // ---- token init: the free slot holds an uninitialised token
    let free = p
        .get_slots_with_token()
        .unwrap()
        .into_iter()
        .find(|s| !p.get_token_info(*s).unwrap().token_initialized())
        .expect("free slot");
    assert_eq!(free.id(), 0x7fff_ffff);
    p.init_token(free, &pin("so-secret"), "p11test").unwrap();
    let slot = token_slot(&p, "p11test");
    let info = p.get_token_info(slot).unwrap();
    assert!(info.token_initialized() && info.login_required() && !info.user_pin_initialized());
    let mechs = p.get_mechanism_list(slot).unwrap();
    assert!(mechs.contains(&MechanismType::AES_GCM) && mechs.contains(&MechanismType::EDDSA));
    let mi = p.get_mechanism_info(slot, MechanismType::AES_GCM).unwrap();
    assert!(mi.encrypt() && mi.decrypt() && mi.hardware() && !mi.sign());

    // ---- SO initialises the token user and a named key user
    let s = p.open_rw_session(slot).unwrap();
    assert_eq!(
        rv(s.login(UserType::So, Some(&pin("wrong"))).unwrap_err()),
        RvError::PinIncorrect
    );
    s.login(UserType::So, Some(&pin("so-secret"))).unwrap();
    assert_eq!(
        rv(s.login(UserType::So, Some(&pin("so-secret"))).unwrap_err()),
        RvError::UserAlreadyLoggedIn
    );
    s.init_pin(&pin("user-pin")).unwrap();
    s.init_pin(&pin("alice:alice-pin")).unwrap();
    s.logout().unwrap();
    assert!(p.get_token_info(slot).unwrap().user_pin_initialized());
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("bad-pin"))).unwrap_err()),
        RvError::PinIncorrect
    );
    s.login(UserType::User, Some(&pin("user-pin"))).unwrap();

    // ---- symmetric mechanisms
    let k = aes(&s, "aes");
    let data = b"the quick brown fox jumps over the lazy dog".to_vec();
    let mut iv12 = [7u8; 12];
    let gcm = Mechanism::AesGcm(GcmParams::new(&mut iv12, b"aad", 128.into()).unwrap());
    let ct = s.encrypt(&gcm, k, &data).unwrap();
    assert_eq!(ct.len(), data.len() + 16);
    assert_eq!(s.decrypt(&gcm, k, &ct).unwrap(), data);
    let mut bad = ct.clone();
    bad[0] ^= 1;
    assert_eq!(
        rv(s.decrypt(&gcm, k, &bad).unwrap_err()),
        RvError::EncryptedDataInvalid
    );
    for mech in [Mechanism::AesCbcPad([1u8; 16]), Mechanism::AesKeyWrapPad] {
        let c = s.encrypt(&mech, k, &data).unwrap();
        assert_eq!(s.decrypt(&mech, k, &c).unwrap(), data, "{mech:?}");
    }
    let c = s.encrypt(&Mechanism::AesKeyWrap, k, &[9u8; 32]).unwrap();
    assert_eq!(
        s.decrypt(&Mechanism::AesKeyWrap, k, &c).unwrap(),
        vec![9u8; 32]
    );
    // multi-part equals single-part
    let cbc = Mechanism::AesCbcPad([3u8; 16]);
    s.encrypt_init(&cbc, k).unwrap();
    assert_eq!(
        rv(s.encrypt_init(&cbc, k).unwrap_err()),
        RvError::OperationActive
    );
    let mut multi = s.encrypt_update(&data[..10]).unwrap();
    multi.extend(s.encrypt_update(&data[10..]).unwrap());
    multi.extend(s.encrypt_final().unwrap());
    assert_eq!(multi, s.encrypt(&cbc, k, &data).unwrap());
    assert_eq!(
        rv(s.encrypt_final().unwrap_err()),
        RvError::OperationNotInitialized
    );

    // HMAC, digests, random
    let h = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::Token(true),
                Attribute::Label(b"mac".to_vec()),
                Attribute::ValueLen(32.into()),
                Attribute::Sign(true),
                Attribute::Verify(true),
            ],
        )
        .unwrap();
    for m in [
        Mechanism::Sha256Hmac,
        Mechanism::Sha384Hmac,
        Mechanism::Sha512Hmac,
    ] {
        let tag = s.sign(&m, h, &data).unwrap();
        s.verify(&m, h, &data, &tag).unwrap();
        let mut t2 = tag.clone();
        t2[0] ^= 1;
        assert_eq!(
            rv(s.verify(&m, h, &data, &t2).unwrap_err()),
            RvError::SignatureInvalid
        );
    }
    for (m, n) in [
        (Mechanism::Sha1, 20),
        (Mechanism::Sha224, 28),
        (Mechanism::Sha256, 32),
        (Mechanism::Sha384, 48),
        (Mechanism::Sha512, 64),
    ] {
        assert_eq!(s.digest(&m, &data).unwrap().len(), n);
    }
    assert_eq!(s.generate_random_vec(48).unwrap().len(), 48);

    // ---- EC P-256 / P-384, ECDSA, ECDH
    for (params, hashes) in [(P256.to_vec(), 64), (P384.to_vec(), 96)] {
        let (pubk, privk) = pair(
            &s,
            Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(params.clone())],
            &format!("ec{hashes}"),
        );
        for m in [
            Mechanism::EcdsaSha256,
            Mechanism::EcdsaSha384,
            Mechanism::EcdsaSha512,
        ] {
            let sig = s.sign(&m, privk, &data).unwrap();
            assert_eq!(sig.len(), hashes);
            s.verify(&m, pubk, &data, &sig).unwrap();
        }
        let digest = s.digest(&Mechanism::Sha256, &data).unwrap();
        let sig = s.sign(&Mechanism::Ecdsa, privk, &digest).unwrap();
        s.verify(&Mechanism::Ecdsa, pubk, &digest, &sig).unwrap();
        // ECDH with a second key: both sides agree
        let (pub2, priv2) = pair(
            &s,
            Mechanism::EccKeyPairGen,
            &[Attribute::EcParams(params.clone())],
            &format!("peer{hashes}"),
        );
        let point = |k| match &s.get_attributes(k, &[AttributeType::EcPoint]).unwrap()[0] {
            Attribute::EcPoint(p) => p.clone(),
            other => panic!("{other:?}"),
        };
        let (p1, p2) = (point(pubk), point(pub2));
        let tmpl = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
        ];
        let a = s
            .derive_key(
                &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &p2)),
                privk,
                &tmpl,
            )
            .unwrap();
        let b = s
            .derive_key(
                &Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), &p1)),
                priv2,
                &tmpl,
            )
            .unwrap();
        let c = s
            .encrypt(&Mechanism::AesCbcPad([0u8; 16]), a, &data)
            .unwrap();
        assert_eq!(
            s.decrypt(&Mechanism::AesCbcPad([0u8; 16]), b, &c).unwrap(),
            data
        );
    }

    // ---- Ed25519
    let (epub, epriv) = pair(
        &s,
        Mechanism::EccEdwardsKeyPairGen,
        &[Attribute::EcParams(ED25519.to_vec())],
        "ed",
    );
    let eddsa = Mechanism::Eddsa(cryptoki::mechanism::eddsa::EddsaParams::new(
        cryptoki::mechanism::eddsa::EddsaSignatureScheme::Pure,
    ));
    let sig = s.sign(&eddsa, epriv, &data).unwrap();
    s.verify(&eddsa, epub, &data, &sig).unwrap();

    // ---- RSA-2048: PKCS#1 v1.5 (hashing and over a DigestInfo), PSS, OAEP
    let (rpub, rpriv) = pair(
        &s,
        Mechanism::RsaPkcsKeyPairGen,
        &[
            Attribute::ModulusBits(2048.into()),
            Attribute::PublicExponent(vec![1, 0, 1]),
            Attribute::Encrypt(true),
        ],
        "rsa",
    );
    for m in [
        Mechanism::Sha256RsaPkcs,
        Mechanism::Sha384RsaPkcs,
        Mechanism::Sha512RsaPkcs,
    ] {
        let sig = s.sign(&m, rpriv, &data).unwrap();
        s.verify(&m, rpub, &data, &sig).unwrap();
    }
    let mut di = vec![
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
        0x05, 0x00, 0x04, 0x20,
    ];
    di.extend(s.digest(&Mechanism::Sha256, &data).unwrap());
    let sig = s.sign(&Mechanism::RsaPkcs, rpriv, &di).unwrap();
    s.verify(&Mechanism::Sha256RsaPkcs, rpub, &data, &sig)
        .unwrap();
    s.verify(&Mechanism::RsaPkcs, rpub, &di, &sig).unwrap();
    let pss = PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 32.into(),
    };
    let sig = s
        .sign(&Mechanism::Sha256RsaPkcsPss(pss), rpriv, &data)
        .unwrap();
    s.verify(&Mechanism::Sha256RsaPkcsPss(pss), rpub, &data, &sig)
        .unwrap();
    let d = s.digest(&Mechanism::Sha256, &data).unwrap();
    let sig = s.sign(&Mechanism::RsaPkcsPss(pss), rpriv, &d).unwrap();
    s.verify(&Mechanism::RsaPkcsPss(pss), rpub, &d, &sig)
        .unwrap();
    let bad_pss = PkcsPssParams {
        hash_alg: MechanismType::SHA256,
        mgf: PkcsMgfType::MGF1_SHA256,
        s_len: 20.into(),
    };
    assert_eq!(
        rv(s.sign(&Mechanism::Sha256RsaPkcsPss(bad_pss), rpriv, &data)
            .unwrap_err()),
        RvError::MechanismParamInvalid
    );
    for (hash, mgf) in [
        (MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
        (MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
    ] {
        for label in [&b""[..], &b"label"[..]] {
            let src = if label.is_empty() {
                PkcsOaepSource::empty()
            } else {
                PkcsOaepSource::data_specified(label)
            };
            let oaep = Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, src));
            let c = s.encrypt(&oaep, rpub, b"secret").unwrap();
            assert_eq!(s.decrypt(&oaep, rpriv, &c).unwrap(), b"secret");
        }
    }

    // ---- HKDF from a generic secret
    let base = s
        .generate_key(
            &Mechanism::GenericSecretKeyGen,
            &[
                Attribute::Token(true),
                Attribute::ValueLen(32.into()),
                Attribute::Derive(true),
            ],
        )
        .unwrap();
    let tmpl = [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::ValueLen(32.into()),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
    ];
    let hk = HkdfParams::new(
        MechanismType::SHA256,
        Some(HkdfSalt::Data(b"salt")),
        Some(b"info"),
    );
    let d1 = s
        .derive_key(&Mechanism::HkdfDerive(hk), base, &tmpl)
        .unwrap();
    let c = s
        .encrypt(&Mechanism::AesCbcPad([0u8; 16]), d1, &data)
        .unwrap();
    assert_eq!(
        s.decrypt(&Mechanism::AesCbcPad([0u8; 16]), d1, &c).unwrap(),
        data
    );

    // ---- attribute rules
    let infos = s
        .get_attribute_info(
            k,
            &[
                AttributeType::Value,
                AttributeType::Label,
                AttributeType::Modulus,
                AttributeType::Sensitive,
            ],
        )
        .unwrap();
    assert!(matches!(infos[0], AttributeInfo::Sensitive));
    assert!(matches!(infos[1], AttributeInfo::Available(3)));
    assert!(matches!(infos[2], AttributeInfo::TypeInvalid));
    let attrs = s
        .get_attributes(
            k,
            &[
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::AlwaysSensitive,
                AttributeType::NeverExtractable,
                AttributeType::Local,
                AttributeType::KeyType,
            ],
        )
        .unwrap();
    assert_eq!(attrs[0], Attribute::Sensitive(true));
    assert_eq!(attrs[1], Attribute::Extractable(false));
    assert_eq!(attrs[4], Attribute::Local(true));
    assert_eq!(attrs[5], Attribute::KeyType(KeyType::AES));
    let attrs = s
        .get_attributes(
            rpub,
            &[
                AttributeType::Modulus,
                AttributeType::PublicExponent,
                AttributeType::ModulusBits,
            ],
        )
        .unwrap();
    assert!(matches!(&attrs[0], Attribute::Modulus(m) if m.len() == 256));
    assert_eq!(attrs[1], Attribute::PublicExponent(vec![1, 0, 1]));
    s.update_attributes(k, &[Attribute::Id(b"k-1".to_vec())])
        .unwrap();
    assert_eq!(find_one(&s, &[Attribute::Id(b"k-1".to_vec())]), k);
    assert_eq!(
        rv(s.update_attributes(k, &[Attribute::Sensitive(false)])
            .unwrap_err()),
        RvError::AttributeReadOnly
    );
    assert_eq!(
        rv(s.copy_object(k, &[]).unwrap_err()),
        RvError::ActionProhibited
    );
    // wrapping a non-extractable key is refused; an extractable one wraps and unwraps
    let mut ext = vec![
        Attribute::Token(true),
        Attribute::ValueLen(32.into()),
        Attribute::Extractable(true),
        Attribute::Label(b"ext".to_vec()),
    ];
    let e = s.generate_key(&Mechanism::AesKeyGen, &ext).unwrap();
    assert_eq!(
        rv(s.wrap_key(&Mechanism::AesKeyWrapPad, k, d1).unwrap_err()),
        RvError::KeyUnextractable
    );
    let wrapped = s.wrap_key(&Mechanism::AesKeyWrapPad, k, e).unwrap();
    ext.retain(|a| !matches!(a, Attribute::ValueLen(_) | Attribute::Label(_)));
    ext.extend([
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
    ]);
    let u = s
        .unwrap_key(&Mechanism::AesKeyWrapPad, k, &wrapped, &ext)
        .unwrap();
    let c = s
        .encrypt(&Mechanism::AesCbcPad([0u8; 16]), e, &data)
        .unwrap();
    assert_eq!(
        s.decrypt(&Mechanism::AesCbcPad([0u8; 16]), u, &c).unwrap(),
        data
    );

    // certificates and data objects
    let cert = s
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(cryptoki::object::CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Label(b"rsa".to_vec()),
            Attribute::Id(b"c1".to_vec()),
            Attribute::Value(vec![0x30, 0x03, 0x02, 0x01, 0x01]),
        ])
        .unwrap();
    assert_eq!(
        find_one(
            &s,
            &[
                Attribute::Class(ObjectClass::CERTIFICATE),
                Attribute::Id(b"c1".to_vec())
            ]
        ),
        cert
    );
    s.destroy_object(cert).unwrap();
    assert!(s
        .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE)])
        .unwrap()
        .is_empty());

    // ---- lifecycle changed by an administrator in another process (kmsctl): a disabled key
    // refuses use. (Not through the core linked into this test: that would put a second
    // copy of SQLite in this process on the same live file, whose locks the module's copy
    // cannot see.)
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kmsctl"))
            .args(["--keyring", "p11test", "--identity", "user"])
            .args(args)
            .env("KMS_SECRET", "user-pin")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kmsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    admin(&["key", "disable", "aes"]);
    assert_eq!(
        rv(s.encrypt(&gcm, k, &data).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    admin(&["key", "enable", "aes"]);
    s.encrypt(&gcm, k, &data).unwrap();

    // ---- rotation by the administrator: the new version encrypts, old data still decrypts
    admin(&["key", "rotate", "aes"]);
    let objs = s
        .find_objects(&[Attribute::Label(b"aes".to_vec())])
        .unwrap();
    assert_eq!(objs.len(), 2, "one object per version");
    let v2 = objs[0];
    let v = s
        .get_attribute_info(v2, &[AttributeType::VendorDefined(CKA_KMS_VERSION)])
        .unwrap();
    assert!(matches!(v[0], AttributeInfo::Available(8)));
    let prim = s
        .get_attributes(
            v2,
            &[
                AttributeType::VendorDefined(CKA_KMS_PRIMARY),
                AttributeType::VendorDefined(CKA_KMS_VERSION),
            ],
        )
        .unwrap();
    assert!(matches!(&prim[0], Attribute::VendorDefined((_, b)) if b == &[1u8]));
    assert!(matches!(&prim[1], Attribute::VendorDefined((_, b)) if b == &2u64.to_ne_bytes()));
    assert_eq!(objs[1], k, "the old version keeps its handle");
    assert_eq!(
        rv(s.encrypt(&gcm, k, &data).unwrap_err()),
        RvError::KeyFunctionNotPermitted
    );
    assert_eq!(s.decrypt(&gcm, k, &ct).unwrap(), data);
    let ct2 = s.encrypt(&gcm, v2, &data).unwrap();
    assert_eq!(s.decrypt(&gcm, v2, &ct2).unwrap(), data);

    // ---- two threads, each with its own session
    std::thread::scope(|sc| {
        for t in 0..2u8 {
            let p = &p;
            sc.spawn(move || {
                let s = p.open_rw_session(slot).unwrap();
                let key = find_one(
                    &s,
                    &[
                        Attribute::Label(b"aes".to_vec()),
                        Attribute::VendorDefined((
                            AttributeType::VendorDefined(CKA_KMS_PRIMARY),
                            vec![1],
                        )),
                    ],
                );
                for i in 0..20u8 {
                    let m = Mechanism::AesCbcPad([t; 16]);
                    let msg = vec![i; 100 + i as usize];
                    let c = s.encrypt(&m, key, &msg).unwrap();
                    assert_eq!(s.decrypt(&m, key, &c).unwrap(), msg);
                }
            });
        }
    });

    // ---- a change made on one thread reaches another thread's next call (each thread
    // keeps copies of the session context, object handles and key views it used last)
    let key = find_one(
        &s,
        &[
            Attribute::Label(b"aes".to_vec()),
            Attribute::VendorDefined((AttributeType::VendorDefined(CKA_KMS_PRIMARY), vec![1])),
        ],
    );
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let (back, back_rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        let p = &p;
        sc.spawn(move || {
            let t = p.open_rw_session(slot).unwrap();
            let m = Mechanism::AesCbcPad([7; 16]);
            while go_rx.recv().is_ok() {
                let r: Vec<_> = (0..3)
                    .map(|_| t.encrypt(&m, key, b"x").map(|_| ()).map_err(rv))
                    .collect();
                back.send(r).unwrap();
            }
        });
        let uses = |want: std::result::Result<(), RvError>| {
            go.send(()).unwrap();
            assert_eq!(back_rx.recv().unwrap(), vec![want; 3]);
        };
        uses(Ok(()));
        s.logout().unwrap(); // a slot's login is every session's
        uses(Err(RvError::UserNotLoggedIn));
        s.login(UserType::User, Some(&pin("user-pin"))).unwrap();
        uses(Ok(()));
        drop(go);
    });

    // ---- destroying a key object (waiting period 0 here) removes every version from the token
    s.destroy_object(v2).unwrap();
    assert!(s
        .find_objects(&[Attribute::Label(b"aes".to_vec())])
        .unwrap()
        .is_empty());

    // ---- policy: the named key user uses keys but may not create them
    s.logout().unwrap();
    s.login(UserType::User, Some(&pin("alice:alice-pin")))
        .unwrap();
    let rk = find_one(
        &s,
        &[
            Attribute::Label(b"rsa".to_vec()),
            Attribute::Class(ObjectClass::PRIVATE_KEY),
        ],
    );
    s.sign(&Mechanism::Sha256RsaPkcs, rk, &data).unwrap();
    assert_eq!(
        rv(s.generate_key(
            &Mechanism::AesKeyGen,
            &[Attribute::Token(true), Attribute::ValueLen(32.into())]
        )
        .unwrap_err()),
        RvError::ActionProhibited
    );
    s.logout().unwrap();

    // ---- lockout shows as CKR_PIN_LOCKED
    for _ in 0..2 {
        assert_eq!(
            rv(s.login(UserType::User, Some(&pin("alice:nope")))
                .unwrap_err()),
            RvError::PinIncorrect
        );
    }
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("alice:nope")))
            .unwrap_err()),
        RvError::PinLocked
    );
    assert_eq!(
        rv(s.login(UserType::User, Some(&pin("alice:alice-pin")))
            .unwrap_err()),
        RvError::PinLocked
    );

    // ---- the store's default keyring is a token too: owner logs in with owner:<secret>
    let owner = std::fs::read_to_string(&owner_file).unwrap();
    let def = token_slot(&p, "default");
    let s2 = p.open_ro_session(def).unwrap();
    s2.login(UserType::User, Some(&pin(owner.trim()))).unwrap();
    drop(s2);
    drop(s);
    p.finalize().unwrap();
}
