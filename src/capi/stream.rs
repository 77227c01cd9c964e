//! Streaming envelope encryption: `kms_stream` handles for data larger than memory
//! (files, database blobs), encrypted or decrypted chunk by chunk.

use std::ffi::c_char;
use std::sync::Mutex;

use zeroize::Zeroizing;

use crate::boundary::error::kms_error;
use crate::boundary::handle::Registry;
use crate::boundary::ptr::{in_bytes, in_str, out_ref};
use crate::boundary::secret::{kms_buffer, out_buffer};
use crate::boundary::status::kms_status;
use crate::boundary::{guard, BResult};
use crate::capi::context_arg;
use crate::capi::ctx::{kms_ctx, session};
use crate::core::stream::{StreamDecryptor, StreamEncryptor};

/// A streaming encryption or decryption in progress. A generational handle (never 0),
/// released with `kms_stream_free`. It holds its own reference to the store, so it stays
/// usable after its context is closed. One stream must not be used from two threads at
/// once (calls are serialized; interleaving chunks from two threads garbles the stream).
#[allow(non_camel_case_types)]
pub type kms_stream = u64;

enum Stream {
    Encrypt(StreamEncryptor),
    Decrypt(StreamDecryptor),
}

static STREAMS: Registry<Mutex<Stream>> = Registry::new(2, "stream");

/// Holds the stream table across a `fork()` of the host (see `boundary::fork`).
pub(crate) fn hold_for_fork() -> Box<dyn std::any::Any> {
    STREAMS.hold_for_fork()
}

fn insert(out_stream: *mut kms_stream, s: Stream) -> BResult<()> {
    let mut out = out_ref(out_stream, "out_stream")?;
    out.set(STREAMS.insert(Mutex::new(s))?);
    Ok(())
}

/// Starts encrypting a stream under `key` (an AES key with the encrypt usage) with a fresh
/// 256-bit data key bound to the encryption context (parallel arrays as in `kms_encrypt`).
/// Output format: a header carrying the wrapped data key, then 64 KiB chunks sealed with
/// AES-256-GCM; reordering, truncation and extension are detected on decryption.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (key, out_stream);
/// as `kms_generate_data_key` otherwise.
#[no_mangle]
pub extern "C" fn kms_stream_encrypt_init(
    ctx: kms_ctx,
    key: *const c_char,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out_stream: *mut kms_stream,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        let key = in_str(key, "key")?;
        out_ref(out_stream, "out_stream")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let enc = s.kms.stream_encryptor(&s.caller, key, &ec)?;
        insert(out_stream, Stream::Encrypt(enc))
    })
}

/// Starts decrypting a stream made by `kms_stream_encrypt_*` with the same encryption
/// context. The key comes from the stream's header, which is checked (and the data key
/// unwrapped, audited) once enough bytes have arrived.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE`; `KMS_ERR_NULL_POINTER` (out_stream).
#[no_mangle]
pub extern "C" fn kms_stream_decrypt_init(
    ctx: kms_ctx,
    ctx_keys: *const *const c_char,
    ctx_values: *const *const c_char,
    ctx_count: usize,
    out_stream: *mut kms_stream,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let s = session(ctx)?;
        out_ref(out_stream, "out_stream")?;
        let ec = context_arg(ctx_keys, ctx_values, ctx_count)?;
        let dec = s.kms.stream_decryptor(&s.caller, &ec);
        insert(out_stream, Stream::Decrypt(dec))
    })
}

fn step(
    stream: kms_stream,
    out: *mut kms_buffer,
    f: impl FnOnce(&mut Stream, &mut Vec<u8>) -> crate::core::Result<()>,
) -> BResult<()> {
    let st = STREAMS.get(stream)?;
    out_ref(out, "out")?;
    let mut bytes = Zeroizing::new(Vec::new());
    {
        let mut guard = st.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard, &mut bytes)?;
    }
    out_buffer(out, bytes)
}

/// Feeds `len` bytes of input to a stream and returns in `*out` the output ready so far
/// (possibly empty: `{NULL, 0}`): ciphertext when encrypting (the header first), plaintext
/// of complete authenticated chunks when decrypting. Free `*out` with `kms_buffer_free`
/// (which zeroizes). Decrypted output is authentic but only complete once
/// `kms_stream_final` succeeds: do not act on it before.
///
/// Status: `KMS_OK`; `KMS_ERR_INVALID_HANDLE` (freed or unknown stream);
/// `KMS_ERR_NULL_POINTER` (out, data with len > 0); `KMS_ERR_INVALID_ARGUMENT` (after
/// final); `KMS_ERR_INVALID_CIPHERTEXT` (decrypting: not a stream, altered chunk); the
/// statuses of `kms_decrypt_data_key` when the header arrives.
#[no_mangle]
pub extern "C" fn kms_stream_update(
    stream: kms_stream,
    data: *const u8,
    len: usize,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        let data = in_bytes(data, len, "data")?;
        step(stream, out, |s, o| match s {
            Stream::Encrypt(e) => e.update(data, o),
            Stream::Decrypt(d) => d.update(data, o),
        })
    })
}

/// Ends a stream and returns in `*out` the last output (the final chunk when encrypting;
/// the last plaintext when decrypting, after checking the stream is complete). The handle
/// stays allocated until `kms_stream_free`; further updates fail.
///
/// Status: as `kms_stream_update`; decrypting, `KMS_ERR_INVALID_CIPHERTEXT` for a
/// truncated stream.
#[no_mangle]
pub extern "C" fn kms_stream_final(
    stream: kms_stream,
    out: *mut kms_buffer,
    out_err: *mut *mut kms_error,
) -> kms_status {
    guard(out_err, || {
        step(stream, out, |s, o| match s {
            Stream::Encrypt(e) => e.finish(o),
            Stream::Decrypt(d) => d.finish(o),
        })
    })
}

/// Releases a stream (finished or not) and wipes its data key. A second free, or any use
/// after it, is `KMS_ERR_INVALID_HANDLE`.
#[no_mangle]
pub extern "C" fn kms_stream_free(stream: kms_stream) -> kms_status {
    guard(std::ptr::null_mut(), || {
        STREAMS.remove(stream)?;
        Ok(())
    })
}
