//! The backup reader (`kms::core::backup::verify_backup`, the path `Kms::restore` checks a
//! file with before writing anything). The input is the payload (tagged records); the target
//! wraps it into an authenticated backup file with the fixed backup key, so the record
//! parser, counts and audit-chain checks behind the wrapping are reached. The input is also
//! read as a whole file (header checks).
#![no_main]

use kms::core::backup::verify_backup;
use kms::fuzz_api;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let secret = fuzz_api::backup_secret();
    let file = fuzz_api::wrap_payload(data, &secret).expect("wrap");
    let verified = verify_backup(&mut &file[..], file.len() as u64, &secret, &mut |_, _| {});
    if verified.is_ok() {
        // What verified unwraps to the same payload.
        let back = fuzz_api::unwrap_payload(&mut &file[..], &secret).expect("unwrap");
        assert_eq!(&back[..], data);
    }
    let _ = verify_backup(&mut &data[..], data.len() as u64, &secret, &mut |_, _| {});
});
