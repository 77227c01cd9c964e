//! Key isolation at rest: a copy of the store file and its WAL, taken while the store is in
//! use, holds none of the key material, data keys or identity secrets it protects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use kms::core::crypto;
use kms::core::*;
use util::*;

fn windows_of(material: &[u8]) -> Vec<Vec<u8>> {
    // Every 16-byte window at an 8-byte step: any stretch of the material in the clear is found.
    let w = 16.min(material.len());
    (0..=material.len() - w)
        .step_by(8)
        .map(|i| material[i..i + w].to_vec())
        .collect()
}

fn found_in(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn store_files_hold_no_key_material() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let wrap_bytes = crypto::random_vec(32).unwrap();
    k.import_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("wrapper".into()),
            usage: Usage::WRAP | Usage::UNWRAP,
            ..Default::default()
        },
        &wrap_bytes,
    )
    .unwrap();
    let mut secrets: Vec<(String, Vec<u8>)> = vec![("wrapping key".into(), wrap_bytes.to_vec())];
    // Public parts (stored in the clear on purpose) are left out of the private material.
    let mut public: Vec<Vec<u8>> = Vec::new();
    for spec in KeySpec::ALL {
        let name = format!("k-{}", spec.name());
        k.create_key(
            &o,
            &KeyRequest {
                spec: Some(spec),
                name: Some(name.clone()),
                exportable: true,
                ..Default::default()
            },
        )
        .unwrap();
        if spec.is_aes() || spec == KeySpec::EcP256 {
            k.rotate_key(&o, &name).unwrap();
        }
        let info = k.describe_key(&o, &name).unwrap();
        for v in &info.versions {
            let blob = k
                .export_wrapped(&o, &name, Some(v.version), "wrapper")
                .unwrap();
            let material = crypto::aes_kwp_unwrap(&wrap_bytes, &blob[25..]).unwrap();
            secrets.push((format!("{name} v{}", v.version), material.to_vec()));
            if !spec.is_symmetric() {
                public.push(k.public_key(&o, &name, Some(v.version)).unwrap());
            }
        }
    }
    // imported material
    let imported = crypto::random_vec(32).unwrap();
    k.import_key(
        &o,
        &KeyRequest {
            spec: Some(KeySpec::Aes256),
            name: Some("byok".into()),
            ..Default::default()
        },
        &imported,
    )
    .unwrap();
    secrets.push(("imported".into(), imported.to_vec()));
    // data keys, identity secrets, the owner secret, application secrets
    for i in 0..5 {
        let (dk, _) = k
            .generate_data_key(&o, "k-AES-256", 32, &ctx(&format!("n={i}")))
            .unwrap();
        secrets.push((format!("data key {i}"), dk.to_vec()));
    }
    k.create_identity(&o, "svc", b"svc-identity-secret-value", Roles::USER, false)
        .unwrap();
    secrets.push((
        "identity secret".into(),
        b"svc-identity-secret-value".to_vec(),
    ));
    let owner_secret =
        std::fs::read_to_string(kms::core::config::sibling(&s.path, "owner")).unwrap();
    secrets.push((
        "owner secret".into(),
        owner_secret
            .trim()
            .split_once(':')
            .unwrap()
            .1
            .as_bytes()
            .to_vec(),
    ));
    k.put_secret(
        &o,
        "api-token",
        "k-AES-256",
        b"application-secret-token-value",
    )
    .unwrap();
    secrets.push((
        "application secret".into(),
        b"application-secret-token-value".to_vec(),
    ));
    k.flush().unwrap();

    // copy the files while the store is open (as a backup tool or an attacker would)
    let db = std::fs::read(&s.path).unwrap();
    let wal = std::fs::read(wal_path(&s.path)).unwrap_or_default();
    // the usage journals beside the store count as store files too
    let mut journals = Vec::new();
    if let Ok(rd) = std::fs::read_dir(kms::core::config::sibling(&s.path, "journal")) {
        for e in rd.flatten() {
            journals.extend(std::fs::read(e.path()).unwrap_or_default());
        }
    }
    let index = |b: &[u8]| -> std::collections::HashSet<[u8; 16]> {
        b.windows(16).map(|w| w.try_into().unwrap()).collect()
    };
    let (db_ix, wal_ix, j_ix) = (index(&db), index(&wal), index(&journals));
    assert!(
        db.len() + wal.len() > 20_000,
        "the store holds data ({} + {} bytes)",
        db.len(),
        wal.len()
    );
    let mut checked = 0;
    for (what, material) in &secrets {
        for w in windows_of(material) {
            if public.iter().any(|p| found_in(p, &w)) || w.iter().all(|b| *b == w[0]) {
                continue; // public key bytes, or DER padding
            }
            let key: [u8; 16] = match w.as_slice().try_into() {
                Ok(k) => k,
                Err(_) => {
                    assert!(!found_in(&db, &w) && !found_in(&wal, &w), "{what}: found");
                    continue;
                }
            };
            assert!(
                !db_ix.contains(&key),
                "{what}: raw bytes found in the store file"
            );
            assert!(!wal_ix.contains(&key), "{what}: raw bytes found in the WAL");
            assert!(
                !j_ix.contains(&key),
                "{what}: raw bytes found in a usage journal"
            );
            checked += 1;
        }
    }
    assert!(checked > 500, "checked {checked} windows");
    // and the copy alone (without the key file) does not open
    let copy = tempfile::tempdir().unwrap();
    let cp = copy.path().join("stolen.db");
    std::fs::write(&cp, &db).unwrap();
    std::fs::write(wal_path(&cp), &wal).unwrap();
    let e = Kms::open(config(&cp)).err().expect("no key file, no store");
    assert_eq!(e.kind(), ErrorKind::WrongMasterKey, "{e}");
}
