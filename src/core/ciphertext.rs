//! The self-describing ciphertext format and the canonical encoding of encryption contexts.
//!
//! ```text
//! offset size  field
//! 0      1     format (0x01)
//! 1      8     key id (big-endian)
//! 9      4     key version (big-endian)
//! 13     1     algorithm (1 = AES-256-GCM, 2 = AES-128-GCM)
//! 14     1     flags (bit 0: an encryption context is bound)
//! 15     12    nonce
//! 27     n     ciphertext
//! 27+n   16    GCM tag
//! ```
//! The GCM associated data is the 27-byte header followed by the canonical context encoding,
//! so every header byte and the context are authenticated; the context itself is not stored.

use std::collections::BTreeMap;

use crate::core::error::{Error, Result};

pub const FORMAT_V1: u8 = 1;
pub const HEADER_LEN: usize = 27;
pub const TAG_LEN: usize = 16;
pub const ALG_AES256_GCM: u8 = 1;
pub const ALG_AES128_GCM: u8 = 2;
const FLAG_CONTEXT: u8 = 1;

/// An encryption context: key/value pairs bound to a ciphertext as associated data.
pub type Context = BTreeMap<String, String>;

/// The parsed header of a ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub key_id: u64,
    pub version: u32,
    pub alg: u8,
    pub flags: u8,
    pub nonce: [u8; 12],
}

impl Header {
    pub fn new(key_id: u64, version: u32, alg: u8, has_context: bool, nonce: [u8; 12]) -> Header {
        Header {
            key_id,
            version,
            alg,
            flags: if has_context { FLAG_CONTEXT } else { 0 },
            nonce,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        h[0] = FORMAT_V1;
        h[1..9].copy_from_slice(&self.key_id.to_be_bytes());
        h[9..13].copy_from_slice(&self.version.to_be_bytes());
        h[13] = self.alg;
        h[14] = self.flags;
        h[15..27].copy_from_slice(&self.nonce);
        h
    }

    /// Parses the header of `ct` and returns it with the body (ciphertext and tag).
    pub fn parse(ct: &[u8]) -> Result<(Header, &[u8])> {
        if ct.len() < HEADER_LEN + TAG_LEN {
            return Err(Error::bad_ciphertext(format!(
                "ciphertext too short ({} bytes; at least {} needed)",
                ct.len(),
                HEADER_LEN + TAG_LEN
            )));
        }
        if ct[0] != FORMAT_V1 {
            return Err(Error::bad_ciphertext(format!(
                "unknown ciphertext format {:#04x}",
                ct[0]
            )));
        }
        let alg = ct[13];
        if alg != ALG_AES256_GCM && alg != ALG_AES128_GCM {
            return Err(Error::bad_ciphertext(format!("unknown algorithm {alg}")));
        }
        let flags = ct[14];
        if flags & !FLAG_CONTEXT != 0 {
            return Err(Error::bad_ciphertext("unknown ciphertext flags"));
        }
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&ct[15..27]);
        let mut kid = [0u8; 8];
        kid.copy_from_slice(&ct[1..9]);
        let mut ver = [0u8; 4];
        ver.copy_from_slice(&ct[9..13]);
        Ok((
            Header {
                key_id: u64::from_be_bytes(kid),
                version: u32::from_be_bytes(ver),
                alg,
                flags,
                nonce,
            },
            &ct[HEADER_LEN..],
        ))
    }

    pub fn has_context(&self) -> bool {
        self.flags & FLAG_CONTEXT != 0
    }
}

/// The associated data for GCM: header bytes then the canonical context.
pub fn aad(header: &[u8; HEADER_LEN], ctx: &Context) -> Vec<u8> {
    let mut a = header.to_vec();
    encode_context_into(ctx, &mut a);
    a
}

/// Canonical context encoding: count, then each pair sorted by key as length-prefixed bytes.
pub fn encode_context_into(ctx: &Context, out: &mut Vec<u8>) {
    out.extend_from_slice(&(ctx.len() as u32).to_be_bytes());
    for (k, v) in ctx {
        out.extend_from_slice(&(k.len() as u32).to_be_bytes());
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(&(v.len() as u32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

/// Parses `k=v,k2=v2` (or newline-separated) into a context. Empty text is an empty context.
pub fn parse_context(text: &str) -> Result<Context> {
    let mut c = Context::new();
    for part in text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("context entry '{part}' is not key=value")))?;
        if k.is_empty() {
            return Err(Error::invalid("context key is empty"));
        }
        if c.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::invalid(format!("context key '{k}' appears twice")));
        }
    }
    Ok(c)
}

/// The context keys only, comma separated (what the audit trail records by default).
pub fn context_keys(ctx: &Context) -> String {
    ctx.keys().cloned().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header::new(42, 7, ALG_AES256_GCM, true, [9; 12]);
        let mut ct = h.encode().to_vec();
        ct.extend_from_slice(&[0u8; 20]);
        let (p, body) = Header::parse(&ct).unwrap();
        assert_eq!(p, h);
        assert_eq!(body.len(), 20);
    }

    #[test]
    fn short_and_unknown_are_errors() {
        assert!(Header::parse(&[1u8; 10]).is_err());
        let mut ct = Header::new(1, 1, ALG_AES256_GCM, false, [0; 12])
            .encode()
            .to_vec();
        ct.extend_from_slice(&[0u8; 16]);
        ct[0] = 9;
        assert!(Header::parse(&ct).is_err());
    }

    #[test]
    fn context_parsing() {
        let c = parse_context("tenant=acme, table=users").unwrap();
        assert_eq!(c.get("tenant").map(String::as_str), Some("acme"));
        assert!(parse_context("a=1,a=2").is_err());
        assert!(parse_context("nokey").is_err());
        assert_eq!(context_keys(&c), "table,tenant");
    }
}
