//! Cryptographic primitives over aws-lc-rs: generation, AEAD, signatures, MAC, wrap, KDF.
