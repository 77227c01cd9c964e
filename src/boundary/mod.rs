//! The C boundary: the only module with `unsafe`. Entry guard, status numbers, out-errors,
//! pointer/length/string helpers, output buffers, the handle registry and secret buffers, the
//! fork handlers, the WAL-index header view, the shared file mappings the usage journal
//! appends into, the background thread's priority, the CPU's CRC-32C instruction, text
//! checked for UTF-8 inline when it is ASCII, and the secure-memory arena that the core's
//! `Secret` keeps its bytes in.
//! `src/capi` (and later `src/pkcs11`) build every export from these.

// Helpers are written ahead of the exports that will use them (keys, contexts, secrets).
#![allow(dead_code)]

pub mod crc;
pub mod error;
pub mod fork;
pub mod guard;
pub mod handle;
pub mod mapped;
pub mod ptr;
pub mod secmem;
pub mod secret;
pub mod shmview;
pub mod status;
pub mod text;
pub mod thread;

#[allow(unused_imports)]
pub use guard::{guard, guard_value, BResult, BoundaryError};
