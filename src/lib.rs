pub mod core;

mod boundary;
pub mod capi;
