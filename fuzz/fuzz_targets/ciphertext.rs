//! The ciphertext parser and opener (`kms::core::ciphertext`, `Kms::decrypt` once the key is
//! loaded). Input: one mode byte (bit 0: the AES-128 key, else AES-256; bit 1: the encryption
//! context `tenant=acme,table=users` is given) then the ciphertext.
#![no_main]

use kms::core::ciphertext::{parse_context, Header, ALG_AES128_GCM, HEADER_LEN, TAG_LEN};
use kms::core::KeySpec;
use kms::fuzz_api;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, ct)) = data.split_first() else {
        return;
    };
    let spec = if mode & 1 != 0 {
        KeySpec::Aes128
    } else {
        KeySpec::Aes256
    };
    let ctx = if mode & 2 != 0 {
        parse_context("tenant=acme,table=users").expect("fixed context")
    } else {
        Default::default()
    };
    let parsed = Header::parse(ct);
    if let Ok((h, body)) = &parsed {
        // The header is fixed-size and re-encodes to the same bytes.
        assert_eq!(h.encode()[..], ct[..HEADER_LEN]);
        assert_eq!(body.len(), ct.len() - HEADER_LEN);
        assert!(body.len() >= TAG_LEN);
    }
    if let Ok(pt) = fuzz_api::open_ciphertext(spec, ct, &ctx) {
        // Only a well-formed ciphertext of the key's algorithm authenticates.
        let (h, body) = parsed.expect("an opened ciphertext parses");
        assert_eq!(h.alg == ALG_AES128_GCM, spec == KeySpec::Aes128);
        assert_eq!(pt.len(), body.len() - TAG_LEN);
        assert_eq!(h.has_context(), !ctx.is_empty());
    }
});
