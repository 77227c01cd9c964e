//! The audit-record codec of the usage journal (`kms::core::audit::decode_record`) and the
//! journal's entry framing (`kms::core::journal::parse_entries`). The input is read both as
//! one encoded record and as a journal file; whatever decodes must re-encode to its bytes.
#![no_main]

use kms::core::audit::{decode_record, encode_record};
use kms::core::journal::parse_entries;
use libfuzzer_sys::fuzz_target;

fn round_trip(b: &[u8]) {
    if let Ok((r, use_of, grant)) = decode_record(b) {
        assert_eq!(encode_record(&r, use_of, grant), b);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip(data);
    let (entries, end) = parse_entries(data);
    assert!(end <= data.len());
    assert_eq!(end, entries.iter().map(|e| e.len() + 9).sum::<usize>());
    for e in entries {
        round_trip(e);
    }
});
