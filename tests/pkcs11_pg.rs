//! One suite, two backends: the PKCS#11 end-to-end test (the same file `cargo test` runs on
//! SQLite) compiled again here, where it runs on a fresh PostgreSQL database (a throw-away
//! server from Debian's `postgresql` package). Every mechanism, attribute rule, refusal,
//! rotation and thread check must hold on the shared store as on the embedded one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "pkcs11_cryptoki.rs"]
mod pkcs11_cryptoki;
