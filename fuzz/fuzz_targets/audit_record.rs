//! The audit-record codec of the usage journal (`kms::core::audit::decode_record`), the
//! journal's entry framing and records (`kms::core::journal::parse_entries`,
//! `decode_entries`) and the stored batch of usage records (`kms::core::audit::expand_batch`).
//! The input is read as one encoded record and as a journal file (whatever decodes must
//! re-encode to its bytes; a file's records, written again as delta entries, must decode to
//! the same records), and as a batch: the first byte is the number of records the batch
//! claims, the rest its body; whatever expands must be that many records, numbered, and
//! linked one after the other (versions 1 and 2) or all carrying the batch's link (version
//! 3), and a body of versions 2 and 3 that decodes must be the encoding of what it decodes
//! to.
#![no_main]

use kms::core::audit::{decode_record, encode_record, encode_record_v1, expand_batch, RecordRef};
use kms::core::batchbody;
use kms::core::journal::{decode_entries, encode_entries, parse_entries};
use kms::core::model::AuditBatch;
use libfuzzer_sys::fuzz_target;

fn round_trip(b: &[u8]) {
    if let Ok((r, use_of, grant)) = decode_record(b) {
        // each codec is canonical: a record re-encodes in its own codec to the same bytes
        let again = if b[0] == 1 {
            encode_record_v1(&r, use_of, grant)
        } else {
            encode_record(&r, use_of, grant)
        };
        assert_eq!(again, b);
    }
}

fn batch(data: &[u8]) {
    let Some((&n, body)) = data.split_first() else {
        return;
    };
    let b = AuditBatch {
        first_seq: 1,
        last_seq: n as u64,
        min_time: 0,
        max_time: 0,
        prev_hash: vec![7; 32],
        hash: vec![9; 32],
        body: body.to_vec(),
    };
    if let Ok(recs) = expand_batch(&b, &[1; 16], &Vec::new()) {
        assert_eq!(recs.len(), n as usize);
        let version = body.first().copied();
        let mut prev = b.prev_hash.clone();
        for (i, r) in recs.iter().enumerate() {
            assert_eq!(r.seq, i as u64 + 1);
            if version == Some(batchbody::V3) {
                assert_eq!((&r.prev_hash, &r.hash), (&b.prev_hash, &b.hash));
            } else {
                assert_eq!(r.prev_hash, prev);
                prev = r.hash.clone();
            }
        }
        if let Some(last) = recs.last() {
            assert_eq!(last.hash, b.hash);
        }
        if let Some(v @ (batchbody::V2 | batchbody::V3)) = version {
            let refs: Vec<RecordRef<'_>> = recs.iter().map(RecordRef::of).collect();
            let mut again = Vec::new();
            batchbody::encode(&mut again, &refs, v);
            assert_eq!(again, body);
        }
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
    // Read as a journal file's records: whatever decodes writes back as delta entries that
    // decode to the same records.
    if let Ok((recs, end2)) = decode_entries(data) {
        assert_eq!(end2, end);
        if let Ok(again) = encode_entries(&recs) {
            assert_eq!(decode_entries(&again).unwrap(), (recs, again.len()));
        }
    }
    batch(data);
});
