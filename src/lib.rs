pub mod core;

mod boundary;
pub mod capi;
#[doc(hidden)]
pub mod fuzz_api;
pub mod pkcs11;
/// The secure-memory arena behind `core::crypto::Secret` (public for tests and diagnostics).
#[doc(hidden)]
pub mod secmem;
