//! A read-only, shared mapping of the first page of SQLite's WAL-index (`-shm`) file, so the
//! store's per-operation "did another process commit?" check is a few memory loads instead of
//! a `pread` system call.
//!
//! SQLite's own connections keep the same file mapped shared and rewrite its header on every
//! commit, so loads through this mapping see what a `pread` would. The header is read racily
//! (SQLite's readers do the same and then confirm under its locks; so does the store, which
//! asks SQLite whenever the words differ): each aligned 8-byte word is loaded atomically, and
//! a torn read of several words can only look "changed", never "unchanged" after a commit
//! that completed before the read began.
//!
//! SIGBUS: loads from a page beyond the end of a file fault. The page is inside the file when
//! it is mapped (the file is at least [`WORDS`] words long), and SQLite shrinks a WAL-index
//! only when it is the first connection to open the database, i.e. when no connection of any
//! process has it open. The store reads the view only while its own two connections are open,
//! so the file cannot shrink under a read. (Someone else truncating the file by hand while
//! the store runs would crash the process: write access to the store's directory already
//! allows destroying the store; see docs/security.md.)

use std::fs::File;
use std::os::unix::io::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering};

/// Words of the header compared (the first 48 bytes: SQLite's first header copy, which holds
/// the change counter, the frame count and the checksums).
pub(crate) const WORDS: usize = 6;

/// The mapping (see the module comment for why reading it is sound).
pub struct ShmHeader {
    ptr: NonNull<AtomicU64>,
    len: usize,
}

// SAFETY: the mapping is read-only and only read through atomic loads; it is unmapped only
// by Drop, which has the one owner.
unsafe impl Send for ShmHeader {}
// SAFETY: as above: shared access is atomic loads only.
unsafe impl Sync for ShmHeader {}

impl ShmHeader {
    /// Maps the first page of `file` read-only and shared; `None` if the file is shorter
    /// than the header or the kernel refuses the mapping (the caller then uses `pread`).
    pub fn map(file: &File) -> Option<ShmHeader> {
        let size = file.metadata().ok()?.len();
        if size < (WORDS * 8) as u64 {
            return None;
        }
        // SAFETY: sysconf with a valid name has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let len = usize::try_from(page).ok().filter(|p| *p >= WORDS * 8)?;
        // SAFETY: a new read-only shared mapping of an open file at an address the kernel
        // chooses; no existing memory is affected. The result is checked against MAP_FAILED.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        Some(ShmHeader {
            ptr: NonNull::new(p.cast::<AtomicU64>())?,
            len,
        })
    }

    /// The header's words as they are now.
    pub fn read(&self) -> [u64; WORDS] {
        let mut out = [0u64; WORDS];
        for (i, w) in out.iter_mut().enumerate() {
            // SAFETY: the mapping is page-aligned and at least WORDS * 8 bytes long (checked
            // in `map`), so word i is aligned and inside it; it stays mapped until Drop, and
            // the file is not shrunk while the store reads (module comment). AtomicU64 has
            // the layout of u64, and the memory is only ever accessed atomically by us.
            *w = unsafe { (*self.ptr.as_ptr().add(i)).load(Ordering::Acquire) };
        }
        out
    }
}

impl Drop for ShmHeader {
    fn drop(&mut self) {
        // SAFETY: [ptr, ptr+len) is the mapping `map` created; nothing refers to it any more
        // (reads borrow `self`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
