//! A shared, writable memory mapping of a file of fixed length ([`MappedWindow`]): the usage
//! journal appends its records by copying them into one, with no system call per record.
//!
//! The mapping is `MAP_SHARED`, so a byte copied into it is in the OS page cache exactly as
//! if `write(2)` had put it there: it survives the death of the process (SIGKILL included),
//! `read(2)` of the file sees it at once, and `fdatasync` on any descriptor of the file
//! writes it to disk.
//!
//! SAFETY story. A `MappedWindow` owns one mapping of `len` bytes created by [`map`], of which
//! [`MappedWindow::release_before`] may unmap a page-aligned prefix (kept in `released`;
//! writes, prefaults and the final unmap start there); nothing else in the crate knows its
//! address, and no slice into it is ever handed out, so the only accesses are the
//! bounds-checked copies of [`MappedWindow::write_at`] through `&mut self`.
//! The file is extended to at least `len` bytes before it is mapped, so every page of the
//! window is backed by the file (an access past the end of a file raises SIGBUS); libkms never
//! shrinks a mapped file. A process with write access to the folder could truncate it, which
//! makes the next copy fault (a denial of service, said in docs/security.md).
//!
//! Fork. A forked child inherits the parent's `MappedWindow` values (a copy of its memory),
//! but a `MAP_SHARED` mapping is the parent's file: a child copying into it would overwrite
//! the parent's records. So the mapping is marked `MADV_DONTFORK` (the child does not get it
//! at all), and a window made by another process than the current one (its saved process
//! id, which the fork handlers refresh in a child, differs) is "inherited": it refuses writes
//! and its `Drop` leaves the address range alone (in the child it is not mapped, and may
//! since hold another mapping).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, Ordering};

/// This process's id as the fork handlers keep it ([`super::fork::pid`], refreshed in a
/// forked child): a value saved beside a window tells a forked child's copy from the
/// parent's.
pub(crate) fn process_id() -> u64 {
    u64::from(super::fork::pid())
}

/// A writable `MAP_SHARED` mapping of the first `len` bytes of a file; unmapped on drop.
pub(crate) struct MappedWindow {
    ptr: NonNull<u8>,
    len: usize,
    /// [`process_id`] when the mapping was made: if it changed, this value was inherited by
    /// a forked child and the mapping is not this process's.
    forks: u64,
    /// Length of the prefix unmapped by [`MappedWindow::release_before`] (a multiple of the
    /// page size, at most `len`): only `[released, len)` is still mapped.
    released: usize,
}

// SAFETY: the window owns its mapping (see the module's SAFETY story); a mapping has no
// thread affinity, and every access goes through `&mut self`.
unsafe impl Send for MappedWindow {}
// SAFETY: as above; `&self` methods only read the length and the fork count.
unsafe impl Sync for MappedWindow {}

/// Makes `file` at least `len` bytes long with its blocks allocated where the file system
/// can (`fallocate`, so that a page fault in the window never has to find disk space), else
/// by `ftruncate` (a sparse file).
fn extend(file: &File, len: u64) -> io::Result<()> {
    if file.metadata()?.len() >= len {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        let off = libc::off_t::try_from(len)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "window too large"))?;
        // SAFETY: fallocate on a descriptor this `File` owns (open for writing), mode 0
        // (allocate and extend the size); no memory is passed.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, off) };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => {} // fall back to a sparse file
            _ => return Err(e),
        }
    }
    file.set_len(len)
}

impl MappedWindow {
    /// Extends `file` (open for reading and writing) to at least `len` bytes and maps its
    /// first `len` bytes, shared and writable. Bytes past the file's old end read as zero.
    pub(crate) fn map(file: &File, len: usize) -> io::Result<MappedWindow> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty window"));
        }
        extend(file, len as u64)?;
        let forks = process_id();
        // SAFETY: a new shared mapping at an address the kernel chooses (no existing mapping
        // is replaced) of `len` bytes of a file that is at least `len` bytes long (extended
        // above), through a descriptor open for reading and writing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let Some(ptr) = NonNull::new(p.cast::<u8>()) else {
            return Err(io::Error::other("mmap returned NULL"));
        };
        #[cfg(target_os = "linux")]
        {
            // SAFETY: [p, p+len) is the mapping just created. Failure only means a forked
            // child gets a copy it never uses (writes check the fork count first).
            let _ = unsafe { libc::madvise(p, len, libc::MADV_DONTFORK) };
        }
        Ok(MappedWindow {
            ptr,
            len,
            forks,
            released: 0,
        })
    }

    /// Length of the window in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether this value was inherited from the parent by a forked child (the mapping then
    /// belongs to the parent: it is not mapped here and must not be written).
    pub(crate) fn is_inherited(&self) -> bool {
        process_id() != self.forks
    }

    /// Copies `data` to `offset` in the window. The first byte is stored last: a process
    /// killed in the middle of the copy leaves that byte as it was (zero in a fresh window),
    /// so a reader never mistakes a half-copied entry for a started one. Errors when the
    /// range does not fit in the window or the window is inherited.
    pub(crate) fn write_at(&mut self, offset: usize, data: &[u8]) -> io::Result<()> {
        if self.is_inherited() {
            return Err(io::Error::other(
                "mapping inherited from the parent process",
            ));
        }
        if offset < self.released && !data.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "before the released part of the window",
            ));
        }
        let end = offset
            .checked_add(data.len())
            .filter(|e| *e <= self.len)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "past the window"))?;
        let Some((first, rest)) = data.split_first() else {
            return Ok(());
        };
        debug_assert!(end <= self.len);
        // SAFETY: released <= offset and offset + data.len() <= self.len (checked above), so
        // [offset, end) lies inside the part of the mapping this value owns that is still
        // mapped, which is writable and backed by the file;
        // `data` is ordinary Rust memory, never inside the mapping (no reference into the
        // mapping exists), so the regions do not overlap.
        // The first byte is stored with release ordering, so neither the compiler nor the
        // CPU moves it before the rest; a u8 is always aligned, and no other access to these
        // bytes can run at the same time (`&mut self`).
        unsafe {
            let dst = self.ptr.as_ptr().add(offset);
            std::ptr::copy_nonoverlapping(rest.as_ptr(), dst.add(1), rest.len());
            AtomicU8::from_ptr(dst).store(*first, Ordering::Release);
        }
        Ok(())
    }
}

impl MappedWindow {
    /// Makes the pages of `[offset, offset + len)` (clipped to the window) present and
    /// writable in one system call (`MADV_POPULATE_WRITE`, Linux 5.14 and later), as the
    /// first write to each would one page fault at a time. The contents do not change. A
    /// kernel without it, or any failure, leaves the faults to the writes.
    pub(crate) fn prefault(&self, offset: usize, len: usize) {
        #[cfg(target_os = "linux")]
        {
            const MADV_POPULATE_WRITE: libc::c_int = 23;
            if self.is_inherited() {
                return;
            }
            let page = page_size();
            let start = (offset / page * page).max(self.released);
            let end = offset.saturating_add(len).min(self.len);
            if start >= end {
                return;
            }
            // SAFETY: [start, end) lies inside the live mapping this value owns (start is
            // below end <= self.len); the call reads and writes no memory of this process
            // as Rust sees it, it only has the kernel fault the pages in.
            let _ = unsafe {
                libc::madvise(
                    self.ptr.as_ptr().add(start).cast(),
                    end - start,
                    MADV_POPULATE_WRITE,
                )
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (offset, len);
    }
}

impl MappedWindow {
    /// Unmaps the whole pages below `offset`, a part of the window the caller is done
    /// writing; writes there are refused afterwards. The bytes stay in the file's page
    /// cache (dirty pages are written back as any). What this saves: while a page is
    /// mapped, writing it back (the journal's `fdatasync`) write-protects it in the mapping
    /// first, which interrupts every core running the process to flush its TLB, once per
    /// page; unmapping a stretch flushes once for all of its pages, and a page no longer
    /// mapped is written back with no flush at all. Does nothing for an inherited window or
    /// when the system call fails (the pages then stay mapped, and writable).
    pub(crate) fn release_before(&mut self, offset: usize) {
        if self.is_inherited() {
            return;
        }
        let page = page_size();
        let end = (offset.min(self.len) / page) * page;
        if end <= self.released {
            return;
        }
        // SAFETY: [released, end) is a page-aligned part of the mapping this value owns
        // that is still mapped (released <= end <= len, both multiples of the page size,
        // from a page-aligned start); no reference into the mapping exists, and every later
        // access (writes, prefaults, the final unmap) starts at `released`, set to `end`
        // only once the call succeeded.
        let rc = unsafe {
            libc::munmap(
                self.ptr.as_ptr().add(self.released).cast(),
                end - self.released,
            )
        };
        if rc == 0 {
            self.released = end;
        }
    }
}

/// The system's page size (mappings are made and unmapped in whole pages).
fn page_size() -> usize {
    // SAFETY: sysconf reads a configuration value; no memory is passed.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
}

impl Drop for MappedWindow {
    fn drop(&mut self) {
        if self.is_inherited() || self.released >= self.len {
            // Not mapped in this (child) process: the range may hold someone else's mapping;
            // or released whole already.
            return;
        }
        // SAFETY: the mapping was created by `map` for this value; [released, len) is the
        // part still mapped (the prefix was unmapped by `release_before`), unmapped only
        // here; no reference into it exists.
        unsafe {
            libc::munmap(
                self.ptr.as_ptr().add(self.released).cast(),
                self.len - self.released,
            )
        };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Read;

    /// An empty file opened for reading and writing.
    fn fresh_file(path: &std::path::Path) -> File {
        std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(path)
            .unwrap()
    }

    #[test]
    fn writes_reach_the_file_and_stay_in_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let f = fresh_file(&path);
        let mut w = MappedWindow::map(&f, 8192).unwrap();
        assert_eq!(w.len(), 8192);
        assert!(!w.is_inherited());
        w.write_at(0, b"hello").unwrap();
        w.write_at(8190, b"xy").unwrap();
        assert!(w.write_at(8191, b"xy").is_err());
        assert!(w.write_at(usize::MAX, b"x").is_err());
        w.write_at(8192, b"").unwrap();
        let mut all = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 8192);
        assert_eq!(&all[..5], b"hello");
        assert!(all[5..8190].iter().all(|b| *b == 0));
        assert_eq!(&all[8190..], b"xy");
        drop(w);
        // An already longer file keeps its length and contents.
        let w = MappedWindow::map(&f, 4096).unwrap();
        assert_eq!(w.len(), 4096);
        assert_eq!(f.metadata().unwrap().len(), 8192);
    }

    /// The address range of the mapping of `path` in /proc/self/maps, if any.
    fn mapped_range(path: &std::path::Path) -> Option<(usize, usize)> {
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps.lines().find(|l| l.ends_with(path.to_str().unwrap()))?;
        let (a, b) = line.split_whitespace().next()?.split_once('-')?;
        Some((
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        ))
    }

    #[test]
    fn a_released_prefix_is_unmapped_keeps_its_bytes_and_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let f = fresh_file(&path);
        let page = page_size();
        let mut w = MappedWindow::map(&f, 4 * page).unwrap();
        w.write_at(10, b"early").unwrap();
        w.write_at(page + 5, b"second").unwrap();
        let (start, end) = mapped_range(&path).unwrap();
        assert_eq!(end - start, 4 * page);
        // rounded down to whole pages: the first page only
        w.release_before(page + 100);
        assert_eq!(mapped_range(&path), Some((start + page, end)));
        assert!(w.write_at(10, b"x").is_err());
        assert!(w.write_at(page - 1, b"xy").is_err());
        w.write_at(page, b"P").unwrap();
        // below what is released already, or an empty write there: nothing happens
        w.release_before(page / 2);
        w.write_at(0, b"").unwrap();
        w.prefault(0, 4 * page);
        assert_eq!(mapped_range(&path), Some((start + page, end)));
        w.write_at(3 * page, b"late").unwrap();
        w.release_before(usize::MAX);
        assert_eq!(mapped_range(&path), None);
        assert!(w.write_at(3 * page + 10, b"x").is_err());
        drop(w);
        let mut all = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(&all[10..15], b"early");
        assert_eq!(&all[page..page + 1], b"P");
        assert_eq!(&all[page + 5..page + 11], b"second");
        assert_eq!(&all[3 * page..3 * page + 4], b"late");
    }

    #[test]
    fn prefaulting_keeps_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let f = fresh_file(&path);
        let mut w = MappedWindow::map(&f, 3 * 4096).unwrap();
        w.write_at(100, b"kept").unwrap();
        // whole, partial, unaligned and out-of-window ranges: no change, no fault
        w.prefault(0, 3 * 4096);
        w.prefault(4097, 10);
        w.prefault(2 * 4096, usize::MAX);
        w.prefault(5 * 4096, 4096);
        w.write_at(4096 + 7, b"after").unwrap();
        let mut all = Vec::new();
        File::open(&path).unwrap().read_to_end(&mut all).unwrap();
        assert_eq!(&all[100..104], b"kept");
        assert_eq!(&all[4096 + 7..4096 + 12], b"after");
        let written = [100..104, 4096 + 7..4096 + 12];
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, b)| *b == 0 || written.iter().any(|r| r.contains(&i))));
    }

    #[test]
    fn a_forked_child_cannot_write_into_the_parents_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let f = fresh_file(&path);
        let mut w = MappedWindow::map(&f, 4096).unwrap();
        w.write_at(0, b"parent").unwrap();
        // SAFETY: the child only reads an atomic, tries the refused write (which allocates
        // its error; glibc keeps malloc usable in a forked child), drops the window and
        // leaves with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            let ok = w.is_inherited() && w.write_at(6, b"child").is_err();
            drop(w); // leaves the (unmapped here) range alone
                     // SAFETY: ends the child at once, running no destructor of the parent's state.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked, writing its status to a local.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(rc, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child saw its window as inherited and could not write ({status:#x})"
        );
        assert!(!w.is_inherited());
        w.write_at(6, b" again").unwrap();
        let all = std::fs::read(&path).unwrap();
        assert_eq!(&all[..12], b"parent again");
        assert!(all[12..].iter().all(|b| *b == 0));
    }
}
