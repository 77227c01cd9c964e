//! The tamper-evident audit trail: record hashing and chaining, verification, signed
//! checkpoints, and the group-commit writer that keeps per-operation records off the
//! critical path without losing a record of an operation that has returned.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::core::crypto::{self, HashAlg};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::{AuditFilter, AuditRecord, CheckpointRecord};
use crate::core::store::{Store, Tx};

/// How usage records reach disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Each operation waits until its record is committed to the database file (survives
    /// SIGKILL); a background sync bounds what a power loss can take to `window`.
    Batched { window: Duration },
    /// Each operation waits until its record is synced to disk.
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
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            durability: Durability::Batched {
                window: Duration::from_millis(100),
            },
            fail_closed: true,
            record_context_values: false,
        }
    }
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

/// The hash of a record: SHA-256 over the previous hash, the store id and every field.
pub fn record_hash(store_id: &[u8], prev: &[u8], r: &AuditRecord) -> Vec<u8> {
    let mut m = Vec::with_capacity(256);
    m.extend_from_slice(b"kms-audit-v1");
    put(&mut m, prev);
    put(&mut m, store_id);
    m.extend_from_slice(&r.seq.to_be_bytes());
    m.extend_from_slice(&r.time.to_be_bytes());
    m.extend_from_slice(&r.keyring.to_be_bytes());
    put(&mut m, r.identity.as_bytes());
    put(&mut m, r.action.as_bytes());
    m.extend_from_slice(&r.key_id.map(|k| k as i128).unwrap_or(-1).to_be_bytes());
    m.extend_from_slice(&r.key_version.map(|k| k as i64).unwrap_or(-1).to_be_bytes());
    put(&mut m, r.outcome.name().as_bytes());
    put(&mut m, r.error.as_bytes());
    put(&mut m, r.context.as_bytes());
    m.extend_from_slice(&r.pid.to_be_bytes());
    put(&mut m, r.request_id.as_bytes());
    put(&mut m, r.detail.as_bytes());
    crypto::digest(HashAlg::Sha256, &m)
}

/// Appends records inside an open write transaction, chaining each to the current head.
pub fn append_in_tx(tx: &mut dyn Tx, store_id: &[u8], records: &mut [AuditRecord]) -> Result<()> {
    let (mut seq, mut prev) = tx.audit_head()?;
    for r in records.iter_mut() {
        seq += 1;
        r.seq = seq;
        r.prev_hash = prev;
        r.hash = record_hash(store_id, &r.prev_hash, r);
        tx.audit_append(r)?;
        prev = r.hash.clone();
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
    if v.len() % 24 != 0 {
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
    expect_seq: u64,
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
            expect_seq: anchor.0 + 1,
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
        self.segments
            .iter()
            .find(|(last, _)| seq <= *last)
            .map(|(_, sid)| sid.as_slice())
            .unwrap_or(&self.store_id)
    }

    /// The last hash seen (the chain head so far).
    pub fn head(&self) -> (u64, &[u8]) {
        (self.expect_seq - 1, &self.prev)
    }

    /// Checks the next record; false (and `report.problem` set) on the first problem.
    pub fn step(&mut self, r: &AuditRecord) -> bool {
        if self.report.problem.is_some() {
            return false;
        }
        let rep = &mut self.report;
        if rep.records == 0 {
            rep.first_seq = r.seq;
        }
        rep.records += 1;
        rep.last_seq = r.seq;
        if r.seq != self.expect_seq {
            let what = if r.seq > self.expect_seq {
                format!(
                    "record {} is missing (next present is {})",
                    self.expect_seq, r.seq
                )
            } else {
                format!("record {} is out of order", r.seq)
            };
            rep.problem = Some((self.expect_seq, what));
            return false;
        }
        if r.prev_hash != self.prev {
            rep.problem = Some((
                r.seq,
                format!(
                    "record {} does not link to its predecessor (removed, inserted or reordered record)",
                    r.seq
                ),
            ));
            return false;
        }
        let h = record_hash(self.store_id_for(r.seq), &r.prev_hash, r);
        if h != r.hash {
            self.report.problem = Some((r.seq, format!("record {} was altered", r.seq)));
            return false;
        }
        if self.cp_seqs.contains(&r.seq) {
            self.hashes_at.insert(r.seq, h.clone());
        }
        self.prev = h;
        self.expect_seq += 1;
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

/// Walks the chain (in pages) and checks every link, then every checkpoint.
/// Records before the retention anchor were purged on purpose (their last hash is anchored
/// in meta); records of restored segments are checked with their original store id.
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
    'walk: loop {
        let page = tx.audit_query(&AuditFilter {
            after_seq: Some(after),
            limit: Some(10_000),
            ..Default::default()
        })?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            if !w.step(r) {
                break 'walk;
            }
            after = r.seq;
        }
    }
    w.check_checkpoints(&cps, checkpoint_key)?;
    Ok(w.report)
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

struct Pending {
    records: Vec<AuditRecord>,
    uses: HashMap<(u64, u32), u64>,
    grant_uses: HashMap<u64, u64>,
    next_ticket: u64,
    committed: u64,
    leader: bool,
    failed: Option<(u64, Error)>,
    unsynced: bool,
}

/// The group-commit writer for usage records. Callers enqueue a record and wait until a
/// leader (one of the waiting callers) has committed a batch that includes it.
pub struct AuditWriter {
    store: Arc<dyn Store>,
    store_id: Vec<u8>,
    config: AuditConfig,
    state: Mutex<Pending>,
    done: Condvar,
    last_sync: Mutex<Instant>,
}

impl AuditWriter {
    pub fn new(store: Arc<dyn Store>, store_id: Vec<u8>, config: AuditConfig) -> AuditWriter {
        AuditWriter {
            store,
            store_id,
            config,
            state: Mutex::new(Pending {
                records: Vec::new(),
                uses: HashMap::new(),
                grant_uses: HashMap::new(),
                next_ticket: 1,
                committed: 0,
                leader: false,
                failed: None,
                unsynced: false,
            }),
            done: Condvar::new(),
            last_sync: Mutex::new(Instant::now()),
        }
    }

    pub fn config(&self) -> AuditConfig {
        self.config
    }

    /// Records one usage (and the use counts it implies) and returns once it is durable
    /// as configured.
    pub fn record(
        &self,
        rec: AuditRecord,
        use_of: Option<(u64, u32)>,
        grant: Option<u64>,
    ) -> Result<()> {
        let mut st = self
            .state
            .lock()
            .map_err(|_| Error::internal("audit lock"))?;
        let ticket = st.next_ticket;
        st.next_ticket += 1;
        st.records.push(rec);
        if let Some(k) = use_of {
            *st.uses.entry(k).or_insert(0) += 1;
        }
        if let Some(g) = grant {
            *st.grant_uses.entry(g).or_insert(0) += 1;
        }
        loop {
            if st.committed >= ticket {
                if let Some((upto, e)) = &st.failed {
                    if *upto >= ticket && self.config.fail_closed {
                        return Err(e.clone());
                    }
                }
                break;
            }
            if !st.leader {
                st.leader = true;
                let batch = std::mem::take(&mut st.records);
                let uses = std::mem::take(&mut st.uses);
                let grant_uses = std::mem::take(&mut st.grant_uses);
                let upto = st.next_ticket - 1;
                drop(st);
                let res = self.commit(batch, uses, grant_uses);
                st = self
                    .state
                    .lock()
                    .map_err(|_| Error::internal("audit lock"))?;
                st.leader = false;
                st.committed = upto;
                match res {
                    Ok(()) => st.unsynced = true,
                    Err(e) => {
                        let e = Error::new(
                            ErrorKind::AuditUnavailable,
                            format!("audit trail could not be written: {}", e.message()),
                        );
                        st.failed = Some((upto, e));
                    }
                }
                self.done.notify_all();
                continue;
            }
            st = self
                .done
                .wait(st)
                .map_err(|_| Error::internal("audit lock"))?;
        }
        let need_sync = st.unsynced;
        drop(st);
        if need_sync {
            self.maybe_sync()?;
        }
        Ok(())
    }

    fn commit(
        &self,
        mut batch: Vec<AuditRecord>,
        uses: HashMap<(u64, u32), u64>,
        grant_uses: HashMap<u64, u64>,
    ) -> Result<()> {
        let sid = self.store_id.clone();
        crate::core::store::write(self.store.as_ref(), |tx| {
            append_in_tx(tx, &sid, &mut batch)?;
            for ((k, v), n) in &uses {
                tx.version_add_uses(*k, *v, *n)?;
            }
            for (g, n) in &grant_uses {
                tx.grant_add_uses(*g, *n)?;
            }
            Ok(())
        })
    }

    fn maybe_sync(&self) -> Result<()> {
        let due = match self.config.durability {
            Durability::Strict => true,
            Durability::Batched { window } => self
                .last_sync
                .lock()
                .map(|t| t.elapsed() >= window)
                .unwrap_or(true),
        };
        if due {
            if let Ok(mut t) = self.last_sync.lock() {
                *t = Instant::now();
            }
            if let Ok(mut st) = self.state.lock() {
                st.unsynced = false;
            }
            self.store.sync()?;
        }
        Ok(())
    }

    /// Syncs committed records when some are not yet on disk (the background flusher).
    pub fn sync_if_pending(&self) -> Result<()> {
        let pending = self.state.lock().map(|s| s.unsynced).unwrap_or(false);
        if pending {
            if let Ok(mut st) = self.state.lock() {
                st.unsynced = false;
            }
            if let Ok(mut t) = self.last_sync.lock() {
                *t = Instant::now();
            }
            self.store.sync()?;
        }
        Ok(())
    }

    /// Syncs whatever is committed but not yet on disk (called on close).
    pub fn flush(&self) -> Result<()> {
        self.store.sync()
    }
}
