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

/// Walks the chain (in pages) and checks every link, then every checkpoint.
/// `retained_from` is the sequence number the retention policy starts at (records before
/// it were purged on purpose and their last hash is anchored in meta).
pub fn verify(
    tx: &mut dyn Tx,
    store_id: &[u8],
    checkpoint_key: Option<&[u8]>,
) -> Result<VerifyReport> {
    let anchor = tx.meta_get("audit_anchor")?;
    let (anchor_seq, anchor_hash) = match anchor {
        Some(a) if a.len() >= 8 => (
            u64::from_be_bytes(a[..8].try_into().unwrap_or([0; 8])),
            a[8..].to_vec(),
        ),
        _ => (0, Vec::new()),
    };
    let mut rep = VerifyReport {
        records: 0,
        first_seq: 0,
        last_seq: 0,
        checkpoints: 0,
        problem: None,
    };
    let mut expect_seq = anchor_seq + 1;
    let mut prev = anchor_hash;
    let mut hashes_at: HashMap<u64, Vec<u8>> = HashMap::new();
    let cps = tx.checkpoints()?;
    let cp_seqs: std::collections::HashSet<u64> = cps.iter().map(|c| c.seq).collect();
    let mut after = anchor_seq;
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
            if rep.records == 0 {
                rep.first_seq = r.seq;
            }
            rep.records += 1;
            rep.last_seq = r.seq;
            if r.seq != expect_seq {
                let what = if r.seq > expect_seq {
                    format!("record {expect_seq} is missing (next present is {})", r.seq)
                } else {
                    format!("record {} is out of order", r.seq)
                };
                rep.problem = Some((expect_seq, what));
                break 'walk;
            }
            if r.prev_hash != prev {
                rep.problem = Some((
                    r.seq,
                    format!(
                        "record {} does not link to its predecessor (removed, inserted or reordered record)",
                        r.seq
                    ),
                ));
                break 'walk;
            }
            let h = record_hash(store_id, &r.prev_hash, r);
            if h != r.hash {
                rep.problem = Some((r.seq, format!("record {} was altered", r.seq)));
                break 'walk;
            }
            if cp_seqs.contains(&r.seq) {
                hashes_at.insert(r.seq, h.clone());
            }
            prev = h;
            expect_seq += 1;
            after = r.seq;
        }
    }
    if rep.problem.is_none() {
        for c in &cps {
            rep.checkpoints += 1;
            if c.seq <= anchor_seq {
                continue;
            }
            if c.seq > rep.last_seq {
                rep.problem = Some((
                    c.seq,
                    format!(
                        "checkpoint at record {} but the trail ends at {} (tail truncated)",
                        c.seq, rep.last_seq
                    ),
                ));
                break;
            }
            if hashes_at.get(&c.seq) != Some(&c.head_hash) {
                rep.problem = Some((
                    c.seq,
                    format!("checkpoint at record {} does not match the chain", c.seq),
                ));
                break;
            }
            if let Some(key) = checkpoint_key {
                let want = checkpoint_mac(key, store_id, c.seq, &c.head_hash, c.time)?;
                if !crypto::ct_eq(&want, &c.mac) {
                    rep.problem = Some((
                        c.seq,
                        format!("checkpoint at record {} has a bad signature", c.seq),
                    ));
                    break;
                }
            }
        }
    }
    Ok(rep)
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
