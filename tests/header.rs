//! Checks that the committed include/kms.h is what cbindgen generates from the crate now.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

fn generate() -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml"))
        .unwrap_or_else(|e| panic!("reading cbindgen.toml: {e}"));
    // Only the C-facing layers are parsed: the core's pub types and associated constants
    // would otherwise reach the header (cbindgen's exclude list does not cover the latter).
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/boundary/mod.rs"))
        .with_src(root.join("src/capi/mod.rs"))
        .generate()
        .unwrap_or_else(|e| panic!("cbindgen failed: {e}"));
    let mut generated = Vec::new();
    bindings.write(&mut generated);
    generated
}

#[test]
fn header_is_up_to_date() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let generated = generate();
    let path = root.join("include/kms.h");
    if std::env::var_os("KMS_UPDATE_HEADER").is_some_and(|v| v == "1") {
        std::fs::write(&path, &generated).unwrap_or_else(|e| panic!("writing {path:?}: {e}"));
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != generated {
        let tmp = std::env::temp_dir().join("kms.h.generated");
        let _ = std::fs::write(&tmp, &generated);
        panic!(
            "include/kms.h is out of date with src/capi (generated version written to {}).\n\
             Regenerate it with:  KMS_UPDATE_HEADER=1 cargo test --test header\n\
             then review and commit include/kms.h.",
            tmp.display()
        );
    }
}

/// Only `kms_*` / `KMS_*` names (and the include guard) may reach the header.
#[test]
fn header_declares_only_kms_names() {
    let header = String::from_utf8_lossy(&generate()).into_owned();
    let ident = |s: &str| -> String {
        s.chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect()
    };
    let mut names = Vec::new();
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define ") {
            names.push(rest.split_whitespace().next().unwrap_or("").to_owned());
        } else if line.starts_with("typedef ") || line.starts_with('}') {
            if let Some(decl) = line.strip_suffix(';') {
                if !decl.ends_with(')') {
                    names.push(ident(decl));
                }
            }
        }
    }
    assert!(
        names.iter().any(|n| n == "kms_buffer"),
        "parser sees {names:?}"
    );
    for name in names {
        assert!(
            name.starts_with("kms_") || name.starts_with("KMS_"),
            "include/kms.h declares {name:?}: C names must start with kms_ / KMS_"
        );
    }
}
