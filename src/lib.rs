pub mod core;

mod boundary;
pub mod capi;
#[doc(hidden)]
pub mod fuzz_api;
pub mod pkcs11;
