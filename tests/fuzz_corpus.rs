//! The seed corpus of the fuzz targets (`fuzz/corpus/<target>/`), made by real code: keys
//! imported with the fuzz targets' fixed material and real encryptions, sealed blobs and a
//! master key file, a real backup's payload, real audit records and journal entries, PKCS#11
//! templates as clients send them, policy texts. Each test checks that the committed seeds
//! are still accepted by the current decoders (a seed that stops parsing would make the
//! fuzzer start from nothing); `KMS_UPDATE_FUZZ_CORPUS=1` writes them again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use std::path::PathBuf;

use kms::core::audit::{decode_record, encode_record, encode_record_v1, expand_batch, RecordRef};
use kms::core::backup::verify_backup;
use kms::core::batchbody;
use kms::core::ciphertext::Header;
use kms::core::journal::{decode_entries, encode_entries, parse_entries};
use kms::core::seal::{hex, load_key_file, unhex, KdfParams, Sealer};
use kms::core::*;
use kms::fuzz_api::pkcs11_sys::*;
use kms::fuzz_api::{self, pkcs11_sys::CK_ATTRIBUTE};
use util::*;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn updating() -> bool {
    std::env::var("KMS_UPDATE_FUZZ_CORPUS").is_ok_and(|v| v == "1")
}

/// Writes `seeds` as `seed-<name>` files (replacing the old seeds) when updating.
fn write_seeds(target: &str, seeds: &[(&str, Vec<u8>)]) {
    let dir = corpus_dir(target);
    if !updating() {
        return;
    }
    if dir.exists() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
            {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

/// The committed seeds of `target` (name, bytes); at least one must exist.
fn committed(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

/// Deterministic seeds must equal what the generator makes now.
fn check_same(target: &str, seeds: &[(&str, Vec<u8>)]) {
    write_seeds(target, seeds);
    let have = committed(target);
    let mut want: Vec<_> = seeds
        .iter()
        .map(|(n, b)| (format!("seed-{n}"), b.clone()))
        .collect();
    want.sort();
    assert_eq!(
        have, want,
        "fuzz/corpus/{target} is stale: run KMS_UPDATE_FUZZ_CORPUS=1 cargo test --release --test fuzz_corpus"
    );
}

#[test]
fn ciphertext_seeds_open_with_the_fixed_keys() {
    let ts = TestStore::new();
    let (k, o) = ts.open_owner();
    let mut seeds = Vec::new();
    for (spec, material, name) in [
        (KeySpec::Aes256, &fuzz_api::AES256_KEY[..], "aes256"),
        (KeySpec::Aes128, &fuzz_api::AES128_KEY[..], "aes128"),
    ] {
        let req = KeyRequest {
            spec: Some(spec),
            name: Some(name.into()),
            ..Default::default()
        };
        k.import_key(&o, &req, material).unwrap();
        let mode_spec = u8::from(spec == KeySpec::Aes128);
        for (with_ctx, msg) in [
            (false, &b"hello"[..]),
            (true, &b"a longer message body"[..]),
        ] {
            let c = if with_ctx {
                ctx("tenant=acme,table=users")
            } else {
                Context::new()
            };
            let ct = k.encrypt(&o, name, msg, &c).unwrap();
            let mut seed = vec![mode_spec | (u8::from(with_ctx) << 1)];
            seed.extend_from_slice(&ct);
            seeds.push((format!("{name}-ctx{}", u8::from(with_ctx)), seed));
        }
        let empty = k.encrypt(&o, name, b"", &Context::new()).unwrap();
        seeds.push((format!("{name}-empty"), [&[mode_spec][..], &empty].concat()));
    }
    let seeds: Vec<(&str, Vec<u8>)> = seeds.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_seeds("ciphertext", &seeds);
    for (name, seed) in committed("ciphertext") {
        let (mode, ct) = seed.split_first().unwrap();
        let spec = if mode & 1 != 0 {
            KeySpec::Aes128
        } else {
            KeySpec::Aes256
        };
        let c = if mode & 2 != 0 {
            ctx("tenant=acme,table=users")
        } else {
            Context::new()
        };
        assert!(Header::parse(ct).is_ok(), "{name}");
        fuzz_api::open_ciphertext(spec, ct, &c)
            .unwrap_or_else(|e| panic!("{name} does not open: {e}"));
    }
}

#[test]
fn sealed_seeds_unseal_and_parse() {
    let s = fuzz_api::sealer();
    let spec = KeySpec::Aes256.code();
    let mut seeds: Vec<(&str, Vec<u8>)> = Vec::new();
    let blob = s.seal(1, 1, spec, &[0x42; 32]).unwrap();
    seeds.push(("blob-32", [&[0u8][..], &blob].concat()));
    let blob = s.seal(1, 1, spec, &[0x17; 65]).unwrap();
    seeds.push(("blob-65", [&[0u8][..], &blob].concat()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    load_key_file(&path, true).unwrap();
    seeds.push((
        "keyfile",
        [&[1u8][..], &std::fs::read(&path).unwrap()].concat(),
    ));
    let p = KdfParams::default();
    let params = [p.m_kib, p.t, p.p]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect::<Vec<u8>>();
    seeds.push(("kdf-params", [&[2u8][..], &params].concat()));
    seeds.push(("hex", [&[3u8][..], hex(&blob).as_bytes()].concat()));
    write_seeds("sealed", &seeds);
    for (name, seed) in committed("sealed") {
        let (sel, rest) = seed.split_first().unwrap();
        match sel % 4 {
            0 => {
                assert_eq!(Sealer::kek_of(rest).unwrap(), fuzz_api::KEK_ID, "{name}");
                assert!(s.unseal(1, 1, spec, rest).unwrap().is_some(), "{name}");
            }
            1 => assert!(
                fuzz_api::parse_key_file(std::str::from_utf8(rest).unwrap()).is_some(),
                "{name}"
            ),
            2 => assert!(fuzz_api::decode_kdf_params(rest).is_ok(), "{name}"),
            _ => assert!(
                unhex(std::str::from_utf8(rest).unwrap()).is_some(),
                "{name}"
            ),
        }
    }
}

#[test]
fn backup_seeds_are_payloads_that_verify() {
    let ts = TestStore::new();
    let (k, o) = ts.open_owner();
    k.create_key(&o, &aes("app")).unwrap();
    k.encrypt(&o, "app", b"x", &ctx("a=1")).unwrap();
    k.rotate_key(&o, "app").unwrap();
    k.create_identity(&o, "alice", b"alice-secret", Roles::NONE, false)
        .unwrap();
    k.grant(
        &o,
        &GrantRequest {
            identity: "alice".into(),
            key: Some("app".into()),
            actions: ActionSet::of(&[Action::Decrypt]),
            context: vec![("tenant".into(), "acme".into())],
            ..Default::default()
        },
    )
    .unwrap();
    k.put_secret(&o, "db/password", "app", b"hunter2").unwrap();
    k.audit_checkpoint(&o, &[7u8; 32]).unwrap();
    let secret = fuzz_api::backup_secret();
    let mut file = Vec::new();
    k.backup(&o, &secret, &mut file, &mut |_, _| {}).unwrap();
    let payload = fuzz_api::unwrap_payload(&mut &file[..], &secret).unwrap();
    let empty = TestStore::new();
    let (e, eo) = empty.open_owner();
    let mut file2 = Vec::new();
    e.backup(&eo, &secret, &mut file2, &mut |_, _| {}).unwrap();
    let payload2 = fuzz_api::unwrap_payload(&mut &file2[..], &secret).unwrap();
    write_seeds(
        "backup",
        &[
            ("store", payload.to_vec()),
            ("new-store", payload2.to_vec()),
        ],
    );
    for (name, payload) in committed("backup") {
        let file = fuzz_api::wrap_payload(&payload, &secret).unwrap();
        verify_backup(&mut &file[..], file.len() as u64, &secret, &mut |_, _| {})
            .unwrap_or_else(|e| panic!("{name} does not verify: {e}"));
    }
}

#[test]
fn audit_seeds_decode() {
    let ts = TestStore::new();
    let (k, o) = ts.open_owner();
    k.create_key(&o, &aes("app")).unwrap();
    let ct = k.encrypt(&o, "app", b"x", &ctx("tenant=acme")).unwrap();
    k.decrypt(&o, &ct, &ctx("tenant=other")).unwrap_err();
    k.decrypt(&o, &ct, &ctx("tenant=acme")).unwrap();
    let records = k.audit_query(&o, &AuditFilter::default()).unwrap();
    assert!(records.len() >= 4);
    let mut seeds: Vec<(String, Vec<u8>)> = Vec::new();
    let mut journal_whole = Vec::new();
    let mut journal_ieee = Vec::new();
    let mut uses = Vec::new();
    for (i, r) in records.iter().rev().take(3).enumerate() {
        let use_of = r.key_id.zip(r.key_version);
        let b = encode_record(r, use_of, None);
        journal_whole.extend(fuzz_api::journal_frame(&b));
        journal_ieee.extend(journal_entry_v1(&encode_record_v1(r, use_of, None)));
        seeds.push((format!("record-{i}-{}-{}", r.action, r.outcome.name()), b));
        uses.push((r.clone(), use_of, None));
    }
    let granted = encode_record(&records[0], None, Some(3));
    journal_whole.extend(fuzz_api::journal_frame(&granted));
    uses.push((records[0].clone(), None, Some(3)));
    seeds.push(("record-grant-use".into(), granted));
    // delta entries, as journals are written now
    seeds.push(("journal".into(), encode_entries(&uses).unwrap()));
    // entries as earlier versions wrote them, still read: whole codec-2 records, and
    // codec-1 records checked with CRC-32
    seeds.push(("journal-whole".into(), journal_whole));
    seeds.push(("journal-ieee".into(), journal_ieee));
    // batches as the store keeps them: the record count, then the body; the store writes
    // version 3 and reads versions 2 (the same entries) and 1 (each record, no use counts,
    // after its 4-byte length)
    let refs: Vec<RecordRef<'_>> = records.iter().map(RecordRef::of).collect();
    let mut batch = vec![records.len() as u8];
    batchbody::encode(&mut batch, &refs, batchbody::V3);
    let mut batch_v2 = vec![records.len() as u8];
    batchbody::encode(&mut batch_v2, &refs, batchbody::V2);
    let mut batch_v1 = vec![records.len() as u8];
    for r in &records {
        let b = encode_record_v1(r, None, None);
        batch_v1.extend_from_slice(&(b.len() as u32).to_be_bytes());
        batch_v1.extend_from_slice(&b);
    }
    seeds.push(("batch-v1".into(), batch_v1));
    seeds.push(("batch-v2".into(), batch_v2));
    seeds.push(("batch".into(), batch));
    let seeds: Vec<(&str, Vec<u8>)> = seeds.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    write_seeds("audit_record", &seeds);
    for (name, seed) in committed("audit_record") {
        if name.starts_with("seed-batch") {
            let b = AuditBatch {
                first_seq: 1,
                last_seq: seed[0] as u64,
                min_time: 0,
                max_time: 0,
                prev_hash: Vec::new(),
                hash: Vec::new(),
                body: seed[1..].to_vec(),
            };
            let recs =
                expand_batch(&b, &[1; 16], &Vec::new()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(recs.len() >= 4, "{name}");
        } else if name.starts_with("seed-journal") {
            let (recs, end) = decode_entries(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(end, seed.len(), "{name}");
            assert_eq!(end, parse_entries(&seed).1, "{name}");
            assert!(recs.len() >= 2, "{name}");
        } else {
            decode_record(&seed).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

/// Encodes templates in the `pkcs11_template` target's input format (see its header).
fn encode_templates(
    public: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
    private: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)],
) -> Vec<u8> {
    const TYPES: &[CK_ATTRIBUTE_TYPE] = &[
        CKA_CLASS,
        CKA_KEY_TYPE,
        CKA_LABEL,
        CKA_ID,
        CKA_TOKEN,
        CKA_VALUE_LEN,
        CKA_VALUE,
        CKA_EXTRACTABLE,
        CKA_EC_PARAMS,
        CKA_MODULUS_BITS,
        CKA_PUBLIC_EXPONENT,
        CKA_ENCRYPT,
        CKA_DECRYPT,
        CKA_SIGN,
        CKA_VERIFY,
        CKA_WRAP,
        CKA_UNWRAP,
        CKA_DERIVE,
    ];
    let mut out = vec![public.len() as u8];
    for (t, v) in public.iter().chain(private) {
        out.push(TYPES.iter().position(|x| x == t).unwrap() as u8);
        out.push(0);
        out.push(v.len() as u8);
        out.extend_from_slice(v);
    }
    out
}

fn attrs(v: &[(CK_ATTRIBUTE_TYPE, Vec<u8>)]) -> Vec<CK_ATTRIBUTE> {
    v.iter()
        .map(|(t, b)| CK_ATTRIBUTE {
            type_: *t,
            pValue: b.as_ptr() as *mut _,
            ulValueLen: b.len() as CK_ULONG,
        })
        .collect()
}

#[test]
fn pkcs11_template_seeds_are_templates_clients_send() {
    let ul = |v: CK_ULONG| v.to_ne_bytes().to_vec();
    let yes = || vec![CK_TRUE];
    let no = || vec![CK_FALSE];
    let p256 = vec![0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    type T = Vec<(CK_ATTRIBUTE_TYPE, Vec<u8>)>;
    let cases: Vec<(&str, T, T)> = vec![
        (
            "aes-keygen",
            vec![],
            vec![
                (CKA_CLASS, ul(CKO_SECRET_KEY)),
                (CKA_KEY_TYPE, ul(CKK_AES)),
                (CKA_VALUE_LEN, ul(32)),
                (CKA_TOKEN, yes()),
                (CKA_LABEL, b"app".to_vec()),
                (CKA_ENCRYPT, yes()),
                (CKA_DECRYPT, yes()),
                (CKA_EXTRACTABLE, no()),
            ],
        ),
        (
            "secret-import",
            vec![],
            vec![
                (CKA_CLASS, ul(CKO_SECRET_KEY)),
                (CKA_KEY_TYPE, ul(CKK_GENERIC_SECRET)),
                (CKA_VALUE, vec![0x33; 32]),
                (CKA_SIGN, yes()),
                (CKA_ID, vec![1, 2, 3]),
            ],
        ),
        (
            "ec-keypair",
            vec![
                (CKA_EC_PARAMS, p256),
                (CKA_VERIFY, yes()),
                (CKA_TOKEN, yes()),
            ],
            vec![
                (CKA_SIGN, yes()),
                (CKA_DERIVE, no()),
                (CKA_LABEL, b"signer".to_vec()),
                (CKA_TOKEN, yes()),
            ],
        ),
        (
            "rsa-keypair",
            vec![
                (CKA_MODULUS_BITS, ul(2048)),
                (CKA_PUBLIC_EXPONENT, vec![1, 0, 1]),
                (CKA_ENCRYPT, yes()),
                (CKA_WRAP, no()),
            ],
            vec![(CKA_DECRYPT, yes()), (CKA_UNWRAP, no()), (CKA_SIGN, yes())],
        ),
    ];
    let mut seeds = Vec::new();
    for (name, public, private) in &cases {
        let (pa, sa) = (attrs(public), attrs(private));
        let t = |a: &[CK_ATTRIBUTE]| {
            if a.is_empty() {
                (std::ptr::null(), 0)
            } else {
                (a.as_ptr(), a.len() as CK_ULONG)
            }
        };
        // SAFETY: the attributes point into `cases`, which outlives the call, with their
        // real lengths.
        let r = unsafe { fuzz_api::pkcs11_templates(t(&pa), t(&sa)) };
        assert_eq!(r, Ok(()), "{name}");
        seeds.push((*name, encode_templates(public, private)));
    }
    check_same("pkcs11_template", &seeds);
}

#[test]
fn policy_seeds_parse() {
    let stored = kms::fuzz_api::encode_pairs(&[
        ("tenant".into(), "acme".into()),
        ("path".into(), "a=b\\c\nd".into()),
    ]);
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        (
            "user-grant",
            format!(
                "user\0encrypt,decrypt,generate-data-key\0tenant=acme,table=users\0tenant\u{1}acme\0{stored}\0AES-256"
            )
            .into_bytes(),
        ),
        (
            "admin",
            format!("admin,auditor\0rotate, disable\0\0\0{stored}\0encrypt,decrypt,sign")
                .into_bytes(),
        ),
        (
            "so",
            "security-officer\0describe\0a=1\nb=2\0a\u{1}1\u{1}b\u{1}2\0\0pending-deletion"
                .as_bytes()
                .to_vec(),
        ),
    ];
    for (name, s) in &seeds {
        let text = std::str::from_utf8(s).unwrap();
        let f: Vec<&str> = text.split('\0').collect();
        assert!(Roles::parse(f[0]).is_ok(), "{name}");
        assert!(ActionSet::parse(f[1]).is_ok(), "{name}");
        assert!(parse_context(f[2]).is_ok(), "{name}");
        assert!(
            KeySpec::parse(f[5]).is_ok()
                || Usage::parse(f[5]).is_ok()
                || KeyState::parse(f[5]).is_ok(),
            "{name}"
        );
    }
    check_same("policy", &seeds);
}
