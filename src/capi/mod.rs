//! The native C API: `kms_*` exports, one file per noun, declared in the generated
//! `include/kms.h`.
//!
//! Every export has the boundary shape (see DESIGN.md): `guard` -> decode arguments with the
//! `boundary::ptr` helpers and handle registries -> ONE core call -> encode the result
//! (`write_out`, `out_buffer`, `Out::set`). No `unsafe` here; all of it is in `src/boundary`.
//! The C-facing types and constants are re-exported so Rust callers can name them.
//!
//! A new export (then `KMS_UPDATE_HEADER=1 cargo test --test header`, and a tests/c/*.c test):
//!
//! ```text
//! static KEYS: Registry<core::Key> = Registry::new(2, "key");   // one kind tag per noun
//!
//! /// Encrypts `plaintext` under `key`. Output buffer convention; see kms.h.
//! #[no_mangle]
//! pub extern "C" fn kms_key_encrypt(key: kms_key, pt: *const u8, pt_len: usize,
//!     out: *mut u8, out_len: *mut usize, out_err: *mut *mut kms_error) -> kms_status {
//!     guard(out_err, || {
//!         let key = KEYS.get(key)?;                       // stale/foreign -> INVALID_HANDLE
//!         let pt = in_bytes(pt, pt_len, "plaintext")?;    // NULL/length checks
//!         let ct = key.encrypt(pt)?;                      // ONE core call; Error -> status
//!         write_out(out, out_len, &ct)                    // size query / too small / copy
//!     })
//! }
//! ```

mod misc;

pub use crate::boundary::error::kms_error;
pub use crate::boundary::handle::KMS_NO_HANDLE;
pub use crate::boundary::ptr::{KMS_MAX_INPUT, KMS_MAX_STRING};
pub use crate::boundary::secret::kms_buffer;
pub use crate::boundary::status::*;
pub use misc::*;
