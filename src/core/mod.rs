//! The core: every decision (lifecycle, policy, audit, crypto, store), as a pure Rust API.
#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod backup;
pub mod batchbody;
pub mod ciphertext;
pub mod config;
pub mod crc;
pub mod crypto;
pub mod error;
pub mod hot;
pub mod journal;
pub mod json;
pub mod keys;
pub mod lifecycle;
pub mod model;
pub mod objects;
pub mod ops;
pub mod perthread;
pub mod policy;
pub mod seal;
pub mod service;
pub mod store;
pub mod stream;
pub mod types;
mod varint;

pub use admin::GrantRequest;
pub use backup::{BackupSecret, BackupSummary};
pub use ciphertext::{parse_context, Context};
pub use config::Config;
pub use error::{Error, ErrorKind, Result};
pub use keys::{KeyInfo, KeyRequest, MaintainReport};
pub use lifecycle::LifecycleOp;
pub use model::*;
pub use objects::{ObjectRequest, SecretInfo};
pub use service::{Caller, ForkPause, Kms};
pub use types::*;
