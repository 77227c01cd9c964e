pub mod core;

mod boundary;
pub mod capi;
#[doc(hidden)]
pub mod fuzz_api;
pub mod pkcs11;
/// The secure-memory arena behind `core::crypto::Secret` (public for tests and diagnostics;
/// it lives in `src/boundary`, the one place with `unsafe`).
#[doc(hidden)]
pub use boundary::secmem;
