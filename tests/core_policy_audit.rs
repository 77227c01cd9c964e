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

/// A thread that keeps using a key sees a change made on another thread at its next use:
/// a revoked grant, a disabled key, a disabled identity. (Each thread keeps its own copy of
/// what its repeated uses read; every change to the cache empties those copies.)
#[test]
fn changes_reach_a_thread_that_keeps_using_a_key() {
    let w = world();
    let (k, a) = (&w.k, &w.admin);
    k.create_key(a, &aes("hot")).unwrap();
    let grant = || {
        k.grant(
            a,
            &GrantRequest {
                identity: "nob".into(),
                key: Some("hot".into()),
                actions: ActionSet::of(&[Action::Encrypt]),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let gid = grant();
    let (go, go_rx) = std::sync::mpsc::channel::<()>();
    let (done_tx, done) = std::sync::mpsc::channel();
    let (k2, n) = (k.clone(), w.nobody.clone());
    let user = std::thread::spawn(move || {
        while go_rx.recv().is_ok() {
            // the first use fills this thread's copy, the next ones read it
            let uses: Vec<_> = (0..3)
                .map(|_| {
                    k2.encrypt(&n, "hot", b"x", &Context::new())
                        .map(|_| ())
                        .map_err(|e| e.kind())
                })
                .collect();
            done_tx.send(uses).unwrap();
        }
    });
    let uses = |want: std::result::Result<(), ErrorKind>| {
        go.send(()).unwrap();
        assert_eq!(done.recv().unwrap(), vec![want; 3]);
    };
    uses(Ok(()));
    k.revoke(a, gid).unwrap();
    uses(Err(ErrorKind::AccessDenied));
    grant();
    uses(Ok(()));
    k.disable_key(a, "hot").unwrap();
    uses(Err(ErrorKind::KeyState));
    k.enable_key(a, "hot").unwrap();
    uses(Ok(()));
    k.disable_identity(&w.owner, "nob").unwrap();
    uses(Err(ErrorKind::AccessDenied));
    k.enable_identity(&w.owner, "nob").unwrap();
    uses(Ok(()));
    drop(go);
    user.join().unwrap();
    // the same holds on the thread that makes the changes
    for _ in 0..3 {
        k.encrypt(&w.nobody, "hot", b"x", &Context::new()).unwrap();
    }
    k.disable_key(a, "hot").unwrap();
    denied_kind(
        k.encrypt(&w.nobody, "hot", b"x", &Context::new()),
        ErrorKind::KeyState,
    );
}

fn denied_kind<T: std::fmt::Debug>(r: Result<T>, kind: ErrorKind) {
    assert_eq!(r.unwrap_err().kind(), kind);
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

/// A trail of single-record rows (the service's events: key creations) followed by usage
/// records in two batches (encrypts, chained in two passes). Returns the store, the last
/// row's sequence number and the last record's.
/// The two batches of encrypts [`trail`] makes, as (first_seq, last_seq).
fn enc_batches(s: &TestStore) -> [(u64, u64); 2] {
    let b = s.audit_batches();
    assert!(b.len() >= 2, "{b:?}");
    [b[b.len() - 2], b[b.len() - 1]]
}

fn trail() -> (TestStore, u64, u64) {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    // the owner's sign-in is a usage record: chained now, before the rows below
    k.flush().unwrap();
    k.create_key(&o, &aes("c")).unwrap();
    for i in 0..8 {
        k.create_key(&o, &aes(&format!("e{i}"))).unwrap();
    }
    let rows = k.audit_verify(&o, None).unwrap().last_seq;
    assert!(
        s.audit_batches().iter().all(|b| b.1 < rows - 8),
        "the last nine records are rows: {:?}",
        s.audit_batches()
    );
    for i in 0..10 {
        k.encrypt(&o, "c", format!("m{i}").as_bytes(), &Context::new())
            .unwrap();
        if i == 4 {
            k.flush().unwrap();
        }
    }
    let rep = k.audit_verify(&o, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
    let b = enc_batches(&s);
    assert_eq!(
        b[0].1 - b[0].0 + 1,
        5,
        "the first chaining pass: five encrypts"
    );
    assert_eq!(b[1], (b[0].1 + 1, rep.last_seq), "the second: the rest");
    (s, rows, rep.last_seq)
}

#[test]
fn chain_detects_edit_delete_insert_reorder_and_truncation() {
    // single-record rows: edited
    let (s, rows, _) = trail();
    assert!(rows > 8, "the records tampered with below are rows");
    tamper(&s, "UPDATE audit SET identity = 'mallory' WHERE seq = 5");
    let p = verify_problem(&s).expect("edit detected");
    assert_eq!(p.0, 5, "{p:?}");
    // deleted
    let (s, _, _) = trail();
    tamper(&s, "DELETE FROM audit WHERE seq = 6");
    let p = verify_problem(&s).expect("delete detected");
    assert_eq!(p.0, 6, "{p:?}");
    // inserted (a forged record renumbering the rest)
    let (s, _, last) = trail();
    tamper(
        &s,
            "UPDATE audit SET seq = seq + 1000 WHERE seq >= 4; UPDATE audit SET seq = seq - 999 WHERE seq >= 1004;
             INSERT INTO audit SELECT 4, time, keyring, 'mallory', action, key_id, key_version, outcome, error, context,
                 pid, request_id, detail, prev_hash, hash FROM audit WHERE seq = 3;"
    );
    let p = verify_problem(&s).expect("insert detected");
    assert!(p.0 <= 5 && last > 5, "{p:?}");
    // reordered (two records swap places)
    let (s, _, _) = trail();
    tamper(
        &s,
        "UPDATE audit SET seq = -1 WHERE seq = 7; UPDATE audit SET seq = 7 WHERE seq = 8; UPDATE audit SET seq = 8 WHERE seq = -1;",
    );
    let p = verify_problem(&s).expect("reorder detected");
    assert_eq!(p.0, 7, "{p:?}");
    // tail truncation is caught by a signed checkpoint
    let (s, _, last) = trail();
    let (from, _) = enc_batches(&s)[1];
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
    tamper(
        &s,
        &format!("DELETE FROM audit_batches WHERE first_seq >= {from}"),
    );
    let p = verify_problem(&s).expect("truncation detected");
    assert!(p.1.contains("truncated"), "{p:?}");
}

#[test]
fn batches_detect_deletion_index_edits_and_truncation() {
    // a whole batch removed from the middle of the chain
    let (s, _, _) = trail();
    let (first, _) = enc_batches(&s)[0];
    tamper(
        &s,
        &format!("DELETE FROM audit_batches WHERE first_seq = {first}"),
    );
    let p = verify_problem(&s).expect("deleted batch detected");
    assert_eq!(p.0, first, "{p:?}");
    assert!(p.1.contains("missing"), "{p:?}");
    // an index term removed: a query by key would no longer find the batch
    let (s, _, _) = trail();
    let (first, last) = enc_batches(&s)[1];
    tamper(
        &s,
        &format!(
            "DELETE FROM audit_batch_terms WHERE first_seq = {first} AND term =
             (SELECT term FROM audit_batch_terms WHERE first_seq = {first}
              ORDER BY term LIMIT 1)"
        ),
    );
    let p = verify_problem(&s).expect("index edit detected");
    assert_eq!(p.0, first, "{p:?}");
    assert!(
        p.1.contains(&format!("index of audit records {first} to {last}")),
        "{p:?}"
    );
    // a time range narrowed: a query by time would no longer find the batch
    let (s, _, _) = trail();
    let (first, _) = enc_batches(&s)[0];
    tamper(
        &s,
        &format!("UPDATE audit_batches SET max_time = min_time - 1 WHERE first_seq = {first}"),
    );
    let p = verify_problem(&s).expect("time range edit detected");
    assert_eq!(p.0, first, "{p:?}");
    // the links of a batch swapped with those of another
    let (s, _, _) = trail();
    let b = enc_batches(&s);
    tamper(
        &s,
        &format!(
            "UPDATE audit_batches SET hash = prev_hash WHERE first_seq = {}",
            b[0].0
        ),
    );
    let p = verify_problem(&s).expect("link edit detected");
    assert_eq!(p.0, b[0].1, "{p:?}");
    assert!(p.1.contains("altered"), "{p:?}");
}

/// The records of `all` that `f` selects, as the query should return them.
fn select(all: &[AuditRecord], f: &AuditFilter) -> Vec<u64> {
    let mut v: Vec<u64> = all
        .iter()
        .filter(|r| {
            r.seq > f.after_seq.unwrap_or(0)
                && f.before_seq.is_none_or(|b| r.seq < b)
                && f.key_id.is_none_or(|k| r.key_id == Some(k))
                && f.identity.as_ref().is_none_or(|i| &r.identity == i)
                && f.action.as_ref().is_none_or(|a| &r.action == a)
                && f.since.is_none_or(|t| r.time >= t)
                && f.until.is_none_or(|t| r.time < t)
        })
        .map(|r| r.seq)
        .collect();
    if f.descending {
        v.reverse();
    }
    v.truncate(f.limit.unwrap_or(u64::MAX) as usize);
    v
}

#[test]
fn queries_see_rows_and_batches_as_one_trail() {
    // Events (rows) between usage records of two identities on two keys, chained in many
    // passes (batches of different sizes); every filter, direction and page answers what
    // filtering the whole trail gives.
    let w = world();
    let (k, u) = (&w.k, &w.user);
    let a = k.create_key(&w.admin, &aes("qa")).unwrap();
    let b = k.create_key(&w.admin, &aes("qb")).unwrap();
    for round in 0..6u32 {
        for i in 0..(3 + round * 7) {
            let name = if i % 3 == 0 { "qb" } else { "qa" };
            k.encrypt(u, name, b"x", &Context::new()).unwrap();
            if i % 5 == 0 {
                let _ = k.encrypt(&w.nobody, name, b"x", &Context::new());
            }
        }
        k.flush().unwrap();
        if round % 2 == 0 {
            k.rotate_key(&w.admin, "qa").unwrap();
        }
    }
    assert!(w.s.audit_batches().len() >= 6, "{:?}", w.s.audit_batches());
    let all = k.audit_query(&w.auditor, &AuditFilter::default()).unwrap();
    assert!(
        all.windows(2).all(|p| p[1].seq == p[0].seq + 1),
        "one gapless trail"
    );
    let mid = all[all.len() / 2].clone();
    let (lo, hi) = (all[all.len() / 4].time, all[3 * all.len() / 4].time);
    let mut filters = Vec::new();
    for key_id in [None, Some(a.id), Some(b.id)] {
        for identity in [None, Some("uma".to_string()), Some("nob".to_string())] {
            for action in [
                None,
                Some("encrypt".to_string()),
                Some("rotate".to_string()),
            ] {
                filters.push(AuditFilter {
                    key_id,
                    identity: identity.clone(),
                    action,
                    ..Default::default()
                });
            }
        }
    }
    let mut paged = Vec::new();
    for f in &filters {
        for (after, before) in [(None, None), (Some(mid.seq), None), (None, Some(mid.seq))] {
            for (since, until) in [(None, None), (Some(lo), Some(hi))] {
                for limit in [None, Some(1), Some(7), Some(40)] {
                    for descending in [false, true] {
                        paged.push(AuditFilter {
                            after_seq: after,
                            before_seq: before,
                            since,
                            until,
                            limit,
                            descending,
                            ..f.clone()
                        });
                    }
                }
            }
        }
    }
    for f in &paged {
        let got: Vec<u64> = k
            .audit_query(&w.auditor, f)
            .unwrap()
            .iter()
            .map(|r| r.seq)
            .collect();
        assert_eq!(got, select(&all, f), "{f:?}");
    }
    // what a query returns is the stored record, links included
    let again = k
        .audit_query(
            &w.auditor,
            &AuditFilter {
                after_seq: Some(mid.seq - 1),
                limit: Some(1),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(again, vec![mid]);
    // an export newest first pages down to the first record and stops
    let mut out = Vec::new();
    let f = AuditFilter {
        descending: true,
        ..Default::default()
    };
    let n = k.audit_export(&w.auditor, &f, &mut out).unwrap();
    assert_eq!(n, all.len() as u64);
    let first_line = String::from_utf8(out)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(first_line.starts_with(&format!("{{\"seq\":{},", all.last().unwrap().seq)));
}

#[test]
fn pruning_inside_a_batch_keeps_the_batch_and_the_chain_verifiable() {
    // A batch of usage records has one hash link for all its records, so retention removes
    // it whole or keeps it whole: a cut inside it keeps it (and what follows), a cut after
    // it removes it.
    let (s, _, last) = trail();
    let (k, o) = s.open_owner();
    let (first, end) = enc_batches(&s)[0];
    assert!(
        end >= first + 3,
        "a batch of several records: {first}..{end}"
    );
    let before = k.audit_query(&o, &AuditFilter::default()).unwrap();
    let n = k.audit_prune(&o, first + 2).unwrap();
    assert_eq!(
        n,
        first - 1,
        "every record before the batch is gone, none of it"
    );
    let rep = k.audit_verify(&o, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
    assert_eq!(rep.first_seq, first);
    let after = k.audit_query(&o, &AuditFilter::default()).unwrap();
    // the records kept are unchanged, links included, and the prune itself is recorded
    let kept: Vec<&AuditRecord> = before.iter().filter(|r| r.seq >= first).collect();
    assert_eq!(after[..kept.len()].iter().collect::<Vec<_>>(), kept);
    assert!(after
        .iter()
        .any(|r| r.action == "audit-prune" && r.seq > last));
    assert_eq!(s.audit_batches()[0], (first, end), "the batch is whole");
    // a cut just after the batch removes it, and exactly it
    let n = k.audit_prune(&o, end + 1).unwrap();
    assert_eq!(n, end - first + 1);
    let rep = k.audit_verify(&o, None).unwrap();
    assert!(rep.ok(), "{rep:?}");
    assert_eq!(rep.first_seq, end + 1);
    assert!(s.audit_batches().iter().all(|b| b.0 > end));
}

#[test]
fn export_json_lines() {
    let (s, _, last) = trail();
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
