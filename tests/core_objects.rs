//! Certificates, data objects and versioned application secrets through the core API.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use kms::core::*;
use util::*;

#[test]
fn objects_are_stored_listed_updated_and_sealed_when_sensitive() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    let cert = k
        .create_object(
            &o,
            &ObjectRequest {
                class: "certificate".into(),
                label: "web".into(),
                ext_id: vec![1, 2],
                value: b"-----not really DER-----".to_vec(),
                ..Default::default()
            },
        )
        .unwrap();
    let data = k
        .create_object(
            &o,
            &ObjectRequest {
                class: "data".into(),
                label: "token-seed".into(),
                value: b"super-sensitive-data-object".to_vec(),
                sensitive: true,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        k.list_objects(&o, Some("certificate"), None).unwrap().len(),
        1
    );
    let listed = k
        .list_objects(&o, Some("data"), Some("token-seed"))
        .unwrap();
    assert!(
        listed[0].value.is_empty(),
        "sensitive values are not listed"
    );
    assert_eq!(
        k.get_object(&o, data.id).unwrap().value,
        b"super-sensitive-data-object"
    );
    k.update_object(&o, cert.id, &|r| r.label = "web-2024".into())
        .unwrap();
    assert_eq!(k.get_object(&o, cert.id).unwrap().label, "web-2024");
    assert!(k
        .update_object(&o, cert.id, &|r| r.value = b"x".to_vec())
        .is_err());
    // master key rotation re-seals object values too
    k.rotate_master_key(&o).unwrap();
    assert_eq!(
        k.get_object(&o, data.id).unwrap().value,
        b"super-sensitive-data-object"
    );
    k.flush().unwrap();
    drop(k);
    let c = rusqlite::Connection::open(&s.path).unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let bytes = std::fs::read(&s.path).unwrap();
    assert!(
        !bytes.windows(15).any(|w| w == b"super-sensitive"),
        "sensitive value in the clear"
    );
    let (k, o) = s.open_owner();
    k.delete_object(&o, cert.id).unwrap();
    assert_eq!(
        k.get_object(&o, cert.id).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert!(k
        .create_object(
            &o,
            &ObjectRequest {
                class: "bogus".into(),
                ..Default::default()
            }
        )
        .is_err());
}

#[test]
fn secrets_are_versioned_and_readable_only_by_granted_identities() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("vault")).unwrap();
    assert_eq!(
        k.put_secret(&o, "db/password", "vault", b"hunter2")
            .unwrap(),
        1
    );
    assert_eq!(
        k.put_secret(&o, "db/password", "vault", b"hunter3")
            .unwrap(),
        2
    );
    assert_eq!(&*k.get_secret(&o, "db/password", None).unwrap(), b"hunter3");
    assert_eq!(
        &*k.get_secret(&o, "db/password", Some(1)).unwrap(),
        b"hunter2"
    );
    let versions = k.list_secrets(&o, Some("db/password")).unwrap();
    assert_eq!(
        versions.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![1, 2]
    );

    k.create_identity(&o, "app", b"app-secret", Roles::NONE, false)
        .unwrap();
    let app = k.authenticate("default", "app", b"app-secret").unwrap();
    assert_eq!(
        k.get_secret(&app, "db/password", None).unwrap_err().kind(),
        ErrorKind::AccessDenied
    );
    k.grant(
        &o,
        &GrantRequest {
            identity: "app".into(),
            key: Some("vault".into()),
            actions: ActionSet::of(&[Action::GetSecret]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        &*k.get_secret(&app, "db/password", None).unwrap(),
        b"hunter3"
    );
    // reading does not allow writing
    assert_eq!(
        k.put_secret(&app, "db/password", "vault", b"x")
            .unwrap_err()
            .kind(),
        ErrorKind::AccessDenied
    );
    // the value survives key rotation (old version still decrypts)
    k.rotate_key(&o, "vault").unwrap();
    assert_eq!(
        &*k.get_secret(&o, "db/password", Some(1)).unwrap(),
        b"hunter2"
    );
    assert_eq!(k.delete_secret(&o, "db/password").unwrap(), 2);
    assert_eq!(
        k.get_secret(&o, "db/password", None).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let trail = k.audit_query(&o, &AuditFilter::default()).unwrap();
    assert!(trail
        .iter()
        .any(|r| r.action == "get-secret" && r.identity == "app"));
    assert!(!trail
        .iter()
        .any(|r| kms::core::audit::to_json_line(r).contains("hunter")));
}
