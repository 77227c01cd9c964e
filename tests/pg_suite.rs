//! One suite, two backends: the core suites (the same files `cargo test` runs on SQLite)
//! compiled again here, where `util::backend()` answers PostgreSQL. Each test gets a fresh
//! database on a throw-away server started from Debian's `postgresql` package.
//! (`KMS_TEST_BACKEND=postgres cargo test --test core_keys` does the same per file.)

#![allow(clippy::unwrap_used, clippy::expect_used)]
// Each suite file declares its own `mod util;` (as it does alone): loaded once per suite.
#![allow(clippy::duplicate_mod)]

#[path = "core_backup.rs"]
mod core_backup;
#[path = "core_keys.rs"]
mod core_keys;
#[path = "core_policy_audit.rs"]
mod core_policy_audit;
#[path = "core_stream.rs"]
mod core_stream;
