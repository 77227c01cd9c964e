//! The native C API: `kms_*` exports, one file per noun, declared in the generated
//! `include/kms.h`.
//!
//! Every export has the boundary shape (see DESIGN.md): `guard` -> decode arguments with the
//! `boundary::ptr` helpers and handle registries -> ONE core call -> encode the result
//! (`write_out`, `out_buffer`, `Out::set`). No `unsafe` here; all of it is in `src/boundary`.
//! The C-facing types and constants are re-exported so Rust callers can name them.

mod misc;

pub use crate::boundary::error::kms_error;
pub use crate::boundary::handle::KMS_NO_HANDLE;
pub use crate::boundary::ptr::{KMS_MAX_INPUT, KMS_MAX_STRING};
pub use crate::boundary::secret::kms_buffer;
pub use crate::boundary::status::*;
pub use misc::*;
