//! The tamper-evident audit trail: record hashing and chaining, verification, signed
//! checkpoints, and the binary record codec used by the usage journal.

use std::collections::HashMap;
use std::time::Duration;

use crate::core::batchbody;
use crate::core::crypto::{self, HashAlg};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::{
    AuditBatch, AuditFilter, AuditRecord, BatchQuery, CheckpointRecord, Outcome,
};
use crate::core::service::CacheHasher;
use crate::core::store::Tx;
use crate::core::varint;

pub use crate::core::journal::AuditWriter;

/// How usage records reach disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Each operation's record is in the usage journal (the OS page cache) before the
    /// operation returns, so it survives SIGKILL; the journal is synced every `window`,
    /// which bounds what a power loss can take.
    Batched { window: Duration },
    /// Each operation's record is synced to disk before the operation returns.
    Strict,
}

/// Audit settings of a store handle.
#[derive(Clone, Copy, Debug)]
pub struct AuditConfig {
    pub durability: Durability,
    /// Refuse operations when the trail cannot be written (default, as Vault does).
    pub fail_closed: bool,
    /// Record encryption-context values, not only keys.
    pub record_context_values: bool,
    /// Record per-operation usage (encrypt, decrypt, sign ...). Always on in service; the
    /// benchmarks turn it off to measure what auditing costs.
    pub record_usage: bool,
    /// Bytes of each usage-journal file that records are appended into (a shared memory
    /// mapping of the pre-sized file); a record that does not fit starts a new file. Default
    /// 8 MiB; tests set it small to cross many files. At least one page and one largest
    /// record.
    #[doc(hidden)]
    pub journal_window: u64,
    /// Nice value of the thread that chains usage records into the store (`KMS_AUDIT_NICE`,
    /// 0-19, default 10): busy application threads get the CPU first, and the chaining
    /// catches up when they pause. The journal bounds how far it may fall behind
    /// ([`crate::core::journal::BACKLOG_LIMIT`]).
    pub background_nice: u8,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            durability: Durability::Batched {
                window: Duration::from_millis(100),
            },
            fail_closed: true,
            record_context_values: false,
            record_usage: true,
            journal_window: crate::core::journal::DEFAULT_WINDOW,
            background_nice: 10,
        }
    }
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

/// The bytes [`record_hash`] hashes, appended to `m` (cleared first).
fn hash_message(m: &mut Vec<u8>, store_id: &[u8], prev: &[u8], seq: u64, r: &RecordRef<'_>) {
    m.clear();
    m.extend_from_slice(b"kms-audit-v1");
    put(m, prev);
    put(m, store_id);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&r.time.to_be_bytes());
    m.extend_from_slice(&r.keyring.to_be_bytes());
    put(m, r.identity.as_bytes());
    put(m, r.action.as_bytes());
    m.extend_from_slice(&r.key_id.map(|k| k as i128).unwrap_or(-1).to_be_bytes());
    m.extend_from_slice(&r.key_version.map(|k| k as i64).unwrap_or(-1).to_be_bytes());
    put(m, r.outcome.name().as_bytes());
    put(m, r.error.as_bytes());
    put(m, r.context.as_bytes());
    m.extend_from_slice(&r.pid.to_be_bytes());
    put(m, r.request_id.as_bytes());
    put(m, r.detail.as_bytes());
}

/// The hash of a record: SHA-256 over the previous hash, the store id and every field.
pub fn record_hash(store_id: &[u8], prev: &[u8], r: &AuditRecord) -> Vec<u8> {
    let mut m = Vec::with_capacity(256);
    hash_message(&mut m, store_id, prev, r.seq, &RecordRef::of(r));
    crypto::digest(HashAlg::Sha256, &m)
}

/// [`record_hash`] of borrowed fields at position `seq`, with a reused message buffer.
pub fn record_hash_ref(
    m: &mut Vec<u8>,
    store_id: &[u8],
    prev: &[u8],
    seq: u64,
    r: &RecordRef<'_>,
) -> [u8; 32] {
    hash_message(m, store_id, prev, seq, r);
    crypto::sha256(m)
}

/// Appends records inside an open write transaction, chaining each to the current head;
/// each is stored as its own row.
pub fn append_in_tx(tx: &mut dyn Tx, store_id: &[u8], records: &mut [AuditRecord]) -> Result<()> {
    let (mut seq, mut prev) = tx.audit_head()?;
    for r in records.iter_mut() {
        seq += 1;
        r.seq = seq;
        r.prev_hash = prev;
        r.hash = record_hash(store_id, &r.prev_hash, r);
        prev = r.hash.clone();
        tx.audit_append(r)?;
    }
    Ok(())
}

/// Reused buffers of [`append_batch_in_tx`].
#[cfg(test)]
#[derive(Default)]
pub struct ChainScratch {
    body: Vec<u8>,
    term: Vec<u8>,
}

/// The hash link of a version-3 batch (docs/at-rest.md, "Audit batches"): SHA-256 over the
/// link before it, the store id, its sequence range and its body, which holds every field
/// of every record in a canonical encoding.
pub fn batch_link(
    store_id: &[u8],
    prev: &[u8],
    first_seq: u64,
    last_seq: u64,
    body: &[u8],
) -> [u8; 32] {
    let mut m = Vec::with_capacity(128);
    m.extend_from_slice(b"kms-audit-batch-v3");
    put(&mut m, prev);
    put(&mut m, store_id);
    m.extend_from_slice(&first_seq.to_be_bytes());
    m.extend_from_slice(&last_seq.to_be_bytes());
    let mut d = crypto::DigestCtx::new(HashAlg::Sha256);
    d.update(&m);
    d.update(body);
    let mut out = [0u8; 32];
    out.copy_from_slice(&d.finish());
    out
}

/// Whether a stored batch is linked as a whole (version 3) rather than record by record
/// (versions 1 and 2, written by earlier versions).
pub fn linked_whole(b: &AuditBatch) -> bool {
    b.body.first() == Some(&batchbody::V3)
}

/// Index term of a batch holding a record of key `key_id`.
pub fn term_key(key_id: u64) -> Vec<u8> {
    let mut t = vec![b'k'];
    t.extend_from_slice(&key_id.to_be_bytes());
    t
}

/// Index term of a batch holding a record of `identity`.
pub fn term_identity(identity: &str) -> Vec<u8> {
    let mut t = vec![b'i'];
    t.extend_from_slice(identity.as_bytes());
    t
}

/// Index term of a batch holding a record of `action`.
pub fn term_action(action: &str) -> Vec<u8> {
    let mut t = vec![b'a'];
    t.extend_from_slice(action.as_bytes());
    t
}

/// What the index of a batch says about its records: the distinct terms (sorted) and the
/// time range.
pub(crate) struct BatchIndex {
    terms: std::collections::HashSet<Vec<u8>, std::hash::BuildHasherDefault<CacheHasher>>,
    min_time: i64,
    max_time: i64,
}

impl BatchIndex {
    pub(crate) fn new() -> BatchIndex {
        BatchIndex {
            terms: Default::default(),
            min_time: i64::MAX,
            max_time: i64::MIN,
        }
    }

    fn of(records: &[AuditRecord]) -> BatchIndex {
        let mut index = BatchIndex::new();
        let mut buf = Vec::new();
        let mut prev = None;
        for r in records.iter().map(RecordRef::of) {
            index.add(
                &r,
                prev.as_ref().map(|p| batchbody::Changed::between(p, &r)),
                &mut buf,
            );
            prev = Some(r);
        }
        index
    }

    /// Adds record `r`, which differs from the record before it (whose terms are in
    /// already) as `changed` says; `None` for a record whose terms may all be new.
    pub(crate) fn add(
        &mut self,
        r: &RecordRef<'_>,
        changed: Option<batchbody::Changed>,
        buf: &mut Vec<u8>,
    ) {
        self.min_time = self.min_time.min(r.time);
        self.max_time = self.max_time.max(r.time);
        let mut term = |tag: u8, v: &[u8]| {
            buf.clear();
            buf.push(tag);
            buf.extend_from_slice(v);
            if !self.terms.contains(buf.as_slice()) {
                self.terms.insert(buf.clone());
            }
        };
        let all = batchbody::Changed {
            key_id: true,
            identity: true,
            action: true,
        };
        let changed = changed.unwrap_or(all);
        if let Some(k) = r.key_id.filter(|_| changed.key_id) {
            term(b'k', &k.to_be_bytes());
        }
        if changed.identity {
            term(b'i', r.identity.as_bytes());
        }
        if changed.action {
            term(b'a', r.action.as_bytes());
        }
    }

    fn sorted_terms(&self) -> Vec<Vec<u8>> {
        let mut t: Vec<Vec<u8>> = self.terms.iter().cloned().collect();
        t.sort();
        t
    }
}

/// Chains usage records after the current head and stores them as one version-3 batch row
/// with its index terms: one hash link for the batch, over its body, where records stored
/// one per row ([`append_in_tx`]) are linked one by one. (The chaining builds the body from
/// journal entries instead and calls [`append_body_in_tx`]; tests build batches with this.)
#[cfg(test)]
pub fn append_batch_in_tx(
    tx: &mut dyn Tx,
    store_id: &[u8],
    records: &[RecordRef<'_>],
    scratch: &mut ChainScratch,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let ChainScratch { body, term } = scratch;
    let mut index = BatchIndex::new();
    let mut prev_ref: Option<&RecordRef<'_>> = None;
    for r in records {
        index.add(r, prev_ref.map(|p| batchbody::Changed::between(p, r)), term);
        prev_ref = Some(r);
    }
    body.clear();
    batchbody::encode(body, records, batchbody::V3);
    append_body_in_tx(tx, store_id, body, records.len() as u64, &index)
}

/// Chains a version-3 body of `count` records, with their `index`, after the current head
/// as one batch row. `body` is left as it was.
pub(crate) fn append_body_in_tx(
    tx: &mut dyn Tx,
    store_id: &[u8],
    body: &mut Vec<u8>,
    count: u64,
    index: &BatchIndex,
) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    let (head_seq, head) = tx.audit_head()?;
    let (first_seq, last_seq) = (head_seq + 1, head_seq + count);
    let hash = batch_link(store_id, &head, first_seq, last_seq, body);
    let batch = AuditBatch {
        first_seq,
        last_seq,
        min_time: index.min_time,
        max_time: index.max_time,
        prev_hash: head,
        hash: hash.to_vec(),
        body: std::mem::take(body),
    };
    let r = tx.audit_batch_insert(&batch, &index.sorted_terms());
    *body = batch.body;
    r
}

/// The records of a batch without their links, or an `Integrity` error naming them.
fn batch_records(b: &AuditBatch) -> Result<Vec<AuditRecord>> {
    let want = b
        .last_seq
        .checked_sub(b.first_seq)
        .and_then(|d| d.checked_add(1));
    want.and_then(|n| batchbody::decode(&b.body, n).ok())
        .ok_or_else(|| {
            Error::integrity(format!(
                "audit records {} to {} are unreadable (the stored batch was altered)",
                b.first_seq, b.last_seq
            ))
        })
}

/// The records of a batch with their links. In a version-3 batch every record carries the
/// batch's link (`prev_hash` the link before it, `hash` its own). In earlier versions the
/// first links to the batch's stored `prev_hash`, each further one to its predecessor's
/// recomputed hash, and the last carries the stored `hash`, so that a changed record or link
/// shows at the end of its batch when the chain is walked. `store_id` and `segs` give the id
/// each record was hashed with.
pub fn expand_batch(b: &AuditBatch, store_id: &[u8], segs: &Segments) -> Result<Vec<AuditRecord>> {
    let mut out = batch_records(b)?;
    if linked_whole(b) {
        for (i, r) in out.iter_mut().enumerate() {
            r.seq = b.first_seq + i as u64;
            r.prev_hash = b.prev_hash.clone();
            r.hash = b.hash.clone();
        }
        return Ok(out);
    }
    let mut msg = Vec::with_capacity(256);
    let mut prev = b.prev_hash.clone();
    let n = out.len();
    for (i, r) in out.iter_mut().enumerate() {
        let seq = b.first_seq + i as u64;
        let hash = if i + 1 == n {
            b.hash.clone()
        } else {
            let sid = store_id_in(segs, store_id, seq);
            record_hash_ref(&mut msg, sid, &prev, seq, &RecordRef::of(r)).to_vec()
        };
        r.seq = seq;
        r.prev_hash = std::mem::replace(&mut prev, hash.clone());
        r.hash = hash;
    }
    Ok(out)
}

/// Checks that a batch's stored index (time range, terms) describes its `records` (decoded
/// from its body): a query by key, identity, action or time finds batches through it, so an
/// edited index could hide records from queries while the chain itself stays intact.
fn check_batch_index(
    tx: &mut dyn Tx,
    b: &AuditBatch,
    records: &[AuditRecord],
) -> Result<Option<String>> {
    let index = BatchIndex::of(records);
    let (lo, hi) = (index.min_time, index.max_time);
    let mut stored = tx.audit_batch_terms(b.first_seq)?;
    stored.sort();
    if lo != b.min_time || hi != b.max_time || stored != index.sorted_terms() {
        return Ok(Some(format!(
            "the index of audit records {} to {} was altered",
            b.first_seq, b.last_seq
        )));
    }
    Ok(None)
}

fn matches(f: &AuditFilter, r: &AuditRecord) -> bool {
    r.seq > f.after_seq.unwrap_or(0)
        && f.before_seq.is_none_or(|b| r.seq < b)
        && f.key_id.is_none_or(|k| r.key_id == Some(k))
        && f.identity.as_ref().is_none_or(|i| &r.identity == i)
        && f.action.as_ref().is_none_or(|a| &r.action == a)
        && f.since.is_none_or(|t| r.time >= t)
        && f.until.is_none_or(|t| r.time < t)
}

/// The audit records matching `filter`, from single rows and batches alike, in sequence
/// order (newest first when asked), at most `filter.limit`.
pub fn query(tx: &mut dyn Tx, store_id: &[u8], f: &AuditFilter) -> Result<Vec<AuditRecord>> {
    let (out, bad) = query_partial(tx, store_id, f)?;
    match bad {
        Some((_, e)) => Err(e),
        None => Ok(out),
    }
}

/// An unreadable batch met by [`query_partial`]: its first sequence number (as stored) and
/// the error.
type BadBatch = (u64, Error);

/// [`query`] that stops at the first batch it cannot read (an `Integrity` error) and
/// returns, with that batch, what precedes it in the query's order.
fn query_partial(
    tx: &mut dyn Tx,
    store_id: &[u8],
    f: &AuditFilter,
) -> Result<(Vec<AuditRecord>, Option<BadBatch>)> {
    let limit = f.limit.unwrap_or(u64::MAX);
    let mut out = tx.audit_rows(f)?;
    if limit == 0 {
        return Ok((out, None));
    }
    let segs = segments(tx)?;
    let mut terms = Vec::new();
    if let Some(k) = f.key_id {
        terms.push(term_key(k));
    }
    if let Some(i) = &f.identity {
        terms.push(term_identity(i));
    }
    if let Some(a) = &f.action {
        terms.push(term_action(a));
    }
    let mut q = BatchQuery {
        after_seq: f.after_seq.unwrap_or(0),
        before_seq: f.before_seq,
        terms,
        since: f.since,
        until: f.until,
        descending: f.descending,
        limit: 8,
    };
    let mut found = 0u64;
    let mut bad = None;
    'pages: loop {
        let page = tx.audit_batches(&q)?;
        for b in &page {
            let mut recs = match expand_batch(b, store_id, &segs) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::Integrity => {
                    bad = Some((b.first_seq, e));
                    break 'pages;
                }
                Err(e) => return Err(e),
            };
            if f.descending {
                recs.reverse();
            }
            for r in recs {
                if matches(f, &r) {
                    out.push(r);
                    found += 1;
                }
            }
        }
        // Batches come in sequence order: once `limit` records are found, later batches
        // cannot hold any of the first `limit`.
        match page.last() {
            Some(b) if found < limit && page.len() as u64 == q.limit => {
                if f.descending {
                    q.before_seq = Some(b.first_seq);
                } else {
                    q.after_seq = b.last_seq;
                }
            }
            _ => break,
        }
    }
    if let Some((at, _)) = &bad {
        out.retain(|r| {
            if f.descending {
                r.seq > *at
            } else {
                r.seq < *at
            }
        });
    }
    if f.descending {
        out.sort_unstable_by_key(|r| std::cmp::Reverse(r.seq));
    } else {
        out.sort_unstable_by_key(|r| r.seq);
    }
    out.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((out, bad))
}

/// Where retention that asks to remove the records before `seq` cuts the trail: `seq`,
/// or the first record of the version-3 batch holding both `seq - 1` and `seq`, which has
/// one link for all its records and so is kept whole (its records before `seq` stay).
pub fn prune_cut(tx: &mut dyn Tx, seq: u64) -> Result<u64> {
    let q = BatchQuery {
        after_seq: seq.saturating_sub(1),
        limit: 1,
        ..Default::default()
    };
    Ok(match tx.audit_batches(&q)?.into_iter().next() {
        Some(b) if b.first_seq < seq && seq <= b.last_seq && linked_whole(&b) => b.first_seq,
        _ => seq,
    })
}

/// The index terms of a batch, from its records (a restore stores them with the batch).
pub fn batch_terms(b: &AuditBatch) -> Result<Vec<Vec<u8>>> {
    Ok(BatchIndex::of(&batch_records(b)?).sorted_terms())
}

/// Splits the batch holding records on both sides of `seq` in two, so that retention can
/// remove whole batches before `seq`. Both halves are batches as the chaining would have
/// written them: the first ends with the hash of record `seq - 1`, which the second links to.
pub fn split_batch_at(tx: &mut dyn Tx, store_id: &[u8], seq: u64) -> Result<()> {
    let q = BatchQuery {
        after_seq: seq.saturating_sub(1),
        limit: 1,
        ..Default::default()
    };
    let Some(b) = tx.audit_batches(&q)?.into_iter().next() else {
        return Ok(());
    };
    if b.first_seq >= seq || linked_whole(&b) {
        // a batch linked as a whole is kept whole: [`prune_cut`] moved the cut before it
        return Ok(());
    }
    let segs = segments(tx)?;
    let recs = expand_batch(&b, store_id, &segs)?;
    let cut = (seq - b.first_seq) as usize;
    tx.audit_batch_delete(b.first_seq)?;
    for part in [&recs[..cut], &recs[cut..]] {
        let index = BatchIndex::of(part);
        let refs: Vec<RecordRef<'_>> = part.iter().map(RecordRef::of).collect();
        let mut body = Vec::new();
        // the halves keep their records' own links (version 2)
        batchbody::encode(&mut body, &refs, batchbody::V2);
        let (first, last) = (&part[0], &part[part.len() - 1]);
        let half = AuditBatch {
            first_seq: first.seq,
            last_seq: last.seq,
            min_time: index.min_time,
            max_time: index.max_time,
            prev_hash: first.prev_hash.clone(),
            hash: last.hash.clone(),
            body,
        };
        tx.audit_batch_insert(&half, &index.sorted_terms())?;
    }
    Ok(())
}

/// The result of walking the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct VerifyReport {
    pub records: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    pub checkpoints: u64,
    /// The first problem found, with the sequence number where it was seen.
    pub problem: Option<(u64, String)>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Meta entry listing the earlier segments of the chain: records restored from a backup of
/// another store were hashed with that store's id. Each entry is 8 bytes of the segment's
/// last sequence number and the 16-byte store id; records after every segment use this
/// store's id (see docs/kmsctl.md, "backup and restore").
pub const SEGMENTS_META: &str = "audit_segments";

/// Chain segments: (last sequence number, store id the records up to it were hashed with).
pub type Segments = Vec<(u64, Vec<u8>)>;

pub fn encode_segments(segs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut v = Vec::new();
    for (seq, sid) in segs {
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(sid);
    }
    v
}

pub fn decode_segments(v: &[u8]) -> Result<Segments> {
    if !v.len().is_multiple_of(24) {
        return Err(Error::integrity("audit segment list is malformed"));
    }
    Ok(v.chunks(24)
        .map(|c| {
            let mut s = [0u8; 8];
            s.copy_from_slice(&c[..8]);
            (u64::from_be_bytes(s), c[8..].to_vec())
        })
        .collect())
}

/// The segments recorded in a store (empty for a store that was never restored).
pub fn segments(tx: &mut dyn Tx) -> Result<Segments> {
    match tx.meta_get(SEGMENTS_META)? {
        Some(v) => decode_segments(&v),
        None => Ok(Vec::new()),
    }
}

/// The store id the record at `seq` was hashed with: that of its restored segment, else
/// `own`.
pub fn store_id_in<'a>(segs: &'a Segments, own: &'a [u8], seq: u64) -> &'a [u8] {
    segs.iter()
        .find(|(last, _)| seq <= *last)
        .map(|(_, sid)| sid.as_slice())
        .unwrap_or(own)
}

/// The retention anchor (sequence number and hash of the last purged record), if any.
pub fn anchor(tx: &mut dyn Tx) -> Result<(u64, Vec<u8>)> {
    Ok(match tx.meta_get("audit_anchor")? {
        Some(a) if a.len() >= 8 => (
            u64::from_be_bytes(a[..8].try_into().unwrap_or([0; 8])),
            a[8..].to_vec(),
        ),
        _ => (0, Vec::new()),
    })
}

/// Walks a chain record by record (from a store or from a backup file) and checks every
/// link, then the checkpoints.
pub struct ChainWalker {
    store_id: Vec<u8>,
    segments: Segments,
    anchor_seq: u64,
    /// The last record accepted (the anchor before any): the next must be one more. (Kept as
    /// the last seen, not the next expected, so a crafted anchor or record at `u64::MAX`
    /// cannot overflow; nothing can follow it.)
    last_seq: u64,
    prev: Vec<u8>,
    cp_seqs: std::collections::HashSet<u64>,
    hashes_at: HashMap<u64, Vec<u8>>,
    pub report: VerifyReport,
}

impl ChainWalker {
    pub fn new(
        store_id: &[u8],
        segments: Segments,
        anchor: (u64, Vec<u8>),
        checkpoints: &[CheckpointRecord],
    ) -> ChainWalker {
        ChainWalker {
            store_id: store_id.to_vec(),
            segments,
            anchor_seq: anchor.0,
            last_seq: anchor.0,
            prev: anchor.1,
            cp_seqs: checkpoints.iter().map(|c| c.seq).collect(),
            hashes_at: HashMap::new(),
            report: VerifyReport {
                records: 0,
                first_seq: 0,
                last_seq: 0,
                checkpoints: 0,
                problem: None,
            },
        }
    }

    /// The store id the record at `seq` was hashed with.
    pub fn store_id_for(&self, seq: u64) -> &[u8] {
        store_id_in(&self.segments, &self.store_id, seq)
    }

    /// The last hash seen (the chain head so far).
    pub fn head(&self) -> (u64, &[u8]) {
        (self.last_seq, &self.prev)
    }

    /// Checks the next record; false (and `report.problem` set) on the first problem.
    pub fn step(&mut self, r: &AuditRecord) -> bool {
        if self.report.problem.is_some() {
            return false;
        }
        let h = record_hash(self.store_id_for(r.seq), &r.prev_hash, r);
        self.check(r.seq, &r.prev_hash, &h, &r.hash)
    }

    /// Checks the records of a stored batch after `skip_through` (those up to it were
    /// walked before), each hashed once, and returns them when they all passed. A batch
    /// stores only its last record's hash, so each record links to the hash its predecessor
    /// gives, and the last must give the stored one: the checks of [`ChainWalker::step`] on
    /// [`expand_batch`]'s records, which would hash each record twice.
    pub fn step_batch(
        &mut self,
        b: &AuditBatch,
        skip_through: u64,
        msg: &mut Vec<u8>,
    ) -> Option<Vec<AuditRecord>> {
        if self.report.problem.is_some() {
            return None;
        }
        let recs = match batch_records(b) {
            Ok(r) => r,
            Err(e) => {
                self.report.problem = Some((self.last_seq.saturating_add(1), e.to_string()));
                return None;
            }
        };
        if linked_whole(b) {
            return self.step_linked(b, recs);
        }
        let n = recs.len();
        let mut prev = b.prev_hash.clone();
        for (i, r) in recs.iter().enumerate() {
            // `batch_records` checked that the batch holds last_seq - first_seq + 1 records
            let seq = b.first_seq + i as u64;
            let h = record_hash_ref(msg, self.store_id_for(seq), &prev, seq, &RecordRef::of(r));
            let stored: &[u8] = if i + 1 == n { &b.hash } else { &h };
            if seq > skip_through && !self.check(seq, &prev, &h, stored) {
                return None;
            }
            prev.clear();
            prev.extend_from_slice(&h);
        }
        Some(recs)
    }

    /// A version-3 batch (its `records` decoded): it must follow the last record walked,
    /// link to its hash, and its own link must be the hash of what it holds. A change to any
    /// record shows at the batch's last record, whose hash the link is.
    fn step_linked(
        &mut self,
        b: &AuditBatch,
        records: Vec<AuditRecord>,
    ) -> Option<Vec<AuditRecord>> {
        if !self.place(b.first_seq, records.len() as u64, &b.prev_hash) {
            return None;
        }
        let sid = self.store_id_for(b.first_seq);
        let link = batch_link(sid, &b.prev_hash, b.first_seq, b.last_seq, &b.body);
        if link[..] != b.hash[..] {
            self.report.problem = Some((
                b.last_seq,
                format!(
                    "records {} to {} were altered (their batch's hash does not match them)",
                    b.first_seq, b.last_seq
                ),
            ));
            return None;
        }
        self.accept(b.last_seq, &link);
        Some(records)
    }

    /// Checks that `n` records from `seq` on come next and that the first links to
    /// `prev_hash`, counting them as walked.
    fn place(&mut self, seq: u64, n: u64, prev_hash: &[u8]) -> bool {
        let rep = &mut self.report;
        if rep.records == 0 {
            rep.first_seq = seq;
        }
        rep.records += n;
        rep.last_seq = seq.saturating_add(n - 1);
        let expect = self.last_seq.checked_add(1);
        if Some(seq) != expect {
            let what = match expect {
                Some(e) if seq > e => {
                    format!("record {e} is missing (next present is {seq})")
                }
                _ => format!("record {seq} is out of order"),
            };
            rep.problem = Some((expect.unwrap_or(seq), what));
            return false;
        }
        if prev_hash != self.prev {
            rep.problem = Some((
                seq,
                format!(
                    "record {seq} does not link to its predecessor (removed, inserted or reordered record)"
                ),
            ));
            return false;
        }
        true
    }

    /// Takes record `seq` with hash `hash` as the chain's head.
    fn accept(&mut self, seq: u64, hash: &[u8]) {
        if self.cp_seqs.contains(&seq) {
            self.hashes_at.insert(seq, hash.to_vec());
        }
        self.prev.clear();
        self.prev.extend_from_slice(hash);
        self.last_seq = seq;
    }

    /// Checks record `seq`, which links to `prev_hash`, hashes to `computed` and is stored
    /// with hash `stored`.
    fn check(&mut self, seq: u64, prev_hash: &[u8], computed: &[u8], stored: &[u8]) -> bool {
        if !self.place(seq, 1, prev_hash) {
            return false;
        }
        let rep = &mut self.report;
        if computed != stored {
            rep.problem = Some((seq, format!("record {seq} was altered")));
            return false;
        }
        self.accept(seq, computed);
        true
    }

    /// Checks every checkpoint against the walked chain (and its MAC when a key is given).
    pub fn check_checkpoints(
        &mut self,
        cps: &[CheckpointRecord],
        checkpoint_key: Option<&[u8]>,
    ) -> Result<()> {
        if self.report.problem.is_some() {
            return Ok(());
        }
        for c in cps {
            self.report.checkpoints += 1;
            if c.seq <= self.anchor_seq {
                continue;
            }
            if c.seq > self.report.last_seq {
                self.report.problem = Some((
                    c.seq,
                    format!(
                        "checkpoint at record {} but the trail ends at {} (tail truncated)",
                        c.seq, self.report.last_seq
                    ),
                ));
                break;
            }
            if self.hashes_at.get(&c.seq) != Some(&c.head_hash) {
                self.report.problem = Some((
                    c.seq,
                    format!("checkpoint at record {} does not match the chain", c.seq),
                ));
                break;
            }
            if let Some(key) = checkpoint_key {
                let sid = self.store_id_for(c.seq).to_vec();
                let want = checkpoint_mac(key, &sid, c.seq, &c.head_hash, c.time)?;
                if !crypto::ct_eq(&want, &c.mac) {
                    self.report.problem = Some((
                        c.seq,
                        format!("checkpoint at record {} has a bad signature", c.seq),
                    ));
                    break;
                }
            }
        }
        Ok(())
    }
}

/// What the trail stores: a single-record row (an event of the service) or a batch of
/// usage records.
pub enum Stored {
    Row(AuditRecord),
    Batch(AuditBatch),
}

impl Stored {
    /// The sequence number of the last record it holds.
    pub fn last_seq(&self) -> u64 {
        match self {
            Stored::Row(r) => r.seq,
            Stored::Batch(b) => b.last_seq,
        }
    }
}

/// The next rows and whole batches of the trail after record `after`, in sequence order,
/// about `limit` rows or 64 batches at most (never empty while more is stored): each batch
/// is read once, where [`query`] pages by records and reads a batch again for each page
/// that cuts it.
pub fn trail_page(tx: &mut dyn Tx, after: u64, limit: u64) -> Result<Vec<Stored>> {
    const BATCHES: u64 = 64;
    let rows = tx.audit_rows(&AuditFilter {
        after_seq: Some(after),
        limit: Some(limit),
        ..Default::default()
    })?;
    let batches = tx.audit_batches(&BatchQuery {
        after_seq: after,
        limit: BATCHES,
        ..Default::default()
    })?;
    // Each list is complete up to its last element when it was cut by its limit; what lies
    // beyond the sooner of the two is read by the next page.
    let mut upto = u64::MAX;
    if rows.len() as u64 >= limit {
        upto = upto.min(rows.last().map_or(u64::MAX, |r| r.seq));
    }
    if batches.len() as u64 >= BATCHES {
        upto = upto.min(batches.last().map_or(u64::MAX, |b| b.last_seq));
    }
    let mut out: Vec<Stored> = rows
        .into_iter()
        .map(Stored::Row)
        .chain(batches.into_iter().map(Stored::Batch))
        .filter(|s| s.last_seq() <= upto)
        .collect();
    out.sort_by_key(Stored::last_seq);
    Ok(out)
}

/// Walks the chain (a page of rows and batches at a time, each record hashed once) and
/// checks every link and every batch's index, then every checkpoint. Records before the
/// retention anchor were purged on purpose (their last hash is anchored in meta); records
/// of restored segments are checked with their original store id.
pub fn verify(
    tx: &mut dyn Tx,
    store_id: &[u8],
    checkpoint_key: Option<&[u8]>,
) -> Result<VerifyReport> {
    let anchor = anchor(tx)?;
    let mut after = anchor.0;
    let cps = tx.checkpoints()?;
    let segs = segments(tx)?;
    let mut w = ChainWalker::new(store_id, segs, anchor, &cps);
    let mut msg = Vec::with_capacity(256);
    let anchor_seq = w.anchor_seq;
    // An altered index is reported when the chain itself holds (as the chain's own
    // problems come first).
    let mut index_problem = None;
    'walk: loop {
        let page = trail_page(tx, after, 10_000)?;
        if page.is_empty() {
            break;
        }
        // Records up to `after` were walked (a batch that an anchor cuts is walked from it).
        let skip = after;
        for item in &page {
            match item {
                Stored::Row(r) => {
                    if r.seq > skip && !w.step(r) {
                        break 'walk;
                    }
                }
                Stored::Batch(b) => {
                    let Some(recs) = w.step_batch(b, skip, &mut msg) else {
                        break 'walk;
                    };
                    if index_problem.is_none() {
                        index_problem = check_batch_index(tx, b, &recs)?.map(|p| (b.first_seq, p));
                    }
                }
            }
            after = after.max(item.last_seq());
        }
    }
    if w.report.problem.is_none() {
        w.report.problem = match index_problem {
            Some(p) => Some(p),
            // batches the walk did not reach: those that begin at or before the anchor
            None => check_batch_indexes(tx, anchor_seq.saturating_add(1))?,
        };
    }
    w.check_checkpoints(&cps, checkpoint_key)?;
    Ok(w.report)
}

/// [`check_batch_index`] of every stored batch that begins before record `before`: the
/// first problem, with its sequence number.
fn check_batch_indexes(tx: &mut dyn Tx, before: u64) -> Result<Option<(u64, String)>> {
    let mut q = BatchQuery {
        before_seq: Some(before),
        limit: 64,
        ..Default::default()
    };
    loop {
        let page = tx.audit_batches(&q)?;
        for b in &page {
            let found = match batch_records(b).and_then(|recs| check_batch_index(tx, b, &recs)) {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::Integrity => Some(e.to_string()),
                Err(e) => return Err(e),
            };
            if let Some(p) = found {
                return Ok(Some((b.first_seq, p)));
            }
        }
        match page.last() {
            Some(b) if page.len() as u64 == q.limit => q.after_seq = b.last_seq,
            _ => return Ok(None),
        }
    }
}

/// HMAC-SHA256 over a checkpoint, keyed by the auditor's checkpoint key.
pub fn checkpoint_mac(
    key: &[u8],
    store_id: &[u8],
    seq: u64,
    head: &[u8],
    time: i64,
) -> Result<Vec<u8>> {
    let mut m = b"kms-checkpoint-v1".to_vec();
    m.extend_from_slice(store_id);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(head);
    m.extend_from_slice(&time.to_be_bytes());
    crypto::hmac(HashAlg::Sha256, key, &m)
}

/// Records the current head as a checkpoint signed with `key`.
pub fn checkpoint(
    tx: &mut dyn Tx,
    store_id: &[u8],
    key: &[u8],
    now: i64,
) -> Result<CheckpointRecord> {
    let (seq, head) = tx.audit_head()?;
    if seq == 0 {
        return Err(Error::invalid("the audit trail is empty"));
    }
    let c = CheckpointRecord {
        seq,
        mac: checkpoint_mac(key, store_id, seq, &head, now)?,
        head_hash: head,
        time: now,
    };
    tx.checkpoint_insert(&c)?;
    Ok(c)
}

/// Writes records as JSON lines.
pub fn to_json_line(r: &AuditRecord) -> String {
    use crate::core::json::{esc, hexs};
    format!(
        "{{\"seq\":{},\"time_us\":{},\"keyring\":{},\"identity\":\"{}\",\"action\":\"{}\",\"key_id\":{},\"key_version\":{},\"outcome\":\"{}\",\"error\":\"{}\",\"context\":\"{}\",\"pid\":{},\"request_id\":\"{}\",\"detail\":\"{}\",\"prev_hash\":\"{}\",\"hash\":\"{}\"}}",
        r.seq,
        r.time,
        r.keyring,
        esc(&r.identity),
        esc(&r.action),
        r.key_id.map(|k| k.to_string()).unwrap_or_else(|| "null".into()),
        r.key_version.map(|k| k.to_string()).unwrap_or_else(|| "null".into()),
        r.outcome.name(),
        esc(&r.error),
        esc(&r.context),
        r.pid,
        esc(&r.request_id),
        esc(&r.detail),
        hexs(&r.prev_hash),
        hexs(&r.hash)
    )
}

/// Largest encoded record accepted by the decoder.
pub const MAX_RECORD: usize = 64 * 1024;

/// A usage record's fields, borrowed: the hot path encodes straight from these without
/// building an [`AuditRecord`].
#[derive(Clone, Copy, Debug)]
pub struct RecordRef<'a> {
    pub time: i64,
    pub keyring: u64,
    pub identity: &'a str,
    pub action: &'a str,
    pub key_id: Option<u64>,
    pub key_version: Option<u32>,
    pub outcome: Outcome,
    pub error: &'a str,
    pub context: &'a str,
    pub pid: u32,
    pub request_id: &'a str,
    pub detail: &'a str,
}

impl<'a> RecordRef<'a> {
    /// The owned record with these fields at position `seq` with its chain links.
    pub fn to_record(&self, seq: u64, prev_hash: Vec<u8>, hash: Vec<u8>) -> AuditRecord {
        AuditRecord {
            seq,
            time: self.time,
            keyring: self.keyring,
            identity: self.identity.to_string(),
            action: self.action.to_string(),
            key_id: self.key_id,
            key_version: self.key_version,
            outcome: self.outcome,
            error: self.error.to_string(),
            context: self.context.to_string(),
            pid: self.pid,
            request_id: self.request_id.to_string(),
            detail: self.detail.to_string(),
            prev_hash,
            hash,
        }
    }

    pub fn of(r: &'a AuditRecord) -> RecordRef<'a> {
        RecordRef {
            time: r.time,
            keyring: r.keyring,
            identity: &r.identity,
            action: &r.action,
            key_id: r.key_id,
            key_version: r.key_version,
            outcome: r.outcome,
            error: &r.error,
            context: &r.context,
            pid: r.pid,
            request_id: &r.request_id,
            detail: &r.detail,
        }
    }
}

/// Encodes a usage record (before chaining) with the use counts it implies, in codec 2.
pub fn encode_record(r: &AuditRecord, use_of: Option<(u64, u32)>, grant: Option<u64>) -> Vec<u8> {
    let mut o = Vec::with_capacity(96);
    encode_into(&mut o, &RecordRef::of(r), use_of, grant);
    o
}

/// [`encode_record`] in codec 1: what journals of earlier versions and version-1 batch
/// bodies hold (kept to write such inputs in tests; the library reads them, never writes).
pub fn encode_record_v1(
    r: &AuditRecord,
    use_of: Option<(u64, u32)>,
    grant: Option<u64>,
) -> Vec<u8> {
    let mut o = Vec::with_capacity(160);
    Writer {
        o: &mut o,
        wide: true,
    }
    .record(&RecordRef::of(r), use_of, grant);
    o
}

/// Appends the encoding of [`encode_record`] to `o`.
pub fn encode_into(
    o: &mut Vec<u8>,
    r: &RecordRef<'_>,
    use_of: Option<(u64, u32)>,
    grant: Option<u64>,
) {
    Writer { o, wide: false }.record(r, use_of, grant);
}

/// The record codecs' writer: codec 1 (`wide`) stores numbers at fixed width (u64, u32)
/// and lengths as u32; codec 2 stores them as LEB128 varints. The time is 8 bytes in both,
/// right after the codec byte.
struct Writer<'a> {
    o: &'a mut Vec<u8>,
    wide: bool,
}

impl Writer<'_> {
    fn record(&mut self, r: &RecordRef<'_>, use_of: Option<(u64, u32)>, grant: Option<u64>) {
        self.o.push(if self.wide { 1 } else { 2 }); // codec version
        self.o.extend_from_slice(&r.time.to_be_bytes());
        self.u64(r.keyring);
        self.str(r.identity);
        self.str(r.action);
        self.flagged(r.key_id, |w, k| w.u64(k));
        self.flagged(r.key_version, |w, v| w.u32(v));
        self.o.push(match r.outcome {
            Outcome::Ok => 0,
            Outcome::Denied => 1,
            Outcome::Error => 2,
        });
        self.str(r.error);
        self.str(r.context);
        self.u32(r.pid);
        self.str(r.request_id);
        self.str(r.detail);
        self.flagged(use_of, |w, (k, v)| {
            w.u64(k);
            w.u32(v);
        });
        self.flagged(grant, |w, g| w.u64(g));
    }

    fn u64(&mut self, v: u64) {
        if self.wide {
            self.o.extend_from_slice(&v.to_be_bytes());
        } else {
            varint::put(self.o, v);
        }
    }

    fn u32(&mut self, v: u32) {
        if self.wide {
            self.o.extend_from_slice(&v.to_be_bytes());
        } else {
            varint::put(self.o, v.into());
        }
    }

    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.o.extend_from_slice(s.as_bytes());
    }

    fn flagged<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            Some(v) => {
                self.o.push(1);
                f(self, v);
            }
            None => self.o.push(0),
        }
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    /// Codec 1 (fixed-width numbers) rather than 2 (varints); see [`Writer`].
    wide: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.b.len());
        let end = end.ok_or_else(|| Error::integrity("audit record truncated"))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    /// A LEB128 number in its shortest form (codec 2).
    fn varint(&mut self) -> Result<u64> {
        varint::get(self.b, &mut self.at).map_err(|e| {
            Error::integrity(match e {
                varint::Bad::Truncated => "audit record truncated",
                varint::Bad::TooLarge => "audit record number is too large",
                varint::Bad::NotShortest => "audit record number is not in its shortest form",
            })
        })
    }
    fn u32(&mut self) -> Result<u32> {
        if self.wide {
            return Ok(u32::from_be_bytes(self.fixed()?));
        }
        u32::try_from(self.varint()?)
            .map_err(|_| Error::integrity("audit record number is too large"))
    }
    fn u64(&mut self) -> Result<u64> {
        if self.wide {
            return Ok(u64::from_be_bytes(self.fixed()?));
        }
        self.varint()
    }
    fn str(&mut self) -> Result<&'a str> {
        let n = self.u32()? as usize;
        if n > MAX_RECORD {
            return Err(Error::integrity("audit record field too long"));
        }
        crate::boundary::text::utf8(self.take(n)?)
            .ok_or_else(|| Error::integrity("audit record field is not UTF-8"))
    }
    fn flag(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(Error::integrity("audit record flag is malformed")),
        }
    }
}

/// A decoded usage record with its use counts.
pub type DecodedRecord = (AuditRecord, Option<(u64, u32)>, Option<u64>);

/// A decoded usage record borrowing its text from the encoding, with its use counts.
pub type DecodedRef<'a> = (RecordRef<'a>, Option<(u64, u32)>, Option<u64>);

/// Decodes what [`encode_record`] wrote; any malformed input is an `Integrity` error.
pub fn decode_record(b: &[u8]) -> Result<DecodedRecord> {
    let (r, use_of, grant) = decode_record_ref(b)?;
    Ok((r.to_record(0, Vec::new(), Vec::new()), use_of, grant))
}

/// [`decode_record`] without copying the text fields (the same checks).
pub fn decode_record_ref(b: &[u8]) -> Result<DecodedRef<'_>> {
    if b.len() > MAX_RECORD {
        return Err(Error::integrity("audit record too long"));
    }
    let wide = match b.first() {
        Some(1) => true,
        Some(2) => false,
        _ => return Err(Error::integrity("unknown audit record codec")),
    };
    let mut r = Reader { b, at: 1, wide };
    let time = i64::from_be_bytes(r.fixed()?);
    let keyring = r.u64()?;
    let identity = r.str()?;
    let action = r.str()?;
    let key_id = if r.flag()? { Some(r.u64()?) } else { None };
    let key_version = if r.flag()? { Some(r.u32()?) } else { None };
    let outcome = match r.u8()? {
        0 => Outcome::Ok,
        1 => Outcome::Denied,
        2 => Outcome::Error,
        _ => return Err(Error::integrity("audit record outcome is malformed")),
    };
    let error = r.str()?;
    let context = r.str()?;
    let pid = r.u32()?;
    let request_id = r.str()?;
    let detail = r.str()?;
    let use_of = if r.flag()? {
        Some((r.u64()?, r.u32()?))
    } else {
        None
    };
    let grant = if r.flag()? { Some(r.u64()?) } else { None };
    if r.at != b.len() {
        return Err(Error::integrity("trailing bytes after audit record"));
    }
    Ok((
        RecordRef {
            time,
            keyring,
            identity,
            action,
            key_id,
            key_version,
            outcome,
            error,
            context,
            pid,
            request_id,
            detail,
        },
        use_of,
        grant,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trip_and_truncation() {
        let r = AuditRecord {
            seq: 0,
            time: 123,
            keyring: 1,
            identity: "alice".into(),
            action: "encrypt".into(),
            key_id: Some(7),
            key_version: Some(2),
            outcome: Outcome::Denied,
            error: "access denied".into(),
            context: "tenant".into(),
            pid: 42,
            request_id: "r1".into(),
            detail: String::new(),
            prev_hash: vec![],
            hash: vec![],
        };
        let b = encode_record(&r, Some((7, 2)), None);
        let (d, u, g) = decode_record(&b).unwrap();
        assert_eq!(d, r);
        assert_eq!(u, Some((7, 2)));
        assert_eq!(g, None);
        for n in 0..b.len() {
            assert!(decode_record(&b[..n]).is_err());
        }
    }

    fn extreme() -> AuditRecord {
        AuditRecord {
            seq: 0,
            time: -1,
            keyring: u64::MAX,
            identity: "ü".repeat(200),
            action: "sign".into(),
            key_id: Some(u64::MAX),
            key_version: Some(u32::MAX),
            outcome: Outcome::Error,
            error: String::new(),
            context: "a=b".into(),
            pid: u32::MAX,
            request_id: "x".repeat(130),
            detail: "d".into(),
            prev_hash: vec![],
            hash: vec![],
        }
    }

    #[test]
    fn both_codecs_read_and_each_is_canonical() {
        for (r, use_of, grant) in [
            (extreme(), Some((u64::MAX, u32::MAX)), Some(u64::MAX)),
            (extreme(), None, Some(0)),
        ] {
            for (codec, b) in [
                (2u8, encode_record(&r, use_of, grant)),
                (1u8, encode_record_v1(&r, use_of, grant)),
            ] {
                assert_eq!(b[0], codec);
                assert_eq!(decode_record(&b).unwrap(), (r.clone(), use_of, grant));
                for n in 0..b.len() {
                    assert!(decode_record(&b[..n]).is_err(), "codec {codec}, {n} bytes");
                }
                let mut longer = b.clone();
                longer.push(0);
                assert!(decode_record(&longer).is_err());
            }
        }
        // A typical key use: codec 2 is a little over half the size of codec 1.
        let r = AuditRecord {
            seq: 0,
            time: 1_700_000_000_123_456,
            keyring: 1,
            identity: "owner".into(),
            action: "encrypt".into(),
            key_id: Some(12),
            key_version: Some(1),
            outcome: Outcome::Ok,
            error: String::new(),
            context: String::new(),
            pid: 4242,
            request_id: "4242-1-000123".into(),
            detail: String::new(),
            prev_hash: vec![],
            hash: vec![],
        };
        let (v2, v1) = (
            encode_record(&r, Some((12, 1)), None),
            encode_record_v1(&r, Some((12, 1)), None),
        );
        assert_eq!((v2.len(), v1.len()), (52, 99));
    }

    #[test]
    fn text_fields_that_are_not_utf8_are_refused() {
        // ASCII text (the inline check) and multi-byte text (the full check) both read back;
        // a byte that breaks either is refused
        for identity in ["owner", "\u{fc}ber-\u{e9}t\u{e9}"] {
            let r = AuditRecord {
                identity: identity.into(),
                ..extreme()
            };
            for b in [
                encode_record(&r, None, None),
                encode_record_v1(&r, None, None),
            ] {
                assert_eq!(decode_record(&b).unwrap().0, r);
                let at = b
                    .windows(identity.len())
                    .position(|w| w == identity.as_bytes())
                    .unwrap();
                for (i, bad) in [(0, 0xff), (1, 0xfe), (identity.len() - 1, 0xc3)] {
                    let mut x = b.clone();
                    x[at + i] = bad;
                    let e = decode_record(&x).unwrap_err();
                    assert!(e.to_string().contains("not UTF-8"), "{identity} [{i}]: {e}");
                }
            }
        }
    }

    #[test]
    fn codec_2_refuses_numbers_not_in_their_shortest_form_or_too_wide() {
        let r = AuditRecord {
            keyring: 5,
            pid: 300,
            ..extreme()
        };
        let b = encode_record(&r, None, None);
        // keyring 5 is the byte after the time; the same number with a redundant
        // continuation byte is refused
        assert_eq!(b[9], 5);
        let mut long = b[..9].to_vec();
        long.extend_from_slice(&[0x85, 0x00]);
        long.extend_from_slice(&b[10..]);
        assert!(decode_record(&long).is_err());
        // a version (32 bits) of 2^32 is refused
        let r = AuditRecord {
            key_id: None,
            key_version: Some(1),
            ..extreme()
        };
        let b = encode_record(&r, None, None);
        // the action, no key id, a version, 1
        let at = b.windows(7).position(|w| w == b"sign\x00\x01\x01").unwrap() + 6;
        let mut wide = b[..at].to_vec();
        wide.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x10]);
        wide.extend_from_slice(&b[at + 1..]);
        let e = decode_record(&wide).unwrap_err();
        assert!(e.to_string().contains("too large"), "{e}");
    }
}

#[cfg(test)]
mod hash_tests {
    use super::*;
    use crate::core::store::Tx;

    fn sample() -> AuditRecord {
        AuditRecord {
            seq: 77,
            time: 1_700_000_000_123_456,
            keyring: 3,
            identity: "alice".into(),
            action: "encrypt".into(),
            key_id: Some(9),
            key_version: Some(2),
            outcome: Outcome::Denied,
            error: "access denied".into(),
            context: "tenant".into(),
            pid: 4242,
            request_id: "r-1".into(),
            detail: "d".into(),
            prev_hash: vec![],
            hash: vec![],
        }
    }

    /// A crafted anchor or record at the end of the sequence space is reported, not an
    /// overflow (found by the `backup` fuzz target: a backup anchored at `u64::MAX`).
    #[test]
    fn walker_at_the_end_of_the_sequence_space() {
        let sid = b"store";
        let mut w = ChainWalker::new(sid, Vec::new(), (u64::MAX, vec![7; 32]), &[]);
        assert_eq!(w.head().0, u64::MAX);
        let mut r = sample();
        r.seq = 0;
        assert!(!w.step(&r));
        assert!(w
            .report
            .problem
            .as_ref()
            .is_some_and(|p| p.1.contains("out of order")));

        let mut w = ChainWalker::new(sid, Vec::new(), (u64::MAX - 1, vec![7; 32]), &[]);
        let mut r = sample();
        r.seq = u64::MAX;
        r.prev_hash = vec![7; 32];
        r.hash = record_hash(sid, &r.prev_hash, &r);
        assert!(w.step(&r), "{:?}", w.report.problem);
        assert_eq!(w.head().0, u64::MAX);
        let mut next = sample();
        next.seq = u64::MAX;
        assert!(!w.step(&next));
    }

    /// The hashed bytes are the at-rest definition (docs/at-rest.md): these values were
    /// computed before the borrowed hashing path existed and must never change.
    #[test]
    fn record_hash_is_stable() {
        let r = sample();
        let r2 = AuditRecord {
            key_id: None,
            key_version: None,
            outcome: Outcome::Ok,
            error: String::new(),
            ..r.clone()
        };
        let sid = b"0123456789abcdef";
        let h1 = record_hash(sid, &[], &r);
        let h2 = record_hash(sid, &h1, &r2);
        assert_eq!(
            crate::core::seal::hex(&h1),
            "097673c7416d5e07e99f41f4ad5f9ec230c806ef138429c58b0acbcf2a3e975b"
        );
        assert_eq!(
            crate::core::seal::hex(&h2),
            "fa2609d2c0ce61eb05d176a837dfb8fba886093ecda3ad7a4b9b9ddea205043f"
        );
        let mut m = Vec::new();
        assert_eq!(
            record_hash_ref(&mut m, sid, &[], 77, &RecordRef::of(&r)).to_vec(),
            h1
        );
        assert_eq!(
            record_hash_ref(&mut m, sid, &h1, 77, &RecordRef::of(&r2)).to_vec(),
            h2
        );
    }

    #[test]
    fn borrowed_decode_matches_owned() {
        let r = AuditRecord { seq: 0, ..sample() };
        let b = encode_record(&r, Some((9, 2)), Some(5));
        let (d, u, g) = decode_record(&b).unwrap();
        let (v, u2, g2) = decode_record_ref(&b).unwrap();
        assert_eq!(d, r);
        assert_eq!((u, g), (u2, g2));
        let mut m = Vec::new();
        assert_eq!(
            record_hash_ref(&mut m, b"s", b"p", 5, &v).to_vec(),
            record_hash(b"s", b"p", &AuditRecord { seq: 5, ..d })
        );
        for n in 0..b.len() {
            assert!(decode_record_ref(&b[..n]).is_err());
        }
    }

    /// A new SQLite store in a folder of its own under the temporary directory.
    fn temp_store(tag: &str) -> (std::path::PathBuf, crate::core::store::sqlite::SqliteStore) {
        let dir = std::env::temp_dir().join(format!(
            "kms-{tag}-{}-{}",
            std::process::id(),
            crate::core::seal::hex(&crate::core::crypto::random_vec(6).unwrap())
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let st = crate::core::store::sqlite::SqliteStore::open(&dir.join("s.db")).unwrap();
        (dir, st)
    }

    /// `n` usage records, a microsecond apart, with request ids r0, r1, ...
    fn usage(n: i64) -> Vec<AuditRecord> {
        (0..n)
            .map(|i| AuditRecord {
                time: 1000 + i,
                request_id: format!("r{i}"),
                ..sample()
            })
            .collect()
    }

    /// Usage records chained through the borrowed path and records chained through
    /// `append_in_tx` make one chain that `verify` accepts.
    #[test]
    fn borrowed_chaining_verifies() {
        let (dir, st) = temp_store("chain");
        let sid = b"0123456789abcdef";
        let recs = usage(100);
        let views: Vec<RecordRef<'_>> = recs.iter().map(RecordRef::of).collect();
        let mut scratch = ChainScratch::default();
        crate::core::store::write(&st, |tx: &mut dyn Tx| {
            append_in_tx(tx, sid, &mut [sample()])?;
            append_batch_in_tx(tx, sid, &views[..37], &mut scratch)?;
            append_batch_in_tx(tx, sid, &views[37..], &mut scratch)?;
            append_in_tx(tx, sid, &mut [sample()])
        })
        .unwrap();
        let rep = crate::core::store::read(&st, |tx| verify(tx, sid, None)).unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!(rep.records, 102);
        let got = crate::core::store::read(&st, |tx| {
            query(
                tx,
                sid,
                &AuditFilter {
                    after_seq: Some(1),
                    limit: Some(100),
                    ..Default::default()
                },
            )
        })
        .unwrap();
        for (g, r) in got.iter().zip(&recs) {
            assert_eq!(g.request_id, r.request_id);
            assert_eq!(g.time, r.time);
        }
        drop(st);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `trail_page` walks rows and whole batches in sequence order, each once, whichever of
    /// its two limits (rows, batches) cuts a page; the walk of `verify` and of backups.
    #[test]
    fn trail_pages_hold_every_row_and_batch_once_in_order() {
        let (dir, st) = temp_store("pages");
        let sid = b"0123456789abcdef";
        let recs = usage(600);
        let views: Vec<RecordRef<'_>> = recs.iter().map(RecordRef::of).collect();
        let mut scratch = ChainScratch::default();
        // runs of 1 to 3 rows between batches of 1 to 9 records: 100 batches in all
        let (mut rows, mut batched) = (0u64, 0u64);
        crate::core::store::write(&st, |tx: &mut dyn Tx| {
            let mut at = 0;
            for i in 0..100usize {
                for _ in 0..(i % 3 + 1) {
                    append_in_tx(tx, sid, &mut [sample()])?;
                    rows += 1;
                }
                let n = i * 7 % 9 + 1;
                append_batch_in_tx(tx, sid, &views[at..at + n], &mut scratch)?;
                at += n;
                batched += n as u64;
            }
            Ok(())
        })
        .unwrap();
        let (head, _) = crate::core::store::read(&st, |tx| tx.audit_head()).unwrap();
        assert_eq!(head, batched + rows, "{head} records, {rows} rows");
        for limit in [1, 2, 3, 10, 64, 1000] {
            let mut after = 0;
            let (mut seen_rows, mut seen_batches, mut next) = (0u64, 0u64, 1u64);
            loop {
                let page =
                    crate::core::store::read(&st, |tx| trail_page(tx, after, limit)).unwrap();
                if page.is_empty() {
                    break;
                }
                for item in &page {
                    let first = match item {
                        Stored::Row(r) => {
                            seen_rows += 1;
                            r.seq
                        }
                        Stored::Batch(b) => {
                            seen_batches += 1;
                            b.first_seq
                        }
                    };
                    assert_eq!(first, next, "limit {limit}: in order, nothing twice");
                    next = item.last_seq() + 1;
                }
                after = page.last().unwrap().last_seq();
            }
            assert_eq!(
                (seen_rows, seen_batches, next - 1),
                (rows, 100, head),
                "limit {limit}"
            );
        }
        let rep = crate::core::store::read(&st, |tx| verify(tx, sid, None)).unwrap();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!(rep.records, head);
        drop(st);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A version-2 batch as earlier versions chained it: each record linked to the one
    /// before, only the last hash stored.
    fn append_v2_batch(tx: &mut dyn Tx, sid: &[u8], records: &[RecordRef<'_>]) -> Result<()> {
        let (head_seq, head) = tx.audit_head()?;
        let (mut m, mut prev, mut term) = (Vec::new(), head.clone(), Vec::new());
        let mut index = BatchIndex::new();
        for (i, r) in records.iter().enumerate() {
            prev = record_hash_ref(&mut m, sid, &prev, head_seq + 1 + i as u64, r).to_vec();
            index.add(
                r,
                i.checked_sub(1)
                    .map(|j| batchbody::Changed::between(&records[j], r)),
                &mut term,
            );
        }
        let mut body = Vec::new();
        batchbody::encode(&mut body, records, batchbody::V2);
        let b = AuditBatch {
            first_seq: head_seq + 1,
            last_seq: head_seq + records.len() as u64,
            min_time: index.min_time,
            max_time: index.max_time,
            prev_hash: head,
            hash: prev,
            body,
        };
        tx.audit_batch_insert(&b, &index.sorted_terms())
    }

    /// A trail of rows, batches linked record by record (version 2, from stores of earlier
    /// versions) and batches linked as a whole (version 3) reads, verifies and prunes as
    /// one; a change in either kind of batch is found.
    #[test]
    fn batches_of_both_link_kinds_make_one_chain() {
        let (dir, st) = temp_store("links");
        let sid = b"0123456789abcdef";
        let recs = usage(20);
        let v: Vec<RecordRef<'_>> = recs.iter().map(RecordRef::of).collect();
        let mut scratch = ChainScratch::default();
        // 1 row, 2-6 v2, 7-11 v3, 12 row, 13-17 v2, 18-22 v3
        crate::core::store::write(&st, |tx: &mut dyn Tx| {
            append_in_tx(tx, sid, &mut [sample()])?;
            append_v2_batch(tx, sid, &v[0..5])?;
            append_batch_in_tx(tx, sid, &v[5..10], &mut scratch)?;
            append_in_tx(tx, sid, &mut [sample()])?;
            append_v2_batch(tx, sid, &v[10..15])?;
            append_batch_in_tx(tx, sid, &v[15..20], &mut scratch)
        })
        .unwrap();
        let verify_now = || crate::core::store::read(&st, |tx| verify(tx, sid, None)).unwrap();
        let rep = verify_now();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!(rep.records, 22);
        let all =
            crate::core::store::read(&st, |tx| query(tx, sid, &AuditFilter::default())).unwrap();
        assert_eq!(all.len(), 22);
        for p in all.windows(2) {
            let shared = p[0].seq >= 7 && p[1].seq <= 11 || p[0].seq >= 18;
            if shared {
                assert_eq!((&p[1].prev_hash, &p[1].hash), (&p[0].prev_hash, &p[0].hash));
            } else {
                assert_eq!(
                    p[1].prev_hash, p[0].hash,
                    "{} links to {}",
                    p[1].seq, p[0].seq
                );
            }
        }
        for (at, rec) in [(4, &recs[2]), (9, &recs[7])] {
            assert_eq!(all[at - 1].request_id, rec.request_id);
        }
        // a change to a record of either kind of batch shows at the end of its batch
        for (first, last) in [(2u64, 6u64), (7, 11)] {
            let b = crate::core::store::read(&st, |tx| {
                tx.audit_batches(&BatchQuery {
                    after_seq: first - 1,
                    limit: 1,
                    ..Default::default()
                })
            })
            .unwrap()
            .remove(0);
            assert_eq!((b.first_seq, b.last_seq), (first, last));
            let mut bad = b.clone();
            // the last entry's request id suffix: "r4" -> "r5" (v2), "r9" -> "r:" (v3)
            let n = bad.body.len();
            bad.body[n - 1] += 1;
            let terms = batch_terms(&b).unwrap();
            let swap = |with: &AuditBatch| {
                crate::core::store::write(&st, |tx: &mut dyn Tx| {
                    tx.audit_batch_delete(first)?;
                    tx.audit_batch_insert(with, &terms)
                })
                .unwrap()
            };
            swap(&bad);
            let rep = verify_now();
            let (at, what) = rep.problem.expect("the change is found");
            assert_eq!(at, last, "{what}");
            assert!(what.contains("altered"), "{what}");
            swap(&b);
            assert!(verify_now().ok());
        }
        // retention: a cut inside a version-2 batch splits it, one inside a version-3 batch
        // keeps that batch whole
        crate::core::store::write(&st, |tx: &mut dyn Tx| {
            assert_eq!(prune_cut(tx, 4)?, 4);
            assert_eq!(prune_cut(tx, 9)?, 7);
            assert_eq!(prune_cut(tx, 7)?, 7);
            assert_eq!(prune_cut(tx, 12)?, 12);
            split_batch_at(tx, sid, 4)?;
            split_batch_at(tx, sid, 9)
        })
        .unwrap();
        let firsts: Vec<u64> = crate::core::store::read(&st, |tx| {
            tx.audit_batches(&BatchQuery {
                limit: 100,
                ..Default::default()
            })
        })
        .unwrap()
        .iter()
        .map(|b| b.first_seq)
        .collect();
        assert_eq!(firsts, vec![2, 4, 7, 13, 18]);
        let rep = verify_now();
        assert!(rep.ok(), "{:?}", rep.problem);
        assert_eq!(rep.records, 22);
        drop(st);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
