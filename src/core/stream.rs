//! Streaming envelope encryption for data larger than memory: a fresh data key per stream,
//! wrapped under a KMS key in the header; fixed-size chunks sealed with AES-256-GCM whose
//! nonces carry a counter and a last-chunk flag, so reordering, truncation and extension
//! are all detected. Format in docs/at-rest.md.

use zeroize::Zeroizing;

use crate::core::ciphertext::Context;
use crate::core::crypto::{self, Secret};
use crate::core::error::{Error, Result};
use crate::core::service::{Caller, Kms};

const MAGIC: &[u8; 4] = b"KMSS";
const STREAM_V1: u8 = 1;
/// Plaintext bytes per chunk (64 KiB).
pub const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const FIXED: usize = 4 + 1 + 1 + 2 + 4;
const MAX_WRAPPED: usize = 4096;

fn nonce(prefix: &[u8; 7], counter: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = last as u8;
    n
}

/// Encrypts a stream; feed it with [`StreamEncryptor::update`] and end with `finish`.
pub struct StreamEncryptor {
    dek: Secret,
    prefix: [u8; 7],
    header: Vec<u8>,
    counter: u32,
    buf: Zeroizing<Vec<u8>>,
    header_sent: bool,
    finished: bool,
}

impl std::fmt::Debug for StreamEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamEncryptor")
            .field("counter", &self.counter)
            .finish()
    }
}

impl StreamEncryptor {
    fn seal_chunk(&mut self, data: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
        if self.counter == u32::MAX {
            return Err(Error::invalid("stream too long"));
        }
        let n = nonce(&self.prefix, self.counter, last);
        out.extend(crypto::aes_gcm_seal(&self.dek, &n, &self.header, data)?);
        self.counter += 1;
        Ok(())
    }

    /// Appends to `out` the header (first call) and every complete chunk.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::invalid("stream already finished"));
        }
        if !self.header_sent {
            out.extend_from_slice(&self.header);
            self.header_sent = true;
        }
        self.buf.extend_from_slice(data);
        // Keep at least one byte back so the last chunk is known at finish.
        while self.buf.len() > CHUNK {
            let chunk: Zeroizing<Vec<u8>> = Zeroizing::new(self.buf.drain(..CHUNK).collect());
            self.seal_chunk(&chunk, false, out)?;
        }
        Ok(())
    }

    /// Appends the final chunk (possibly empty).
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::invalid("stream already finished"));
        }
        if !self.header_sent {
            out.extend_from_slice(&self.header);
            self.header_sent = true;
        }
        let rest = Zeroizing::new(std::mem::take(&mut *self.buf));
        self.seal_chunk(&rest, true, out)?;
        self.finished = true;
        Ok(())
    }
}

/// Decrypts a stream; output is released only chunk by chunk after authentication.
pub struct StreamDecryptor {
    kms: Kms,
    caller: Caller,
    ctx: Context,
    dek: Option<Secret>,
    prefix: [u8; 7],
    header: Vec<u8>,
    counter: u32,
    buf: Vec<u8>,
    finished: bool,
}

impl std::fmt::Debug for StreamDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamDecryptor")
            .field("counter", &self.counter)
            .finish()
    }
}

impl StreamDecryptor {
    fn try_header(&mut self) -> Result<()> {
        if self.dek.is_some() || self.buf.len() < FIXED {
            return Ok(());
        }
        if &self.buf[..4] != MAGIC {
            return Err(Error::bad_ciphertext("not a libkms stream"));
        }
        if self.buf[4] != STREAM_V1 {
            return Err(Error::bad_ciphertext(format!(
                "unknown stream version {}",
                self.buf[4]
            )));
        }
        let wl =
            u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]) as usize;
        if wl > MAX_WRAPPED {
            return Err(Error::bad_ciphertext("stream header is malformed"));
        }
        let total = FIXED + wl + 7;
        if self.buf.len() < total {
            return Ok(());
        }
        let wrapped = self.buf[FIXED..FIXED + wl].to_vec();
        let dek = self
            .kms
            .decrypt_data_key(&self.caller, &wrapped, &self.ctx)?;
        if dek.len() != 32 {
            return Err(Error::bad_ciphertext("stream data key has the wrong size"));
        }
        self.prefix.copy_from_slice(&self.buf[FIXED + wl..total]);
        self.header = self.buf.drain(..total).collect();
        self.dek = Some(dek);
        Ok(())
    }

    fn open_chunk(&mut self, chunk: &[u8], last: bool, out: &mut Vec<u8>) -> Result<()> {
        let dek = self
            .dek
            .as_ref()
            .ok_or_else(|| Error::internal("no data key"))?;
        let n = nonce(&self.prefix, self.counter, last);
        let pt = crypto::aes_gcm_open(dek, &n, &self.header, chunk).map_err(|_| {
            Error::bad_ciphertext(format!(
                "stream chunk {} failed to authenticate (altered, reordered or truncated)",
                self.counter
            ))
        })?;
        out.extend_from_slice(&pt);
        self.counter += 1;
        Ok(())
    }

    /// Appends to `out` the plaintext of every complete, authenticated chunk.
    pub fn update(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::invalid("stream already finished"));
        }
        self.buf.extend_from_slice(data);
        self.try_header()?;
        if self.dek.is_none() {
            return Ok(());
        }
        while self.buf.len() > CHUNK + TAG {
            let chunk: Vec<u8> = self.buf.drain(..CHUNK + TAG).collect();
            self.open_chunk(&chunk, false, out)?;
        }
        Ok(())
    }

    /// Authenticates the last chunk; fails if the stream was truncated.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<()> {
        if self.finished {
            return Err(Error::invalid("stream already finished"));
        }
        self.try_header()?;
        if self.dek.is_none() {
            return Err(Error::bad_ciphertext(
                "stream is truncated (incomplete header)",
            ));
        }
        let rest = std::mem::take(&mut self.buf);
        if rest.len() < TAG {
            return Err(Error::bad_ciphertext("stream is truncated"));
        }
        self.open_chunk(&rest, true, out)?;
        self.finished = true;
        Ok(())
    }
}

impl Kms {
    /// Starts encrypting a stream under `key` with a fresh data key bound to `ctx`.
    pub fn stream_encryptor(
        &self,
        c: &Caller,
        key: &str,
        ctx: &Context,
    ) -> Result<StreamEncryptor> {
        let (dek, wrapped) = self.generate_data_key(c, key, 32, ctx)?;
        if wrapped.len() > MAX_WRAPPED {
            return Err(Error::internal("wrapped data key too large"));
        }
        let mut prefix = [0u8; 7];
        crypto::random(&mut prefix)?;
        let mut header = Vec::with_capacity(FIXED + wrapped.len() + 7);
        header.extend_from_slice(MAGIC);
        header.push(STREAM_V1);
        header.push(16); // log2 of the chunk size
        header.extend_from_slice(&[0, 0]);
        header.extend_from_slice(&(wrapped.len() as u32).to_be_bytes());
        header.extend_from_slice(&wrapped);
        header.extend_from_slice(&prefix);
        Ok(StreamEncryptor {
            dek,
            prefix,
            header,
            counter: 0,
            buf: Zeroizing::new(Vec::new()),
            header_sent: false,
            finished: false,
        })
    }

    /// Starts decrypting a stream; the key comes from its header.
    pub fn stream_decryptor(&self, c: &Caller, ctx: &Context) -> StreamDecryptor {
        StreamDecryptor {
            kms: self.clone(),
            caller: c.clone(),
            ctx: ctx.clone(),
            dek: None,
            prefix: [0; 7],
            header: Vec::new(),
            counter: 0,
            buf: Vec::new(),
            finished: false,
        }
    }

    /// Encrypts everything from `input` to `output`; returns the plaintext byte count.
    pub fn encrypt_stream(
        &self,
        c: &Caller,
        key: &str,
        ctx: &Context,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64> {
        let mut enc = self.stream_encryptor(c, key, ctx)?;
        let mut buf = Zeroizing::new(vec![0u8; CHUNK]);
        let mut out = Vec::with_capacity(CHUNK + 1024);
        let mut total = 0u64;
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            total += n as u64;
            enc.update(&buf[..n], &mut out)?;
            output.write_all(&out)?;
            out.clear();
        }
        enc.finish(&mut out)?;
        output.write_all(&out)?;
        output.flush()?;
        Ok(total)
    }

    /// Decrypts a stream from `input` to `output`; returns the plaintext byte count. On
    /// error, what was written is authenticated but incomplete: the caller discards it.
    pub fn decrypt_stream(
        &self,
        c: &Caller,
        ctx: &Context,
        input: &mut dyn std::io::Read,
        output: &mut dyn std::io::Write,
    ) -> Result<u64> {
        let mut dec = self.stream_decryptor(c, ctx);
        let mut buf = vec![0u8; CHUNK];
        let mut out = Zeroizing::new(Vec::with_capacity(CHUNK * 2));
        let mut total = 0u64;
        loop {
            let n = input.read(&mut buf)?;
            if n == 0 {
                break;
            }
            dec.update(&buf[..n], &mut out)?;
            total += out.len() as u64;
            output.write_all(&out)?;
            out.clear();
        }
        dec.finish(&mut out)?;
        total += out.len() as u64;
        output.write_all(&out)?;
        output.flush()?;
        Ok(total)
    }
}
