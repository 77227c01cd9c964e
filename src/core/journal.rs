//! The usage journal: how per-operation audit records leave the hot path without being lost.
//!
//! Each open store handle appends its usage records (encrypt, decrypt, sign ... allowed or
//! refused) to its own journal files (one per calling thread, up to eight per handle, so
//! threads do not wait for each other) before the operation returns, by copying it into a
//! shared memory mapping of the file (no system call; the file is pre-sized to a fixed window,
//! zeros past the last record): a record in the OS page cache survives SIGKILL, and `fdatasync`
//! writes it to disk. A record that no longer fits in the window starts a new file; the full
//! one stays locked by its handle until it is chained and removed. A background thread moves journal entries into the
//! store's hash chain in batches (one transaction per batch, with the per-version use
//! counts), records how far it got in the same transaction (so nothing is chained twice),
//! and syncs the journal every window (default 100 ms) to bound what a power loss can take
//! (on a store whose chaining commits are durable, only what the chaining has not caught up
//! with).
//! A journal whose process died (its file lock is free) is taken over by the next handle
//! that looks: at open, before audit reads, and once a second.
//!
//! Entry framing: `0xC6 | len (u32) | delta | use counts | CRC-32C (u32)`, where `delta` is the
//! record as what changed since the one before it in the file, in the entry format of audit
//! batch bodies (`batchbody`). The chaining copies such entries into a batch body as they are
//! (it checks them as a reader of the body would, and rewrites only the first of each file's
//! run of records in a batch), so a record is encoded once, by its caller, and the chaining
//! does not decode and encode it again. Entries of earlier versions (`0xC5`, a whole codec-2
//! record; `0xA5`, CRC-32, a codec-1 record) are still read. A torn tail stops the reader, and
//! so does a zero byte (the unwritten rest of the window). An entry is copied magic byte last,
//! so one half-copied when its process died reads as unwritten.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::boundary::fork::Held;
use crate::boundary::mapped::{self, MappedWindow};
use crate::core::audit::{self, AuditConfig, Durability, MAX_RECORD};
use crate::core::batchbody;
use crate::core::crc;
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::AuditRecord;
use crate::core::store::{self, Store};
use crate::core::varint;

/// First byte of an entry holding a whole record (codec 2), checked with CRC-32C: what
/// versions before delta entries wrote, still read.
const ENTRY_MAGIC: u8 = 0xC5;
/// First byte of a delta entry (the entries written now), checked with CRC-32C: the record
/// as what changed since the one before it in its file, in the entry format of audit batch
/// bodies (`batchbody`), then its use counts.
const ENTRY_MAGIC_DELTA: u8 = 0xC6;
/// First byte of an entry checked with CRC-32 (IEEE): entries written by earlier versions,
/// which a journal left by a process that died before an upgrade still holds.
const ENTRY_MAGIC_IEEE: u8 = 0xA5;
/// Most records chained in one transaction: each commit syncs the store, so under a
/// sustained backlog a pass's size sets how often the chaining waits for the disk (a query
/// decodes a whole batch, so it is not made larger still).
const MAX_BATCH: usize = 16384;
/// Start a new journal file once this much has been chained.
const ROTATE_AT: u64 = 4 * 1024 * 1024;
/// Default size of a journal file (the window its records are copied into): [`ROTATE_AT`]
/// and as much again for records written while the chaining catches up.
pub(crate) const DEFAULT_WINDOW: u64 = 2 * ROTATE_AT;
/// Smallest window: a page, and room for the largest entry.
const MIN_WINDOW: u64 = (MAX_RECORD as u64 + 9).next_multiple_of(4096);
/// Largest window.
const MAX_WINDOW: u64 = 1 << 30;

pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(payload.len() + 9);
    e.push(ENTRY_MAGIC);
    e.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    e.extend_from_slice(payload);
    e.extend_from_slice(&crc::crc32c(payload).to_be_bytes());
    e
}

/// Parses entries from `buf`; returns the payloads and the offset after the last whole,
/// valid entry (a torn or corrupt tail ends the scan).
pub fn parse_entries(buf: &[u8]) -> (Vec<&[u8]>, usize) {
    parse_entries_max(buf, usize::MAX)
}

/// [`parse_entries`], stopping after `max` entries.
pub fn parse_entries_max(buf: &[u8], max: usize) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let at = scan_entries(buf, max, |_, payload, _| {
        out.push(payload);
        Ok(())
    });
    (out, at.unwrap_or(0))
}

/// The records of a journal file's data `buf`, in order, with their use counts, and the
/// offset after the last whole, valid entry; an entry that frames a record that cannot be
/// decoded is an `Integrity` error.
pub fn decode_entries(buf: &[u8]) -> Result<(Vec<audit::DecodedRecord>, usize)> {
    let mut prev = batchbody::empty_record();
    let mut out = Vec::new();
    let end = scan_entries(buf, usize::MAX, |magic, payload, _| {
        let t = take_entry(magic, payload, &mut prev, None)?;
        out.push((prev.clone(), t.use_of, t.grant));
        Ok(())
    })?;
    Ok((out, end))
}

/// The entries a journal file holds for `records` (with their use counts), written as a
/// handle writes them: the inverse of [`decode_entries`].
pub fn encode_entries(records: &[audit::DecodedRecord]) -> Result<Vec<u8>> {
    let mut prev = batchbody::empty_record();
    let (mut out, mut buf) = (Vec::new(), Vec::new());
    for (r, use_of, grant) in records {
        let r = audit::RecordRef::of(r);
        frame_delta(&mut buf, &prev, &r, *use_of, *grant)?;
        out.extend_from_slice(&buf);
        batchbody::follow(&mut prev, &r);
    }
    Ok(out)
}

/// The scan of [`parse_entries_max`]: calls `each` with every whole, valid entry's magic
/// byte, payload and the offset after the entry, at most `max` times; returns the offset
/// after the last (or the first error of `each`).
fn scan_entries<'a>(
    buf: &'a [u8],
    max: usize,
    mut each: impl FnMut(u8, &'a [u8], usize) -> Result<()>,
) -> Result<usize> {
    let mut at = 0usize;
    let mut n = 0usize;
    while buf.len() - at >= 9 && n < max {
        let magic = buf[at];
        let check: fn(&[u8]) -> u32 = match magic {
            ENTRY_MAGIC | ENTRY_MAGIC_DELTA => crc::crc32c,
            ENTRY_MAGIC_IEEE => crc::crc32_ieee,
            _ => break,
        };
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        // No record is empty: a magic byte followed by zeros is not an entry.
        if len == 0 || len > MAX_RECORD || buf.len() - at - 9 < len {
            break;
        }
        let payload = &buf[at + 5..at + 5 + len];
        let c = &buf[at + 5 + len..at + 9 + len];
        if u32::from_be_bytes([c[0], c[1], c[2], c[3]]) != check(payload) {
            break;
        }
        at += 9 + len;
        n += 1;
        each(magic, payload, at)?;
    }
    Ok(at)
}

/// Frames record `r`, which follows `prev` in its file, as a delta entry in `buf`: magic,
/// length, the record's batch-body entry and use counts, CRC-32C.
fn frame_delta(
    buf: &mut Vec<u8>,
    prev: &AuditRecord,
    r: &audit::RecordRef<'_>,
    use_of: Option<(u64, u32)>,
    grant: Option<u64>,
) -> Result<()> {
    buf.clear();
    buf.push(ENTRY_MAGIC_DELTA);
    buf.extend_from_slice(&[0u8; 4]);
    batchbody::encode_entry(buf, &audit::RecordRef::of(prev), r);
    encode_uses(buf, r, use_of, grant);
    let len = buf.len() - 5;
    if len > MAX_RECORD {
        return Err(Error::invalid("audit record too long"));
    }
    buf[1..5].copy_from_slice(&(len as u32).to_be_bytes());
    let crc = crc::crc32c(&buf[5..]);
    buf.extend_from_slice(&crc.to_be_bytes());
    Ok(())
}

/// What a delta entry's use counts say (after its batch-body entry): no key version use,
/// one of the record's own key version, or one of the version named.
const USE_NONE: u8 = 0;
const USE_NAMED: u8 = 1;
const USE_OWN: u8 = 2;

/// Appends the use counts of a delta entry whose record is `r`.
fn encode_uses(
    o: &mut Vec<u8>,
    r: &audit::RecordRef<'_>,
    use_of: Option<(u64, u32)>,
    grant: Option<u64>,
) {
    match use_of {
        None => o.push(USE_NONE),
        Some((k, v)) if r.key_id == Some(k) && r.key_version == Some(v) => o.push(USE_OWN),
        Some((k, v)) => {
            o.push(USE_NAMED);
            varint::put(o, k);
            varint::put(o, v.into());
        }
    }
    match grant {
        None => o.push(0),
        Some(g) => {
            o.push(1);
            varint::put(o, g);
        }
    }
}

/// A journal entry read by [`take_entry`]: which of the index terms its record changed
/// (`None`: any may have), and its use counts.
struct Taken {
    changed: Option<batchbody::Changed>,
    use_of: Option<(u64, u32)>,
    grant: Option<u64>,
}

fn bad_entry(what: &str) -> Error {
    Error::integrity(format!("audit journal entry: {what}"))
}

/// Reads one journal entry (its magic byte and payload) into `prev`, the record before it
/// in its file, which becomes the entry's record. With `body`, also appends the record's
/// batch-body entry: copied as it is when the body's last record is `prev` (`None`), or
/// written as the difference from the record given.
fn take_entry(
    magic: u8,
    payload: &[u8],
    prev: &mut AuditRecord,
    body: Option<(&mut Vec<u8>, Option<&AuditRecord>)>,
) -> Result<Taken> {
    if magic != ENTRY_MAGIC_DELTA {
        let (r, use_of, grant) = audit::decode_record_ref(payload)?;
        if let Some((body, before)) = body {
            let before = audit::RecordRef::of(before.unwrap_or(&*prev));
            batchbody::encode_entry(body, &before, &r);
        }
        batchbody::follow(prev, &r);
        return Ok(Taken {
            changed: None,
            use_of,
            grant,
        });
    }
    let mut at = 0;
    let changed = batchbody::decode_entry(payload, &mut at, prev)?;
    match body {
        Some((body, None)) => body.extend_from_slice(&payload[..at]),
        Some((body, Some(before))) => batchbody::encode_entry(
            body,
            &audit::RecordRef::of(before),
            &audit::RecordRef::of(prev),
        ),
        None => {}
    }
    let num = |at: &mut usize| varint::get(payload, at).map_err(|_| bad_entry("malformed number"));
    let flag = |at: &mut usize| {
        let b = *payload.get(*at).ok_or_else(|| bad_entry("truncated"))?;
        *at += 1;
        Ok::<u8, Error>(b)
    };
    let use_of = match flag(&mut at)? {
        USE_NONE => None,
        USE_OWN => Some(
            prev.key_id
                .zip(prev.key_version)
                .ok_or_else(|| bad_entry("a use of no key version"))?,
        ),
        USE_NAMED => {
            let k = num(&mut at)?;
            let v = u32::try_from(num(&mut at)?).map_err(|_| bad_entry("malformed number"))?;
            if prev.key_id == Some(k) && prev.key_version == Some(v) {
                return Err(bad_entry("a use of the record's own key version, named"));
            }
            Some((k, v))
        }
        _ => return Err(bad_entry("malformed use count")),
    };
    let grant = match flag(&mut at)? {
        0 => None,
        1 => Some(num(&mut at)?),
        _ => return Err(bad_entry("malformed grant use")),
    };
    if at != payload.len() {
        return Err(bad_entry("trailing bytes"));
    }
    Ok(Taken {
        changed: Some(changed),
        use_of,
        grant,
    })
}

/// Counts of equal values (the key versions, the grants a chaining pass's records used):
/// runs of one value, the usual case, are counted without a hash lookup per record.
struct Tally<K> {
    run: Option<(K, u64)>,
    counts: HashMap<K, u64>,
}

impl<K> Default for Tally<K> {
    fn default() -> Self {
        Tally {
            run: None,
            counts: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq + Copy> Tally<K> {
    fn add(&mut self, k: K) {
        match &mut self.run {
            Some((r, n)) if *r == k => *n += 1,
            run => {
                if let Some((r, n)) = run.replace((k, 1)) {
                    *self.counts.entry(r).or_insert(0) += n;
                }
            }
        }
    }

    fn done(mut self) -> HashMap<K, u64> {
        if let Some((r, n)) = self.run.take() {
            *self.counts.entry(r).or_insert(0) += n;
        }
        self.counts
    }
}

struct Current {
    file: Option<Arc<File>>,
    /// The mapping of `file` records are copied into (set and cleared with `file`).
    map: Option<MappedWindow>,
    name: String,
    written: u64,
    /// Bytes written and not yet added to `written_total` (see [`REPORT_EVERY`]).
    unreported: u64,
    /// Reused encoding buffer (one copy per record, no allocation).
    buf: Vec<u8>,
    /// The last record written to `file` (the empty record for a new file): each entry
    /// holds what changed since it.
    prev: AuditRecord,
    /// Earlier files of this shard whose window filled up, oldest first: still locked by
    /// this handle, chained and removed by [`AuditWriter::ingest_own`].
    full: Vec<Full>,
    /// The process id when the files were opened ([`mapped::process_id`]): if it
    /// changed, this is a forked child's copy and the files are the parent's.
    forks: u64,
}

/// A journal file whose window filled up: how much was written to it.
struct Full {
    file: Arc<File>,
    name: String,
    written: u64,
}

impl Current {
    /// Whether this is a forked child's copy of its parent's shard.
    fn inherited(&self) -> bool {
        (self.file.is_some() || !self.full.is_empty()) && self.forks != mapped::process_id()
    }

    /// Lets go of the files without touching them (a forked child's copy of the parent's).
    fn forget(&mut self) {
        self.map = None;
        self.file = None;
        self.name.clear();
        self.written = 0;
        self.full.clear();
    }

    /// Sets the current file aside as full (its records stay to be chained).
    fn retire(&mut self) {
        self.map = None;
        if let Some(file) = self.file.take() {
            self.full.push(Full {
                file,
                name: std::mem::take(&mut self.name),
                written: self.written,
            });
        }
        self.name.clear();
        self.written = 0;
    }
}

/// Journal files per handle (one per calling thread, modulo this).
const SHARDS: usize = 8;

/// One shard's lock and state on cache lines of its own: threads writing to different
/// shards do not pull one line back and forth.
#[repr(align(128))]
struct Shard(Mutex<Current>);

impl std::ops::Deref for Shard {
    type Target = Mutex<Current>;
    fn deref(&self) -> &Mutex<Current> {
        &self.0
    }
}

/// Stretch of a journal window faulted in at once, ahead of the records copied into it.
/// A file's first stretch is left to page faults: faulting in makes the pages dirty, and a
/// handle that journals a few records should write (and sync) a few pages, not a stretch.
const PREFAULT: usize = 256 * 1024;

/// Bytes a shard writes before it adds them to the handle's shared total (and checks the
/// backlog bound): callers on different cores then update the shared counter once per
/// this many bytes, not once per record. So the backlog can pass the bound by up to this
/// much per writing thread before a caller sees it.
pub const REPORT_EVERY: u64 = 64 * 1024;

/// Takes the number a `ThreadId` hashes (threads are numbered in creation order).
struct ThreadNumber(u64);

impl std::hash::Hasher for ThreadNumber {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.wrapping_mul(31).wrapping_add(*b as u64);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The audit writer of one store handle: the journal files and their ingestion into the
/// chain.
pub struct AuditWriter {
    store: Arc<dyn Store>,
    store_id: Vec<u8>,
    config: AuditConfig,
    dir: PathBuf,
    shards: Vec<Shard>,
    /// One ingestion at a time in this handle.
    ingesting: Mutex<()>,
    /// Buffers reused by every ingestion pass.
    scratch: Mutex<Scratch>,
    unsynced: AtomicBool,
    /// Bytes of records this handle has journaled, and how many of them are chained: their
    /// difference is the backlog that [`BACKLOG_LIMIT`] bounds.
    written_total: AtomicU64,
    chained_total: AtomicU64,
    /// Every record journaled before this instant is on disk: when
    /// [`AuditWriter::sync_if_due`] last synced, or a chaining pass that caught up began
    /// (see [`AuditWriter::chained_before`]).
    last_sync: Mutex<std::time::Instant>,
    /// How many times the journal was synced (a gauge: see [`AuditWriter::syncs`]).
    syncs: AtomicU64,
    /// [`mapped::process_id`] of the process whose thread keeps the sync window (see
    /// [`AuditWriter::run_syncer`]); 0 before it starts. A forked child inherits the value
    /// but not the thread.
    syncer: AtomicU64,
    /// Set by [`AuditWriter::close`].
    closed: AtomicBool,
}

/// Most journaled bytes a handle may have waiting to be chained (about two and a half
/// million delta entries of a run of uses, under a second of chaining). Beyond it a calling thread helps: it chains
/// itself until the backlog is down to half the limit, or, while another thread is
/// chaining, waits for it (sleeping), at most [`BACKLOG_WAIT`] before it chains itself. A host
/// that keeps every core busy cannot make the journal grow without bound, nor the trail fall
/// minutes behind; sustained throughput becomes the chaining rate, with the chaining on one
/// core at full priority and the callers on the others (the background thread's lower
/// priority would otherwise leave it starved while callers run, and a core idle while they
/// wait).
pub const BACKLOG_LIMIT: u64 = 64 * 1024 * 1024;
/// Longest a caller waits for the background thread before chaining itself (a forked child
/// using its parent's handle has no background thread).
const BACKLOG_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// What an ingestion pass reuses: one read buffer per journal file, the body and index
/// term buffers, and where each file's reading stands.
#[derive(Default)]
struct Scratch {
    bufs: Vec<Vec<u8>>,
    body: Vec<u8>,
    term: Vec<u8>,
    files: Vec<FileState>,
}

/// How far a journal file is read: the offset of its next entry and the record before it
/// (which a delta entry is the difference from).
struct FileState {
    name: String,
    at: u64,
    prev: AuditRecord,
}

/// Most files whose reading state a handle keeps between passes (beyond the files of the
/// pass at hand, states are dropped past this).
const KEPT_STATES: usize = 4 * SHARDS;

/// One journal file to chain in an ingestion pass: path, name, and how far it may be read
/// (None: to its end, for journals of dead processes).
struct Source {
    path: PathBuf,
    name: String,
    limit: Option<u64>,
}

fn meta_key(name: &str) -> String {
    format!("journal:{name}")
}

fn offset_of(v: Option<Vec<u8>>) -> u64 {
    v.and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

/// Whether `path` still names the file open as `f`.
fn same_file(f: &File, path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (f.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (f, path);
        true
    }
}

/// Most bytes read from one journal file in one pass (an entry is at most
/// `MAX_RECORD + 9`, so a pass always sees at least one whole entry); room for a
/// [`MAX_BATCH`] of typical records.
const READ_CHUNK: u64 = 2 * 1024 * 1024;

impl AuditWriter {
    pub fn new(
        store: Arc<dyn Store>,
        store_id: Vec<u8>,
        config: AuditConfig,
        dir: PathBuf,
    ) -> AuditWriter {
        AuditWriter {
            store,
            store_id,
            config,
            dir,
            shards: (0..SHARDS)
                .map(|_| {
                    Shard(Mutex::new(Current {
                        file: None,
                        map: None,
                        name: String::new(),
                        written: 0,
                        unreported: 0,
                        buf: Vec::with_capacity(256),
                        prev: batchbody::empty_record(),
                        full: Vec::new(),
                        forks: 0,
                    }))
                })
                .collect(),
            ingesting: Mutex::new(()),
            scratch: Mutex::new(Scratch::default()),
            unsynced: AtomicBool::new(false),
            written_total: AtomicU64::new(0),
            chained_total: AtomicU64::new(0),
            last_sync: Mutex::new(std::time::Instant::now()),
            syncs: AtomicU64::new(0),
            syncer: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> AuditConfig {
        self.config
    }

    /// Size of each journal file's window.
    fn window(&self) -> u64 {
        self.config
            .journal_window
            .clamp(MIN_WINDOW, MAX_WINDOW)
            .next_multiple_of(4096)
    }

    /// How much of a journal file is chained before the file is replaced by a new one.
    fn rotate_at(&self) -> u64 {
        ROTATE_AT.min(self.window() / 2)
    }

    fn unavailable(e: impl std::fmt::Display) -> Error {
        Error::new(
            ErrorKind::AuditUnavailable,
            format!("audit trail could not be written: {e}"),
        )
    }

    fn open_new(&self, cur: &mut Current) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(Self::unavailable)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o700));
        }
        let mut rnd = [0u8; 6];
        crate::core::crypto::random(&mut rnd)?;
        let name = format!("{}-{}.j", std::process::id(), crate::core::seal::hex(&rnd));
        let mut o = std::fs::OpenOptions::new();
        o.create_new(true).write(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        // Created under a name takeovers ignore, locked, then renamed: a `.j` file is locked
        // by its owner from the moment it appears. (Created in place, a takeover could lock it
        // first, failing this operation, or remove it and lose what is written to it.) A
        // process killed before the rename leaves an empty `.new` file.
        let tmp = self.dir.join(format!("{name}.new"));
        let f = o.open(&tmp).map_err(Self::unavailable)?;
        // The lock tells other processes this journal has a live owner.
        f.try_lock()
            .map_err(|e| Self::unavailable(format!("journal lock: {e}")))?;
        let path = self.dir.join(&name);
        if let Err(e) = std::fs::rename(&tmp, &path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(Self::unavailable(e));
        }
        // Sized and mapped once renamed (a process killed before the rename leaves only an
        // empty file behind): still locked, so no takeover reads it in the meantime.
        let len = usize::try_from(self.window()).map_err(Self::unavailable)?;
        let map = match MappedWindow::map(&f, len) {
            Ok(m) => m,
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                return Err(Self::unavailable(format!("journal mapping: {e}")));
            }
        };
        cur.file = Some(Arc::new(f));
        cur.map = Some(map);
        cur.name = name;
        cur.written = 0;
        batchbody::follow(&mut cur.prev, &batchbody::empty());
        cur.forks = mapped::process_id();
        Ok(())
    }

    /// The calling thread's journal file: a thread always writes to the same file, so its
    /// records stay in the order it made them; threads started one after another get
    /// different files and do not wait for each other's `write`.
    fn shard(&self) -> Result<std::sync::MutexGuard<'_, Current>> {
        let mut h = ThreadNumber(0);
        std::hash::Hash::hash(&std::thread::current().id(), &mut h);
        self.shards[(h.0 % SHARDS as u64) as usize]
            .lock()
            .map_err(|_| Error::internal("journal lock"))
    }

    /// Appends one usage record; returns once it is in the journal (and synced in strict
    /// mode). With `fail_closed`, a journal that cannot be written refuses the operation.
    pub fn record(
        &self,
        rec: AuditRecord,
        use_of: Option<(u64, u32)>,
        grant: Option<u64>,
    ) -> Result<()> {
        self.record_ref(&audit::RecordRef::of(&rec), use_of, grant)
    }

    /// [`AuditWriter::record`] from borrowed fields (the per-operation path).
    pub fn record_ref(
        &self,
        rec: &audit::RecordRef<'_>,
        use_of: Option<(u64, u32)>,
        grant: Option<u64>,
    ) -> Result<()> {
        if !self.config.record_usage {
            return Ok(());
        }
        let res = (|| -> Result<bool> {
            let mut guard = self.shard()?;
            let cur = &mut *guard;
            if cur.inherited() {
                // A forked child using its parent's handle: the parent's journals are the
                // parent's to write and chain; this process starts its own.
                cur.forget();
            }
            frame_delta(&mut cur.buf, &cur.prev, rec, use_of, grant)?;
            let n = cur.buf.len() as u64;
            if cur.file.is_some() && cur.written + n > self.window() {
                cur.retire();
            }
            if cur.file.is_none() {
                self.open_new(cur)?;
                // A new file's first entry follows the empty record.
                frame_delta(&mut cur.buf, &cur.prev, rec, use_of, grant)?;
            }
            let Current {
                file,
                map,
                buf,
                written,
                prev,
                ..
            } = cur;
            let map = map.as_mut().ok_or_else(|| Error::internal("journal"))?;
            let at = usize::try_from(*written).map_err(Self::unavailable)?;
            // Entering a new stretch of the window: fault it in with one system call
            // rather than one page fault per page, and unmap the stretches before this
            // record's, which are written: the journal's sync then writes their pages back
            // without write-protecting them one by one (see `MappedWindow::release_before`).
            if at / PREFAULT != (at + buf.len()) / PREFAULT {
                map.prefault((at + buf.len()) / PREFAULT * PREFAULT, PREFAULT);
                map.release_before(at / PREFAULT * PREFAULT);
            }
            map.write_at(at, buf).map_err(Self::unavailable)?;
            if self.config.durability == Durability::Strict {
                let f = file.as_deref().ok_or_else(|| Error::internal("journal"))?;
                f.sync_data().map_err(Self::unavailable)?;
            }
            batchbody::follow(prev, rec);
            let n = buf.len() as u64;
            *written += n;
            cur.unreported += n;
            if cur.unreported < REPORT_EVERY {
                return Ok(false);
            }
            self.written_total
                .fetch_add(std::mem::take(&mut cur.unreported), Ordering::Relaxed);
            Ok(true)
        })();
        match res {
            Ok(reported) => {
                // read first: the line is written only when the flag changes
                if !self.unsynced.load(Ordering::Relaxed) {
                    self.unsynced.store(true, Ordering::Relaxed);
                }
                if reported && self.backlog() > BACKLOG_LIMIT {
                    self.hold_back();
                }
                Ok(())
            }
            Err(e) if self.config.fail_closed => Err(e),
            Err(_) => Ok(()),
        }
    }

    /// Syncs the journal when the audit window has passed since the last sync (by the clock,
    /// however long chaining took in between): the bound on what a power loss can take.
    pub fn sync_if_due(&self) -> Result<()> {
        let Durability::Batched { window } = self.config.durability else {
            return Ok(()); // Strict: every record was synced before its operation returned
        };
        {
            let mut last = self
                .last_sync
                .lock()
                .map_err(|_| Error::internal("journal sync lock"))?;
            if last.elapsed() < window {
                return Ok(());
            }
            *last = std::time::Instant::now();
        }
        self.sync_journal()
    }

    /// How long until [`AuditWriter::sync_if_due`] next has something to do (zero when it
    /// is due now); `None` in strict mode, where every record is synced as it is written.
    pub fn next_sync_in(&self) -> Option<std::time::Duration> {
        let Durability::Batched { window } = self.config.durability else {
            return None;
        };
        let last = *self.last_sync.lock().unwrap_or_else(|p| p.into_inner());
        Some(window.saturating_sub(last.elapsed()))
    }

    /// The sync thread's loop: syncs the journal each time the audit window falls due,
    /// until the handle is closed or dropped (`audit` is the thread's weak reference).
    /// It runs at normal priority and does nothing else, so the power-loss bound holds
    /// however starved the chaining thread is (it yields the CPU to busy callers) or however
    /// long a chaining pass waits for the store (another process's write lock, a slow disk).
    pub fn run_syncer(audit: std::sync::Weak<AuditWriter>) {
        const LEAST: std::time::Duration = std::time::Duration::from_millis(1);
        const MOST: std::time::Duration = std::time::Duration::from_millis(100);
        loop {
            let wait = {
                let Some(a) = audit.upgrade() else { return };
                if a.is_closed() {
                    return;
                }
                a.syncer.store(mapped::process_id(), Ordering::Relaxed);
                let _ = a.sync_if_due();
                match a.next_sync_in() {
                    Some(d) => d.clamp(LEAST, MOST),
                    None => return, // strict: nothing to keep
                }
            };
            // Woken at least every MOST to notice a closed handle.
            std::thread::sleep(wait);
        }
    }

    /// How many times this handle synced its journal files so far: a gauge of what the
    /// power-loss bound costs (each sync writes the journal's new pages to disk).
    pub fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    /// Every record journaled before `cut` is chained. Where the store's chaining commits
    /// are durable as they commit, those records are on disk already: the journal's next
    /// sync falls due a window after `cut`, not after the last sync. A chaining that keeps
    /// up therefore never syncs the journal, which would write-protect the pages the
    /// callers are writing (each then faults again, and every core running the process
    /// has its TLB flushed), for records the store already holds.
    fn chained_before(&self, cut: std::time::Instant) -> Result<()> {
        if self.store.quiet_writes_durable() {
            let mut last = self
                .last_sync
                .lock()
                .map_err(|_| Error::internal("journal sync lock"))?;
            if cut > *last {
                *last = cut;
            }
        }
        Ok(())
    }

    /// Syncs the journal if records were added since the last sync (the power-loss bound).
    /// The files are synced outside the shard locks, so writers do not wait for the disk.
    pub fn sync_journal(&self) -> Result<()> {
        if self.unsynced.swap(false, Ordering::Relaxed) {
            let mut files = Vec::new();
            for s in &self.shards {
                let cur = s.lock().map_err(|_| Error::internal("journal lock"))?;
                if cur.inherited() {
                    continue;
                }
                files.extend(cur.full.iter().map(|f| f.file.clone()));
                if let Some(f) = &cur.file {
                    files.push(f.clone());
                }
            }
            for f in files {
                f.sync_data()?;
            }
            self.syncs.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// This handle's journal files and how much of each was written, taken while holding
    /// every shard lock at once (a consistent cut across the files): each shard's full files
    /// (oldest first) and the current files. A forked child's copies of its parent's shards
    /// are left out (those files are the parent's to chain).
    fn snapshot(&self) -> Result<(Vec<Vec<Source>>, Vec<Source>)> {
        let mut guards = Vec::with_capacity(self.shards.len());
        for s in &self.shards {
            guards.push(s.lock().map_err(|_| Error::internal("journal lock"))?);
        }
        let source = |name: &str, written: u64| Source {
            path: self.dir.join(name),
            name: name.to_string(),
            limit: Some(written),
        };
        let mine = || guards.iter().filter(|c| !c.inherited());
        let full = mine()
            .filter(|c| !c.full.is_empty())
            .map(|c| c.full.iter().map(|f| source(&f.name, f.written)).collect())
            .collect();
        let current = mine()
            .filter(|c| !c.name.is_empty() && c.file.is_some())
            .map(|c| source(&c.name, c.written))
            .collect();
        Ok((full, current))
    }

    /// Chains `sources` up to their limits (or as far as whole entries go); returns the
    /// offset reached in each.
    fn chain(&self, sources: &[Source], enough: &dyn Fn() -> bool) -> Result<Vec<u64>> {
        let mut done = self.ingest_files(sources)?;
        loop {
            let pending = sources
                .iter()
                .zip(&done)
                .any(|(s, d)| s.limit.is_some_and(|l| *d < l));
            if !pending || enough() {
                break;
            }
            // A long pass (a backlog) must not hold back the journal's sync: the sync
            // thread keeps the window whatever the chaining does; without one (a forked
            // child), the chaining keeps it between its passes.
            if self.syncer.load(Ordering::Relaxed) != mapped::process_id() {
                self.sync_if_due()?;
            }
            let next = self.ingest_files(sources)?;
            if next == done {
                break; // a torn tail: the rest is not whole yet
            }
            done = next;
        }
        Ok(done)
    }

    /// Chains every journal entry of this handle not yet in the store.
    pub fn ingest_own(&self) -> Result<()> {
        let _g = self
            .ingesting
            .lock()
            .map_err(|_| Error::internal("ingest lock"))?;
        self.ingest_own_locked(&|| false)
    }

    /// [`AuditWriter::ingest_own`] under the ingest lock, stopping early (between chaining
    /// passes) once `enough` says so.
    fn ingest_own_locked(&self, enough: &dyn Fn() -> bool) -> Result<()> {
        // Every record journaled before this instant is in the snapshot.
        let cut = std::time::Instant::now();
        let (mut full, sources) = self.snapshot()?;
        // Full files first, each shard's one after the other: their records are older than
        // the next file's (a thread's records stay in order). Each round chains the oldest
        // full file of every shard that has one; once chained and synced, they are removed.
        for f in &mut full {
            f.reverse();
        }
        loop {
            if enough() {
                return Ok(());
            }
            let round: Vec<Source> = full.iter_mut().filter_map(|f| f.pop()).collect();
            if round.is_empty() {
                break;
            }
            // A full file is chained whole: it is removed next.
            let done = self.chain(&round, &|| false)?;
            if round.iter().zip(&done).any(|(s, d)| s.limit != Some(*d)) {
                // Later records wait for these (and nothing may be removed meanwhile).
                return Err(Error::internal("a full journal file could not be chained"));
            }
            self.store.sync()?;
            for s in &round {
                self.remove_full(s)?;
            }
        }
        if sources.is_empty() {
            self.chained_before(cut)?;
            return Ok(());
        }
        let done = self.chain(&sources, enough)?;
        if sources
            .iter()
            .zip(&done)
            .all(|(s, d)| s.limit.is_none_or(|l| *d >= l))
        {
            self.chained_before(cut)?;
        }
        let rotate_at = self.rotate_at();
        for (s, d) in sources.iter().zip(&done) {
            if *d < rotate_at {
                continue;
            }
            // Everything chained and synced: start a new file and drop the old one.
            self.store.sync()?;
            for shard in &self.shards {
                let mut cur = shard.lock().map_err(|_| Error::internal("journal lock"))?;
                if cur.name == s.name && cur.written == *d && !cur.inherited() {
                    cur.map = None;
                    let file = cur.file.take();
                    cur.name.clear();
                    cur.written = 0;
                    let _ = std::fs::remove_file(&s.path);
                    drop(cur);
                    let key = meta_key(&s.name);
                    store::write(self.store.as_ref(), |tx| tx.meta_delete(&key))?;
                    // The file lock goes last, once the file and its offset are gone.
                    drop(file);
                }
            }
        }
        Ok(())
    }

    /// Waits while the backlog is over [`BACKLOG_LIMIT`] (see there). The caller's record is
    /// journaled already, so a failure to chain only leaves the backlog.
    fn hold_back(&self) {
        let t0 = std::time::Instant::now();
        let half = || self.backlog() <= BACKLOG_LIMIT / 2;
        while self.backlog() > BACKLOG_LIMIT {
            match self.ingesting.try_lock() {
                Ok(_g) => {
                    let _ = self.ingest_own_locked(&half);
                    return;
                }
                Err(std::sync::TryLockError::Poisoned(_)) => return,
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            if t0.elapsed() >= BACKLOG_WAIT {
                let _ = self.ingest_own();
                return;
            }
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
    }

    /// Journaled bytes of this handle not yet known to be chained (each shard adds its
    /// bytes every [`REPORT_EVERY`], so up to that much per shard is counted late).
    pub fn backlog(&self) -> u64 {
        self.written_total
            .load(Ordering::Relaxed)
            .saturating_sub(self.chained_total.load(Ordering::Relaxed))
    }

    /// Removes a full file that is chained (and the store synced) and its recorded offset.
    fn remove_full(&self, s: &Source) -> Result<()> {
        for shard in &self.shards {
            let mut cur = shard.lock().map_err(|_| Error::internal("journal lock"))?;
            let Some(i) = cur.full.iter().position(|f| f.name == s.name) else {
                continue;
            };
            let f = cur.full.remove(i);
            drop(cur);
            let _ = std::fs::remove_file(&s.path);
            let key = meta_key(&s.name);
            store::write(self.store.as_ref(), |tx| tx.meta_delete(&key))?;
            // The file lock goes last, once the file and its offset are gone.
            drop(f);
            break;
        }
        Ok(())
    }

    /// One ingestion pass: chains the next entries of each source (from the offset the
    /// store recorded for it, at most [`MAX_BATCH`] in all), each file's as a run in file
    /// order, in one transaction. Returns the offset reached in each file.
    fn ingest_files(&self, sources: &[Source]) -> Result<Vec<u64>> {
        let keys: Vec<String> = sources.iter().map(|s| meta_key(&s.name)).collect();
        let from: Vec<u64> = store::read(self.store.as_ref(), |tx| {
            keys.iter()
                .map(|k| Ok(offset_of(tx.meta_get(k)?)))
                .collect::<Result<Vec<u64>>>()
        })?;
        let mut guard = self
            .scratch
            .lock()
            .map_err(|_| Error::internal("ingest scratch lock"))?;
        let Scratch {
            bufs,
            body,
            term,
            files,
        } = &mut *guard;
        if bufs.len() < sources.len() {
            bufs.resize_with(sources.len(), Vec::new);
        }
        // Each file's reading state at its recorded offset (read again from the start when
        // this handle has none there: a journal taken over, or a pass that did not commit).
        let mut state = Vec::with_capacity(sources.len());
        for (s, start) in sources.iter().zip(&from) {
            let i = match files.iter().position(|f| f.name == s.name) {
                Some(i) => i,
                None => {
                    files.push(FileState {
                        name: s.name.clone(),
                        at: u64::MAX,
                        prev: batchbody::empty_record(),
                    });
                    files.len() - 1
                }
            };
            if files[i].at != *start {
                Self::read_up_to(s, *start, &mut files[i])?;
            }
            state.push(i);
        }
        // A file gone before its state could be read is left alone (its state stays unread).
        let ready: Vec<bool> = state
            .iter()
            .zip(&from)
            .map(|(&i, f)| files[i].at == *f)
            .collect();
        // Read what each file holds past its offset (a bounded chunk), into reused buffers.
        for (((s, start), buf), ok) in sources.iter().zip(&from).zip(bufs.iter_mut()).zip(&ready) {
            buf.clear();
            if s.limit.is_some_and(|l| l <= *start) || !ok {
                continue;
            }
            let Ok(mut f) = File::open(&s.path) else {
                continue;
            };
            f.seek(SeekFrom::Start(*start))?;
            let want = match s.limit {
                Some(l) => (l - start).min(READ_CHUNK),
                None => READ_CHUNK,
            };
            buf.reserve(want as usize);
            (&mut f).take(want).read_to_end(buf)?;
        }
        // The batch: each file's entries in file order (a thread's records are in one file,
        // in the order it made them), one file after the other. A delta entry is copied into
        // the body as it is when it follows its file's previous record there; the first of
        // each file's run is written again as the difference from the body's last record.
        body.clear();
        body.push(batchbody::V3);
        let mut index = audit::BatchIndex::new();
        let mut uses = Tally::default();
        let mut grants = Tally::default();
        let mut count = 0usize;
        let mut to = from.clone();
        let mut last: Option<usize> = None;
        let mut res = Ok(());
        for (i, buf) in bufs.iter().enumerate().take(sources.len()) {
            if count >= MAX_BATCH || res.is_err() {
                break;
            }
            if buf.is_empty() {
                continue;
            }
            // The record the body ends with (the first entry of this run follows it).
            let before = match last {
                Some(j) => files[state[j]].prev.clone(),
                None => batchbody::empty_record(),
            };
            let st = &mut files[state[i]];
            let mut first = true;
            let scanned = scan_entries(buf, MAX_BATCH - count, |magic, payload, end| {
                let into = if first { Some(&before) } else { None };
                let t = take_entry(magic, payload, &mut st.prev, Some((body, into)))?;
                index.add(
                    &audit::RecordRef::of(&st.prev),
                    if first { None } else { t.changed },
                    term,
                );
                if let Some(k) = t.use_of {
                    uses.add(k);
                }
                if let Some(g) = t.grant {
                    grants.add(g);
                }
                first = false;
                count += 1;
                to[i] = from[i] + end as u64;
                Ok(())
            });
            if !first {
                last = Some(i);
            }
            if let Err(e) = scanned {
                res = Err(e);
            }
        }
        // The states now stand where this pass read to: right only once it commits.
        for &i in &state {
            files[i].at = u64::MAX;
        }
        res?;
        // The states of the files read stand at `at` once this pass is over.
        let settle = |files: &mut Vec<FileState>, at: &[u64]| {
            for ((&i, a), ok) in state.iter().zip(at).zip(&ready) {
                if *ok {
                    files[i].at = *a;
                }
            }
        };
        if count == 0 {
            settle(files, &from);
            return Ok(from);
        }
        let (uses, grants) = (uses.done(), grants.done());
        let sid = &self.store_id;
        let applied = store::write_quiet(self.store.as_ref(), |tx| {
            // Re-check inside the transaction: another handle may have taken a file over.
            for (k, f) in keys.iter().zip(&from) {
                if offset_of(tx.meta_get(k)?) != *f {
                    return Ok(false);
                }
            }
            audit::append_body_in_tx(tx, sid, body, count as u64, &index)?;
            for ((k, v), n) in &uses {
                tx.version_add_uses(*k, *v, *n)?;
            }
            for (g, n) in &grants {
                tx.grant_add_uses(*g, *n)?;
            }
            for ((k, f), t) in keys.iter().zip(&from).zip(&to) {
                if t != f {
                    tx.meta_put(k, &t.to_be_bytes())?;
                }
            }
            Ok(true)
        })?;
        if !applied {
            return Ok(from);
        }
        settle(files, &to);
        if files.len() > KEPT_STATES {
            files.retain(|f| sources.iter().any(|s| s.name == f.name));
        }
        if sources.iter().all(|s| s.limit.is_some()) {
            // This handle's own files (a dead process's have no limit): count what was
            // chained against the backlog.
            let n: u64 = to
                .iter()
                .zip(&from)
                .map(|(t, f)| t.saturating_sub(*f))
                .sum();
            self.chained_total.fetch_add(n, Ordering::Relaxed);
        }
        Ok(to)
    }

    /// Reads journal file `s` from its start up to `offset` (which must end an entry) into
    /// `st`: the record before the entry at `offset`.
    /// A file that cannot be opened (removed meanwhile) is left unread (`st.at` unchanged).
    fn read_up_to(s: &Source, offset: u64, st: &mut FileState) -> Result<()> {
        batchbody::follow(&mut st.prev, &batchbody::empty());
        if offset > 0 {
            let Ok(f) = File::open(&s.path) else {
                return Ok(());
            };
            let mut data = Vec::new();
            f.take(offset).read_to_end(&mut data)?;
            let end = scan_entries(&data, usize::MAX, |magic, payload, _| {
                take_entry(magic, payload, &mut st.prev, None).map(|_| ())
            })?;
            if end as u64 != offset {
                return Err(Error::integrity(format!(
                    "audit journal {}: no entry ends at the chained offset {offset}",
                    s.name
                )));
            }
        }
        st.at = offset;
        Ok(())
    }

    /// Takes over the journals of processes that died, chaining what they left.
    pub fn ingest_orphans(&self) -> Result<u64> {
        let own: Vec<String> = self
            .shards
            .iter()
            .filter_map(|s| {
                s.lock().ok().map(|c| {
                    let mut names: Vec<String> = c.full.iter().map(|f| f.name.clone()).collect();
                    names.push(c.name.clone());
                    names
                })
            })
            .flatten()
            .filter(|n| !n.is_empty())
            .collect();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(0);
        };
        // Oldest first: a thread whose window filled up has several files, and its records
        // are chained in the order it made them.
        let mut found: Vec<(std::time::SystemTime, String, PathBuf)> = rd
            .flatten()
            .filter_map(|ent| {
                let name = ent.file_name().to_string_lossy().to_string();
                if !name.ends_with(".j") || own.contains(&name) {
                    return None;
                }
                let m = ent.metadata().ok()?;
                let born = m.created().or_else(|_| m.modified()).ok()?;
                Some((born, name, ent.path()))
            })
            .collect();
        found.sort();
        let mut n = 0;
        for (_, name, path) in found {
            let Ok(f) = File::open(&path) else { continue };
            if f.try_lock().is_err() {
                continue; // its owner is alive
            }
            if !same_file(&f, &path) {
                continue; // removed (by whoever chained it) between the open and the lock
            }
            let src = [Source {
                path: path.clone(),
                name: name.clone(),
                limit: None,
            }];
            let mut at = self.ingest_files(&src)?;
            loop {
                let next = self.ingest_files(&src)?;
                if next == at {
                    break;
                }
                at = next;
            }
            self.store.sync()?;
            let _ = std::fs::remove_file(&path);
            let key = meta_key(&name);
            store::write(self.store.as_ref(), |tx| tx.meta_delete(&key))?;
            drop(f);
            n += 1;
        }
        Ok(n)
    }

    /// Chains everything this handle journaled and everything dead processes left.
    pub fn flush(&self) -> Result<()> {
        self.ingest_own()?;
        self.ingest_orphans()?;
        self.sync_journal()
    }

    /// Waits for a chaining pass in progress and holds new ones back while the guards live
    /// (a fork: see `boundary::fork`). Taken before the store is paused, as a pass calls it.
    pub fn hold_passes(&self) -> Vec<Box<dyn Held + '_>> {
        vec![
            Box::new(self.ingesting.lock().unwrap_or_else(|p| p.into_inner())),
            // orphan takeovers chain without the ingest lock
            Box::new(self.scratch.lock().unwrap_or_else(|p| p.into_inner())),
        ]
    }

    /// The journal's short-held locks (files, sync time), held while the guards live (a
    /// fork). None is held while calling the store, so they are taken after it is paused.
    pub fn hold_files(&self) -> Vec<Box<dyn Held + '_>> {
        let mut held: Vec<Box<dyn Held + '_>> = self
            .shards
            .iter()
            .map(|s| Box::new(s.lock().unwrap_or_else(|p| p.into_inner())) as Box<dyn Held>)
            .collect();
        held.push(Box::new(
            self.last_sync.lock().unwrap_or_else(|p| p.into_inner()),
        ));
        held
    }

    /// Whether this handle has journal entries not yet chained.
    pub fn pending(&self) -> bool {
        self.shards.iter().any(|s| {
            s.lock()
                .map(|c| {
                    !c.inherited() && (!c.full.is_empty() || (c.written > 0 && c.file.is_some()))
                })
                .unwrap_or(false)
        })
    }
}

impl AuditWriter {
    /// Chains what is left and removes the journals (if this fails the next handle takes
    /// the files over). Called when the handle closes, on the closing thread, so that what
    /// the handle recorded is in the trail when its last user lets it go; once only.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.ingest_own().is_ok() && self.store.sync().is_ok() {
            for s in &self.shards {
                let (file, name) = match s.lock() {
                    Ok(mut cur) if cur.inherited() => {
                        // A forked child's copy: the parent's files, not ours to remove.
                        cur.forget();
                        continue;
                    }
                    Ok(mut cur) => {
                        cur.map = None;
                        (cur.file.take(), std::mem::take(&mut cur.name))
                    }
                    Err(_) => continue,
                };
                if name.is_empty() {
                    continue;
                }
                let _ = std::fs::remove_file(self.dir.join(&name));
                let key = meta_key(&name);
                let _ = store::write(self.store.as_ref(), |tx| tx.meta_delete(&key));
                drop(file);
            }
        }
    }

    /// Whether [`AuditWriter::close`] ran (the background thread then stops).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::batchbody::tests::rec;

    /// An entry as versions before CRC-32C wrote it.
    fn frame_ieee(payload: &[u8]) -> Vec<u8> {
        let mut e = vec![ENTRY_MAGIC_IEEE];
        e.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        e.extend_from_slice(payload);
        e.extend_from_slice(&crc::crc32_ieee(payload).to_be_bytes());
        e
    }

    /// An entry with `magic` around `payload`, checked with CRC-32C.
    fn frame_as(magic: u8, payload: &[u8]) -> Vec<u8> {
        let mut e = frame(payload);
        e[0] = magic;
        e
    }

    fn sample() -> Vec<audit::DecodedRecord> {
        let mut denied = rec(9, "ops", Some(7), "4242-9-3");
        denied.outcome = crate::core::model::Outcome::Denied;
        denied.error = "access denied".into();
        denied.context = "tenant=\u{e9}".into();
        vec![
            (rec(5, "app", Some(7), "4242-5-1"), Some((7, 1)), None),
            (rec(8, "app", Some(7), "4242-8-2"), Some((7, 1)), Some(3)),
            (denied, None, None),
            (rec(7, "app", None, "4242-7-4"), Some((9, 2)), None),
            (
                rec(i64::MIN, "", Some(u64::MAX), ""),
                Some((u64::MAX, u32::MAX)),
                Some(u64::MAX),
            ),
        ]
    }

    #[test]
    fn delta_entries_round_trip_and_are_small() {
        let recs = sample();
        let b = encode_entries(&recs).unwrap();
        assert_eq!(b[0], ENTRY_MAGIC_DELTA);
        assert_eq!(decode_entries(&b).unwrap(), (recs.clone(), b.len()));
        // a torn tail ends the data after the last whole entry, whatever it was
        let ends: Vec<usize> = {
            let mut v = Vec::new();
            scan_entries(&b, usize::MAX, |_, _, end| {
                v.push(end);
                Ok(())
            })
            .unwrap();
            v
        };
        for n in 0..b.len() {
            let (got, end) = decode_entries(&b[..n]).unwrap();
            let whole = ends.iter().filter(|e| **e <= n).count();
            assert_eq!(
                (got.len(), end),
                (whole, if whole == 0 { 0 } else { ends[whole - 1] })
            );
            assert_eq!(got, recs[..whole]);
        }
        // a run of uses by one caller: about a third of a whole codec-2 entry each
        let run: Vec<audit::DecodedRecord> = (0..1000)
            .map(|i| {
                let t = 1_700_000_000_000_000 + 3 * i;
                (
                    rec(t, "app", Some(7), &format!("4242-{t}-{i}")),
                    Some((7, 1)),
                    None,
                )
            })
            .collect();
        let delta = encode_entries(&run).unwrap().len();
        let whole: usize = run
            .iter()
            .map(|(r, u, g)| frame(&audit::encode_record(r, *u, *g)).len())
            .sum();
        assert!(delta * 3 < whole, "{delta} bytes against {whole}");
        assert_eq!(
            decode_entries(&encode_entries(&run).unwrap()).unwrap().0,
            run
        );
    }

    #[test]
    fn delta_entries_follow_whole_entries_of_earlier_versions() {
        // A file an earlier version began (whole records) and this one went on with would
        // not occur, but a reader takes any mix: each entry follows the record before it.
        let recs = sample();
        let mut b = frame(&audit::encode_record(&recs[0].0, recs[0].1, recs[0].2));
        b.extend(frame_ieee(&audit::encode_record_v1(
            &recs[1].0, recs[1].1, recs[1].2,
        )));
        let rest = encode_entries(&recs).unwrap();
        // the delta entries of records 2.. as written after record 1
        let mut prev = recs[1].0.clone();
        for (r, u, g) in &recs[2..] {
            let mut e = Vec::new();
            frame_delta(&mut e, &prev, &audit::RecordRef::of(r), *u, *g).unwrap();
            b.extend(e);
            batchbody::follow(&mut prev, &audit::RecordRef::of(r));
        }
        assert_ne!(b, rest);
        assert_eq!(decode_entries(&b).unwrap(), (recs, b.len()));
    }

    #[test]
    fn malformed_delta_entries_are_refused() {
        let r = rec(5, "app", Some(7), "4242-5-1");
        let mut delta = Vec::new();
        batchbody::encode_entry(&mut delta, &batchbody::empty(), &audit::RecordRef::of(&r));
        let with = |uses: &[u8]| {
            let mut p = delta.clone();
            p.extend_from_slice(uses);
            decode_entries(&frame_as(ENTRY_MAGIC_DELTA, &p))
        };
        assert_eq!(with(&[USE_OWN, 0]).unwrap().0[0].1, Some((7, 1)));
        assert_eq!(
            with(&[USE_NAMED, 7, 2, 1, 4]).unwrap().0[0],
            (r.clone(), Some((7, 2)), Some(4))
        );
        for (uses, what) in [
            (&[USE_NAMED, 7, 1, 0][..], "own key version, named"),
            (&[3, 0], "use count"),
            (&[USE_NONE, 2], "grant use"),
            (&[USE_NONE, 0, 0], "trailing bytes"),
            (&[USE_NONE], "truncated"),
            (&[USE_NAMED, 0x80, 0, 1, 0], "malformed number"),
        ] {
            let e = with(uses).unwrap_err();
            assert!(e.to_string().contains(what), "{what}: {e}");
        }
        // a use of the record's own version, when the record has none
        let mut p = Vec::new();
        batchbody::encode_entry(
            &mut p,
            &batchbody::empty(),
            &audit::RecordRef::of(&rec(5, "app", None, "x")),
        );
        p.extend_from_slice(&[USE_OWN, 0]);
        assert!(decode_entries(&frame_as(ENTRY_MAGIC_DELTA, &p)).is_err());
        // a body entry the body's reader refuses (a field marked changed that is not)
        let mut p = delta.clone();
        p.extend_from_slice(&[USE_NONE, 0]);
        let mut b = frame_as(ENTRY_MAGIC_DELTA, &p);
        b.extend(frame_as(ENTRY_MAGIC_DELTA, &[1, 0, 1, 0, 0, USE_NONE, 0]));
        assert!(decode_entries(&b).is_err());
    }

    #[test]
    fn entries_of_earlier_versions_are_still_read() {
        let mut b = frame_ieee(b"old");
        b.extend(frame(b"new"));
        assert_eq!(b[0], ENTRY_MAGIC_IEEE);
        assert_eq!(b[b.len() - 12], ENTRY_MAGIC);
        let whole = b.len();
        b.resize(whole + 64, 0);
        assert_eq!(parse_entries(&b), (vec![&b"old"[..], &b"new"[..]], whole));
        // Each checksum is checked as its first byte says: swapped, neither entry reads.
        let mut swapped = frame(b"new");
        swapped[0] = ENTRY_MAGIC_IEEE;
        assert_eq!(parse_entries(&swapped).1, 0);
        let mut swapped = frame_ieee(b"old");
        swapped[0] = ENTRY_MAGIC;
        assert_eq!(parse_entries(&swapped).1, 0);
    }

    #[test]
    fn tally_counts_runs_and_scattered_values() {
        let mut t = Tally::default();
        for k in [1, 1, 2, 1, 3, 3, 3, 2] {
            t.add(k);
        }
        let mut got: Vec<(i32, u64)> = t.done().into_iter().collect();
        got.sort();
        assert_eq!(got, vec![(1, 3), (2, 2), (3, 3)]);
        assert!(Tally::<u8>::default().done().is_empty());
    }

    #[test]
    fn torn_tail_stops_the_scan() {
        let mut b = frame(b"one");
        b.extend(frame(b"two"));
        let whole = b.len();
        b.extend(&frame(b"three")[..6]);
        let (e, used) = parse_entries(&b);
        assert_eq!(e, vec![&b"one"[..], &b"two"[..]]);
        assert_eq!(used, whole);
        let mut c = frame(b"x");
        let n = c.len();
        c[n - 1] ^= 1;
        assert_eq!(parse_entries(&c).0.len(), 0);
    }

    #[test]
    fn zero_padding_ends_the_data() {
        // A pre-sized journal: entries, then zeros; or a magic byte alone before the zeros.
        let mut b = frame(b"one");
        let whole = b.len();
        b.resize(whole + 4096, 0);
        assert_eq!(parse_entries(&b), (vec![&b"one"[..]], whole));
        b[whole] = ENTRY_MAGIC;
        assert_eq!(parse_entries(&b), (vec![&b"one"[..]], whole));
        assert_eq!(parse_entries(&[0u8; 64]).1, 0);
    }
}
