//! Message nonces (`crypto::random_nonce`) come from a per-thread pool of random bytes: they
//! must never repeat, within a process or between a parent and a child it forks (a repeated
//! AES-GCM nonce under one key gives away plaintext and lets tags be forged).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use kms::core::crypto::random_nonce;

fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    random_nonce(&mut n).expect("nonce");
    n
}

#[test]
fn nonces_do_not_repeat_in_a_process_or_across_fork() {
    // Within the process, across many pool refills.
    let mut seen = HashSet::new();
    for _ in 0..20_000 {
        assert!(seen.insert(nonce()), "a nonce repeated");
    }

    // Across fork: the child inherits this thread's pool half used; it must not hand out
    // what the parent hands out next.
    let (mut parent_end, mut child_end) = UnixStream::pair().expect("socketpair");
    let _ = nonce();
    // SAFETY (test): the child only draws nonces, writes them to its socket and exits.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        drop(parent_end);
        let mut out = Vec::new();
        for _ in 0..200 {
            out.extend_from_slice(&nonce());
        }
        let ok = child_end.write_all(&out).is_ok();
        // SAFETY (test): leave the child without running the parent's test harness.
        unsafe { libc::_exit(if ok { 0 } else { 1 }) };
    }
    drop(child_end);
    let mut buf = Vec::new();
    parent_end.read_to_end(&mut buf).expect("read child nonces");
    let mut status = 0;
    // SAFETY (test): waits for the child forked above.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(status, 0, "child failed");
    assert_eq!(buf.len(), 200 * 12);
    let child: HashSet<[u8; 12]> = buf
        .chunks_exact(12)
        .map(|c| c.try_into().unwrap())
        .collect();
    assert_eq!(child.len(), 200, "the child repeated a nonce");
    for _ in 0..200 {
        let n = nonce();
        assert!(
            !child.contains(&n),
            "parent and child handed out the same nonce"
        );
        assert!(!seen.contains(&n), "a nonce repeated after fork");
    }
}
