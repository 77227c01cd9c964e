//! The usage journal: how per-operation audit records leave the hot path without being lost.
//!
//! Each open store handle appends its usage records (encrypt, decrypt, sign ... allowed or
//! refused) to its own journal file with one `write` before the operation returns; a record
//! in the OS page cache survives SIGKILL. A background thread moves journal entries into the
//! store's hash chain in batches (one transaction per batch, with the per-version use
//! counts), records how far it got in the same transaction (so nothing is chained twice),
//! and syncs the journal every window (default 100 ms) to bound what a power loss can take.
//! A journal whose process died (its file lock is free) is taken over by the next handle
//! that looks: at open, before audit reads, and once a second.
//!
//! Entry framing: `0xA5 | len (u32) | record (audit::encode_record) | CRC-32 (u32)`; a torn
//! tail stops the reader.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::core::audit::{self, decode_record, encode_record, AuditConfig, Durability, MAX_RECORD};
use crate::core::error::{Error, ErrorKind, Result};
use crate::core::model::AuditRecord;
use crate::core::store::{self, Store};

const ENTRY_MAGIC: u8 = 0xA5;
/// Most records chained in one transaction.
const MAX_BATCH: usize = 512;
/// Start a new journal file once this much has been chained.
const ROTATE_AT: u64 = 4 * 1024 * 1024;

const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// CRC-32 (IEEE), table-driven: detects torn or corrupt journal tails.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for b in data {
        crc = CRC_TABLE[((crc ^ *b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

pub(crate) fn frame(payload: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(payload.len() + 9);
    e.push(ENTRY_MAGIC);
    e.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    e.extend_from_slice(payload);
    e.extend_from_slice(&crc32(payload).to_be_bytes());
    e
}

/// Parses entries from `buf`; returns the payloads and the offset after the last whole,
/// valid entry (a torn or corrupt tail ends the scan).
pub fn parse_entries(buf: &[u8]) -> (Vec<&[u8]>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while buf.len() - at >= 9 {
        if buf[at] != ENTRY_MAGIC {
            break;
        }
        let len = u32::from_be_bytes([buf[at + 1], buf[at + 2], buf[at + 3], buf[at + 4]]) as usize;
        if len > MAX_RECORD || buf.len() - at - 9 < len {
            break;
        }
        let payload = &buf[at + 5..at + 5 + len];
        let c = &buf[at + 5 + len..at + 9 + len];
        if u32::from_be_bytes([c[0], c[1], c[2], c[3]]) != crc32(payload) {
            break;
        }
        out.push(payload);
        at += 9 + len;
    }
    (out, at)
}

struct Current {
    file: Option<File>,
    name: String,
    written: u64,
}

/// The audit writer of one store handle: the journal file and its ingestion into the chain.
pub struct AuditWriter {
    store: Arc<dyn Store>,
    store_id: Vec<u8>,
    config: AuditConfig,
    dir: PathBuf,
    current: Mutex<Current>,
    /// One ingestion at a time in this handle.
    ingesting: Mutex<()>,
    unsynced: AtomicBool,
}

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
            current: Mutex::new(Current {
                file: None,
                name: String::new(),
                written: 0,
            }),
            ingesting: Mutex::new(()),
            unsynced: AtomicBool::new(false),
        }
    }

    pub fn config(&self) -> AuditConfig {
        self.config
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
        o.create_new(true).append(true).read(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(0o600);
        }
        let f = o.open(self.dir.join(&name)).map_err(Self::unavailable)?;
        // The lock tells other processes this journal has a live owner.
        f.try_lock()
            .map_err(|e| Self::unavailable(format!("journal lock: {e}")))?;
        cur.file = Some(f);
        cur.name = name;
        cur.written = 0;
        Ok(())
    }

    /// Appends one usage record; returns once it is in the journal (and synced in strict
    /// mode). With `fail_closed`, a journal that cannot be written refuses the operation.
    pub fn record(
        &self,
        rec: AuditRecord,
        use_of: Option<(u64, u32)>,
        grant: Option<u64>,
    ) -> Result<()> {
        if !self.config.record_usage {
            return Ok(());
        }
        let entry = frame(&encode_record(&rec, use_of, grant));
        let res = (|| -> Result<()> {
            let mut cur = self
                .current
                .lock()
                .map_err(|_| Error::internal("journal lock"))?;
            if cur.file.is_none() {
                self.open_new(&mut cur)?;
            }
            let f = cur
                .file
                .as_mut()
                .ok_or_else(|| Error::internal("journal"))?;
            f.write_all(&entry).map_err(Self::unavailable)?;
            if self.config.durability == Durability::Strict {
                f.sync_data().map_err(Self::unavailable)?;
            }
            cur.written += entry.len() as u64;
            Ok(())
        })();
        match res {
            Ok(()) => {
                self.unsynced.store(true, Ordering::Relaxed);
                Ok(())
            }
            Err(e) if self.config.fail_closed => Err(e),
            Err(_) => Ok(()),
        }
    }

    /// Syncs the journal if records were added since the last sync (the power-loss bound).
    pub fn sync_journal(&self) -> Result<()> {
        if self.unsynced.swap(false, Ordering::Relaxed) {
            let cur = self
                .current
                .lock()
                .map_err(|_| Error::internal("journal lock"))?;
            if let Some(f) = &cur.file {
                f.sync_data()?;
            }
        }
        Ok(())
    }

    /// Chains every journal entry of this handle not yet in the store.
    pub fn ingest_own(&self) -> Result<()> {
        let _g = self
            .ingesting
            .lock()
            .map_err(|_| Error::internal("ingest lock"))?;
        let (name, written) = {
            let cur = self
                .current
                .lock()
                .map_err(|_| Error::internal("journal lock"))?;
            (cur.name.clone(), cur.written)
        };
        if name.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(&name);
        let mut done = self.ingest_file(&path, &name, Some(written))?;
        while done < written {
            let next = self.ingest_file(&path, &name, Some(written))?;
            if next == done {
                break; // a torn tail: the rest is not whole yet
            }
            done = next;
        }
        if done >= ROTATE_AT {
            // Everything chained and synced: start a new file and drop the old one.
            self.store.sync()?;
            let mut cur = self
                .current
                .lock()
                .map_err(|_| Error::internal("journal lock"))?;
            if cur.name == name && cur.written == done {
                cur.file = None;
                let _ = std::fs::remove_file(self.dir.join(&name));
                drop(cur);
                let key = format!("journal:{name}");
                store::write(self.store.as_ref(), |tx| tx.meta_delete(&key))?;
            }
        }
        Ok(())
    }

    /// Chains the entries of one journal file from the offset the store recorded for it.
    /// Returns the offset reached.
    fn ingest_file(&self, path: &Path, name: &str, limit: Option<u64>) -> Result<u64> {
        let key = format!("journal:{name}");
        let from = store::read(self.store.as_ref(), |tx| tx.meta_get(&key))?
            .and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        if limit.map(|l| l <= from).unwrap_or(false) {
            return Ok(from);
        }
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(_) => return Ok(from),
        };
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::new();
        match limit {
            Some(l) => {
                (&mut f).take(l - from).read_to_end(&mut buf)?;
            }
            None => {
                f.read_to_end(&mut buf)?;
            }
        }
        let (mut entries, mut used) = parse_entries(&buf);
        if entries.is_empty() {
            return Ok(from);
        }
        // Short transactions: a large backlog is chained in several batches, so reads and
        // state changes of this handle (and of other hosts on a shared store) interleave.
        if entries.len() > MAX_BATCH {
            entries.truncate(MAX_BATCH);
            used = entries.iter().map(|e| e.len() + 9).sum();
        }
        let mut recs = Vec::with_capacity(entries.len());
        let mut uses: HashMap<(u64, u32), u64> = HashMap::new();
        let mut grants: HashMap<u64, u64> = HashMap::new();
        for e in entries {
            let (r, u, g) = decode_record(e)?;
            if let Some(k) = u {
                *uses.entry(k).or_insert(0) += 1;
            }
            if let Some(g) = g {
                *grants.entry(g).or_insert(0) += 1;
            }
            recs.push(r);
        }
        let to = from + used as u64;
        let sid = self.store_id.clone();
        let mut recs = Some(recs);
        store::write_quiet(self.store.as_ref(), |tx| {
            // Re-check inside the transaction: another handle may have taken this file over.
            let now_at = tx
                .meta_get(&key)?
                .and_then(|v| v.as_slice().try_into().ok().map(u64::from_be_bytes))
                .unwrap_or(0);
            if now_at != from {
                return Ok(());
            }
            let mut batch = recs.take().unwrap_or_default();
            audit::append_in_tx(tx, &sid, &mut batch)?;
            for ((k, v), n) in &uses {
                tx.version_add_uses(*k, *v, *n)?;
            }
            for (g, n) in &grants {
                tx.grant_add_uses(*g, *n)?;
            }
            tx.meta_put(&key, &to.to_be_bytes())?;
            Ok(())
        })?;
        Ok(to)
    }

    /// Takes over the journals of processes that died, chaining what they left.
    pub fn ingest_orphans(&self) -> Result<u64> {
        let own = self
            .current
            .lock()
            .map(|c| c.name.clone())
            .unwrap_or_default();
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return Ok(0);
        };
        let mut n = 0;
        for ent in rd.flatten() {
            let name = ent.file_name().to_string_lossy().to_string();
            if !name.ends_with(".j") || name == own {
                continue;
            }
            let path = ent.path();
            let Ok(f) = File::open(&path) else { continue };
            if f.try_lock().is_err() {
                continue; // its owner is alive
            }
            let mut at = self.ingest_file(&path, &name, None)?;
            loop {
                let next = self.ingest_file(&path, &name, None)?;
                if next == at {
                    break;
                }
                at = next;
            }
            self.store.sync()?;
            let _ = std::fs::remove_file(&path);
            let key = format!("journal:{name}");
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

    /// Whether this handle has journal entries not yet chained.
    pub fn pending(&self) -> bool {
        self.current
            .lock()
            .map(|c| c.written > 0 && c.file.is_some())
            .unwrap_or(false)
    }
}

impl Drop for AuditWriter {
    fn drop(&mut self) {
        // Chain what is left and remove the journal; if this fails the next handle takes
        // the file over.
        if self.ingest_own().is_ok() {
            let name = self
                .current
                .lock()
                .map(|c| c.name.clone())
                .unwrap_or_default();
            if !name.is_empty() && self.store.sync().is_ok() {
                if let Ok(mut cur) = self.current.lock() {
                    cur.file = None;
                }
                let _ = std::fs::remove_file(self.dir.join(&name));
                let key = format!("journal:{name}");
                let _ = store::write(self.store.as_ref(), |tx| tx.meta_delete(&key));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
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
}
