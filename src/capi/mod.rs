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

mod audit;
mod consts;
mod crypto;
mod ctx;
mod identity;
mod key;
mod misc;
mod object;
mod secret;
mod stream;

use std::ffi::c_char;

use crate::boundary::ptr::in_str_array;
use crate::boundary::{BResult, BoundaryError};
use crate::core::Context;

pub use crate::boundary::error::kms_error;
pub use crate::boundary::handle::KMS_NO_HANDLE;
pub use crate::boundary::ptr::{KMS_MAX_INPUT, KMS_MAX_STRING};
pub use crate::boundary::secret::kms_buffer;
pub use crate::boundary::status::*;
pub use audit::*;
pub use consts::*;
pub use crypto::*;
pub use ctx::*;
pub use identity::*;
pub use key::*;
pub use misc::*;
pub use object::*;
pub use secret::*;
pub use stream::*;

/// Decodes an encryption context given as two parallel string arrays (`keys[i]` = `values[i]`,
/// `count` pairs; NULL/0 = none). A key given twice is `KMS_ERR_INVALID_ARGUMENT`.
pub(crate) fn context_arg(
    keys: *const *const c_char,
    values: *const *const c_char,
    count: usize,
) -> BResult<Context> {
    let keys = in_str_array(keys, count, "ctx_keys")?;
    let values = in_str_array(values, count, "ctx_values")?;
    pairs_to_context(keys.into_iter().zip(values))
}

fn pairs_to_context<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> BResult<Context> {
    let mut ctx = Context::new();
    for (k, v) in pairs {
        if ctx.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(BoundaryError::invalid(format!(
                "encryption context key '{k}' appears twice"
            )));
        }
    }
    Ok(ctx)
}

/// A C boolean (`uint32_t`, 0 = false) as Rust.
pub(crate) fn flag(v: u32) -> bool {
    v != 0
}

/// 0 = absent, for optional numbers in parameter structs.
pub(crate) fn nonzero<T: Default + PartialEq>(v: T) -> Option<T> {
    (v != T::default()).then_some(v)
}
