//! Identities, roles, grants, lockout and the hash-chained audit trail, through the core
//! API on a real store (tampering is done by editing the database behind the library's
//! back: SQLite file or PostgreSQL database, see util::TestStore).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use kms::core::*;
use util::*;

struct World {
    s: TestStore,
    k: Kms,
    owner: Caller,
    admin: Caller,
    user: Caller,
    auditor: Caller,
    nobody: Caller,
}

fn world() -> World {
    let s = TestStore::new();
    let (k, owner) = s.open_owner();
    k.create_identity(&owner, "ada", b"admin-secret", Roles::ADMIN, false)
        .unwrap();
    k.create_identity(&owner, "uma", b"user-secret", Roles::USER, false)
        .unwrap();
    k.create_identity(&owner, "aud", b"audit-secret", Roles::AUDITOR, false)
        .unwrap();
    k.create_identity(&owner, "nob", b"nobody-secret", Roles::NONE, false)
        .unwrap();
    let admin = k.authenticate("default", "ada", b"admin-secret").unwrap();
    let user = k.authenticate("default", "uma", b"user-secret").unwrap();
    let auditor = k.authenticate("default", "aud", b"audit-secret").unwrap();
    let nobody = k.authenticate("default", "nob", b"nobody-secret").unwrap();
    World {
        s,
        k,
        owner,
        admin,
        user,
        auditor,
        nobody,
    }
}

fn denied<T: std::fmt::Debug>(r: Result<T>) -> Error {
    let e = r.expect_err("expected a refusal");
    assert_eq!(e.kind(), ErrorKind::AccessDenied, "{e}");
    e
}

#[test]
fn roles_allow_and_refuse_each_action() {
    let w = world();
    let (k, a, u, au, n) = (&w.k, &w.admin, &w.user, &w.auditor, &w.nobody);
    let no = Context::new();
    // administrator manages but cannot use
    k.create_key(a, &aes("rk")).unwrap();
    k.create_key(
        a,
        &KeyRequest {
            spec: Some(KeySpec::HmacSha256),
            name: Some("hk".into()),
            ..Default::default()
        },
    )
    .unwrap();
    k.rotate_key(a, "rk").unwrap();
    let e = denied(k.encrypt(a, "rk", b"x", &no));
    assert!(
        e.message().contains("ada") && e.message().contains("encrypt"),
        "{e}"
    );
    denied(k.mac(a, "hk", b"x"));
    denied(k.generate_data_key(a, "rk", 32, &no));
    // user uses but cannot manage
    let ct = k.encrypt(u, "rk", b"x", &no).unwrap();
    k.decrypt(u, &ct, &no).unwrap();
    k.mac(u, "hk", b"x").unwrap();
    denied(k.rotate_key(u, "rk"));
    denied(k.disable_key(u, "rk"));
    denied(k.schedule_deletion(u, "rk", Some(0)));
    denied(k.create_key(u, &aes("mine")));
    denied(k.grant(
        u,
        &GrantRequest {
            identity: "nob".into(),
            actions: ActionSet::of(&[Action::Encrypt]),
            ..Default::default()
        },
    ));
    denied(k.audit_query(u, &AuditFilter::default()));
    // admin cannot read the audit trail or manage identities
    denied(k.audit_query(a, &AuditFilter::default()));
    denied(k.create_identity(a, "eve", b"eve-secret", Roles::USER, false));
    // auditor reads and verifies, nothing else
    assert!(k.audit_verify(au, None).unwrap().ok());
    denied(k.encrypt(au, "rk", b"x", &no));
    denied(k.rotate_key(au, "rk"));
    // nobody: default deny everywhere
    denied(k.encrypt(n, "rk", b"x", &no));
    denied(k.decrypt(n, &ct, &no));
    denied(k.describe_key(n, "rk"));
    // the cached description (PKCS#11 object views) is refused alike, cache warm or not
    let rk = k.describe_key(&w.owner, "rk").unwrap().key.id;
    k.describe_key_cached(&w.owner, rk).unwrap();
    denied(k.describe_key_cached(n, rk));
    denied(k.list_keys(n, &KeyFilter::default()));
    denied(k.audit_verify(n, None));
    // separation of duties: combining roles needs an explicit flag
    let e = k
        .create_identity(
            &w.owner,
            "both",
            b"both-secret",
            Roles::ADMIN | Roles::USER,
            false,
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    k.create_identity(
        &w.owner,
        "both",
        b"both-secret",
        Roles::ADMIN | Roles::USER,
        true,
    )
    .unwrap();
}

#[test]
fn grants_with_expiry_uses_and_context() {
    let w = world();
    let (k, a, n) = (&w.k, &w.admin, &w.nobody);
    k.create_key(a, &aes("g")).unwrap();
    let u = &w.user;
    let acme = ctx("tenant=acme");
    let ct = k.encrypt(u, "g", b"acme data", &acme).unwrap();
    let other = k.encrypt(u, "g", b"other", &ctx("tenant=other")).unwrap();
    // decrypt only when context has tenant=acme, at most 2 uses
    let gid = k
        .grant(
            a,
            &GrantRequest {
                identity: "nob".into(),
                key: Some("g".into()),
                actions: ActionSet::of(&[Action::Decrypt]),
                max_uses: Some(2),
                context: vec![("tenant".into(), "acme".into())],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(&*k.decrypt(n, &ct, &acme).unwrap(), b"acme data");
    let e = denied(k.decrypt(n, &other, &ctx("tenant=other")));
    assert!(e.message().contains("tenant=acme"), "{e}");
    denied(k.encrypt(n, "g", b"x", &acme));
    k.decrypt(n, &ct, &acme).unwrap();
    let e = denied(k.decrypt(n, &ct, &acme));
    assert!(e.message().contains("uses"), "{e}");
    // a second process sees the count too
    let k2 = w.s.open();
    let n2 = k2.authenticate("default", "nob", b"nobody-secret").unwrap();
    denied(k2.decrypt(&n2, &ct, &acme));
    // an expired grant allows nothing
    k.revoke(a, gid).unwrap();
    k.grant(
        a,
        &GrantRequest {
            identity: "nob".into(),
            key: Some("g".into()),
            actions: ActionSet::of(&[Action::Decrypt]),
            expires: Some(now() - 1),
            ..Default::default()
        },
    )
    .unwrap();
    let e = denied(k.decrypt(n, &ct, &acme));
    assert!(e.message().contains("expired"), "{e}");
    // a keyring-wide grant
    k.grant(
        a,
        &GrantRequest {
            identity: "nob".into(),
            actions: ActionSet::of(&[Action::Encrypt]),
            ..Default::default()
        },
    )
    .unwrap();
    k.encrypt(n, "g", b"ok now", &Context::new()).unwrap();
    assert_eq!(k.list_grants(a, Some("g")).unwrap().len(), 1);
}

#[test]
fn lockout_and_unlock() {
    let w = world();
    let k = &w.k;
    for i in 0..4 {
        let e = k.authenticate("default", "uma", b"wrong").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AuthenticationFailed, "attempt {i}");
    }
    let e = k.authenticate("default", "uma", b"wrong").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::IdentityLocked);
    // even the right secret is refused now
    assert_eq!(
        k.authenticate("default", "uma", b"user-secret")
            .unwrap_err()
            .kind(),
        ErrorKind::IdentityLocked
    );
    // an existing session of the locked identity is refused too
    k.create_key(&w.admin, &aes("l")).unwrap();
    denied(k.encrypt(&w.user, "l", b"x", &Context::new()));
    // unknown identities fail the same way
    assert_eq!(
        k.authenticate("default", "ghost", b"x").unwrap_err().kind(),
        ErrorKind::AuthenticationFailed
    );
    k.unlock_identity(&w.owner, "uma").unwrap();
    let u = k.authenticate("default", "uma", b"user-secret").unwrap();
    k.encrypt(&u, "l", b"x", &Context::new()).unwrap();
    // secret rotation
    k.set_identity_secret(&w.owner, "uma", b"new-secret")
        .unwrap();
    assert!(k.authenticate("default", "uma", b"user-secret").is_err());
    k.authenticate("default", "uma", b"new-secret").unwrap();
    k.disable_identity(&w.owner, "uma").unwrap();
    assert_eq!(
        k.authenticate("default", "uma", b"new-secret")
            .unwrap_err()
            .kind(),
        ErrorKind::IdentityLocked
    );
    // no secret appears in the audit trail or the store file
    let all = k.audit_query(&w.auditor, &AuditFilter::default()).unwrap();
    let text: String = all.iter().map(audit_line).collect();
    for s in ["user-secret", "new-secret", "wrong"] {
        assert!(!text.contains(s), "secret {s} leaked into the audit trail");
    }
    k.flush().unwrap();
    assert!(w.s.store_contains(b"uma"), "the scan sees stored text");
    assert!(!w.s.store_contains(b"new-secret"));
}

fn audit_line(r: &AuditRecord) -> String {
    kms::core::audit::to_json_line(r)
}

#[test]
fn every_call_allowed_or_denied_is_audited() {
    let w = world();
    let (k, a, u, n) = (&w.k, &w.admin, &w.user, &w.nobody);
    let key = k.create_key(a, &aes("au")).unwrap();
    let before = k
        .audit_query(&w.auditor, &AuditFilter::default())
        .unwrap()
        .len();
    let ct = k.encrypt(u, "au", b"x", &ctx("app=web")).unwrap();
    k.decrypt(u, &ct, &ctx("app=web")).unwrap();
    let _ = k.encrypt(n, "au", b"x", &Context::new());
    let _ = k.rotate_key(u, "au");
    let _ = k.decrypt(u, &ct, &ctx("app=evil"));
    let recs = k
        .audit_query(
            &w.auditor,
            &AuditFilter {
                after_seq: Some(before as u64),
                ..Default::default()
            },
        )
        .unwrap();
    let got: Vec<(String, String, String)> = recs
        .iter()
        .filter(|r| r.action != "authenticate" && r.action != "read-audit")
        .map(|r| {
            (
                r.identity.clone(),
                r.action.clone(),
                r.outcome.name().to_string(),
            )
        })
        .collect();
    let want = vec![
        ("uma", "encrypt", "ok"),
        ("uma", "decrypt", "ok"),
        ("nob", "encrypt", "denied"),
        ("uma", "rotate", "denied"),
        ("uma", "decrypt", "error"),
    ];
    let want: Vec<(String, String, String)> = want
        .into_iter()
        .map(|(a, b, c)| (a.into(), b.into(), c.into()))
        .collect();
    assert_eq!(got, want);
    let enc = recs
        .iter()
        .find(|r| r.action == "encrypt" && r.identity == "uma")
        .unwrap();
    assert_eq!(enc.key_id, Some(key.id));
    assert_eq!(enc.key_version, Some(1));
    assert_eq!(enc.context, "app", "context keys only, not values");
    assert!(!enc.request_id.is_empty());
    assert_eq!(enc.pid, std::process::id());
}

fn tamper(s: &TestStore, sql: &str) {
    s.sql(sql);
}

fn verify_problem(s: &TestStore) -> Option<(u64, String)> {
    let (k, o) = s.open_owner();
    k.audit_verify(&o, None).unwrap().problem
}

fn trail() -> (TestStore, u64) {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("c")).unwrap();
    for i in 0..10 {
        k.encrypt(&o, "c", format!("m{i}").as_bytes(), &Context::new())
            .unwrap();
    }
    let rep = k.audit_verify(&o, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
    (s, rep.last_seq)
}

#[test]
fn chain_detects_edit_delete_insert_reorder_and_truncation() {
    // edited
    let (s, _) = trail();
    tamper(&s, "UPDATE audit SET identity = 'mallory' WHERE seq = 5");
    let p = verify_problem(&s).expect("edit detected");
    assert_eq!(p.0, 5, "{p:?}");
    // deleted
    let (s, _) = trail();
    tamper(&s, "DELETE FROM audit WHERE seq = 6");
    let p = verify_problem(&s).expect("delete detected");
    assert_eq!(p.0, 6, "{p:?}");
    // inserted (a forged record renumbering the rest)
    let (s, last) = trail();
    tamper(
        &s,
            "UPDATE audit SET seq = seq + 1000 WHERE seq >= 4; UPDATE audit SET seq = seq - 999 WHERE seq >= 1004;
             INSERT INTO audit SELECT 4, time, keyring, 'mallory', action, key_id, key_version, outcome, error, context,
                 pid, request_id, detail, prev_hash, hash FROM audit WHERE seq = 3;"
    );
    let p = verify_problem(&s).expect("insert detected");
    assert!(p.0 <= 5 && last > 5, "{p:?}");
    // reordered (two records swap places)
    let (s, _) = trail();
    tamper(
        &s,
        "UPDATE audit SET seq = -1 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = -1;",
    );
    let p = verify_problem(&s).expect("reorder detected");
    assert_eq!(p.0, 7, "{p:?}");
    // tail truncation is caught by a signed checkpoint
    let (s, last) = trail();
    {
        let (k, o) = s.open_owner();
        let cp = k.audit_checkpoint(&o, b"auditor-checkpoint-key").unwrap();
        assert!(cp.seq >= last);
        assert!(k
            .audit_verify(&o, Some(b"auditor-checkpoint-key"))
            .unwrap()
            .ok());
        let bad = k.audit_verify(&o, Some(b"not-the-auditor-key")).unwrap();
        assert!(bad.problem.unwrap().1.contains("signature"));
    }
    tamper(&s, &format!("DELETE FROM audit WHERE seq >= {}", last - 2));
    let p = verify_problem(&s).expect("truncation detected");
    assert!(p.1.contains("truncated"), "{p:?}");
}

#[test]
fn export_json_lines() {
    let (s, last) = trail();
    let (k, o) = s.open_owner();
    let mut out = Vec::new();
    let n = k
        .audit_export(&o, &AuditFilter::default(), &mut out)
        .unwrap();
    assert!(n >= last);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count() as u64, n);
    assert!(text
        .lines()
        .all(|l| l.starts_with("{\"seq\":") && l.ends_with('}')));
    assert!(!text.contains("m3"), "no plaintext in the trail");
}

#[test]
fn many_usage_records_from_several_threads_are_all_chained() {
    // More records than one multi-row insert and one ingestion batch hold, written from
    // two threads (two journal files): every use is chained once, each thread's records
    // keep their order, and the chain verifies.
    let w = world();
    let (k, u) = (&w.k, &w.user);
    let key = k.create_key(&w.admin, &aes("bulk")).unwrap();
    const PER_THREAD: usize = 700;
    std::thread::scope(|s| {
        for t in 0..2 {
            let k = k.clone();
            let u = u.clone();
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let mut ctx = Context::new();
                    ctx.insert(format!("t{t}n{i:04}"), "x".into());
                    k.encrypt(&u, "bulk", b"data", &ctx).unwrap();
                }
            });
        }
    });
    k.flush().unwrap();
    let recs = k
        .audit_query(
            &w.auditor,
            &AuditFilter {
                key_id: Some(key.id),
                action: Some("encrypt".into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(recs.len(), 2 * PER_THREAD);
    for t in 0..2 {
        let mine: Vec<String> = recs
            .iter()
            .filter(|r| r.context.starts_with(&format!("t{t}n")))
            .map(|r| r.context.clone())
            .collect();
        let want: Vec<String> = (0..PER_THREAD).map(|i| format!("t{t}n{i:04}")).collect();
        assert_eq!(mine, want, "thread {t}'s records are all there, in order");
    }
    assert!(recs.windows(2).all(|p| p[0].seq < p[1].seq));
    assert!(recs
        .iter()
        .all(|r| r.identity == "uma" && r.outcome == Outcome::Ok));
    let rep = k.audit_verify(&w.auditor, None).unwrap();
    assert!(rep.ok(), "{:?}", rep.problem);
    let v = k.describe_key(u, "bulk").unwrap();
    assert_eq!(v.versions[0].uses, (2 * PER_THREAD) as u64);
}
