//! OpenSC `pkcs11-tool` against the release libkms.so: init token and PIN, key generation
//! (AES, EC P-256, RSA-2048), sign/verify, encrypt/decrypt, listings, and `--test --login`
//! with no failure. Fails (does not skip) when pkcs11-tool is missing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

fn run(store: &Path, args: &[&str]) -> String {
    common::pkcs11_tool(store, args)
}

#[test]
fn pkcs11_tool_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("kms.db");
    let d = |f: &str| dir.path().join(f).to_string_lossy().into_owned();
    let list = run(&st, &["-L"]);
    assert!(list.contains("uninitialized"), "{list}");
    run(
        &st,
        &[
            "--slot",
            "2147483647",
            "--init-token",
            "--label",
            "tooltok",
            "--so-pin",
            "so-pin-1",
        ],
    );
    let tok = ["--token-label", "tooltok"];
    let so = [
        &tok[..],
        &["--login", "--login-type", "so", "--so-pin", "so-pin-1"],
    ]
    .concat();
    run(
        &st,
        &[&so[..], &["--init-pin", "--pin", "user-pin-1"]].concat(),
    );
    let user = [&tok[..], &["--login", "--pin", "user-pin-1"]].concat();
    let u = |more: &[&str]| run(&st, &[&user[..], more].concat());

    u(&[
        "--keygen",
        "--key-type",
        "AES:32",
        "--label",
        "aes1",
        "--id",
        "a1",
    ]);
    u(&[
        "--keypairgen",
        "--key-type",
        "EC:prime256v1",
        "--label",
        "ec1",
        "--id",
        "e1",
    ]);
    u(&[
        "--keypairgen",
        "--key-type",
        "rsa:2048",
        "--label",
        "rsa1",
        "--id",
        "b1",
    ]);
    let objs = u(&["--list-objects"]);
    for want in [
        "aes1",
        "ec1",
        "rsa1",
        "Private Key Object; EC",
        "Public Key Object; RSA 2048 bits",
    ] {
        assert!(objs.contains(want), "{want} missing in:\n{objs}");
    }
    let mechs = run(&st, &[&tok[..], &["--list-mechanisms"]].concat());
    for want in [
        "AES-GCM",
        "ECDSA-SHA256",
        "RSA-PKCS-PSS",
        "RSA-PKCS-OAEP",
        "hw",
    ] {
        assert!(mechs.contains(want), "{want} missing in:\n{mechs}");
    }

    std::fs::write(d("data"), b"data to sign and encrypt\n").unwrap();
    for (m, id) in [
        ("ECDSA-SHA256", "e1"),
        ("SHA256-RSA-PKCS", "b1"),
        ("SHA256-RSA-PKCS-PSS", "b1"),
    ] {
        u(&[
            "--sign",
            "-m",
            m,
            "--id",
            id,
            "-i",
            &d("data"),
            "-o",
            &d("sig"),
        ]);
        let v = u(&[
            "--verify",
            "-m",
            m,
            "--id",
            id,
            "-i",
            &d("data"),
            "--signature-file",
            &d("sig"),
        ]);
        assert!(v.contains("Signature is valid"), "{m}: {v}");
    }
    let iv = "000102030405060708090a0b0c0d0e0f";
    u(&[
        "--encrypt",
        "-m",
        "AES-CBC-PAD",
        "--type",
        "secrkey",
        "--id",
        "a1",
        "--iv",
        iv,
        "-i",
        &d("data"),
        "-o",
        &d("ct"),
    ]);
    u(&[
        "--decrypt",
        "-m",
        "AES-CBC-PAD",
        "--type",
        "secrkey",
        "--id",
        "a1",
        "--iv",
        iv,
        "-i",
        &d("ct"),
        "-o",
        &d("pt"),
    ]);
    assert_eq!(
        std::fs::read(d("pt")).unwrap(),
        b"data to sign and encrypt\n"
    );
    // (pkcs11-tool 0.23 encrypts with secret keys only; RSA-OAEP decryption is part of --test.)

    let t = u(&["--test"]);
    assert!(
        t.contains("No errors"),
        "pkcs11-tool --test reported failures:\n{t}"
    );
}
