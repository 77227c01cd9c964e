//! `kmsctl key ...`: create, import, list, describe, lifecycle, rotation schedule,
//! version floor and destruction, wrapped export.

use std::io::Write;

use kms::core::*;

use crate::args::{Args, Cmd};
use crate::util::*;
use crate::Ctx;

fn parse_u64(s: &str, what: &str) -> R<u64> {
    s.trim()
        .parse()
        .map_err(|_| usage(format!("{what} must be a whole number, not '{s}'")))
}

pub fn parse_pairs(list: &[&str], what: &str) -> R<Vec<(String, String)>> {
    list.iter()
        .map(|p| {
            p.split_once('=')
                .filter(|(k, _)| !k.is_empty())
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| usage(format!("{what} '{p}' is not KEY=VALUE")))
        })
        .collect()
}

pub fn key_json(k: &KeyRecord) -> String {
    format!(
        "{{\"id\":{},\"name\":{},\"spec\":{},\"state\":{},\"compromised\":{},\"primary_version\":{},\"created\":{},\"last_rotated\":{},\"next_rotation\":{},\"rotation_period\":{},\"rotate_after_uses\":{},\"deletion_date\":{}}}",
        k.id,
        js_opt(k.name.as_deref()),
        js(k.spec.name()),
        js(k.state.name()),
        k.compromised,
        k.primary_version,
        k.created,
        k.last_rotated,
        json::opt_num(k.next_rotation()),
        json::opt_num(k.rotation_period),
        json::opt_num(k.rotate_after_uses),
        json::opt_num(k.deletion_date),
    )
}

fn state_text(k: &KeyRecord) -> String {
    let mut s = k.state.name().to_string();
    if k.compromised {
        s.push_str(" (compromised)");
    }
    s
}

fn print_key(ctx: &Ctx, k: &KeyRecord, verb: &str) {
    if ctx.json() {
        println!("{}", key_json(k));
    } else {
        println!("key {} {verb}: {}", k.label(), state_text(k));
    }
}

fn request(a: &Args, name: &str) -> R<KeyRequest> {
    let spec = KeySpec::parse(a.get("spec").unwrap_or("AES-256"))?;
    let usage = match a.get("usage") {
        Some(u) => Usage::parse(u)?,
        None => Usage::NONE,
    };
    Ok(KeyRequest {
        spec: Some(spec),
        usage,
        name: Some(name.to_string()),
        description: a.get("description").unwrap_or("").to_string(),
        tags: parse_pairs(&a.all("tag"), "tag")?,
        activation_date: a.get("activation-date").map(parse_time).transpose()?,
        pre_active: a.has("pre-active"),
        rotation_period: a.get("rotation-period").map(parse_duration).transpose()?,
        rotate_after_uses: a
            .get("rotate-after-uses")
            .map(|v| parse_u64(v, "--rotate-after-uses"))
            .transpose()?,
        exportable: a.has("exportable"),
        ..Default::default()
    })
}

pub fn key(ctx: &mut Ctx, cmd: &Cmd, sub: &str, a: &Args) -> R {
    let (k, c) = ctx.caller()?;
    match sub {
        "create" => {
            a.at_most(1, cmd)?;
            let name = a.arg(0, "a key NAME", cmd)?;
            let rec = k.create_key(&c, &request(a, name)?)?;
            print_key(ctx, &rec, "created");
        }
        "import" => {
            a.at_most(1, cmd)?;
            let name = a.arg(0, "a key NAME", cmd)?;
            let file = a
                .get("file")
                .ok_or_else(|| usage("key import needs --file PATH"))?;
            if !a.has("spec") {
                return Err(usage("key import needs --spec SPEC"));
            }
            let material = zeroize::Zeroizing::new(read_file(file)?);
            let rec = k.import_key(&c, &request(a, name)?, &material)?;
            print_key(ctx, &rec, "imported");
        }
        "import-wrapped" => {
            a.at_most(1, cmd)?;
            let name = a.arg(0, "a key NAME", cmd)?;
            let file = a
                .get("file")
                .ok_or_else(|| usage("key import-wrapped needs --file PATH"))?;
            let wrapped = read_file(file)?;
            let req = KeyRequest {
                name: Some(name.to_string()),
                ..Default::default()
            };
            let rec = k.import_wrapped(&c, &req, &wrapped)?;
            print_key(ctx, &rec, "imported");
        }
        "list" => {
            a.at_most(0, cmd)?;
            let filter = KeyFilter {
                state: a.get("state").map(KeyState::parse).transpose()?,
                spec: a.get("spec").map(KeySpec::parse).transpose()?,
                tag: match a.get("tag") {
                    Some(t) => parse_pairs(&[t], "tag")?.pop(),
                    None => None,
                },
                include_destroyed: a.has("all"),
                ..Default::default()
            };
            let keys = k.list_keys(&c, &filter)?;
            if ctx.json() {
                let v: Vec<String> = keys.iter().map(key_json).collect();
                println!("[{}]", v.join(","));
            } else {
                let rows: Vec<Vec<String>> = keys
                    .iter()
                    .map(|k| {
                        vec![
                            k.id.to_string(),
                            k.name.clone().unwrap_or_default(),
                            k.spec.name().to_string(),
                            state_text(k),
                            k.primary_version.to_string(),
                            fmt_time(k.created),
                        ]
                    })
                    .collect();
                table(
                    &["ID", "NAME", "SPEC", "STATE", "PRIMARY", "CREATED"],
                    &rows,
                );
            }
        }
        "describe" => {
            a.at_most(1, cmd)?;
            let info = k.describe_key(&c, a.arg(0, "a KEY", cmd)?)?;
            if ctx.json() {
                println!("{}", info.to_json());
            } else {
                let key = &info.key;
                let rows = [
                    ("id", key.id.to_string()),
                    ("name", key.name.clone().unwrap_or_default()),
                    ("spec", key.spec.name().to_string()),
                    ("usage", key.usage.names().join(",")),
                    ("state", state_text(key)),
                    ("origin", key.origin.name().to_string()),
                    ("primary version", key.primary_version.to_string()),
                    ("min decrypt version", key.min_decrypt_version.to_string()),
                    ("exportable", key.exportable.to_string()),
                    ("created", fmt_time(key.created)),
                    ("last rotated", fmt_time(key.last_rotated)),
                    (
                        "rotation period",
                        key.rotation_period.map(fmt_duration).unwrap_or("-".into()),
                    ),
                    (
                        "rotate after uses",
                        key.rotate_after_uses
                            .map(|n| n.to_string())
                            .unwrap_or("-".into()),
                    ),
                    ("next rotation", fmt_opt_time(key.next_rotation())),
                    ("deletion date", fmt_opt_time(key.deletion_date)),
                    ("destroyed at", fmt_opt_time(key.destroyed_at)),
                    ("owner", key.owner.clone()),
                    ("description", key.description.clone()),
                    (
                        "tags",
                        key.tags
                            .iter()
                            .map(|(a, b)| format!("{a}={b}"))
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    (
                        "versions",
                        info.versions
                            .iter()
                            .map(|v| v.version.to_string())
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                ];
                for (n, v) in rows {
                    println!("{n:<20} {v}");
                }
            }
        }
        "versions" => {
            a.at_most(1, cmd)?;
            let info = k.describe_key(&c, a.arg(0, "a KEY", cmd)?)?;
            if ctx.json() {
                let v: Vec<String> = info
                    .versions
                    .iter()
                    .map(|v| {
                        format!(
                            "{{\"version\":{},\"created\":{},\"destroyed\":{},\"uses\":{},\"primary\":{}}}",
                            v.version, v.created, v.destroyed, v.uses, v.primary
                        )
                    })
                    .collect();
                println!("[{}]", v.join(","));
            } else {
                let rows: Vec<Vec<String>> = info
                    .versions
                    .iter()
                    .map(|v| {
                        vec![
                            v.version.to_string(),
                            fmt_time(v.created),
                            v.uses.to_string(),
                            if v.primary { "primary" } else { "" }.to_string()
                                + if v.destroyed { "destroyed" } else { "" },
                        ]
                    })
                    .collect();
                table(&["VERSION", "CREATED", "USES", "NOTE"], &rows);
            }
        }
        "rotate" => {
            a.at_most(1, cmd)?;
            let key = a.arg(0, "a KEY", cmd)?;
            let v = match a.get("material-file") {
                Some(f) => {
                    let m = zeroize::Zeroizing::new(read_file(f)?);
                    k.rotate_key_with_material(&c, key, &m)?
                }
                None => k.rotate_key(&c, key)?,
            };
            if ctx.json() {
                println!("{{\"key\":{},\"version\":{v}}}", js(key));
            } else {
                println!("key {key} rotated: primary version {v}");
            }
        }
        "enable" | "disable" | "suspend" | "deactivate" | "compromised" | "cancel-deletion" => {
            a.at_most(1, cmd)?;
            let key = a.arg(0, "a KEY", cmd)?;
            let rec = match sub {
                "enable" => k.enable_key(&c, key)?,
                "disable" => k.disable_key(&c, key)?,
                "suspend" => k.suspend_key(&c, key)?,
                "deactivate" => k.deactivate_key(&c, key)?,
                "compromised" => k.mark_compromised(&c, key)?,
                _ => k.cancel_deletion(&c, key)?,
            };
            let verb = match sub {
                "compromised" => "marked compromised",
                "cancel-deletion" => "deletion cancelled",
                "enable" => "enabled",
                "disable" => "disabled",
                "suspend" => "suspended",
                _ => "deactivated",
            };
            print_key(ctx, &rec, verb);
        }
        "schedule-deletion" => {
            a.at_most(1, cmd)?;
            let key = a.arg(0, "a KEY", cmd)?;
            let days = a
                .get("days")
                .map(|d| parse_u64(d, "--days").map(|d| d.min(u32::MAX as u64) as u32))
                .transpose()?;
            let rec = k.schedule_deletion(&c, key, days)?;
            if ctx.json() {
                println!("{}", key_json(&rec));
            } else {
                println!(
                    "key {} scheduled for deletion at {} (cancel with 'kmsctl key cancel-deletion')",
                    rec.label(),
                    fmt_opt_time(rec.deletion_date)
                );
            }
        }
        "set-rotation" => {
            a.at_most(1, cmd)?;
            let key = a.arg(0, "a KEY", cmd)?;
            if a.has("after-bytes") {
                return Err(fail(
                    EXIT_LIMIT,
                    "rotation after N bytes is not supported: the core counts uses (messages, data keys, streams), not bytes; use --after-uses",
                ));
            }
            let period = a.get("period").map(parse_duration).transpose()?;
            let uses = a
                .get("after-uses")
                .map(|v| parse_u64(v, "--after-uses"))
                .transpose()?;
            if period.is_none() && uses.is_none() && !a.has("none") {
                return Err(usage(
                    "key set-rotation needs --period, --after-uses or --none",
                ));
            }
            if a.has("none") && (period.is_some() || uses.is_some()) {
                return Err(usage(
                    "--none cannot be combined with --period or --after-uses",
                ));
            }
            let rec = k.set_rotation(&c, key, period, uses)?;
            if ctx.json() {
                println!("{}", key_json(&rec));
            } else {
                println!(
                    "key {} rotation: period {}, after uses {}, next due {}",
                    rec.label(),
                    rec.rotation_period.map(fmt_duration).unwrap_or("-".into()),
                    rec.rotate_after_uses
                        .map(|n| n.to_string())
                        .unwrap_or("-".into()),
                    fmt_opt_time(rec.next_rotation())
                );
            }
        }
        "set-min-version" | "destroy-version" => {
            a.at_most(2, cmd)?;
            let key = a.arg(0, "a KEY", cmd)?;
            let v = parse_u64(a.arg(1, "a VERSION", cmd)?, "VERSION")?;
            let v = u32::try_from(v).map_err(|_| usage("VERSION is too large"))?;
            if sub == "set-min-version" {
                let rec = k.set_min_decrypt_version(&c, key, v)?;
                println!(
                    "key {} minimum decryption version {}",
                    rec.label(),
                    rec.min_decrypt_version
                );
            } else {
                k.destroy_version(&c, key, v)?;
                println!("key {key} version {v} destroyed");
            }
        }
        "export-wrapped" => {
            a.at_most(1, cmd)?;
            let key = a.arg(0, "a KEY", cmd)?;
            let wk = a
                .get("wrapping-key")
                .ok_or_else(|| usage("key export-wrapped needs --wrapping-key KEY"))?;
            let version = a
                .get("version")
                .map(|v| parse_u64(v, "--version").map(|v| v as u32))
                .transpose()?;
            let out = k.export_wrapped(&c, key, version, wk)?;
            let mut o = Output::open(a.get("output"), true)?;
            o.write_all(&out)?;
            o.commit()?;
        }
        other => return Err(usage(format!("unknown command 'key {other}'"))),
    }
    Ok(())
}
