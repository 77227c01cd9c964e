//! Streaming envelope encryption: round trips across chunk boundaries, and refusal of
//! altered, reordered, truncated or extended streams.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod util;

use kms::core::*;
use util::*;

const CHUNK: usize = kms::core::stream::CHUNK;

fn encrypt(k: &Kms, o: &Caller, data: &[u8], c: &Context) -> Vec<u8> {
    let mut out = Vec::new();
    let n = k
        .encrypt_stream(o, "s", c, &mut &data[..], &mut out)
        .unwrap();
    assert_eq!(n as usize, data.len());
    out
}

fn decrypt(k: &Kms, o: &Caller, ct: &[u8], c: &Context) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    k.decrypt_stream(o, c, &mut &ct[..], &mut out)?;
    Ok(out)
}

#[test]
fn round_trips_at_every_boundary() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("s")).unwrap();
    let c = ctx("file=x.bin");
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let ct = encrypt(&k, &o, &data, &c);
        assert_eq!(decrypt(&k, &o, &ct, &c).unwrap(), data, "len {len}");
        // incremental feeding in odd pieces gives the same result
        let mut dec = k.stream_decryptor(&o, &c);
        let mut out = Vec::new();
        for piece in ct.chunks(9999) {
            dec.update(piece, &mut out).unwrap();
        }
        dec.finish(&mut out).unwrap();
        assert_eq!(out, data);
    }
}

#[test]
fn tampering_is_detected() {
    let s = TestStore::new();
    let (k, o) = s.open_owner();
    k.create_key(&o, &aes("s")).unwrap();
    let c = Context::new();
    let data = vec![5u8; 2 * CHUNK + 100];
    let ct = encrypt(&k, &o, &data, &c);
    let hdr = ct.len() - (data.len() + 3 * 16);
    // truncated at a chunk boundary: the last-chunk flag is missing
    assert!(decrypt(&k, &o, &ct[..hdr + CHUNK + 16], &c).is_err());
    assert!(decrypt(&k, &o, &ct[..ct.len() - 1], &c).is_err());
    // extended
    let mut ext = ct.clone();
    ext.extend_from_slice(&[0u8; 20]);
    assert!(decrypt(&k, &o, &ext, &c).is_err());
    // reordered chunks
    let mut re = ct[..hdr].to_vec();
    re.extend_from_slice(&ct[hdr + CHUNK + 16..hdr + 2 * (CHUNK + 16)]);
    re.extend_from_slice(&ct[hdr..hdr + CHUNK + 16]);
    re.extend_from_slice(&ct[hdr + 2 * (CHUNK + 16)..]);
    assert!(decrypt(&k, &o, &re, &c).is_err());
    // a flipped byte anywhere (sampled)
    for i in (0..ct.len())
        .step_by(997)
        .chain([0, 5, hdr - 1, ct.len() - 1])
    {
        let mut bad = ct.clone();
        bad[i] ^= 0x40;
        assert!(decrypt(&k, &o, &bad, &c).is_err(), "byte {i}");
    }
    // wrong context
    assert!(decrypt(&k, &o, &ct, &ctx("x=1")).is_err());
}
