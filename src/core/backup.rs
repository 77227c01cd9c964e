//! Backup and restore of a whole store: one file, always wrapped (AES-256-GCM under a key
//! from a passphrase through Argon2id, or from a 32-byte backup key file), authenticated
//! chunk by chunk with a last-chunk flag so nothing can be cut, reordered or added; restored
//! only into a freshly initialised store, verified completely before anything is written.
//!
//! File layout (docs/kmsctl.md): a 46-byte clear header (magic `KMSBACK1`, format, mode,
//! Argon2id parameters, salt, nonce prefix, chunk size) bound as associated data into every
//! chunk; then the payload in 64 KiB chunks sealed like the streaming envelope. The payload
//! is a sequence of tagged records: info, meta, keyrings, identities, keys, versions (with
//! material in the clear inside the wrapping), grants, objects, checkpoints, audit records,
//! and an end record with the counts.

use std::io::{Read, Write};

use zeroize::Zeroizing;

use crate::core::audit::{self, ChainWalker, Segments};
use crate::core::crypto::{self, HashAlg, Secret};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::*;
use crate::core::objects::{seal_object_with, unseal_object_with, SECRET_CLASS};
use crate::core::seal::{argon2_derive, KdfParams, Sealer};
use crate::core::service::{bare_record, Caller, Kms, DEFAULT_KEYRING, OWNER};
use crate::core::store::{self, Tx};
use crate::core::types::*;

const MAGIC: &[u8; 8] = b"KMSBACK1";
/// The format written: 2 adds audit batches linked as a whole (`R_AUDIT_BATCH`); format-1
/// files (no such records) are read as well.
const FORMAT: u8 = 2;
const MODE_PASSPHRASE: u8 = 1;
const MODE_KEY: u8 = 2;
const HEADER_LEN: usize = 8 + 1 + 1 + 12 + 16 + 7 + 1;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const MAX_RECORD: usize = 16 * 1024 * 1024;

const R_INFO: u8 = 1;
const R_META: u8 = 2;
const R_KEYRING: u8 = 3;
const R_IDENTITY: u8 = 4;
const R_KEY: u8 = 5;
const R_VERSION: u8 = 6;
const R_GRANT: u8 = 7;
const R_OBJECT: u8 = 8;
const R_CHECKPOINT: u8 = 9;
const R_AUDIT: u8 = 10;
/// A stored audit batch linked as a whole (version 3), as stored: its records have no
/// hashes of their own to write one by one.
const R_AUDIT_BATCH: u8 = 11;
const R_END: u8 = 255;

/// What protects a backup file.
#[derive(Clone)]
pub enum BackupSecret {
    /// A passphrase, stretched with Argon2id (parameters and salt in the file header).
    Passphrase(Zeroizing<String>),
    /// A 32-byte backup key (see [`load_backup_key_file`]).
    Key(Secret),
}

impl std::fmt::Debug for BackupSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupSecret::Passphrase(_) => f.write_str("Passphrase(<redacted>)"),
            BackupSecret::Key(_) => f.write_str("Key(<redacted>)"),
        }
    }
}

/// Reads a backup key file: 32 raw bytes, or 64 hex digits (surrounding whitespace ignored).
pub fn load_backup_key_file(path: &std::path::Path) -> Result<Secret> {
    let raw = Zeroizing::new(
        std::fs::read(path)
            .map_err(|e| Error::invalid(format!("backup key file {}: {e}", path.display())))?,
    );
    if raw.len() == 32 {
        return Ok(Secret::from_slice(&raw));
    }
    let text = String::from_utf8_lossy(&raw);
    let t = text.trim();
    if t.len() == 64 {
        if let Some(k) = crate::core::seal::unhex(t) {
            return Ok(Secret::new(k));
        }
    }
    Err(Error::invalid(format!(
        "backup key file {} must hold 32 bytes (raw or 64 hex digits)",
        path.display()
    )))
}

/// What a backup holds (counted while writing or verifying).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupSummary {
    pub source_store_id: [u8; 16],
    pub created: i64,
    pub keyrings: u64,
    pub identities: u64,
    pub keys: u64,
    pub versions: u64,
    pub grants: u64,
    pub objects: u64,
    pub checkpoints: u64,
    pub audit_records: u64,
}

impl BackupSummary {
    fn counts(&self) -> [u64; 8] {
        [
            self.keyrings,
            self.identities,
            self.keys,
            self.versions,
            self.grants,
            self.objects,
            self.checkpoints,
            self.audit_records,
        ]
    }
}

/// Progress callback: (units done, units expected).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

// ------------------------------------------------------------------ field encoding

#[derive(Default)]
struct Enc(Zeroizing<Vec<u8>>);

impl Enc {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(v as u8)
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.u32(v.len() as u32);
        self.0.extend_from_slice(v);
        self
    }
    fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    fn opt_bytes(&mut self, v: Option<&[u8]>) -> &mut Self {
        match v {
            Some(b) => self.u8(1).bytes(b),
            None => self.u8(0),
        }
    }
    fn opt_i64(&mut self, v: Option<i64>) -> &mut Self {
        match v {
            Some(n) => self.u8(1).i64(n),
            None => self.u8(0),
        }
    }
    fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        match v {
            Some(n) => self.u8(1).u64(n),
            None => self.u8(0),
        }
    }
    fn opt_str(&mut self, v: Option<&str>) -> &mut Self {
        self.opt_bytes(v.map(str::as_bytes))
    }
    fn pairs(&mut self, v: &[(String, String)]) -> &mut Self {
        self.u32(v.len() as u32);
        for (a, b) in v {
            self.str(a).str(b);
        }
        self
    }
}

struct Dec<'a> {
    b: &'a [u8],
}

fn short() -> Error {
    Error::integrity("backup record is malformed")
}

impl<'a> Dec<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.b.len() < n {
            return Err(short());
        }
        let (a, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().map_err(|_| short())?,
        ))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().map_err(|_| short())?,
        ))
    }
    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().map_err(|_| short())?,
        ))
    }
    fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(short()),
        }
    }
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let n = self.u32()? as usize;
        Ok(self.take(n)?.to_vec())
    }
    fn str(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?).map_err(|_| short())
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<Option<T>> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(f(self)?)),
            _ => Err(short()),
        }
    }
    fn pairs(&mut self) -> Result<Vec<(String, String)>> {
        let n = self.u32()? as usize;
        if n > self.b.len() {
            return Err(short());
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push((self.str()?, self.str()?));
        }
        Ok(v)
    }
    fn end(&self) -> Result<()> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(short())
        }
    }
}

fn enc_keyring(k: &KeyringRecord) -> Enc {
    let mut e = Enc::default();
    e.u64(k.id).str(&k.name).i64(k.created).bytes(&k.attrs);
    e
}

fn dec_keyring(d: &mut Dec) -> Result<KeyringRecord> {
    Ok(KeyringRecord {
        id: d.u64()?,
        name: d.str()?,
        created: d.i64()?,
        attrs: d.bytes()?,
    })
}

fn enc_identity(i: &IdentityRecord) -> Enc {
    let mut e = Enc::default();
    e.u64(i.id)
        .u64(i.keyring)
        .str(&i.name)
        .str(&i.phc)
        .u32(i.roles.0)
        .bool(i.combined_roles)
        .bool(i.disabled)
        .u32(i.failures)
        .bool(i.locked)
        .i64(i.created);
    e
}

fn dec_identity(d: &mut Dec) -> Result<IdentityRecord> {
    Ok(IdentityRecord {
        id: d.u64()?,
        keyring: d.u64()?,
        name: d.str()?,
        phc: d.str()?,
        roles: Roles(d.u32()?),
        combined_roles: d.bool()?,
        disabled: d.bool()?,
        failures: d.u32()?,
        locked: d.bool()?,
        created: d.i64()?,
    })
}

fn enc_key(k: &KeyRecord) -> Enc {
    let mut e = Enc::default();
    e.u64(k.id)
        .u64(k.keyring)
        .opt_str(k.name.as_deref())
        .u32(k.spec.code())
        .u32(k.usage.0)
        .u32(k.state.code())
        .opt_u64(k.prior_state.map(|s| s.code() as u64))
        .bool(k.compromised)
        .u32(k.primary_version)
        .u32(k.min_decrypt_version)
        .bool(k.exportable)
        .bool(k.origin == Origin::Imported)
        .i64(k.created)
        .opt_i64(k.activation_date)
        .opt_i64(k.rotation_period)
        .opt_u64(k.rotate_after_uses)
        .i64(k.last_rotated)
        .opt_i64(k.deletion_date)
        .opt_i64(k.destroyed_at)
        .str(&k.owner)
        .str(&k.description)
        .pairs(&k.tags)
        .bytes(&k.ext_id)
        .bytes(&k.attrs);
    e
}

fn state_from_code(code: u32) -> Result<KeyState> {
    KeyState::ALL
        .iter()
        .copied()
        .find(|s| s.code() == code)
        .ok_or_else(short)
}

fn dec_key(d: &mut Dec) -> Result<KeyRecord> {
    Ok(KeyRecord {
        id: d.u64()?,
        keyring: d.u64()?,
        name: d.opt(|d| d.str())?,
        spec: KeySpec::from_code(d.u32()?).map_err(|_| short())?,
        usage: Usage(d.u32()?),
        state: state_from_code(d.u32()?)?,
        prior_state: match d.opt(|d| d.u64())? {
            Some(c) => Some(state_from_code(c as u32)?),
            None => None,
        },
        compromised: d.bool()?,
        primary_version: d.u32()?,
        min_decrypt_version: d.u32()?,
        exportable: d.bool()?,
        origin: if d.bool()? {
            Origin::Imported
        } else {
            Origin::Generated
        },
        created: d.i64()?,
        activation_date: d.opt(|d| d.i64())?,
        rotation_period: d.opt(|d| d.i64())?,
        rotate_after_uses: d.opt(|d| d.u64())?,
        last_rotated: d.i64()?,
        deletion_date: d.opt(|d| d.i64())?,
        destroyed_at: d.opt(|d| d.i64())?,
        owner: d.str()?,
        description: d.str()?,
        tags: d.pairs()?,
        ext_id: d.bytes()?,
        attrs: d.bytes()?,
    })
}

/// A version as the backup holds it: material in the clear (inside the wrapping).
struct PlainVersion {
    rec: VersionRecord,
    material: Option<Secret>,
}

fn enc_version(v: &VersionRecord, material: Option<&[u8]>) -> Enc {
    let mut e = Enc::default();
    e.u64(v.key_id)
        .u32(v.version)
        .i64(v.created)
        .bool(v.destroyed)
        .opt_bytes(material)
        .opt_bytes(v.public.as_deref())
        .u64(v.uses);
    e
}

fn dec_version(d: &mut Dec) -> Result<PlainVersion> {
    let key_id = d.u64()?;
    let version = d.u32()?;
    let created = d.i64()?;
    let destroyed = d.bool()?;
    let material = d.opt(|d| d.bytes())?.map(Zeroizing::new);
    let public = d.opt(|d| d.bytes())?;
    let uses = d.u64()?;
    Ok(PlainVersion {
        rec: VersionRecord {
            key_id,
            version,
            created,
            destroyed,
            sealed: None,
            public,
            uses,
        },
        material: material.map(Secret::from),
    })
}

fn enc_grant(g: &GrantRecord) -> Enc {
    let mut e = Enc::default();
    e.u64(g.id)
        .u64(g.keyring)
        .str(&g.identity)
        .opt_u64(g.key_id)
        .u64(g.actions.0)
        .opt_i64(g.expires)
        .opt_u64(g.max_uses)
        .u64(g.uses)
        .pairs(&g.context)
        .i64(g.created);
    e
}

fn dec_grant(d: &mut Dec) -> Result<GrantRecord> {
    Ok(GrantRecord {
        id: d.u64()?,
        keyring: d.u64()?,
        identity: d.str()?,
        key_id: d.opt(|d| d.u64())?,
        actions: ActionSet(d.u64()?),
        expires: d.opt(|d| d.i64())?,
        max_uses: d.opt(|d| d.u64())?,
        uses: d.u64()?,
        context: d.pairs()?,
        created: d.i64()?,
    })
}

/// Objects: the value of a sensitive certificate/data object is in the clear (unsealed);
/// an application secret's value is its ciphertext under a KMS key, kept as is.
fn enc_object(o: &ObjectRecord, value: &[u8]) -> Enc {
    let mut e = Enc::default();
    e.u64(o.id)
        .u64(o.keyring)
        .str(&o.class)
        .str(&o.label)
        .bytes(&o.ext_id)
        .bytes(value)
        .bool(o.sensitive)
        .bytes(&o.attrs)
        .i64(o.created)
        .u32(o.version)
        .opt_u64(o.key_id)
        .bool(o.deleted);
    e
}

fn dec_object(d: &mut Dec) -> Result<ObjectRecord> {
    Ok(ObjectRecord {
        id: d.u64()?,
        keyring: d.u64()?,
        class: d.str()?,
        label: d.str()?,
        ext_id: d.bytes()?,
        value: d.bytes()?,
        sensitive: d.bool()?,
        attrs: d.bytes()?,
        created: d.i64()?,
        version: d.u32()?,
        key_id: d.opt(|d| d.u64())?,
        deleted: d.bool()?,
    })
}

fn enc_checkpoint(c: &CheckpointRecord) -> Enc {
    let mut e = Enc::default();
    e.u64(c.seq).bytes(&c.head_hash).i64(c.time).bytes(&c.mac);
    e
}

fn dec_checkpoint(d: &mut Dec) -> Result<CheckpointRecord> {
    Ok(CheckpointRecord {
        seq: d.u64()?,
        head_hash: d.bytes()?,
        time: d.i64()?,
        mac: d.bytes()?,
    })
}

fn enc_audit(r: &AuditRecord) -> Enc {
    let mut e = Enc::default();
    e.u64(r.seq)
        .i64(r.time)
        .u64(r.keyring)
        .str(&r.identity)
        .str(&r.action)
        .opt_u64(r.key_id)
        .opt_u64(r.key_version.map(u64::from))
        .str(r.outcome.name())
        .str(&r.error)
        .str(&r.context)
        .u32(r.pid)
        .str(&r.request_id)
        .str(&r.detail)
        .bytes(&r.prev_hash)
        .bytes(&r.hash);
    e
}

fn dec_audit(d: &mut Dec) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: d.u64()?,
        time: d.i64()?,
        keyring: d.u64()?,
        identity: d.str()?,
        action: d.str()?,
        key_id: d.opt(|d| d.u64())?,
        key_version: d.opt(|d| d.u64())?.map(|v| v as u32),
        outcome: Outcome::parse(&d.str()?).ok_or_else(short)?,
        error: d.str()?,
        context: d.str()?,
        pid: d.u32()?,
        request_id: d.str()?,
        detail: d.str()?,
        prev_hash: d.bytes()?,
        hash: d.bytes()?,
    })
}

fn enc_batch(b: &AuditBatch) -> Enc {
    let mut e = Enc::default();
    e.u64(b.first_seq)
        .u64(b.last_seq)
        .i64(b.min_time)
        .i64(b.max_time)
        .bytes(&b.prev_hash)
        .bytes(&b.hash)
        .bytes(&b.body);
    e
}

fn dec_batch(d: &mut Dec) -> Result<AuditBatch> {
    Ok(AuditBatch {
        first_seq: d.u64()?,
        last_seq: d.u64()?,
        min_time: d.i64()?,
        max_time: d.i64()?,
        prev_hash: d.bytes()?,
        hash: d.bytes()?,
        body: d.bytes()?,
    })
}

// ------------------------------------------------------------------ wrapping

fn nonce(prefix: &[u8; 7], counter: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = last as u8;
    n
}

fn derive_key(secret: &BackupSecret, salt: &[u8], kdf: KdfParams) -> Result<Secret> {
    match secret {
        BackupSecret::Passphrase(p) => {
            if p.is_empty() {
                return Err(Error::invalid("empty backup passphrase"));
            }
            argon2_derive(p.as_bytes(), salt, kdf)
        }
        BackupSecret::Key(k) => {
            if k.len() != 32 {
                return Err(Error::invalid("a backup key is 32 bytes"));
            }
            let mut m = b"kms-backup-v1".to_vec();
            m.extend_from_slice(salt);
            Ok(Secret::new(crypto::hmac(HashAlg::Sha256, k, &m)?))
        }
    }
}

/// Writes tagged records through the chunked AEAD to `out`.
struct Sealing<'a> {
    out: &'a mut dyn Write,
    key: Secret,
    header: Vec<u8>,
    prefix: [u8; 7],
    counter: u32,
    buf: Zeroizing<Vec<u8>>,
}

impl<'a> Sealing<'a> {
    /// Writes the clear header (fresh salt and nonce prefix) and derives the file key.
    fn start(secret: &BackupSecret, out: &'a mut dyn Write) -> Result<Sealing<'a>> {
        let mut salt = [0u8; 16];
        crypto::random(&mut salt)?;
        let mut prefix = [0u8; 7];
        crypto::random(&mut prefix)?;
        let (mode, kdf) = match secret {
            BackupSecret::Passphrase(_) => (MODE_PASSPHRASE, KdfParams::default()),
            BackupSecret::Key(_) => (
                MODE_KEY,
                KdfParams {
                    m_kib: 0,
                    t: 0,
                    p: 0,
                },
            ),
        };
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.push(FORMAT);
        header.push(mode);
        header.extend_from_slice(&kdf.m_kib.to_be_bytes());
        header.extend_from_slice(&kdf.t.to_be_bytes());
        header.extend_from_slice(&kdf.p.to_be_bytes());
        header.extend_from_slice(&salt);
        header.extend_from_slice(&prefix);
        header.push(16);
        let key = derive_key(secret, &salt, kdf)?;
        out.write_all(&header)?;
        Ok(Sealing {
            out,
            key,
            header,
            prefix,
            counter: 0,
            buf: Zeroizing::new(Vec::new()),
        })
    }

    fn record(&mut self, tag: u8, body: &Enc) -> Result<()> {
        if body.0.len() > MAX_RECORD {
            return Err(Error::invalid("a record is too large for a backup"));
        }
        self.buf.push(tag);
        self.buf
            .extend_from_slice(&(body.0.len() as u32).to_be_bytes());
        self.buf.extend_from_slice(&body.0);
        self.flush_full_chunks()
    }

    fn flush_full_chunks(&mut self) -> Result<()> {
        while self.buf.len() > CHUNK {
            let chunk = Zeroizing::new(self.buf.drain(..CHUNK).collect::<Vec<u8>>());
            self.seal(&chunk, false)?;
        }
        Ok(())
    }

    fn seal(&mut self, data: &[u8], last: bool) -> Result<()> {
        if self.counter == u32::MAX {
            return Err(Error::invalid("backup too large"));
        }
        let n = nonce(&self.prefix, self.counter, last);
        let ct = crypto::aes_gcm_seal(&self.key, &n, &self.header, data)?;
        self.out.write_all(&ct)?;
        self.counter += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let rest = Zeroizing::new(std::mem::take(&mut *self.buf));
        self.seal(&rest, true)?;
        self.out.flush()?;
        Ok(())
    }
}

/// One decoded payload record.
enum Rec {
    Info,
    Meta {
        anchor: (u64, Vec<u8>),
        segments: Segments,
    },
    Keyring(KeyringRecord),
    Identity(IdentityRecord),
    Key(KeyRecord),
    Version(PlainVersion),
    Grant(GrantRecord),
    Object(ObjectRecord),
    Checkpoint(CheckpointRecord),
    Audit(AuditRecord),
    AuditBatch(AuditBatch),
}

/// A fingerprint of a backup file read once: header, length and the final tag. A second
/// read (the writing pass) must see the same file.
#[derive(PartialEq, Eq, Clone, Debug)]
struct Fingerprint {
    header: Vec<u8>,
    len: u64,
    last_tag: Vec<u8>,
}

/// Decrypts and parses a backup, checking order, counts and the audit chain, and hands
/// every record to `sink`. Nothing is trusted before its chunk authenticated; the audit
/// chain and the counts are checked as the records stream by.
fn read_backup(
    input: &mut dyn Read,
    secret: &BackupSecret,
    total_len: u64,
    progress: Progress<'_>,
    sink: &mut dyn FnMut(Rec) -> Result<()>,
) -> Result<(BackupSummary, Fingerprint)> {
    let mut st = Parser::default();
    let fp = open_backup(input, secret, total_len, progress, &mut |pt| {
        st.feed(pt, sink)
    })?;
    Ok((st.finish()?, fp))
}

/// Checks the clear header and opens the chunks in order, handing each authenticated
/// plaintext chunk to `feed`.
fn open_backup(
    input: &mut dyn Read,
    secret: &BackupSecret,
    total_len: u64,
    progress: Progress<'_>,
    feed: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<Fingerprint> {
    let mut header = vec![0u8; HEADER_LEN];
    input.read_exact(&mut header).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::bad_ciphertext("not a kms backup (file too short)")
        } else {
            e.into()
        }
    })?;
    if &header[..8] != MAGIC {
        return Err(Error::bad_ciphertext("not a kms backup file"));
    }
    if !matches!(header[8], 1 | FORMAT) {
        return Err(Error::bad_ciphertext(format!(
            "unknown backup format {}",
            header[8]
        )));
    }
    let mode = header[9];
    let g = |i: usize| u32::from_be_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let kdf = KdfParams {
        m_kib: g(10),
        t: g(14),
        p: g(18),
    };
    let salt = header[22..38].to_vec();
    let mut prefix = [0u8; 7];
    prefix.copy_from_slice(&header[38..45]);
    if header[45] != 16 {
        return Err(Error::bad_ciphertext("unsupported backup chunk size"));
    }
    match (mode, secret) {
        (MODE_PASSPHRASE, BackupSecret::Passphrase(_)) | (MODE_KEY, BackupSecret::Key(_)) => {}
        (MODE_PASSPHRASE, _) => {
            return Err(Error::invalid(
                "this backup is protected by a passphrase, not a key file",
            ))
        }
        (MODE_KEY, _) => {
            return Err(Error::invalid(
                "this backup is protected by a key file, not a passphrase",
            ))
        }
        _ => return Err(Error::bad_ciphertext("unknown backup protection mode")),
    }
    if mode == MODE_PASSPHRASE && (kdf.m_kib > 4 * 1024 * 1024 || kdf.t > 64 || kdf.p > 64) {
        return Err(Error::bad_ciphertext(
            "backup key derivation parameters out of range",
        ));
    }
    let key = derive_key(secret, &salt, kdf)?;

    let mut raw = vec![0u8; CHUNK + TAG];
    let mut pending: Vec<u8> = Vec::with_capacity(2 * (CHUNK + TAG));
    let mut counter: u32 = 0;
    let mut read_len = HEADER_LEN as u64;
    let mut last_tag = Vec::new();
    let open = |chunk: &[u8], last: bool, counter: &mut u32| -> Result<Secret> {
        let n = nonce(&prefix, *counter, last);
        let pt = crypto::aes_gcm_open(&key, &n, &header, chunk).map_err(|_| {
            if *counter == 0 {
                Error::new(
                    ErrorKind::InvalidCiphertext,
                    "backup does not open: wrong passphrase or key, or the file is corrupted",
                )
            } else {
                Error::bad_ciphertext(format!(
                    "backup chunk {} failed to authenticate (file corrupted or truncated)",
                    *counter
                ))
            }
        })?;
        *counter += 1;
        Ok(pt)
    };
    loop {
        let n = input.read(&mut raw)?;
        if n == 0 {
            break;
        }
        read_len += n as u64;
        pending.extend_from_slice(&raw[..n]);
        while pending.len() > CHUNK + TAG {
            let chunk: Vec<u8> = pending.drain(..CHUNK + TAG).collect();
            let pt = open(&chunk, false, &mut counter)?;
            feed(&pt)?;
        }
        progress(read_len, total_len);
    }
    if pending.len() < TAG {
        return Err(Error::bad_ciphertext("backup is truncated"));
    }
    last_tag.extend_from_slice(&pending[pending.len() - TAG..]);
    let pt = open(&pending, true, &mut counter)?;
    feed(&pt)?;
    Ok(Fingerprint {
        header,
        len: read_len,
        last_tag,
    })
}

/// Parses the payload stream record by record and checks its structure.
#[derive(Default)]
struct Parser {
    buf: Zeroizing<Vec<u8>>,
    sum: BackupSummary,
    stage: u8,
    ended: bool,
    walker: Option<ChainWalker>,
    checkpoints: Vec<CheckpointRecord>,
    segments: Segments,
    anchor: (u64, Vec<u8>),
}

impl Parser {
    /// The walker of the backup's audit chain (made at its first record, once the meta and
    /// checkpoint records are read).
    fn walker(&mut self) -> &mut ChainWalker {
        self.walker.get_or_insert_with(|| {
            ChainWalker::new(
                &self.sum.source_store_id,
                self.segments.clone(),
                self.anchor.clone(),
                &self.checkpoints,
            )
        })
    }

    /// An error naming the walker's problem unless the last step held (`ok`).
    fn chain_holds(&self, ok: bool) -> Result<()> {
        if ok {
            return Ok(());
        }
        let why = self
            .walker
            .as_ref()
            .and_then(|w| w.report.problem.as_ref())
            .map(|p| p.1.clone())
            .unwrap_or_default();
        Err(Error::integrity(format!(
            "the audit chain in the backup does not verify: {why}"
        )))
    }

    fn feed(&mut self, data: &[u8], sink: &mut dyn FnMut(Rec) -> Result<()>) -> Result<()> {
        self.buf.extend_from_slice(data);
        let mut off = 0;
        while self.buf.len() - off >= 5 {
            let tag = self.buf[off];
            let len = u32::from_be_bytes([
                self.buf[off + 1],
                self.buf[off + 2],
                self.buf[off + 3],
                self.buf[off + 4],
            ]) as usize;
            if len > MAX_RECORD {
                return Err(short());
            }
            if self.buf.len() - off - 5 < len {
                break;
            }
            let body = Zeroizing::new(self.buf[off + 5..off + 5 + len].to_vec());
            off += 5 + len;
            self.record(tag, &body, sink)?;
        }
        self.buf.drain(..off);
        Ok(())
    }

    fn record(
        &mut self,
        tag: u8,
        body: &[u8],
        sink: &mut dyn FnMut(Rec) -> Result<()>,
    ) -> Result<()> {
        if self.ended {
            return Err(Error::integrity("backup has data after its end record"));
        }
        // Records come in a fixed order of kinds (versions may follow keys interleaved).
        let stage = match tag {
            R_INFO => 1,
            R_META => 2,
            R_KEYRING => 3,
            R_IDENTITY => 4,
            R_KEY | R_VERSION => 5,
            R_GRANT => 6,
            R_OBJECT => 7,
            R_CHECKPOINT => 8,
            R_AUDIT | R_AUDIT_BATCH => 9,
            R_END => 10,
            _ => return Err(Error::integrity(format!("unknown backup record {tag}"))),
        };
        if stage < self.stage || (self.stage == 0 && stage != 1) || (stage == 1 && self.stage == 1)
        {
            return Err(Error::integrity("backup records are out of order"));
        }
        if stage > 2 && self.stage < 2 {
            return Err(Error::integrity("backup has no meta record"));
        }
        self.stage = stage;
        let mut d = Dec { b: body };
        let rec = match tag {
            R_INFO => {
                let fmt = d.u8()?;
                if !matches!(fmt, 1 | FORMAT) {
                    return Err(short());
                }
                let sid: [u8; 16] = d.take(16)?.try_into().map_err(|_| short())?;
                let created = d.i64()?;
                self.sum.source_store_id = sid;
                self.sum.created = created;
                Rec::Info
            }
            R_META => {
                let seq = d.u64()?;
                let hash = d.bytes()?;
                let segs = audit::decode_segments(&d.bytes()?)?;
                self.anchor = (seq, hash.clone());
                self.segments = segs.clone();
                Rec::Meta {
                    anchor: (seq, hash),
                    segments: segs,
                }
            }
            R_KEYRING => {
                self.sum.keyrings += 1;
                Rec::Keyring(dec_keyring(&mut d)?)
            }
            R_IDENTITY => {
                self.sum.identities += 1;
                Rec::Identity(dec_identity(&mut d)?)
            }
            R_KEY => {
                self.sum.keys += 1;
                Rec::Key(dec_key(&mut d)?)
            }
            R_VERSION => {
                self.sum.versions += 1;
                Rec::Version(dec_version(&mut d)?)
            }
            R_GRANT => {
                self.sum.grants += 1;
                Rec::Grant(dec_grant(&mut d)?)
            }
            R_OBJECT => {
                self.sum.objects += 1;
                Rec::Object(dec_object(&mut d)?)
            }
            R_CHECKPOINT => {
                self.sum.checkpoints += 1;
                let c = dec_checkpoint(&mut d)?;
                self.checkpoints.push(c.clone());
                Rec::Checkpoint(c)
            }
            R_AUDIT => {
                self.sum.audit_records += 1;
                let r = dec_audit(&mut d)?;
                let ok = self.walker().step(&r);
                self.chain_holds(ok)?;
                Rec::Audit(r)
            }
            R_AUDIT_BATCH => {
                let b = dec_batch(&mut d)?;
                // the walk decodes exactly last_seq - first_seq + 1 records, or fails
                let ok = self.walker().step_batch(&b, 0, &mut Vec::new()).is_some();
                self.chain_holds(ok)?;
                self.sum.audit_records += b.last_seq - b.first_seq + 1;
                Rec::AuditBatch(b)
            }
            _ => {
                let mut want = [0u64; 8];
                for w in want.iter_mut() {
                    *w = d.u64()?;
                }
                d.end()?;
                if want != self.sum.counts() {
                    return Err(Error::integrity(
                        "backup end record does not match its contents",
                    ));
                }
                self.ended = true;
                return Ok(());
            }
        };
        d.end()?;
        sink(rec)
    }

    fn finish(mut self) -> Result<BackupSummary> {
        if !self.ended || !self.buf.is_empty() {
            return Err(Error::integrity("backup is incomplete (no end record)"));
        }
        let cps = std::mem::take(&mut self.checkpoints);
        let mut w = self.walker.take().unwrap_or_else(|| {
            ChainWalker::new(
                &self.sum.source_store_id,
                self.segments.clone(),
                self.anchor.clone(),
                &cps,
            )
        });
        w.check_checkpoints(&cps, None)?;
        if let Some((_, why)) = &w.report.problem {
            return Err(Error::integrity(format!(
                "the audit checkpoints in the backup do not verify: {why}"
            )));
        }
        Ok(self.sum)
    }
}

/// Fuzzing support (`fuzz/`): wraps a raw payload (the tagged records) into a backup file
/// exactly as [`Kms::backup`] wraps its records, so a fuzzer reaches the record parser
/// behind the authentication. Not for other uses.
#[doc(hidden)]
pub fn wrap_payload(payload: &[u8], secret: &BackupSecret) -> Result<Vec<u8>> {
    let mut file = Vec::new();
    let mut w = Sealing::start(secret, &mut file)?;
    w.buf.extend_from_slice(payload);
    w.flush_full_chunks()?;
    w.finish()?;
    Ok(file)
}

/// Fuzzing support (`fuzz/`): the raw payload of a backup file (what [`wrap_payload`]
/// takes), for building the seed corpus from real backups. Not for other uses.
#[doc(hidden)]
pub fn unwrap_payload(input: &mut dyn Read, secret: &BackupSecret) -> Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::new());
    open_backup(input, secret, 0, &mut |_, _| {}, &mut |pt| {
        out.extend_from_slice(pt);
        Ok(())
    })?;
    Ok(out)
}

/// Verifies a backup file completely (wrapping, structure, counts, audit chain) without a
/// store. Returns what it holds.
pub fn verify_backup(
    input: &mut dyn Read,
    total_len: u64,
    secret: &BackupSecret,
    progress: Progress<'_>,
) -> Result<BackupSummary> {
    read_backup(input, secret, total_len, progress, &mut |_| Ok(())).map(|(s, _)| s)
}

fn unseal_with_reload(
    s: &Sealer,
    tx: &mut dyn Tx,
    f: &dyn Fn(&Sealer) -> Result<Option<Secret>>,
) -> Result<Secret> {
    if let Some(m) = f(s)? {
        return Ok(m);
    }
    s.reload(tx)?;
    f(s)?.ok_or_else(|| Error::integrity("sealed material names an unknown master key"))
}

impl Kms {
    /// Writes a backup of the whole store to `out` from one consistent snapshot. Needs the
    /// store-management right (security officer).
    pub fn backup(
        &self,
        c: &Caller,
        secret: &BackupSecret,
        out: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<BackupSummary> {
        self.refresh()?;
        let ctx = crate::core::ciphertext::Context::new();
        self.authorize(c, Action::ManageStore, None, &ctx)
            .map_err(|e| self.refuse(c, Action::ManageStore, None, None, &ctx, e))?;
        let res = self.backup_inner(secret, out, progress);
        let (outcome, err, detail) = match &res {
            Ok(s) => (
                Outcome::Ok,
                String::new(),
                format!(
                    "backup: {} keys, {} versions, {} identities, {} grants, {} objects, {} audit records",
                    s.keys, s.versions, s.identities, s.grants, s.objects, s.audit_records
                ),
            ),
            Err(e) => (Outcome::Error, e.kind().name().to_string(), String::new()),
        };
        let rec = self.record_for(
            c.keyring,
            &c.identity,
            "backup",
            None,
            None,
            outcome,
            &err,
            &detail,
        );
        self.inner.audit.record(rec, None, None)?;
        res
    }

    fn backup_inner(
        &self,
        secret: &BackupSecret,
        out: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<BackupSummary> {
        let mut w = Sealing::start(secret, out)?;
        let sealer = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?;
        let sid = self.inner.store_id;
        let mut sum = BackupSummary {
            source_store_id: sid,
            created: now(),
            ..Default::default()
        };
        store::read(self.store(), |tx| {
            sum = BackupSummary {
                source_store_id: sid,
                created: sum.created,
                ..Default::default()
            };
            w.counter = 0;
            let (head, _) = tx.audit_head()?;
            let keyrings = tx.keyring_list()?;
            let mut total = head;
            for kr in &keyrings {
                total += tx.key_count(kr.id)?;
            }
            let mut done = 0u64;
            let mut info = Enc::default();
            info.u8(FORMAT).0.extend_from_slice(&sid);
            info.i64(sum.created);
            w.record(R_INFO, &info)?;
            let anchor = audit::anchor(tx)?;
            let mut meta = Enc::default();
            meta.u64(anchor.0)
                .bytes(&anchor.1)
                .bytes(&audit::encode_segments(&audit::segments(tx)?));
            w.record(R_META, &meta)?;
            for kr in &keyrings {
                w.record(R_KEYRING, &enc_keyring(kr))?;
                sum.keyrings += 1;
            }
            for kr in &keyrings {
                for i in tx.identity_list(kr.id)? {
                    w.record(R_IDENTITY, &enc_identity(&i))?;
                    sum.identities += 1;
                }
            }
            for kr in &keyrings {
                let keys = tx.key_list(&KeyFilter {
                    keyring: kr.id,
                    include_destroyed: true,
                    ..Default::default()
                })?;
                for k in keys {
                    w.record(R_KEY, &enc_key(&k))?;
                    sum.keys += 1;
                    for v in tx.versions(k.id)? {
                        let material = match (&v.sealed, v.destroyed) {
                            (Some(blob), false) => {
                                let (kid, ver, spec) = (k.id, v.version, k.spec.code());
                                Some(unseal_with_reload(&sealer, tx, &|s| {
                                    s.unseal(kid, ver, spec, blob)
                                })?)
                            }
                            _ => None,
                        };
                        w.record(R_VERSION, &enc_version(&v, material.as_deref()))?;
                        sum.versions += 1;
                    }
                    done += 1;
                    progress(done, total);
                }
            }
            for kr in &keyrings {
                for g in tx.grants_list(kr.id, None)? {
                    w.record(R_GRANT, &enc_grant(&g))?;
                    sum.grants += 1;
                }
            }
            for kr in &keyrings {
                for o in tx.object_list_all(kr.id)? {
                    if o.sensitive && o.class != SECRET_CLASS && !o.value.is_empty() {
                        let (id, blob) = (o.id, o.value.clone());
                        let v =
                            unseal_with_reload(&sealer, tx, &|s| unseal_object_with(s, id, &blob))?;
                        w.record(R_OBJECT, &enc_object(&o, &v))?;
                    } else {
                        w.record(R_OBJECT, &enc_object(&o, &o.value))?;
                    }
                    sum.objects += 1;
                }
            }
            for c in tx.checkpoints()? {
                w.record(R_CHECKPOINT, &enc_checkpoint(&c))?;
                sum.checkpoints += 1;
            }
            // The trail a page of rows and whole batches at a time, so that each batch is
            // decoded and hashed once.
            let segs = audit::segments(tx)?;
            let mut after = anchor.0;
            loop {
                let page = audit::trail_page(tx, after, 5000)?;
                if page.is_empty() {
                    break;
                }
                let skip = after;
                for item in page {
                    after = after.max(item.last_seq());
                    let records = match item {
                        audit::Stored::Row(r) => vec![r],
                        // linked as a whole: stored as it is (its records share one link)
                        audit::Stored::Batch(b) if audit::linked_whole(&b) => {
                            // a batch that cannot be read fails the backup here, as it
                            // fails a query
                            audit::batch_terms(&b)?;
                            let n = b.last_seq.saturating_sub(b.first_seq) + 1;
                            w.record(R_AUDIT_BATCH, &enc_batch(&b))?;
                            sum.audit_records += n;
                            done += n;
                            continue;
                        }
                        audit::Stored::Batch(b) => audit::expand_batch(&b, &sid, &segs)?,
                    };
                    for r in records.iter().filter(|r| r.seq > skip) {
                        w.record(R_AUDIT, &enc_audit(r))?;
                        sum.audit_records += 1;
                        done += 1;
                    }
                }
                progress(done, total);
            }
            let mut end = Enc::default();
            for n in sum.counts() {
                end.u64(n);
            }
            w.record(R_END, &end)?;
            w.finish()?;
            Ok(())
        })?;
        Ok(sum)
    }

    /// Restores a backup into this store, which must be freshly initialised (no keys,
    /// objects, grants or checkpoints; only the owner identity). The whole file is read and
    /// verified first (wrapping, structure, counts, audit chain); then it is read again and
    /// written in one transaction, which commits only if the second read saw the same file.
    ///
    /// Ids are preserved, so ciphertexts made by the source store decrypt here. Key material
    /// and sensitive objects are re-sealed under this store's master key. Identities keep
    /// their secrets, except this store's `owner`, which keeps this store's owner secret (the
    /// owner secret file beside this store goes on working). The restored audit records keep
    /// their hashes; they were chained under the source store id, which is recorded in meta
    /// ([`audit::SEGMENTS_META`]) so `verify` checks them with it; a `restore` record, hashed
    /// with this store's id, continues the chain from the restored head.
    pub fn restore(
        &self,
        c: &Caller,
        open: &mut dyn FnMut() -> Result<(Box<dyn Read>, u64)>,
        secret: &BackupSecret,
        progress: Progress<'_>,
    ) -> Result<BackupSummary> {
        self.refresh()?;
        let ctx = crate::core::ciphertext::Context::new();
        self.authorize(c, Action::ManageStore, None, &ctx)
            .map_err(|e| self.refuse(c, Action::ManageStore, None, None, &ctx, e))?;
        // Refuse early (before the long verification) when the store is not empty.
        store::read(self.store(), |tx| check_empty(tx))
            .map_err(|e| self.refuse(c, Action::ManageStore, None, None, &ctx, e))?;
        // Pass 1: verify everything, write nothing.
        let (mut input, len) = open()?;
        let mut half = |d: u64, t: u64| progress(d / 2, t);
        let (summary, fp) = read_backup(&mut *input, secret, len, &mut half, &mut |_| Ok(()))
            .map_err(|e| self.refuse(c, Action::ManageStore, None, None, &ctx, e))?;
        drop(input);
        // Pass 2: write in one transaction.
        let (mut input, len2) = open()?;
        let sealer = self
            .inner
            .sealer
            .read()
            .map_err(|_| Error::internal("lock"))?;
        let sid = self.inner.store_id;
        let who = c.identity.clone();
        let kr_caller = c.keyring;
        let res = store::write(self.store(), |tx| {
            check_empty(tx)?;
            // This store's own owner credential and initial trail.
            let default_kr = tx.keyring_by_name(DEFAULT_KEYRING)?;
            let own_owner_phc = match &default_kr {
                Some(k) => tx.identity_get(k.id, OWNER)?.map(|i| i.phc),
                None => None,
            };
            let (own_head, own_hash) = tx.audit_head()?;
            for kr in tx.keyring_list()? {
                for i in tx.identity_list(kr.id)? {
                    tx.identity_delete(kr.id, &i.name)?;
                }
                tx.keyring_delete(kr.id)?;
            }
            tx.audit_delete_before(own_head.saturating_add(1))?;
            tx.meta_delete("audit_anchor")?;
            let mut default_id = None;
            let mut src_segments: Segments = Vec::new();
            let mut src_head = (0u64, Vec::new());
            let mut sink = |rec: Rec| -> Result<()> {
                match rec {
                    Rec::Info => {}
                    Rec::Meta { anchor, segments } => {
                        if anchor.0 > 0 {
                            let mut a = anchor.0.to_be_bytes().to_vec();
                            a.extend_from_slice(&anchor.1);
                            tx.meta_put("audit_anchor", &a)?;
                        }
                        src_head = anchor;
                        src_segments = segments;
                    }
                    Rec::Keyring(k) => {
                        if k.name == DEFAULT_KEYRING {
                            default_id = Some(k.id);
                        }
                        tx.keyring_restore(&k)?;
                    }
                    Rec::Identity(mut i) => {
                        if Some(i.keyring) == default_id && i.name == OWNER {
                            if let Some(phc) = &own_owner_phc {
                                i.phc = phc.clone();
                                i.failures = 0;
                                i.locked = false;
                            }
                        }
                        tx.identity_restore(&i)?;
                    }
                    Rec::Key(k) => tx.key_restore(&k)?,
                    Rec::Version(v) => {
                        let spec = tx
                            .key_get(v.rec.key_id)?
                            .ok_or_else(|| Error::integrity("backup version of an unknown key"))?
                            .spec
                            .code();
                        let mut rec = v.rec;
                        rec.sealed = match &v.material {
                            Some(m) => Some(sealer.seal(rec.key_id, rec.version, spec, m)?),
                            None => None,
                        };
                        rec.destroyed = rec.destroyed || rec.sealed.is_none();
                        tx.version_insert(&rec)?;
                    }
                    Rec::Grant(g) => tx.grant_restore(&g)?,
                    Rec::Object(mut o) => {
                        if o.sensitive && o.class != SECRET_CLASS && !o.value.is_empty() {
                            let plain = Zeroizing::new(std::mem::take(&mut o.value));
                            o.value = seal_object_with(&sealer, o.id, &plain)?;
                        }
                        tx.object_restore(&o)?;
                    }
                    Rec::Checkpoint(cp) => tx.checkpoint_insert(&cp)?,
                    Rec::Audit(r) => {
                        src_head = (r.seq, r.hash.clone());
                        tx.audit_append(&r)?;
                    }
                    Rec::AuditBatch(b) => {
                        src_head = (b.last_seq, b.hash.clone());
                        tx.audit_batch_insert(&b, &audit::batch_terms(&b)?)?;
                    }
                }
                Ok(())
            };
            let mut half = |d: u64, t: u64| progress(t / 2 + d / 2, t);
            let (sum2, fp2) = read_backup(&mut *input, secret, len2, &mut half, &mut sink)?;
            if fp2 != fp || sum2 != summary {
                return Err(Error::integrity(
                    "the backup file changed between verification and restore",
                ));
            }
            let mut segs = src_segments.clone();
            if src_head.0 > 0 {
                segs.push((src_head.0, summary.source_store_id.to_vec()));
            }
            tx.meta_put(audit::SEGMENTS_META, &audit::encode_segments(&segs))?;
            let mut rec = bare_record(kr_caller, &who, "restore", Outcome::Ok, "");
            rec.keyring = default_id.unwrap_or(kr_caller);
            rec.detail = format!(
                "restored from backup of store {} made at {}: {} keys, {} versions, {} identities, {} grants, {} objects, {} audit records (chain to {} verified with the source store id); replaced this store's initial trail of {} records (head {})",
                crate::core::seal::hex(&summary.source_store_id),
                summary.created,
                summary.keys,
                summary.versions,
                summary.identities,
                summary.grants,
                summary.objects,
                summary.audit_records,
                src_head.0,
                own_head,
                crate::core::seal::hex(&own_hash),
            );
            audit::append_in_tx(tx, &sid, std::slice::from_mut(&mut rec))?;
            Ok(())
        });
        drop(sealer);
        self.invalidate();
        match res {
            Ok(()) => {
                let _ = self.inner.store.sync();
                progress(len, len);
                Ok(summary)
            }
            Err(e) => Err(self.refuse(c, Action::ManageStore, None, None, &ctx, e)),
        }
    }
}

/// A store is empty when it holds nothing but what initialisation made.
fn check_empty(tx: &mut dyn Tx) -> Result<()> {
    let not_empty = |what: &str| {
        Error::new(
            ErrorKind::AlreadyExists,
            format!("restore needs an empty, freshly initialised store: this one has {what}"),
        )
    };
    let krs = tx.keyring_list()?;
    if krs.len() > 1 {
        return Err(not_empty("more than one keyring"));
    }
    for kr in &krs {
        if tx.key_count(kr.id)? > 0 {
            return Err(not_empty("keys"));
        }
        if !tx.object_list_all(kr.id)?.is_empty() {
            return Err(not_empty("objects or secrets"));
        }
        if !tx.grants_list(kr.id, None)?.is_empty() {
            return Err(not_empty("grants"));
        }
        if tx.identity_list(kr.id)?.iter().any(|i| i.name != OWNER) {
            return Err(not_empty("identities besides the owner"));
        }
    }
    if !tx.checkpoints()?.is_empty() {
        return Err(not_empty("audit checkpoints"));
    }
    if tx.meta_get(audit::SEGMENTS_META)?.is_some() {
        return Err(not_empty("a restored audit trail"));
    }
    Ok(())
}
