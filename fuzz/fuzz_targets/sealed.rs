//! The at-rest decoders of `kms::core::seal`: sealed key blobs (format byte, KEK id, nonce,
//! AES-GCM), the master key file, the stored Argon2id parameters and hex. Input: one selector
//! byte (modulo 4) then the bytes for that decoder.
#![no_main]

use kms::core::seal::{hex, unhex, Sealer};
use kms::core::KeySpec;
use kms::fuzz_api;
use libfuzzer_sys::fuzz_target;

/// The key id, version and spec the seed blobs were sealed for (bound as associated data).
const KEY_ID: u64 = 1;
const VERSION: u32 = 1;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let spec = KeySpec::Aes256.code();
    match sel % 4 {
        0 => {
            let s = fuzz_api::sealer();
            let kek = Sealer::kek_of(rest);
            match s.unseal(KEY_ID, VERSION, spec, rest) {
                Ok(Some(m)) => {
                    assert_eq!(kek.ok(), Some(fuzz_api::KEK_ID));
                    // What opened seals again and opens to the same material.
                    let again = s.seal(KEY_ID, VERSION, spec, &m).expect("seal");
                    let m2 = s.unseal(KEY_ID, VERSION, spec, &again).expect("unseal");
                    assert_eq!(m2.as_deref().map(|v| &v[..]), Some(&m[..]));
                    // Bound to the key id: another id does not open it.
                    assert!(s.unseal(KEY_ID + 1, VERSION, spec, rest).is_err());
                }
                Ok(None) => assert!(kek.is_ok_and(|k| k != fuzz_api::KEK_ID)),
                Err(_) => {}
            }
        }
        1 => {
            if let Some(k) = fuzz_api::parse_key_file(&String::from_utf8_lossy(rest)) {
                assert_eq!(k.len(), 32);
                let text = format!("kms-master-key-v1 {}\n", hex(&k));
                let k2 = fuzz_api::parse_key_file(&text).expect("re-parse");
                assert_eq!(&k[..], &k2[..]);
            }
        }
        2 => {
            if let Ok(p) = fuzz_api::decode_kdf_params(rest) {
                assert_eq!(rest.len(), 12);
                assert_eq!(p.m_kib.to_be_bytes(), rest[..4]);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            if let Some(b) = unhex(&text) {
                assert_eq!(hex(&b), text.to_ascii_lowercase());
            }
        }
    }
});
