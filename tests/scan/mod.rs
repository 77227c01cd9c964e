//! Searching the files of a SQLite store (database, WAL, shared-memory index, rollback
//! journal, usage journals) for a secret: its raw bytes, hex (either case) and base64 (every
//! alignment, standard and URL-safe alphabets).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

/// Every file that belongs to the store at `store`, read now: `(name, bytes)`. The store's
/// secret side files (`.key`, `.owner`) are not store files and are left out.
pub fn store_files(store: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut p = store.as_os_str().to_os_string();
        p.push(suffix);
        if let Ok(b) = std::fs::read(&p) {
            out.push((format!("kms.db{suffix}"), b));
        }
    }
    let mut j = store.as_os_str().to_os_string();
    j.push(".journal");
    if let Ok(rd) = std::fs::read_dir(&j) {
        for e in rd.flatten() {
            if let Ok(b) = std::fs::read(e.path()) {
                out.push((format!("journal {}", e.file_name().to_string_lossy()), b));
            }
        }
    }
    assert!(!out.is_empty(), "no store files at {}", store.display());
    out
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut s = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..=c.len() {
            s.push(STD[(n >> (18 - 6 * k) & 63) as usize] as char);
        }
    }
    s
}

/// The forms a secret could take in a file: raw, hex, and the part of its base64 encoding
/// that depends on it alone, at each of the three alignments it could start at.
pub fn encodings(secret: &[u8]) -> Vec<(String, Vec<u8>)> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut v = vec![
        ("raw".to_string(), secret.to_vec()),
        ("hex".to_string(), hex.clone().into_bytes()),
        ("HEX".to_string(), hex.to_uppercase().into_bytes()),
    ];
    for shift in 0..3 {
        let mut d = vec![0u8; shift];
        d.extend_from_slice(secret);
        let b = base64(&d);
        // drop the characters that also depend on the bytes before and after the secret
        let (from, to) = (if shift == 0 { 0 } else { 4 }, b.len().saturating_sub(4));
        assert!(
            to > from + 8,
            "secret too short for a base64 search ({} bytes)",
            secret.len()
        );
        let inner = &b[from..to];
        v.push((format!("base64+{shift}"), inner.as_bytes().to_vec()));
        let url: String = inner
            .chars()
            .map(|c| match c {
                '+' => '-',
                '/' => '_',
                c => c,
            })
            .collect();
        v.push((format!("base64url+{shift}"), url.into_bytes()));
    }
    v
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Panics if any store file holds `secret` in any of its encodings; returns how many
/// (file, encoding) pairs were searched.
pub fn assert_absent(files: &[(String, Vec<u8>)], what: &str, secret: &[u8]) -> usize {
    let mut n = 0;
    for (form, needle) in encodings(secret) {
        for (name, bytes) in files {
            assert!(!contains(bytes, &needle), "{what} found in {name} ({form})");
            n += 1;
        }
    }
    n
}

/// Asserts the search can find what it looks for: a marker written into a store file as
/// text shows up (guards against scanning the wrong files).
pub fn assert_present(files: &[(String, Vec<u8>)], marker: &[u8]) {
    assert!(
        files.iter().any(|(_, b)| contains(b, marker)),
        "marker {:?} not found in the store files: the scan does not see them",
        String::from_utf8_lossy(marker)
    );
}

#[cfg(unix)]
/// The permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}
