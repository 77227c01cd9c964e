//! Known-answer tests for `kms::core::crypto` from published vectors, and cross-checks
//! against the `openssl` command line (an independent implementation).
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use kms::core::crypto::*;
use kms::core::{ErrorKind, KeySpec};

// ----------------------------------------------------------------------------- helpers

fn hex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// Reads a vector file: blank-line separated blocks of `name = value` lines, `#` comments.
fn vectors(name: &str) -> Vec<HashMap<String, String>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("vector file");
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut m = HashMap::new();
        for line in block.lines() {
            let line = line.trim();
            if line.starts_with('#') || line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').expect("name = value");
            m.insert(k.trim().to_string(), v.trim().to_string());
        }
        if !m.is_empty() {
            out.push(m);
        }
    }
    assert!(!out.is_empty(), "{name} has no vectors");
    out
}

fn h(v: &HashMap<String, String>, k: &str) -> Vec<u8> {
    hex(v.get(k).unwrap_or_else(|| panic!("missing field {k}")))
}

fn hash_of(name: &str) -> HashAlg {
    HashAlg::parse(name).expect("hash name")
}

fn kind<T: std::fmt::Debug>(r: kms::core::Result<T>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

fn openssl(args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl");
    out
}

fn openssl_ok(args: &[&str]) -> Vec<u8> {
    let out = openssl(args);
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("tempdir"))
    }
    fn path(&self, name: &str) -> String {
        self.0.path().join(name).to_string_lossy().into_owned()
    }
    fn write(&self, name: &str, data: &[u8]) -> String {
        let p = self.path(name);
        std::fs::write(&p, data).expect("write temp file");
        p
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read temp file")
    }
}

/// An openssl-generated private key as PKCS#8 DER.
fn openssl_genkey(dir: &Dir, name: &str, args: &[&str]) -> Vec<u8> {
    let p = dir.path(name);
    let mut a = vec!["genpkey"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["-outform", "DER", "-out", &p]);
    openssl_ok(&a);
    dir.read(name)
}

// ----------------------------------------------------------------------------- digests, MAC, KDF

#[test]
fn sha_hmac_hkdf_known_answers() {
    let mut n = 0;
    for v in vectors("hmac_hkdf_sha.txt") {
        let alg = hash_of(&v["hash"]);
        let out = h(&v, "out");
        match v["type"].as_str() {
            "SHA" => {
                let msg = h(&v, "msg");
                assert_eq!(digest(alg, &msg), out);
                let mut ctx = DigestCtx::new(alg);
                for chunk in msg.chunks(3) {
                    ctx.update(chunk);
                }
                assert_eq!(ctx.finish(), out);
                assert_eq!(out.len(), alg.output_len());
            }
            "HMAC" => {
                let (key, msg) = (h(&v, "key"), h(&v, "msg"));
                assert_eq!(hmac(alg, &key, &msg).unwrap(), out);
                hmac_verify(alg, &key, &msg, &out).unwrap();
                let mut bad = out.clone();
                bad[0] ^= 1;
                assert_eq!(
                    kind(hmac_verify(alg, &key, &msg, &bad)),
                    ErrorKind::VerificationFailed
                );
                assert_eq!(
                    kind(hmac_verify(alg, &key, &msg, &out[..out.len() - 1])),
                    ErrorKind::VerificationFailed
                );
                let mut ctx = HmacCtx::new(alg, &key).unwrap();
                for chunk in msg.chunks(7) {
                    ctx.update(chunk);
                }
                let c2 = ctx.clone();
                assert_eq!(ctx.finish(), out);
                c2.verify(&out).unwrap();
            }
            "HKDF" => {
                let okm = hkdf(
                    alg,
                    &h(&v, "ikm"),
                    &h(&v, "salt"),
                    &h(&v, "info"),
                    out.len(),
                )
                .unwrap();
                assert_eq!(&okm[..], &out[..]);
            }
            t => panic!("unknown type {t}"),
        }
        n += 1;
    }
    assert_eq!(n, 29, "vector count");
    assert_eq!(
        kind(hkdf(HashAlg::Sha256, b"k", b"", b"", 0)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(hkdf(HashAlg::Sha256, b"k", b"", b"", 255 * 32 + 1)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(hkdf(HashAlg::Sha1, b"k", b"", b"", 16)),
        ErrorKind::Unsupported
    );
    assert_eq!(
        hkdf(HashAlg::Sha512, b"k", b"", b"", 255 * 64)
            .unwrap()
            .len(),
        255 * 64
    );
}

// ----------------------------------------------------------------------------- AES-GCM

#[test]
fn aes_gcm_known_answers_and_tampering() {
    let mut rejected = 0;
    for v in vectors("gcm.txt") {
        let (key, pt, aad, ct, tag) = (
            h(&v, "key"),
            h(&v, "pt"),
            h(&v, "aad"),
            h(&v, "ct"),
            h(&v, "tag"),
        );
        let nonce: [u8; 12] = h(&v, "iv").try_into().unwrap();
        let mut expect = ct.clone();
        expect.extend_from_slice(&tag);

        assert_eq!(aes_gcm_seal(&key, &nonce, &aad, &pt).unwrap(), expect);
        assert_eq!(
            &aes_gcm_open(&key, &nonce, &aad, &expect).unwrap()[..],
            &pt[..]
        );

        let k = AesGcmKey::new(&key).unwrap();
        let mut buf = pt.clone();
        let t = k
            .seal_in_place_separate_tag(&nonce, &aad, &mut buf)
            .unwrap();
        assert_eq!((buf.as_slice(), &t[..]), (ct.as_slice(), tag.as_slice()));
        assert_eq!(
            aes_gcm_seal_in_place_separate_tag(&key, &nonce, &aad, &mut pt.clone()).unwrap(),
            t
        );
        let mut io = expect.clone();
        aes_gcm_open_in_place(&key, &nonce, &aad, &mut io).unwrap();
        assert_eq!(io, pt);

        // Every single-bit change of tag, ciphertext, AAD or nonce is rejected.
        let bad = |nonce: &[u8; 12], aad: &[u8], data: &[u8]| {
            assert_eq!(
                kind(aes_gcm_open(&key, nonce, aad, data)),
                ErrorKind::InvalidCiphertext
            );
            let mut io = data.to_vec();
            assert_eq!(
                kind(k.open_in_place(nonce, aad, &mut io)),
                ErrorKind::InvalidCiphertext
            );
        };
        for i in 0..expect.len() {
            let mut d = expect.clone();
            d[i] ^= 0x80;
            bad(&nonce, &aad, &d);
            rejected += 1;
        }
        let mut a2 = aad.clone();
        a2.push(0);
        bad(&nonce, &a2, &expect);
        let mut n2 = nonce;
        n2[11] ^= 1;
        bad(&n2, &aad, &expect);
        for cut in [0, 1, 15, expect.len().saturating_sub(1)] {
            if cut < expect.len() {
                bad(&nonce, &aad, &expect[..cut]);
            }
        }
        let mut io = expect.clone();
        io[0] ^= 1;
        assert!(k.open_in_place(&nonce, &aad, &mut io).is_err());
        assert!(
            io.iter().all(|b| *b == 0),
            "failed open must wipe the buffer"
        );
        rejected += 4;
    }
    assert!(rejected >= 40);
    for len in [0, 15, 17, 24, 31, 33] {
        assert_eq!(
            kind(aes_gcm_seal(&vec![0; len], &[0; 12], b"", b"x")),
            ErrorKind::InvalidArgument
        );
        assert_eq!(
            kind(aes_gcm_open(&vec![0; len], &[0; 12], b"", &[0; 32])),
            ErrorKind::InvalidArgument
        );
    }
}

// ----------------------------------------------------------------------------- CBC / CTR

#[test]
fn aes_cbc_ctr_known_answers() {
    let d = Dir::new();
    for v in vectors("cbc_ctr.txt") {
        let (key, pt, ct) = (h(&v, "key"), h(&v, "pt"), h(&v, "ct"));
        let iv: [u8; 16] = h(&v, "iv").try_into().unwrap();
        match v["mode"].as_str() {
            "CBC" => {
                assert_eq!(aes_cbc_encrypt_no_pad(&key, &iv, &pt).unwrap(), ct);
                assert_eq!(
                    &aes_cbc_decrypt_no_pad(&key, &iv, &ct).unwrap()[..],
                    &pt[..]
                );
                // With PKCS#7, whole-block input gains one block of 0x10 bytes.
                let padded = aes_cbc_pad_encrypt(&key, &iv, &pt).unwrap();
                assert_eq!(&padded[..ct.len()], &ct[..]);
                assert_eq!(padded.len(), ct.len() + 16);
                assert_eq!(
                    &aes_cbc_pad_decrypt(&key, &iv, &padded).unwrap()[..],
                    &pt[..]
                );
                // Padded CBC of odd lengths agrees with openssl enc.
                for len in [0usize, 1, 15, 16, 17, 33] {
                    let msg: Vec<u8> = (0..len as u8).collect();
                    let ours = aes_cbc_pad_encrypt(&key, &iv, &msg).unwrap();
                    let inp = d.write("cbc.in", &msg);
                    let cipher = if key.len() == 16 {
                        "-aes-128-cbc"
                    } else {
                        "-aes-256-cbc"
                    };
                    let theirs = openssl_ok(&[
                        "enc",
                        cipher,
                        "-K",
                        &hex_str(&key),
                        "-iv",
                        &hex_str(&iv),
                        "-in",
                        &inp,
                    ]);
                    assert_eq!(ours, theirs, "CBC-PAD len {len}");
                    assert_eq!(
                        &aes_cbc_pad_decrypt(&key, &iv, &ours).unwrap()[..],
                        &msg[..]
                    );
                }
                // Bad padding / bad length are errors, not panics.
                let mut bad = padded.clone();
                let n = bad.len();
                bad[n - 17] ^= 0x01; // changes the last plaintext byte (the padding)
                assert_eq!(
                    kind(aes_cbc_pad_decrypt(&key, &iv, &bad)),
                    ErrorKind::InvalidCiphertext
                );
                assert_eq!(
                    kind(aes_cbc_pad_decrypt(&key, &iv, &padded[..n - 1])),
                    ErrorKind::InvalidCiphertext
                );
                assert_eq!(
                    kind(aes_cbc_pad_decrypt(&key, &iv, &[])),
                    ErrorKind::InvalidCiphertext
                );
                assert_eq!(
                    kind(aes_cbc_encrypt_no_pad(&key, &iv, &pt[..5])),
                    ErrorKind::InvalidArgument
                );
            }
            "CTR" => {
                assert_eq!(aes_ctr_encrypt(&key, &iv, &pt).unwrap(), ct);
                assert_eq!(&aes_ctr_decrypt(&key, &iv, &ct).unwrap()[..], &pt[..]);
                // Partial blocks are prefixes of the keystream.
                assert_eq!(
                    aes_ctr_encrypt(&key, &iv, &pt[..21]).unwrap(),
                    ct[..21].to_vec()
                );
            }
            m => panic!("unknown mode {m}"),
        }
    }
    // The 128-bit counter carries across the whole block (not just the low 32/64 bits).
    let key = [7u8; 16];
    let iv = [0xffu8; 16];
    let ours = aes_ctr_encrypt(&key, &iv, &[0u8; 48]).unwrap();
    let inp = d.write("ctr.in", &[0u8; 48]);
    let theirs = openssl_ok(&[
        "enc",
        "-aes-128-ctr",
        "-K",
        &hex_str(&key),
        "-iv",
        &hex_str(&iv),
        "-in",
        &inp,
    ]);
    assert_eq!(ours, theirs);
    assert_eq!(
        kind(aes_ctr_encrypt(&[0; 24], &iv, b"x")),
        ErrorKind::InvalidArgument
    );
}

fn hex_str(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ----------------------------------------------------------------------------- key wrap

#[test]
fn aes_key_wrap_known_answers() {
    let mut kats = 0;
    for v in vectors("keywrap.txt") {
        let (kek, data, wrapped) = (h(&v, "kek"), h(&v, "data"), h(&v, "wrapped"));
        let kwp = v["mode"] == "KWP";
        if kek.len() == 24 {
            // RFC 5649's own vectors use AES-192, which aws-lc-rs key wrap does not offer.
            assert_eq!(kind(aes_kwp_wrap(&kek, &data)), ErrorKind::InvalidArgument);
            assert_eq!(
                kind(aes_kwp_unwrap(&kek, &wrapped)),
                ErrorKind::InvalidArgument
            );
            continue;
        }
        let (w, u) = if kwp {
            (
                aes_kwp_wrap(&kek, &data).unwrap(),
                aes_kwp_unwrap(&kek, &wrapped).unwrap(),
            )
        } else {
            (
                aes_kw_wrap(&kek, &data).unwrap(),
                aes_kw_unwrap(&kek, &wrapped).unwrap(),
            )
        };
        assert_eq!(w, wrapped);
        assert_eq!(&u[..], &data[..]);
        for i in 0..wrapped.len() {
            let mut bad = wrapped.clone();
            bad[i] ^= 4;
            let r = if kwp {
                aes_kwp_unwrap(&kek, &bad)
            } else {
                aes_kw_unwrap(&kek, &bad)
            };
            assert_eq!(kind(r), ErrorKind::InvalidCiphertext);
        }
        let r = if kwp {
            aes_kwp_unwrap(&kek, &wrapped[..wrapped.len() - 8])
        } else {
            aes_kw_unwrap(&kek, &wrapped[..wrapped.len() - 8])
        };
        assert!(r.is_err());
        kats += 1;
    }
    assert!(kats >= 15);
    assert_eq!(
        kind(aes_kw_wrap(&[0; 16], &[0; 12])),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(aes_kw_wrap(&[0; 16], &[0; 8])),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(aes_kw_unwrap(&[0; 16], &[0; 17])),
        ErrorKind::InvalidCiphertext
    );
    assert_eq!(
        kind(aes_kwp_wrap(&[0; 16], &[])),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(aes_kwp_unwrap(&[0; 16], &[0; 8])),
        ErrorKind::InvalidCiphertext
    );
    assert_eq!(
        kind(aes_kw_wrap(&[0; 20], &[0; 16])),
        ErrorKind::InvalidArgument
    );
}

// ----------------------------------------------------------------------------- ECDSA

fn ec_spec(curve: &str) -> KeySpec {
    match curve {
        "P-256" => KeySpec::EcP256,
        "P-384" => KeySpec::EcP384,
        c => panic!("curve {c}"),
    }
}

fn ecdsa_alg(hash: HashAlg) -> Option<SignAlg> {
    match hash {
        HashAlg::Sha256 => Some(SignAlg::EcdsaSha256),
        HashAlg::Sha384 => Some(SignAlg::EcdsaSha384),
        HashAlg::Sha512 => Some(SignAlg::EcdsaSha512),
        _ => None,
    }
}

#[test]
fn ecdsa_rfc6979_verify() {
    let mut n = 0;
    for v in vectors("ecdsa_rfc6979.txt") {
        let spec = ec_spec(&v["curve"]);
        let (spki, msg, fixed) = (h(&v, "spki"), h(&v, "msg"), h(&v, "sig"));
        let hash = hash_of(&v["hash"]);
        let der = ecdsa_fixed_to_der(spec, &fixed).unwrap();
        assert_eq!(ecdsa_der_to_fixed(spec, &der).unwrap(), fixed);
        let dg = digest(hash, &msg);
        // Raw ECDSA over a digest of any length (CKM_ECDSA): truncation and widening.
        ecdsa_verify_prehashed(spec, &spki, &dg, &der).unwrap();
        if let Some(alg) = ecdsa_alg(hash) {
            verify(spec, &spki, alg, &msg, &der).unwrap();
            verify_digest(spec, &spki, alg, &dg, &der).unwrap();
            let mut other = msg.clone();
            other.push(b'!');
            assert_eq!(
                kind(verify(spec, &spki, alg, &other, &der)),
                ErrorKind::VerificationFailed
            );
        }
        let mut bad = fixed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let bad_der = ecdsa_fixed_to_der(spec, &bad).unwrap();
        assert_eq!(
            kind(ecdsa_verify_prehashed(spec, &spki, &dg, &bad_der)),
            ErrorKind::VerificationFailed
        );
        n += 1;
    }
    assert_eq!(n, 20);
}

#[test]
fn ecdsa_der_fixed_conversion_edges() {
    let spec = KeySpec::EcP256;
    // r and s with high bits set and with leading zeros round-trip.
    let mut fixed = vec![0u8; 64];
    fixed[0] = 0x80;
    fixed[31] = 1;
    fixed[63] = 5;
    let der = ecdsa_fixed_to_der(spec, &fixed).unwrap();
    assert_eq!(&der[..5], &[0x30, 0x26, 0x02, 0x21, 0x00]);
    assert_eq!(ecdsa_der_to_fixed(spec, &der).unwrap(), fixed);
    // Every truncation and a trailing byte are rejected, never a panic.
    for cut in 0..der.len() {
        assert!(ecdsa_der_to_fixed(spec, &der[..cut]).is_err());
    }
    let mut long = der.clone();
    long.push(0);
    assert!(ecdsa_der_to_fixed(spec, &long).is_err());
    // Negative and non-minimal integers are rejected.
    assert!(ecdsa_der_to_fixed(spec, &[0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]).is_err());
    assert!(ecdsa_der_to_fixed(
        spec,
        &[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x01]
    )
    .is_err());
    assert_eq!(
        ecdsa_der_to_fixed(spec, &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]).unwrap()[31],
        1
    );
    // A 49-byte integer does not fit P-384.
    let mut big = vec![0x30, 0x35, 0x02, 0x31];
    big.extend(std::iter::repeat_n(0x11, 49));
    big.extend([0x02, 0x01, 0x01]);
    assert!(ecdsa_der_to_fixed(KeySpec::EcP384, &big).is_err());
    assert!(ecdsa_fixed_to_der(spec, &[0; 63]).is_err());
    assert_eq!(
        kind(ecdsa_fixed_to_der(KeySpec::Aes128, &[0; 64])),
        ErrorKind::KeyUsage
    );
}

#[test]
fn ecdsa_cross_check_with_openssl() {
    let d = Dir::new();
    let msg = b"libkms cross-check message".to_vec();
    let msg_path = d.write("msg", &msg);
    for (spec, curve) in [(KeySpec::EcP256, "P-256"), (KeySpec::EcP384, "P-384")] {
        // Our key, our signature, openssl verifies.
        let ours = generate(spec).unwrap();
        let spki = public_key_spki(spec, &ours).unwrap();
        let pub_path = d.write("ec_pub.der", &spki);
        for (alg, md) in [
            (SignAlg::EcdsaSha256, "-sha256"),
            (SignAlg::EcdsaSha384, "-sha384"),
            (SignAlg::EcdsaSha512, "-sha512"),
        ] {
            let sig = sign(spec, &ours, alg, &msg).unwrap();
            verify(spec, &spki, alg, &msg, &sig).unwrap();
            let sig_path = d.write("ec.sig", &sig);
            openssl_ok(&[
                "dgst",
                md,
                "-verify",
                &pub_path,
                "-keyform",
                "DER",
                "-signature",
                &sig_path,
                &msg_path,
            ]);
            // Prehashed signing produces signatures openssl accepts too.
            let dg = digest(alg.hash().unwrap(), &msg);
            let sig2 = sign_digest(spec, &ours, alg, &dg).unwrap();
            let sig_path = d.write("ec2.sig", &sig2);
            openssl_ok(&[
                "dgst",
                md,
                "-verify",
                &pub_path,
                "-keyform",
                "DER",
                "-signature",
                &sig_path,
                &msg_path,
            ]);
            // And fixed-format conversion keeps it valid.
            let fixed = ecdsa_der_to_fixed(spec, &sig2).unwrap();
            verify(
                spec,
                &spki,
                alg,
                &msg,
                &ecdsa_fixed_to_der(spec, &fixed).unwrap(),
            )
            .unwrap();
        }
        // openssl's key (imported), openssl's signature, we verify.
        let der = openssl_genkey(
            &d,
            "ec_key.der",
            &[
                "-algorithm",
                "EC",
                "-pkeyopt",
                &format!("ec_paramgen_curve:{curve}"),
            ],
        );
        let imported = validate_import(spec, &der).unwrap();
        let their_spki = public_key_spki(spec, &imported).unwrap();
        let openssl_spki = openssl_ok(&[
            "pkey",
            "-in",
            &d.path("ec_key.der"),
            "-inform",
            "DER",
            "-pubout",
            "-outform",
            "DER",
        ]);
        assert_eq!(their_spki, openssl_spki);
        let raw = public_key_raw(spec, &imported).unwrap();
        assert_eq!(raw.len(), if spec == KeySpec::EcP256 { 65 } else { 97 });
        assert_eq!(raw[0], 4);
        assert!(openssl_spki.ends_with(&raw));
        for (alg, md) in [
            (SignAlg::EcdsaSha256, "-sha256"),
            (SignAlg::EcdsaSha384, "-sha384"),
            (SignAlg::EcdsaSha512, "-sha512"),
        ] {
            let sig = openssl_ok(&[
                "dgst",
                md,
                "-sign",
                &d.path("ec_key.der"),
                "-keyform",
                "DER",
                &msg_path,
            ]);
            verify(spec, &their_spki, alg, &msg, &sig).unwrap();
            verify(spec, &raw, alg, &msg, &sig).unwrap();
            verify_digest(
                spec,
                &their_spki,
                alg,
                &digest(alg.hash().unwrap(), &msg),
                &sig,
            )
            .unwrap();
            // And our signature with the imported key verifies under openssl.
            let ours_sig = sign(spec, &imported, alg, &msg).unwrap();
            let sig_path = d.write("ec3.sig", &ours_sig);
            let pub_path = d.write("ec3.der", &their_spki);
            openssl_ok(&[
                "dgst",
                md,
                "-verify",
                &pub_path,
                "-keyform",
                "DER",
                "-signature",
                &sig_path,
                &msg_path,
            ]);
        }
        // ECDH agrees with openssl pkeyutl -derive.
        let peer = validate_import(spec, &der).unwrap();
        let peer_point = public_key_raw(spec, &peer).unwrap();
        let z = ecdh(spec, &ours, &peer_point).unwrap();
        let z2 = ecdh(spec, &peer, &public_key_raw(spec, &ours).unwrap()).unwrap();
        assert_eq!(&z[..], &z2[..]);
        let theirs = openssl_ok(&[
            "pkeyutl",
            "-derive",
            "-inkey",
            &d.path("ec_key.der"),
            "-keyform",
            "DER",
            "-peerkey",
            &pub_path_for(&d, &spki),
            "-peerform",
            "DER",
        ]);
        assert_eq!(&z[..], &theirs[..]);
        assert_eq!(z.len(), if spec == KeySpec::EcP256 { 32 } else { 48 });
        assert_eq!(
            kind(ecdh(spec, &ours, &peer_point[..10])),
            ErrorKind::InvalidArgument
        );
    }
    // Cross-curve ECDH is refused.
    let p256 = generate(KeySpec::EcP256).unwrap();
    let p384 = generate(KeySpec::EcP384).unwrap();
    let pt384 = public_key_raw(KeySpec::EcP384, &p384).unwrap();
    assert!(ecdh(KeySpec::EcP256, &p256, &pt384).is_err());
    assert_eq!(
        kind(ecdh(KeySpec::Ed25519, &p256, &pt384)),
        ErrorKind::KeyUsage
    );
}

fn pub_path_for(d: &Dir, spki: &[u8]) -> String {
    d.write("peer_pub.der", spki)
}

// ----------------------------------------------------------------------------- Ed25519

const ED25519_PKCS8_V1_PREFIX: &str = "302e020100300506032b657004220420";

#[test]
fn ed25519_rfc8032_and_openssl() {
    for v in vectors("ed25519_rfc8032.txt") {
        let pkcs8 = hex(&format!("{ED25519_PKCS8_V1_PREFIX}{}", v["seed"]));
        let material = validate_import(KeySpec::Ed25519, &pkcs8).unwrap();
        assert_eq!(&material[..], &pkcs8[..], "normal form is PKCS#8 v1");
        let (public, msg, sig) = (h(&v, "public"), h(&v, "msg"), h(&v, "sig"));
        assert_eq!(public_key_raw(KeySpec::Ed25519, &material).unwrap(), public);
        assert_eq!(
            sign(KeySpec::Ed25519, &material, SignAlg::Ed25519, &msg).unwrap(),
            sig
        );
        let spki = public_key_spki(KeySpec::Ed25519, &material).unwrap();
        assert!(spki.ends_with(&public));
        verify(KeySpec::Ed25519, &spki, SignAlg::Ed25519, &msg, &sig).unwrap();
        verify(KeySpec::Ed25519, &public, SignAlg::Ed25519, &msg, &sig).unwrap();
        let mut bad = sig.clone();
        bad[10] ^= 1;
        assert_eq!(
            kind(verify(
                KeySpec::Ed25519,
                &spki,
                SignAlg::Ed25519,
                &msg,
                &bad
            )),
            ErrorKind::VerificationFailed
        );
        assert_eq!(
            kind(sign_digest(
                KeySpec::Ed25519,
                &material,
                SignAlg::Ed25519,
                &[0; 64]
            )),
            ErrorKind::Unsupported
        );
    }
    let d = Dir::new();
    let msg = b"ed25519 cross-check".to_vec();
    let msg_path = d.write("msg", &msg);
    // Ours -> openssl.
    let ours = generate(KeySpec::Ed25519).unwrap();
    let spki = public_key_spki(KeySpec::Ed25519, &ours).unwrap();
    let sig = sign(KeySpec::Ed25519, &ours, SignAlg::Ed25519, &msg).unwrap();
    let pub_path = d.write("ed_pub.der", &spki);
    let sig_path = d.write("ed.sig", &sig);
    openssl_ok(&[
        "pkeyutl", "-verify", "-pubin", "-inkey", &pub_path, "-keyform", "DER", "-rawin", "-in",
        &msg_path, "-sigfile", &sig_path,
    ]);
    // openssl -> ours (openssl's key imported; its signature is deterministic, so byte-equal).
    let der = openssl_genkey(&d, "ed.der", &["-algorithm", "ED25519"]);
    let imported = validate_import(KeySpec::Ed25519, &der).unwrap();
    let theirs = openssl_ok(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        &d.path("ed.der"),
        "-keyform",
        "DER",
        "-rawin",
        "-in",
        &msg_path,
    ]);
    let their_spki = public_key_spki(KeySpec::Ed25519, &imported).unwrap();
    verify(
        KeySpec::Ed25519,
        &their_spki,
        SignAlg::Ed25519,
        &msg,
        &theirs,
    )
    .unwrap();
    assert_eq!(
        sign(KeySpec::Ed25519, &imported, SignAlg::Ed25519, &msg).unwrap(),
        theirs
    );
}

// ----------------------------------------------------------------------------- RSA

fn rsa_openssl_key(d: &Dir) -> Vec<u8> {
    openssl_genkey(
        d,
        "rsa.der",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    )
}

#[test]
fn rsa_signatures_against_openssl() {
    let d = Dir::new();
    let der = rsa_openssl_key(&d);
    let key_path = d.path("rsa.der");
    let spec = KeySpec::Rsa2048;
    let material = validate_import(spec, &der).unwrap();
    let spki = public_key_spki(spec, &material).unwrap();
    assert_eq!(
        spki,
        openssl_ok(&["pkey", "-in", &key_path, "-inform", "DER", "-pubout", "-outform", "DER"])
    );
    let pub_path = d.write("rsa_pub.der", &spki);
    let msg = b"RSA cross-check message".to_vec();
    let msg_path = d.write("msg", &msg);

    // n and e agree with openssl's view of the key.
    let (n, e) = rsa_public_components(&material).unwrap();
    assert_eq!(
        rsa_public_components(&spki).unwrap(),
        (n.clone(), e.clone())
    );
    let modulus = String::from_utf8(openssl_ok(&[
        "rsa", "-in", &key_path, "-inform", "DER", "-noout", "-modulus",
    ]))
    .unwrap();
    assert_eq!(
        modulus
            .trim()
            .trim_start_matches("Modulus=")
            .to_ascii_lowercase(),
        hex_str(&n)
    );
    assert_eq!(e, vec![1, 0, 1]);
    assert_eq!(n.len(), 256);

    for (alg, md) in [
        (SignAlg::RsaPkcs1Sha256, "-sha256"),
        (SignAlg::RsaPkcs1Sha384, "-sha384"),
        (SignAlg::RsaPkcs1Sha512, "-sha512"),
    ] {
        // PKCS#1 v1.5 is deterministic: byte-equal to openssl's signature.
        let ours = sign(spec, &material, alg, &msg).unwrap();
        let theirs = openssl_ok(&["dgst", md, "-sign", &key_path, "-keyform", "DER", &msg_path]);
        assert_eq!(ours, theirs, "{}", alg.name());
        let dg = digest(alg.hash().unwrap(), &msg);
        assert_eq!(sign_digest(spec, &material, alg, &dg).unwrap(), ours);
        verify(spec, &spki, alg, &msg, &theirs).unwrap();
        verify_digest(spec, &spki, alg, &dg, &theirs).unwrap();
        // CKM_RSA_PKCS over a DigestInfo gives the same signature.
        let di = openssl_digest_info(&d, md, &msg_path);
        assert_eq!(
            rsa_pkcs1_sign_digest_info(spec, &material, &di).unwrap(),
            ours
        );
        rsa_pkcs1_verify_digest_info(spec, &spki, &di, &ours).unwrap();
        let mut bad = ours.clone();
        bad[0] ^= 1;
        assert_eq!(
            kind(verify(spec, &spki, alg, &msg, &bad)),
            ErrorKind::VerificationFailed
        );
    }
    // SHA-1 DigestInfo: verifiable, not signable (no SHA-1 PKCS#1 signing in aws-lc-rs).
    let di1 = openssl_digest_info(&d, "-sha1", &msg_path);
    let sig1 = openssl_ok(&[
        "dgst", "-sha1", "-sign", &key_path, "-keyform", "DER", &msg_path,
    ]);
    rsa_pkcs1_verify_digest_info(spec, &spki, &di1, &sig1).unwrap();
    assert_eq!(
        kind(rsa_pkcs1_sign_digest_info(spec, &material, &di1)),
        ErrorKind::Unsupported
    );
    assert_eq!(
        kind(rsa_pkcs1_sign_digest_info(
            spec,
            &material,
            b"not a digest info"
        )),
        ErrorKind::Unsupported
    );

    for (alg, md) in [
        (SignAlg::RsaPssSha256, "-sha256"),
        (SignAlg::RsaPssSha384, "-sha384"),
        (SignAlg::RsaPssSha512, "-sha512"),
    ] {
        let ours = sign(spec, &material, alg, &msg).unwrap();
        let sig_path = d.write("pss.sig", &ours);
        openssl_ok(&[
            "dgst",
            md,
            "-verify",
            &pub_path,
            "-keyform",
            "DER",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
            "-signature",
            &sig_path,
            &msg_path,
        ]);
        let dg = digest(alg.hash().unwrap(), &msg);
        let ours2 = sign_digest(spec, &material, alg, &dg).unwrap();
        let sig_path = d.write("pss2.sig", &ours2);
        openssl_ok(&[
            "dgst",
            md,
            "-verify",
            &pub_path,
            "-keyform",
            "DER",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
            "-signature",
            &sig_path,
            &msg_path,
        ]);
        let theirs = openssl_ok(&[
            "dgst",
            md,
            "-sign",
            &key_path,
            "-keyform",
            "DER",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:digest",
            &msg_path,
        ]);
        verify(spec, &spki, alg, &msg, &theirs).unwrap();
        verify_digest(spec, &spki, alg, &dg, &theirs).unwrap();
    }
    // Wrong spec for the key size, wrong algorithm family.
    assert_eq!(
        kind(sign(
            KeySpec::Rsa3072,
            &material,
            SignAlg::RsaPkcs1Sha256,
            &msg
        )),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(sign(spec, &material, SignAlg::EcdsaSha256, &msg)),
        ErrorKind::KeyUsage
    );
    assert_eq!(
        kind(verify(
            KeySpec::Rsa4096,
            &spki,
            SignAlg::RsaPkcs1Sha256,
            &msg,
            &[0; 256]
        )),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(sign_digest(
            spec,
            &material,
            SignAlg::RsaPssSha256,
            &[0; 31]
        )),
        ErrorKind::InvalidArgument
    );
}

/// The DER `DigestInfo` of the file's `md` digest, encoded by `openssl asn1parse -genconf`
/// (independently of our prefix table).
fn openssl_digest_info(d: &Dir, md: &str, msg_path: &str) -> Vec<u8> {
    let dg = openssl_ok(&["dgst", md, "-binary", msg_path]);
    let oid = match md {
        "-sha1" => "sha1",
        "-sha256" => "sha256",
        "-sha384" => "sha384",
        "-sha512" => "sha512",
        m => panic!("{m}"),
    };
    let conf = format!(
        "asn1=SEQUENCE:di\n[di]\nalg=SEQUENCE:alg\ndigest=FORMAT:HEX,OCTETSTRING:{}\n[alg]\noid=OID:{oid}\nparams=NULL\n",
        hex_str(&dg)
    );
    let conf_path = d.write("di.cnf", conf.as_bytes());
    let out = d.path("di.der");
    openssl_ok(&["asn1parse", "-genconf", &conf_path, "-out", &out, "-noout"]);
    d.read("di.der")
}

#[test]
fn rsa_oaep_against_openssl() {
    let d = Dir::new();
    let der = rsa_openssl_key(&d);
    let key_path = d.path("rsa.der");
    let material = validate_import(KeySpec::Rsa2048, &der).unwrap();
    let spki = public_key_spki(KeySpec::Rsa2048, &material).unwrap();
    let pub_path = d.write("pub.der", &spki);
    let pt = b"a data key, 32 bytes long.......".to_vec();
    let pt_path = d.write("pt", &pt);
    for (hash, md) in [
        (OaepHash::Sha1, "sha1"),
        (OaepHash::Sha256, "sha256"),
        (OaepHash::Sha384, "sha384"),
        (OaepHash::Sha512, "sha512"),
    ] {
        for label in [&b""[..], &b"context label"[..]] {
            let mut opts = vec![
                "-pkeyopt".to_string(),
                "rsa_padding_mode:oaep".to_string(),
                "-pkeyopt".to_string(),
                format!("rsa_oaep_md:{md}"),
                "-pkeyopt".to_string(),
                format!("rsa_mgf1_md:{md}"),
            ];
            if !label.is_empty() {
                opts.push("-pkeyopt".into());
                opts.push(format!("rsa_oaep_label:{}", hex_str(label)));
            }
            let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
            // openssl encrypts, we decrypt.
            let mut a = vec![
                "pkeyutl", "-encrypt", "-pubin", "-inkey", &pub_path, "-keyform", "DER", "-in",
                &pt_path,
            ];
            a.extend(&opts);
            let ct = openssl_ok(&a);
            assert_eq!(
                &rsa_oaep_decrypt(&material, hash, label, &ct).unwrap()[..],
                &pt[..]
            );
            // Wrong label, wrong hash, tampering, truncation: InvalidCiphertext.
            assert_eq!(
                kind(rsa_oaep_decrypt(&material, hash, b"other", &ct)),
                ErrorKind::InvalidCiphertext
            );
            let other = if hash == OaepHash::Sha256 {
                OaepHash::Sha1
            } else {
                OaepHash::Sha256
            };
            assert_eq!(
                kind(rsa_oaep_decrypt(&material, other, label, &ct)),
                ErrorKind::InvalidCiphertext
            );
            let mut bad = ct.clone();
            bad[100] ^= 1;
            assert_eq!(
                kind(rsa_oaep_decrypt(&material, hash, label, &bad)),
                ErrorKind::InvalidCiphertext
            );
            assert_eq!(
                kind(rsa_oaep_decrypt(&material, hash, label, &ct[..255])),
                ErrorKind::InvalidCiphertext
            );
            // We encrypt (with the SPKI and with the private material), openssl decrypts.
            for key in [spki.as_slice(), material.as_slice()] {
                let ours = rsa_oaep_encrypt(key, hash, label, &pt).unwrap();
                assert_eq!(ours.len(), 256);
                let ct_path = d.write("ct", &ours);
                let mut a = vec![
                    "pkeyutl", "-decrypt", "-inkey", &key_path, "-keyform", "DER", "-in", &ct_path,
                ];
                a.extend(&opts);
                assert_eq!(openssl_ok(&a), pt);
            }
        }
    }
    let too_long = vec![0u8; 256 - 2 * 32 - 1];
    assert_eq!(
        kind(rsa_oaep_encrypt(&spki, OaepHash::Sha256, b"", &too_long)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        rsa_oaep_encrypt(&spki, OaepHash::Sha256, b"", &too_long[1..])
            .unwrap()
            .len(),
        256
    );
    assert_eq!(
        kind(rsa_oaep_encrypt(b"junk", OaepHash::Sha256, b"", b"x")),
        ErrorKind::InvalidArgument
    );
}

#[test]
fn rsa_large_keys_generate_sign_verify() {
    for spec in [KeySpec::Rsa3072, KeySpec::Rsa4096] {
        let m = generate(spec).unwrap();
        assert_eq!(&validate_import(spec, &m).unwrap()[..], &m[..]);
        let spki = public_key_spki(spec, &m).unwrap();
        let (n, _) = rsa_public_components(&m).unwrap();
        assert_eq!(
            n.len() * 8,
            if spec == KeySpec::Rsa3072 { 3072 } else { 4096 }
        );
        for alg in [SignAlg::RsaPkcs1Sha384, SignAlg::RsaPssSha512] {
            let sig = sign(spec, &m, alg, b"big").unwrap();
            verify(spec, &spki, alg, b"big", &sig).unwrap();
        }
        let ct = rsa_oaep_encrypt(&spki, OaepHash::Sha256, b"", b"k").unwrap();
        assert_eq!(
            &rsa_oaep_decrypt(&m, OaepHash::Sha256, b"", &ct).unwrap()[..],
            b"k"
        );
        assert_eq!(
            kind(validate_import(KeySpec::Rsa2048, &m)),
            ErrorKind::InvalidArgument
        );
    }
}

// ----------------------------------------------------------------------------- generation, import

#[test]
fn generate_import_and_public_keys_for_every_spec() {
    let d = Dir::new();
    for spec in KeySpec::ALL {
        if matches!(spec, KeySpec::Rsa3072 | KeySpec::Rsa4096) {
            continue; // covered once in rsa_large_keys_generate_sign_verify
        }
        let m = generate(spec).unwrap();
        let again = validate_import(spec, &m).unwrap();
        assert_eq!(&again[..], &m[..], "{} normal form is stable", spec.name());
        match spec {
            KeySpec::Aes128 => assert_eq!(m.len(), 16),
            KeySpec::Aes256 => assert_eq!(m.len(), 32),
            KeySpec::HmacSha256 | KeySpec::Secret => assert_eq!(m.len(), 32),
            KeySpec::HmacSha384 => assert_eq!(m.len(), 48),
            KeySpec::HmacSha512 => assert_eq!(m.len(), 64),
            _ => {
                // openssl parses our PKCS#8 and derives the same SPKI.
                let p = d.write("k.der", &m);
                let theirs = openssl_ok(&[
                    "pkey", "-in", &p, "-inform", "DER", "-pubout", "-outform", "DER",
                ]);
                assert_eq!(
                    public_key_spki(spec, &m).unwrap(),
                    theirs,
                    "{}",
                    spec.name()
                );
            }
        }
        if spec.is_symmetric() {
            assert_eq!(kind(public_key_spki(spec, &m)), ErrorKind::KeyUsage);
            assert_eq!(kind(public_key_raw(spec, &m)), ErrorKind::KeyUsage);
        }
        assert_ne!(
            &generate(spec).unwrap()[..],
            &m[..],
            "fresh material each time"
        );
    }
}

#[test]
fn import_rejects_wrong_material() {
    let p256 = generate(KeySpec::EcP256).unwrap();
    let p384 = generate(KeySpec::EcP384).unwrap();
    let ed = generate(KeySpec::Ed25519).unwrap();
    let inv = ErrorKind::InvalidArgument;
    assert_eq!(kind(validate_import(KeySpec::Aes128, &[0; 32])), inv);
    assert_eq!(kind(validate_import(KeySpec::Aes256, &[0; 16])), inv);
    assert_eq!(kind(validate_import(KeySpec::Aes256, &[])), inv);
    assert_eq!(kind(validate_import(KeySpec::HmacSha256, &[0; 8])), inv);
    assert_eq!(kind(validate_import(KeySpec::Secret, &[])), inv);
    assert_eq!(kind(validate_import(KeySpec::EcP384, &p256)), inv);
    assert_eq!(kind(validate_import(KeySpec::EcP256, &p384)), inv);
    assert_eq!(kind(validate_import(KeySpec::EcP256, &ed)), inv);
    assert_eq!(kind(validate_import(KeySpec::Ed25519, &p256)), inv);
    assert_eq!(kind(validate_import(KeySpec::Rsa2048, &p256)), inv);
    // Every truncation of a PKCS#8 key is an error, never a panic.
    for (spec, m) in [(KeySpec::EcP256, &p256), (KeySpec::Ed25519, &ed)] {
        for cut in 0..m.len() {
            assert!(validate_import(spec, &m[..cut]).is_err());
        }
        let mut flipped = m.to_vec();
        flipped[1] ^= 0x40;
        assert!(validate_import(spec, &flipped).is_err());
    }
    // Sign with a mismatched spec or material.
    assert_eq!(
        kind(sign(KeySpec::EcP384, &p256, SignAlg::EcdsaSha384, b"m")),
        inv
    );
    assert_eq!(
        kind(sign(KeySpec::EcP256, &p256, SignAlg::Ed25519, b"m")),
        ErrorKind::KeyUsage
    );
    assert_eq!(
        kind(sign(KeySpec::Aes256, &[0; 32], SignAlg::EcdsaSha256, b"m")),
        ErrorKind::KeyUsage
    );
    let spki = public_key_spki(KeySpec::EcP256, &p256).unwrap();
    assert_eq!(
        kind(verify(
            KeySpec::EcP256,
            &spki[..20],
            SignAlg::EcdsaSha256,
            b"m",
            &[0x30, 0]
        )),
        inv
    );
    assert_eq!(
        kind(verify(
            KeySpec::EcP256,
            &spki,
            SignAlg::EcdsaSha256,
            b"m",
            &[]
        )),
        ErrorKind::VerificationFailed
    );
    let p384_spki = public_key_spki(KeySpec::EcP384, &p384).unwrap();
    let sig = sign(KeySpec::EcP384, &p384, SignAlg::EcdsaSha384, b"m").unwrap();
    assert!(verify(
        KeySpec::EcP256,
        &p384_spki,
        SignAlg::EcdsaSha384,
        b"m",
        &sig
    )
    .is_err());
}

#[test]
fn sign_alg_and_hash_names_codes() {
    for a in SignAlg::ALL {
        assert_eq!(SignAlg::parse(a.name()).unwrap(), a);
        assert_eq!(
            SignAlg::parse(&a.name().to_lowercase().replace('_', "-")).unwrap(),
            a
        );
        assert_eq!(SignAlg::from_code(a.code()).unwrap(), a);
    }
    assert!(SignAlg::parse("RSA_MD5").is_err());
    assert!(SignAlg::from_code(0).is_err());
    assert!(SignAlg::EcdsaSha512.fits(KeySpec::EcP256));
    assert!(!SignAlg::EcdsaSha256.fits(KeySpec::Ed25519));
    assert!(!SignAlg::RsaPssSha256.fits(KeySpec::EcP256));
    assert!(SignAlg::RsaPssSha256.fits(KeySpec::Rsa4096));
    assert!(!SignAlg::Ed25519.fits(KeySpec::Aes256));
    for hh in HashAlg::ALL {
        assert_eq!(HashAlg::parse(hh.name()).unwrap(), hh);
        assert_eq!(digest(hh, b"").len(), hh.output_len());
    }
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
    let a = random_vec(32).unwrap();
    let b = random_vec(32).unwrap();
    assert_ne!(&a[..], &b[..]);
    let mut z = [0u8; 0];
    random(&mut z).unwrap();
}
