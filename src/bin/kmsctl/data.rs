//! `kmsctl encrypt|decrypt` (streaming envelope encryption of files and pipes) and
//! `kmsctl secret ...` (versioned application secrets).

use std::io::{Read, Write};

use kms::core::*;

use crate::args::{Args, Cmd};
use crate::keys::parse_pairs;
use crate::util::*;
use crate::Ctx;

fn context(a: &Args) -> R<Context> {
    let mut c = Context::new();
    for (k, v) in parse_pairs(&a.all("context"), "context")? {
        if c.insert(k.clone(), v).is_some() {
            return Err(usage(format!("context key '{k}' given twice")));
        }
    }
    Ok(c)
}

fn same_file(a: &Args) -> R {
    if let (Some(i), Some(o)) = (a.get("input"), a.get("output")) {
        if i != "-" && i == o {
            return Err(usage("input and output must be different files"));
        }
    }
    Ok(())
}

fn reader(ctx: &Ctx, a: &Args, label: &'static str) -> R<Box<dyn Read>> {
    let (r, len) = input(a.get("input"))?;
    Ok(match len {
        Some(total) if total > 4 * 1024 * 1024 => Box::new(Counting {
            inner: r,
            done: 0,
            total,
            bar: Progress::new(label, ctx.quiet()),
        }),
        _ => r,
    })
}

pub fn encrypt(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    same_file(a)?;
    let key = a
        .get("key")
        .ok_or_else(|| usage("encrypt needs --key KEY"))?;
    let cx = context(a)?;
    let (k, c) = ctx.caller()?;
    let mut r = reader(ctx, a, "encrypting")?;
    let mut out = Output::open(a.get("output"), false)?;
    k.encrypt_stream(&c, key, &cx, &mut r, &mut out)?;
    drop(r);
    out.commit()
}

pub fn decrypt(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    same_file(a)?;
    let cx = context(a)?;
    let (k, c) = ctx.caller()?;
    let mut r = reader(ctx, a, "decrypting")?;
    let mut out = Output::open(a.get("output"), true)?;
    // On failure the temp file is removed: nothing half-written appears. To stdout, only
    // authenticated chunks are written; a truncated stream still ends with an error.
    k.decrypt_stream(&c, &cx, &mut r, &mut out)?;
    drop(r);
    out.commit()
}

fn value(a: &Args) -> R<zeroize::Zeroizing<Vec<u8>>> {
    if let Some(v) = a.get("value") {
        if a.has("file") {
            return Err(usage("give the value with --value or --file, not both"));
        }
        return Ok(zeroize::Zeroizing::new(v.as_bytes().to_vec()));
    }
    let (mut r, _) = input(a.get("file"))?;
    let mut v = zeroize::Zeroizing::new(Vec::new());
    r.read_to_end(&mut v)?;
    Ok(v)
}

fn secret_rows(v: &[SecretInfo]) -> Vec<Vec<String>> {
    v.iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.version.to_string(),
                s.key_id.to_string(),
                fmt_time(s.created),
                if s.deleted { "deleted" } else { "" }.to_string(),
            ]
        })
        .collect()
}

fn secret_json(v: &[SecretInfo]) -> String {
    let items: Vec<String> = v
        .iter()
        .map(|s| {
            format!(
                "{{\"name\":{},\"version\":{},\"key_id\":{},\"created\":{},\"deleted\":{}}}",
                js(&s.name),
                s.version,
                s.key_id,
                s.created,
                s.deleted
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

pub fn secret(ctx: &mut Ctx, cmd: &Cmd, sub: &str, a: &Args) -> R {
    let (k, c) = ctx.caller()?;
    match sub {
        "put" => {
            a.at_most(1, cmd)?;
            let name = a.arg(0, "a secret NAME", cmd)?;
            let key = a
                .get("key")
                .ok_or_else(|| usage("secret put needs --key KEY"))?;
            let v = value(a)?;
            let ver = k.put_secret(&c, name, key, &v)?;
            if ctx.json() {
                println!("{{\"name\":{},\"version\":{ver}}}", js(name));
            } else {
                println!("secret {name} version {ver} stored");
            }
        }
        "get" => {
            a.at_most(1, cmd)?;
            let name = a.arg(0, "a secret NAME", cmd)?;
            let version = a
                .get("version")
                .map(|v| {
                    v.parse::<u32>()
                        .map_err(|_| usage("--version must be a whole number"))
                })
                .transpose()?;
            let v = k.get_secret(&c, name, version)?;
            let mut o = Output::open(a.get("output"), true)?;
            o.write_all(&v)?;
            o.commit()?;
        }
        "list" | "versions" => {
            let all = if sub == "versions" {
                a.at_most(1, cmd)?;
                k.list_secrets(&c, Some(a.arg(0, "a secret NAME", cmd)?))?
            } else {
                a.at_most(0, cmd)?;
                let mut latest: std::collections::BTreeMap<String, SecretInfo> = Default::default();
                for s in k.list_secrets(&c, None)? {
                    if s.deleted {
                        continue;
                    }
                    let e = latest.entry(s.name.clone()).or_insert_with(|| s.clone());
                    if s.version > e.version {
                        *e = s;
                    }
                }
                latest.into_values().collect()
            };
            if ctx.json() {
                println!("{}", secret_json(&all));
            } else {
                table(
                    &["NAME", "VERSION", "KEY", "CREATED", "NOTE"],
                    &secret_rows(&all),
                );
            }
        }
        "delete" => {
            a.at_most(1, cmd)?;
            let name = a.arg(0, "a secret NAME", cmd)?;
            let n = k.delete_secret(&c, name)?;
            println!("secret {name} deleted ({n} versions)");
        }
        other => return Err(usage(format!("unknown command 'secret {other}'"))),
    }
    Ok(())
}

fn object_id(a: &Args, cmd: &Cmd) -> R<u64> {
    a.at_most(1, cmd)?;
    a.arg(0, "an object ID", cmd)?
        .parse::<u64>()
        .map_err(|_| usage("an object ID is a whole number"))
}

/// Certificates, data objects and public keys (what PKCS#11 clients see as CKO_CERTIFICATE,
/// CKO_DATA and CKO_PUBLIC_KEY objects).
pub fn object(ctx: &mut Ctx, cmd: &Cmd, sub: &str, a: &Args) -> R {
    let (k, c) = ctx.caller()?;
    match sub {
        "put" => {
            a.at_most(0, cmd)?;
            let class = a
                .get("class")
                .ok_or_else(|| usage("object put needs --class"))?;
            let label = a
                .get("label")
                .ok_or_else(|| usage("object put needs --label"))?;
            let ext_id = match a.get("id") {
                Some(h) => kms::core::seal::unhex(h).ok_or_else(|| usage("--id must be hex"))?,
                None => Vec::new(),
            };
            let v = value(a)?;
            let o = k.create_object(
                &c,
                &ObjectRequest {
                    class: class.to_string(),
                    label: label.to_string(),
                    ext_id,
                    value: v.to_vec(),
                    sensitive: a.has("sensitive"),
                    attrs: Vec::new(),
                },
            )?;
            if ctx.json() {
                println!("{}", o.to_json());
            } else {
                println!("object {} ({} '{}') stored", o.id, o.class, o.label);
            }
        }
        "list" => {
            a.at_most(0, cmd)?;
            let v = k.list_objects(&c, a.get("class"), a.get("label"))?;
            if ctx.json() {
                let items: Vec<String> = v.iter().map(|o| o.to_json()).collect();
                println!("[{}]", items.join(","));
            } else {
                let rows: Vec<Vec<String>> = v
                    .iter()
                    .map(|o| {
                        vec![
                            o.id.to_string(),
                            o.class.clone(),
                            o.label.clone(),
                            kms::core::seal::hex(&o.ext_id),
                            if o.sensitive {
                                "sealed".into()
                            } else {
                                o.value.len().to_string()
                            },
                            fmt_time(o.created),
                        ]
                    })
                    .collect();
                table(
                    &["ID", "CLASS", "LABEL", "EXT-ID", "SIZE", "CREATED"],
                    &rows,
                );
            }
        }
        "get" => {
            let id = object_id(a, cmd)?;
            let o = k.get_object(&c, id)?;
            let mut out = Output::open(a.get("output"), true)?;
            out.write_all(&o.value)?;
            out.commit()?;
        }
        "delete" => {
            let id = object_id(a, cmd)?;
            k.delete_object(&c, id)?;
            if !ctx.json() {
                println!("object {id} deleted");
            }
        }
        _ => return Err(usage(format!("unknown command 'object {sub}'"))),
    }
    Ok(())
}

/// Re-encrypts wrapped data keys (or any ciphertexts of `encrypt`), one hex line each, under
/// the primary version: after a rotation, stored data keys move to the new version without
/// their plaintext leaving the library. Blank lines are kept; a bad line stops the run and
/// nothing is written.
pub fn rewrap(ctx: &mut Ctx, cmd: &Cmd, a: &Args) -> R {
    a.at_most(0, cmd)?;
    same_file(a)?;
    let cx = context(a)?;
    let (k, c) = ctx.caller()?;
    let (mut r, _) = input(a.get("input"))?;
    let mut text = String::new();
    r.read_to_string(&mut text)?;
    let lines: Vec<&str> = text.lines().collect();
    let mut bar = Progress::new("rewrap", ctx.quiet() || lines.len() < 1000);
    let mut out_text = String::with_capacity(text.len());
    let mut n = 0u64;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if !line.is_empty() {
            let ct = kms::core::seal::unhex(line)
                .ok_or_else(|| usage(format!("line {} is not hex", i + 1)))?;
            let new = k.re_encrypt(&c, &ct, &cx, a.get("key"), None)?;
            out_text.push_str(&kms::core::seal::hex(&new));
            n += 1;
        }
        out_text.push('\n');
        bar.update(i as u64 + 1, lines.len() as u64);
    }
    bar.finish();
    let mut out = Output::open(a.get("output"), false)?;
    out.write_all(out_text.as_bytes())?;
    out.commit()?;
    if a.get("output").is_some() {
        if ctx.json() {
            println!("{{\"rewrapped\":{n}}}");
        } else {
            eprintln!("rewrapped {n} ciphertexts");
        }
    }
    Ok(())
}
