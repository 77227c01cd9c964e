pub mod core;

mod boundary;
pub mod capi;
pub mod pkcs11;
