//! The core: every decision (lifecycle, policy, audit, crypto, store), as a pure Rust API.
#![forbid(unsafe_code)]

pub mod crypto;
pub mod error;
pub mod types;

pub use error::{Error, ErrorKind, Result};
pub use types::*;
