//! `kmsctl init|status|identity|policy|audit|report|backup|restore|maintain|master-key`.

use std::io::Read;

use kms::core::backup::{load_backup_key_file, verify_backup, BackupSecret};
use kms::core::seal::MasterSource;
use kms::core::*;
use zeroize::Zeroizing;

use crate::args::{Args, Cmd};
use crate::keys::parse_pairs;
use crate::util::*;
use crate::Ctx;

pub fn init(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    if ctx.path.exists() {
        return Err(fail(
            EXIT_EXISTS,
            format!("a store already exists at {}", ctx.path.display()),
        ));
    }
    let mut cfg = ctx.config()?;
    let mode = if a.has("passphrase") {
        if a.has("key-file") {
            return Err(usage("--passphrase and --key-file exclude each other"));
        }
        let p = secret_from("KMS_PASSPHRASE", None, "Store passphrase: ", true)?;
        cfg.master = MasterSource::Passphrase(Zeroizing::new(p));
        "passphrase".to_string()
    } else {
        if matches!(cfg.master, MasterSource::Passphrase(_)) {
            return Err(usage(
                "KMS_PASSPHRASE is set: pass --passphrase to use it, or unset it for a key file",
            ));
        }
        if let Some(f) = a.get("key-file") {
            cfg.master = MasterSource::KeyFile(f.into());
        }
        match &cfg.master {
            MasterSource::KeyFile(p) => format!("key file {}", p.display()),
            MasterSource::Passphrase(_) => "passphrase".into(),
        }
    };
    let owner_file = cfg.owner_secret_file.clone();
    let k = Kms::open(cfg)?;
    k.flush()?;
    println!(
        "store created at {} (master key: {mode})",
        ctx.path.display()
    );
    if let Some(f) = owner_file {
        println!("owner secret: {} (keep it private)", f.display());
    }
    Ok(())
}

pub fn status(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    let (k, c) = ctx.caller()?;
    let mode = store::read(k.store(), |tx| tx.meta_get("master_mode"))?
        .map(|v| String::from_utf8_lossy(&v).to_string())
        .unwrap_or_else(|| "unknown".into());
    let keyrings = k.list_keyrings()?;
    let keys = k.list_keys(
        &c,
        &KeyFilter {
            include_destroyed: true,
            ..Default::default()
        },
    )?;
    let mut counts: Vec<(KeyState, usize)> = KeyState::ALL.iter().map(|s| (*s, 0)).collect();
    for key in &keys {
        if let Some(e) = counts.iter_mut().find(|(s, _)| *s == key.state) {
            e.1 += 1;
        }
    }
    let head = k
        .audit_query(
            &c,
            &AuditFilter {
                descending: true,
                limit: Some(1),
                ..Default::default()
            },
        )
        .ok()
        .and_then(|v| v.into_iter().next());
    let sid = json::hexs(&k.store_id());
    if ctx.json() {
        let kr: Vec<String> = keyrings.iter().map(|r| js(&r.name)).collect();
        let cs: Vec<String> = counts
            .iter()
            .map(|(s, n)| format!("{}:{n}", js(s.name())))
            .collect();
        println!(
            "{{\"store\":{},\"backend\":{},\"store_id\":{},\"master_key\":{},\"keyrings\":[{}],\"identity\":{},\"keyring\":{},\"keys\":{{{}}},\"audit_head\":{}}}",
            js(&ctx.path.display().to_string()),
            js(&k.store().describe()),
            js(&sid),
            js(&mode),
            kr.join(","),
            js(&c.identity),
            js(&c.keyring_name),
            cs.join(","),
            head.as_ref()
                .map(|h| format!("{{\"seq\":{},\"hash\":{}}}", h.seq, js(&json::hexs(&h.hash))))
                .unwrap_or_else(|| "null".into())
        );
        return Ok(());
    }
    println!("store        {}", ctx.path.display());
    println!("backend      {}", k.store().describe());
    println!("store id     {sid}");
    println!("master key   {mode}");
    println!(
        "keyrings     {}",
        keyrings
            .iter()
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("identity     {} (keyring {})", c.identity, c.keyring_name);
    println!("keys         {}{}", keys.len(), {
        let parts: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| format!("{n} {}", s.name()))
            .collect();
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    });
    match head {
        Some(h) => println!("audit head   record {} hash {}", h.seq, json::hexs(&h.hash)),
        None => println!("audit head   - (needs the auditor role)"),
    }
    Ok(())
}

fn new_secret(a: &Args, name: &str) -> R<(Zeroizing<String>, bool)> {
    if a.has("generate") {
        let r = kms::core::crypto::random_vec(24)?;
        return Ok((Zeroizing::new(json::hexs(&r)), true));
    }
    Ok((
        Zeroizing::new(secret_from(
            "KMS_NEW_SECRET",
            a.get("new-secret-file"),
            &format!("New secret for {name}: "),
            true,
        )?),
        false,
    ))
}

fn identity_json(i: &IdentityRecord) -> String {
    let roles: Vec<String> = i.roles.names().iter().map(|r| js(r)).collect();
    format!(
        "{{\"name\":{},\"roles\":[{}],\"disabled\":{},\"locked\":{},\"failures\":{},\"created\":{}}}",
        js(&i.name),
        roles.join(","),
        i.disabled,
        i.locked,
        i.failures,
        i.created
    )
}

fn identity_state(i: &IdentityRecord) -> &'static str {
    match (i.disabled, i.locked) {
        (true, _) => "disabled",
        (_, true) => "locked",
        _ => "active",
    }
}

fn identity_table(v: &[IdentityRecord]) {
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                i.roles.names().join(","),
                identity_state(i).to_string(),
                i.failures.to_string(),
                fmt_time(i.created),
            ]
        })
        .collect();
    table(&["NAME", "ROLES", "STATE", "FAILURES", "CREATED"], &rows);
}

pub fn identity(ctx: &mut Ctx, cmd: &Cmd, sub: &str, a: &Args) -> R {
    let (k, c) = ctx.caller()?;
    if sub == "list" {
        a.at_most(0, cmd)?;
        let v = k.list_identities(&c)?;
        if ctx.json() {
            let items: Vec<String> = v.iter().map(identity_json).collect();
            println!("[{}]", items.join(","));
        } else {
            identity_table(&v);
        }
        return Ok(());
    }
    a.at_most(1, cmd)?;
    let name = a.arg(0, "an identity NAME", cmd)?;
    match sub {
        "create" => {
            let roles = Roles::parse(a.get("roles").unwrap_or(""))?;
            let (secret, generated) = new_secret(a, name)?;
            k.create_identity(&c, name, secret.as_bytes(), roles, a.has("combined"))?;
            if generated {
                println!("{}", secret.as_str());
            } else {
                println!(
                    "identity {name} created (roles: {})",
                    if roles.0 == 0 {
                        "none".into()
                    } else {
                        roles.names().join(",")
                    }
                );
            }
        }
        "set-secret" => {
            let (secret, generated) = new_secret(a, name)?;
            k.set_identity_secret(&c, name, secret.as_bytes())?;
            if generated {
                println!("{}", secret.as_str());
            } else {
                println!("identity {name}: secret set");
            }
        }
        "disable" => {
            k.disable_identity(&c, name)?;
            println!("identity {name} disabled");
        }
        "enable" => {
            k.enable_identity(&c, name)?;
            println!("identity {name} enabled");
        }
        "unlock" => {
            k.unlock_identity(&c, name)?;
            println!("identity {name} unlocked");
        }
        "delete" => {
            k.delete_identity(&c, name)?;
            println!("identity {name} deleted");
        }
        other => return Err(usage(format!("unknown command 'identity {other}'"))),
    }
    Ok(())
}

fn actions_text(s: ActionSet) -> String {
    s.actions()
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(",")
}

fn grant_json(g: &GrantRecord) -> String {
    let ctxs: Vec<String> = g
        .context
        .iter()
        .map(|(k, v)| format!("{}:{}", js(k), js(v)))
        .collect();
    format!(
        "{{\"id\":{},\"identity\":{},\"key_id\":{},\"actions\":{},\"expires\":{},\"max_uses\":{},\"uses\":{},\"context\":{{{}}}}}",
        g.id,
        js(&g.identity),
        json::opt_num(g.key_id),
        js(&actions_text(g.actions)),
        json::opt_num(g.expires),
        json::opt_num(g.max_uses),
        g.uses,
        ctxs.join(",")
    )
}

pub fn policy(ctx: &mut Ctx, cmd: &Cmd, sub: &str, a: &Args) -> R {
    let (k, c) = ctx.caller()?;
    match sub {
        "grant" => {
            a.at_most(1, cmd)?;
            let who = a.arg(0, "an IDENTITY", cmd)?;
            let actions = ActionSet::parse(
                a.get("actions")
                    .ok_or_else(|| usage("policy grant needs --actions LIST"))?,
            )?;
            let expires = match a.get("expires") {
                Some(e) => Some(match e.strip_prefix('+') {
                    Some(d) => now() + parse_duration(d)?,
                    None => parse_time(e)?,
                }),
                None => None,
            };
            let id = k.grant(
                &c,
                &GrantRequest {
                    identity: who.to_string(),
                    key: a.get("key").map(str::to_string),
                    actions,
                    expires,
                    max_uses: a
                        .get("max-uses")
                        .map(|v| {
                            v.parse()
                                .map_err(|_| usage("--max-uses must be a whole number"))
                        })
                        .transpose()?,
                    context: parse_pairs(&a.all("context"), "context")?,
                },
            )?;
            if ctx.json() {
                println!("{{\"grant\":{id}}}");
            } else {
                println!("grant {id}: {who} may {}", actions_text(actions));
            }
        }
        "revoke" => {
            a.at_most(1, cmd)?;
            let id: u64 = a
                .arg(0, "a GRANT_ID", cmd)?
                .parse()
                .map_err(|_| usage("GRANT_ID must be a number"))?;
            k.revoke(&c, id)?;
            println!("grant {id} revoked");
        }
        "show" => {
            a.at_most(1, cmd)?;
            let key = a.pos.first().map(String::as_str);
            let grants = k.list_grants(&c, key)?;
            let ids = k.list_identities(&c)?;
            if ctx.json() {
                let i: Vec<String> = ids.iter().map(identity_json).collect();
                let g: Vec<String> = grants.iter().map(grant_json).collect();
                println!(
                    "{{\"identities\":[{}],\"grants\":[{}]}}",
                    i.join(","),
                    g.join(",")
                );
            } else {
                println!("Identities (roles apply to every key of the keyring):");
                identity_table(&ids);
                println!("\nGrants:");
                let rows: Vec<Vec<String>> = grants
                    .iter()
                    .map(|g| {
                        vec![
                            g.id.to_string(),
                            g.identity.clone(),
                            g.key_id.map(|k| k.to_string()).unwrap_or("*".into()),
                            actions_text(g.actions),
                            fmt_opt_time(g.expires),
                            match g.max_uses {
                                Some(m) => format!("{}/{m}", g.uses),
                                None => g.uses.to_string(),
                            },
                            g.context
                                .iter()
                                .map(|(a, b)| format!("{a}={b}"))
                                .collect::<Vec<_>>()
                                .join(","),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID", "IDENTITY", "KEY", "ACTIONS", "EXPIRES", "USES", "CONTEXT",
                    ],
                    &rows,
                );
            }
        }
        other => return Err(usage(format!("unknown command 'policy {other}'"))),
    }
    Ok(())
}

fn key_id(k: &Kms, c: &Caller, key: &str) -> R<u64> {
    if let Ok(id) = key.parse() {
        return Ok(id);
    }
    Ok(k.describe_key(c, key)?.key.id)
}

fn audit_filter(k: &Kms, c: &Caller, a: &Args) -> R<AuditFilter> {
    Ok(AuditFilter {
        key_id: a.get("key").map(|key| key_id(k, c, key)).transpose()?,
        identity: a.get("identity").map(str::to_string),
        action: a.get("action").map(str::to_string),
        since: a
            .get("since")
            .map(|t| parse_time(t).map(|s| s * 1_000_000))
            .transpose()?,
        until: a
            .get("until")
            .map(|t| parse_time(t).map(|s| s * 1_000_000))
            .transpose()?,
        limit: a
            .get("limit")
            .map(|v| {
                v.parse()
                    .map_err(|_| usage("--limit must be a whole number"))
            })
            .transpose()?,
        ..Default::default()
    })
}

fn print_records(ctx: &Ctx, v: &[AuditRecord]) {
    if ctx.json() {
        let items: Vec<String> = v.iter().map(audit::to_json_line).collect();
        println!("[{}]", items.join(","));
        return;
    }
    let rows: Vec<Vec<String>> = v
        .iter()
        .map(|r| {
            vec![
                r.seq.to_string(),
                fmt_time(r.time / 1_000_000),
                r.identity.clone(),
                r.action.clone(),
                r.key_id.map(|k| k.to_string()).unwrap_or("-".into()),
                r.key_version.map(|k| k.to_string()).unwrap_or("-".into()),
                if r.error.is_empty() {
                    r.outcome.name().to_string()
                } else {
                    format!("{} ({})", r.outcome.name(), r.error)
                },
                r.detail.clone(),
            ]
        })
        .collect();
    table(
        &[
            "SEQ", "TIME", "IDENTITY", "ACTION", "KEY", "VER", "OUTCOME", "DETAIL",
        ],
        &rows,
    );
}

fn read_checkpoint_key(a: &Args, required: bool) -> R<Option<Zeroizing<Vec<u8>>>> {
    match a.get("checkpoint-key-file") {
        Some(p) => Ok(Some(Zeroizing::new(read_file(p)?))),
        None if required => Err(usage("this command needs --checkpoint-key-file PATH")),
        None => Ok(None),
    }
}

pub fn audit(ctx: &mut Ctx, cmd: &Cmd, sub: &str, a: &Args) -> R {
    a.at_most(0, cmd)?;
    let (k, c) = ctx.caller()?;
    match sub {
        "tail" => {
            let n: u64 = a
                .get("lines")
                .unwrap_or("20")
                .parse()
                .map_err(|_| usage("--lines must be a whole number"))?;
            let mut v = k.audit_query(
                &c,
                &AuditFilter {
                    descending: true,
                    limit: Some(n),
                    ..Default::default()
                },
            )?;
            v.reverse();
            print_records(ctx, &v);
        }
        "query" => {
            let f = audit_filter(&k, &c, a)?;
            print_records(ctx, &k.audit_query(&c, &f)?);
        }
        "export" => {
            let f = audit_filter(&k, &c, a)?;
            let mut o = Output::open(a.get("output"), true)?;
            let n = k.audit_export(&c, &f, &mut o)?;
            o.commit()?;
            if a.get("output").is_some() {
                eprintln!("{n} records exported");
            }
        }
        "verify" => {
            let key = read_checkpoint_key(a, false)?;
            let rep = k.audit_verify(&c, key.as_deref().map(|v| &v[..]))?;
            if ctx.json() {
                println!(
                    "{{\"ok\":{},\"records\":{},\"first_seq\":{},\"last_seq\":{},\"checkpoints\":{},\"problem\":{}}}",
                    rep.ok(),
                    rep.records,
                    rep.first_seq,
                    rep.last_seq,
                    rep.checkpoints,
                    js_opt(rep.problem.as_ref().map(|p| p.1.as_str()))
                );
            }
            if let Some((seq, why)) = &rep.problem {
                return Err(fail(
                    EXIT_INTEGRITY,
                    format!("audit chain does not verify at record {seq}: {why}"),
                ));
            }
            if !ctx.json() {
                println!(
                    "audit chain ok: {} records ({}..{}), {} checkpoints{}",
                    rep.records,
                    rep.first_seq,
                    rep.last_seq,
                    rep.checkpoints,
                    if key.is_some() {
                        " with valid signatures"
                    } else {
                        ""
                    }
                );
            }
        }
        "checkpoint" => {
            let key = read_checkpoint_key(a, true)?.unwrap_or_default();
            let cp = k.audit_checkpoint(&c, &key)?;
            println!(
                "checkpoint at record {} (head {})",
                cp.seq,
                json::hexs(&cp.head_hash)
            );
        }
        other => return Err(usage(format!("unknown command 'audit {other}'"))),
    }
    Ok(())
}

/// Who may use a key: identities whose roles allow key use, and grants of use actions.
fn who_may_use(key: &KeyRecord, ids: &[IdentityRecord], grants: &[GrantRecord]) -> Vec<String> {
    let mut out = Vec::new();
    for i in ids {
        if i.disabled {
            continue;
        }
        let uses = [
            Action::Encrypt,
            Action::Decrypt,
            Action::Sign,
            Action::Verify,
        ]
        .iter()
        .any(|a| policy::role_allows(i.roles, *a));
        if uses {
            out.push(format!("{} (role: {})", i.name, i.roles.names().join("+")));
        }
    }
    for g in grants {
        let applies = g.key_id.is_none() || g.key_id == Some(key.id);
        let uses: Vec<&str> = g
            .actions
            .actions()
            .into_iter()
            .filter(|a| a.is_key_use() || *a == Action::GetSecret)
            .map(|a| a.name())
            .collect();
        if applies && !uses.is_empty() {
            out.push(format!(
                "{} (grant {}: {})",
                g.identity,
                g.id,
                uses.join(",")
            ));
        }
    }
    out
}

pub fn report(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    let (k, c) = ctx.caller()?;
    let keys = k.list_keys(
        &c,
        &KeyFilter {
            include_destroyed: a.has("all"),
            ..Default::default()
        },
    )?;
    let ids = k.list_identities(&c)?;
    let grants = k.list_grants(&c, None)?;
    struct Row {
        key: KeyRecord,
        versions: usize,
        uses: u64,
        who: Vec<String>,
    }
    let mut rows = Vec::new();
    for key in keys {
        let info = k.describe_key(&c, &key.id.to_string())?;
        rows.push(Row {
            versions: info.versions.len(),
            uses: info.versions.iter().map(|v| v.uses).sum(),
            who: who_may_use(&info.key, &ids, &grants),
            key: info.key,
        });
    }
    if ctx.json() {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                let who: Vec<String> = r.who.iter().map(|w| js(w)).collect();
                format!(
                    "{{\"id\":{},\"name\":{},\"spec\":{},\"state\":{},\"compromised\":{},\"versions\":{},\"created\":{},\"last_rotated\":{},\"next_rotation\":{},\"uses\":{},\"who_may_use\":[{}]}}",
                    r.key.id,
                    js_opt(r.key.name.as_deref()),
                    js(r.key.spec.name()),
                    js(r.key.state.name()),
                    r.key.compromised,
                    r.versions,
                    r.key.created,
                    r.key.last_rotated,
                    json::opt_num(r.key.next_rotation()),
                    r.uses,
                    who.join(",")
                )
            })
            .collect();
        println!("[{}]", items.join(","));
        return Ok(());
    }
    let cells = |r: &Row| -> Vec<String> {
        vec![
            r.key.id.to_string(),
            r.key.name.clone().unwrap_or_default(),
            r.key.spec.name().to_string(),
            r.key.state.name().to_string() + if r.key.compromised { "*" } else { "" },
            r.versions.to_string(),
            fmt_time(r.key.created),
            fmt_time(r.key.last_rotated),
            fmt_opt_time(r.key.next_rotation()),
            r.uses.to_string(),
            r.who.join("; "),
        ]
    };
    let headers = [
        "ID",
        "NAME",
        "SPEC",
        "STATE",
        "VERSIONS",
        "CREATED",
        "LAST_ROTATED",
        "NEXT_ROTATION",
        "USES",
        "WHO_MAY_USE",
    ];
    if a.has("csv") {
        println!("{}", headers.join(",").to_lowercase());
        for r in &rows {
            let line: Vec<String> = cells(r).iter().map(|s| csv(s)).collect();
            println!("{}", line.join(","));
        }
    } else {
        let t: Vec<Vec<String>> = rows.iter().map(cells).collect();
        table(&headers, &t);
    }
    Ok(())
}

fn backup_secret(a: &Args, confirm: bool) -> R<BackupSecret> {
    match a.get("key-file") {
        Some(p) => {
            if a.has("passphrase") {
                return Err(usage("--passphrase and --key-file exclude each other"));
            }
            Ok(BackupSecret::Key(load_backup_key_file(
                std::path::Path::new(p),
            )?))
        }
        None => Ok(BackupSecret::Passphrase(Zeroizing::new(secret_from(
            "KMS_BACKUP_PASSPHRASE",
            None,
            "Backup passphrase: ",
            confirm,
        )?))),
    }
}

fn summary_text(s: &BackupSummary) -> String {
    format!(
        "{} keyrings, {} keys, {} versions, {} identities, {} grants, {} objects, {} audit records, {} checkpoints",
        s.keyrings,
        s.keys,
        s.versions,
        s.identities,
        s.grants,
        s.objects,
        s.audit_records,
        s.checkpoints
    )
}

pub fn backup(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    let out = a
        .get("output")
        .filter(|o| *o != "-")
        .ok_or_else(|| usage("backup needs -o FILE"))?;
    if std::path::Path::new(out).exists() {
        return Err(fail(EXIT_EXISTS, format!("{out} already exists")));
    }
    let secret = backup_secret(a, true)?;
    let (k, c) = ctx.caller()?;
    let mut bar = Progress::new("backup", ctx.quiet());
    let mut o = Output::open(Some(out), true)?;
    let s = k.backup(&c, &secret, &mut o, &mut |d, t| bar.update(d, t))?;
    o.commit()?;
    bar.finish();
    println!("backup written to {out}: {}", summary_text(&s));
    Ok(())
}

pub fn restore(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(1, cmd)?;
    let file = a.arg(0, "a backup FILE", cmd)?.to_string();
    let secret = backup_secret(a, false)?;
    let mut bar = Progress::new("restore", ctx.quiet());
    let mut open = || -> kms::core::Result<(Box<dyn Read>, u64)> {
        let f = std::fs::File::open(&file)
            .map_err(|e| kms::core::Error::not_found(format!("cannot read backup {file}: {e}")))?;
        let len = f.metadata()?.len();
        Ok((Box::new(std::io::BufReader::new(f)), len))
    };
    if a.has("verify-only") {
        let (mut r, len) = open()?;
        let s = verify_backup(&mut r, len, &secret, &mut |d, t| bar.update(d, t))?;
        bar.finish();
        println!(
            "backup ok: store {} at {}: {}",
            json::hexs(&s.source_store_id),
            fmt_time(s.created),
            summary_text(&s)
        );
        return Ok(());
    }
    let (k, c) = ctx.caller()?;
    let s = k.restore(&c, &mut open, &secret, &mut |d, t| bar.update(d, t))?;
    bar.finish();
    println!("restored into {}: {}", ctx.path.display(), summary_text(&s));
    Ok(())
}

pub fn maintain(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    let cp_key = read_checkpoint_key(a, false)?;
    let (k, c) = ctx.caller()?;
    let mut bar = Progress::new("maintain", ctx.quiet());
    let rep = k.maintain_with_progress(&c, &mut |d, t| bar.update(d, t))?;
    bar.finish();
    let cp = match &cp_key {
        Some(key) => Some(k.audit_checkpoint(&c, key)?),
        None => None,
    };
    let ids = |v: &[u64]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
    if ctx.json() {
        println!(
            "{{\"rotated\":[{}],\"destroyed\":[{}],\"activated\":[{}],\"checkpoint\":{}}}",
            ids(&rep.rotated).join(","),
            ids(&rep.destroyed).join(","),
            ids(&rep.activated).join(","),
            json::opt_num(cp.as_ref().map(|c| c.seq))
        );
        return Ok(());
    }
    if rep.rotated.is_empty() && rep.destroyed.is_empty() && rep.activated.is_empty() {
        println!("nothing due");
    }
    for (what, v) in [
        ("rotated", &rep.rotated),
        ("destroyed", &rep.destroyed),
        ("activated", &rep.activated),
    ] {
        if !v.is_empty() {
            println!("{what}: keys {}", ids(v).join(", "));
        }
    }
    if let Some(cp) = cp {
        println!("checkpoint at record {}", cp.seq);
    }
    Ok(())
}

pub fn master_key(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    let (k, c) = ctx.caller()?;
    let n = k.rotate_master_key(&c)?;
    println!("master key rotated: {n} key versions re-sealed");
    Ok(())
}
