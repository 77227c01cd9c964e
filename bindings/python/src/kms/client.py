"""The Pythonic API over the libkms C API: :class:`Kms`, :class:`Key`, :class:`DataKey`,
:class:`SecretBuffer`, :class:`Stream`.

Every C call goes through the prototypes read from kms.h (see ``_cdecl``). Errors come from
the ``kms_error`` out-object of each call (never thread-local state) and are raised as the
:mod:`kms.errors` class of their status. All objects may be shared between threads: the C
side is thread-safe and ctypes releases the GIL during each call.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import threading
from ctypes import POINTER, byref, c_char_p, c_size_t, c_uint8, c_uint32, c_uint64
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from ._lib import Lib, lib
from .errors import BufferTooSmall, KmsError, VerificationFailed, error_class

__all__ = [
    "Kms", "Key", "DataKey", "SecretBuffer", "Stream", "AuditReport", "Signed",
    "version", "version_number", "status_str", "Context", "KeyRef",
]

Context = Optional[Mapping[str, str]]
"""An encryption context: string keys and values, bound to the ciphertext (not stored)."""

Bytes = Union[bytes, bytearray, memoryview]
KeyRef = Union["Key", str, int]
"""A key: a :class:`Key`, its numeric id, or its name."""


# ---------------------------------------------------------------- low-level helpers


def _L() -> Lib:
    return lib()


def _const(name: str) -> int:
    return _L().header.constants[name]


def _norm(s: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def _enum(prefix: str, value: Union[str, int], what: str) -> int:
    """A ``KMS_<prefix>*`` number from a name such as ``"AES-256"`` or ``"generate-data-key"``."""
    if isinstance(value, int):
        return value
    table = {_norm(k): v for k, v in _L().header.constants_with_prefix(prefix).items()}
    try:
        return table[_norm(value)]
    except KeyError:
        names = ", ".join(sorted(k.lower() for k in _L().header.constants_with_prefix(prefix)))
        raise ValueError(f"unknown {what} {value!r} (one of: {names})") from None


def _bits(prefix: str, values: Union[None, int, str, Iterable[Union[str, int]]], what: str) -> int:
    if values is None:
        return 0
    if isinstance(values, (int, str)):
        values = [values]
    n = 0
    for v in values:
        n |= _enum(prefix, v, what)
    return n


def _s(v: Optional[Union[str, bytes]]) -> Optional[bytes]:
    if v is None:
        return None
    return v if isinstance(v, bytes) else str(v).encode("utf-8")


def _keyname(key: KeyRef) -> bytes:
    if isinstance(key, Key):
        return str(key.id).encode()
    return str(key).encode("utf-8")


def _in(data: Optional[Bytes]) -> Tuple[Any, int]:
    """(pointer, length) for bytes-like input, without copying bytes/bytearray."""
    if data is None or len(data) == 0:
        return None, 0
    if isinstance(data, bytes):
        return ctypes.cast(c_char_p(data), POINTER(c_uint8)), len(data)
    if isinstance(data, bytearray):
        return (c_uint8 * len(data)).from_buffer(data), len(data)
    if isinstance(data, memoryview) and not data.readonly and data.contiguous:
        return (c_uint8 * data.nbytes).from_buffer(data), data.nbytes
    b = bytes(data)
    return ctypes.cast(c_char_p(b), POINTER(c_uint8)), len(b)


def _ctx(context: Context) -> Tuple[Any, Any, int]:
    """The (keys[], values[], count) triple of an encryption context."""
    if not context:
        return None, None, 0
    items = list(context.items())
    n = len(items)
    keys = (c_char_p * n)(*[_s(k) for k, _ in items])
    values = (c_char_p * n)(*[_s(v) for _, v in items])
    return keys, values, n


def _raise(status: int, err: Any) -> None:
    L = _L()
    code, msg = status, ""
    if err:
        code = L.kms_error_code(err)
        raw = L.kms_error_message(err)
        msg = raw.decode("utf-8", "replace") if raw else ""
        L.kms_error_free(err)
    name = L.kms_status_str(code)
    raise error_class(code)(code, msg, name.decode() if name else "")


def _call(name: str, *args: Any) -> None:
    """Calls ``name(*args, &err)`` and raises on failure."""
    L = _L()
    err = POINTER(L.header.structs["kms_error"])()
    st = getattr(L, name)(*args, byref(err))
    if st != 0:
        _raise(st, err)


def _call_out(name: str, before: Sequence[Any], after: Sequence[Any] = (), guess: int = 256,
              text: bool = False, wipe: bool = False) -> Union[bytes, str]:
    """Calls a function with the output-buffer convention ``(out, &len)`` between ``before``
    and ``after``; grows the buffer on ``KMS_ERR_BUFFER_TOO_SMALL`` and retries."""
    L = _L()
    fn = getattr(L, name)
    too_small = _const("KMS_ERR_BUFFER_TOO_SMALL")
    size = max(guess, 1)
    for _ in range(8):
        buf: Any = ctypes.create_string_buffer(size) if text else (c_uint8 * size)()
        n = c_size_t(size)
        err = POINTER(L.header.structs["kms_error"])()
        st = fn(*before, buf, byref(n), *after, byref(err))
        if st == too_small:
            if err:
                L.kms_error_free(err)
            size = max(n.value, size * 2)
            continue
        if st != 0:
            _raise(st, err)
        if text:
            return buf.value.decode("utf-8")
        out = ctypes.string_at(buf, n.value)
        if wipe:
            ctypes.memset(buf, 0, size)
        return out
    raise BufferTooSmall(too_small, f"{name}: output kept growing", "KMS_ERR_BUFFER_TOO_SMALL")


def _new_buffer() -> Any:
    return _L().header.structs["kms_buffer"]()


def _take(buf: Any) -> bytes:
    """Copies a kms_buffer into bytes and frees (zeroizes) it."""
    try:
        return ctypes.string_at(buf.data, buf.len) if buf.len else b""
    finally:
        _L().kms_buffer_free(byref(buf))


def version() -> str:
    """The library's version string (``kms_version``)."""
    return _L().kms_version().decode()


def version_number() -> int:
    """The library's version as a number (``kms_version_number``)."""
    return int(_L().kms_version_number())


def status_str(code: int) -> str:
    """The static English name of a status number (``kms_status_str``)."""
    s = _L().kms_status_str(code)
    return s.decode() if s else ""


# ---------------------------------------------------------------- result objects


class SecretBuffer:
    """Secret bytes held in libkms-owned memory (a ``kms_buffer``), wiped on :meth:`close`
    (``kms_buffer_free`` zeroizes), on context exit, or when garbage-collected.

    ``view()`` gives a memoryview on that memory without copying (valid until close);
    ``bytes(buf)`` makes a Python copy, which Python cannot wipe: prefer ``view()``."""

    def __init__(self, buf: Any) -> None:
        self._buf = buf
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """Whether the buffer was wiped and freed."""
        return self._buf is None

    def __len__(self) -> int:
        if self._buf is None:
            raise ValueError("secret buffer is closed")
        return int(self._buf.len)

    def view(self) -> memoryview:
        """A memoryview on the secret bytes in libkms memory; invalid after close()."""
        if self._buf is None:
            raise ValueError("secret buffer is closed")
        if not self._buf.len:
            return memoryview(b"")
        arr = (c_uint8 * self._buf.len).from_address(ctypes.addressof(self._buf.data.contents))
        return memoryview(arr).cast("B")

    def __bytes__(self) -> bytes:
        return bytes(self.view())

    def close(self) -> None:
        """Zeroizes and frees the bytes (idempotent)."""
        with self._lock:
            if self._buf is not None:
                _L().kms_buffer_free(byref(self._buf))
                self._buf = None

    def __enter__(self) -> "SecretBuffer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {'closed' if self.closed else f'{len(self)} bytes'}>"


class DataKey(SecretBuffer):
    """A data key from :meth:`Kms.generate_data_key`: ``plaintext`` (a :class:`SecretBuffer`
    view, wiped on close) and ``wrapped`` (encrypted under the KMS key; store it beside the
    data and give it to :meth:`Kms.decrypt_data_key` later)."""

    def __init__(self, buf: Any, wrapped: bytes) -> None:
        super().__init__(buf)
        self.wrapped: bytes = wrapped

    @property
    def plaintext(self) -> memoryview:
        """The plaintext key bytes (a view on libkms memory, invalid after close)."""
        return self.view()


@dataclass(frozen=True)
class Signed:
    """A signature or MAC and the key version that made it (give it back to verify)."""

    value: bytes
    version: int


@dataclass(frozen=True)
class AuditReport:
    """Result of :meth:`Kms.audit_verify`."""

    ok: bool
    records: int
    first_seq: int
    last_seq: int
    checkpoints: int
    problem_seq: int


class Stream:
    """A streaming encryption or decryption (``kms_stream``). Feed :meth:`update`, then
    :meth:`final`; decrypted output is complete only when :meth:`final` returns."""

    def __init__(self, handle: int) -> None:
        self._h = handle
        self._lock = threading.Lock()

    def update(self, data: Bytes) -> bytes:
        """Feeds bytes; returns the output ready so far (possibly empty)."""
        buf = _new_buffer()
        p, n = _in(data)
        _call("kms_stream_update", self._handle(), p, n, byref(buf))
        return _take(buf)

    def final(self) -> bytes:
        """Ends the stream; returns the remaining output. Raises if the stream is incomplete
        or altered (decryption)."""
        buf = _new_buffer()
        _call("kms_stream_final", self._handle(), byref(buf))
        return _take(buf)

    def _handle(self) -> int:
        if not self._h:
            raise ValueError("stream is closed")
        return self._h

    def close(self) -> None:
        """Frees the stream (idempotent)."""
        with self._lock:
            if self._h:
                _L().kms_stream_free(self._h)
                self._h = 0

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


# ---------------------------------------------------------------- the context


def _key_params(spec: Union[str, int], name: Optional[str], usage: Any, description: Optional[str],
                tags: Union[None, str, Mapping[str, str]], activation_date: Optional[int],
                rotation_period: Optional[int], rotate_after_uses: Optional[int],
                exportable: bool, pre_active: bool) -> Any:
    p = _L().header.structs["kms_key_params"]()
    p.spec = _enum("KMS_SPEC_", spec, "key spec")
    p.usage = _bits("KMS_USAGE_", usage, "usage")
    p.name = _s(name)
    p.description = _s(description)
    if isinstance(tags, Mapping):
        tags = ",".join(f"{k}={v}" for k, v in tags.items())
    p.tags = _s(tags)
    p.activation_date = int(activation_date or 0)
    p.rotation_period_seconds = int(rotation_period or 0)
    p.rotate_after_uses = int(rotate_after_uses or 0)
    p.exportable = 1 if exportable else 0
    p.pre_active = 1 if pre_active else 0
    return p


def _audit_filter(key: Optional[KeyRef], identity: Optional[str], action: Optional[str],
                  since_us: int, until_us: int, after_seq: int, limit: int,
                  descending: bool) -> Any:
    f = _L().header.structs["kms_audit_filter"]()
    if key is not None:
        f.key_id = key.id if isinstance(key, Key) else int(key)
    f.identity = _s(identity)
    f.action = _s(action)
    f.since_us = since_us
    f.until_us = until_us
    f.after_seq = after_seq
    f.limit = limit
    f.descending = 1 if descending else 0
    return f


class Kms:
    """An open libkms context: a store plus an authenticated identity.

    Open once (authentication costs one Argon2id verification) and share between threads.
    Use as a context manager, or call :meth:`close`::

        with kms.Kms.open_default_owner("/tmp/demo/kms.db") as k:
            key = k.create_key("AES-256", name="orders")
            ct = key.encrypt(b"secret", context={"tenant": "acme"})
    """

    def __init__(self, handle: int) -> None:
        """Use :meth:`open` or :meth:`open_default_owner`."""
        self._h = handle
        self._lock = threading.Lock()

    # -- open / close

    @classmethod
    def open(cls, store: Optional[Union[str, os.PathLike]] = None, keyring: Optional[str] = None, *,
             identity: str, secret: Union[str, Bytes]) -> "Kms":
        """Opens (creating if needed) ``store`` (None = ``$KMS_STORE`` or the default store)
        and authenticates as ``identity`` with ``secret`` in ``keyring`` (None = "default")."""
        out = c_uint64()
        sec = secret.encode() if isinstance(secret, str) else secret
        p, n = _in(sec)
        _call("kms_open", _s(os.fspath(store)) if store is not None else None, _s(keyring),
              _s(identity), p, n, byref(out))
        return cls(out.value)

    @classmethod
    def open_default_owner(cls, store: Optional[Union[str, os.PathLike]] = None) -> "Kms":
        """Opens ``store`` (None = the default store) as its owner, with the owner secret file
        kept beside it (``<store>.owner``)."""
        out = c_uint64()
        _call("kms_open_default_owner", _s(os.fspath(store)) if store is not None else None, byref(out))
        return cls(out.value)

    @property
    def handle(self) -> int:
        """The C ``kms_ctx`` handle (for passing to C code)."""
        if not self._h:
            raise ValueError("Kms context is closed")
        return self._h

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return not self._h

    def close(self) -> None:
        """Flushes pending audit records and closes the context (idempotent). Calls running on
        other threads finish; later calls raise."""
        with self._lock:
            h, self._h = self._h, 0
        if h:
            st = _L().kms_close(h)
            if st != 0:
                _raise(st, None)

    def __enter__(self) -> "Kms":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def flush(self) -> None:
        """Makes this context's batched audit records durable and visible to other contexts
        and processes now (otherwise group-committed within milliseconds; close does it too)."""
        _call("kms_flush", self.handle)

    @property
    def identity(self) -> str:
        """The name of the authenticated identity."""
        return str(_call_out("kms_ctx_identity", (self.handle,), guess=64, text=True))

    # -- keys

    def create_key(self, spec: Union[str, int] = "AES-256", name: Optional[str] = None, *,
                   usage: Any = None, description: Optional[str] = None,
                   tags: Union[None, str, Mapping[str, str]] = None,
                   activation_date: Optional[int] = None, rotation_period: Optional[int] = None,
                   rotate_after_uses: Optional[int] = None, exportable: bool = False,
                   pre_active: bool = False) -> "Key":
        """Creates a key. ``spec``: "AES-128", "AES-256", "HMAC-SHA256", "EC-P256", "ED25519",
        "RSA-2048", ... (``KMS_SPEC_*``); ``usage``: names such as ["sign", "verify"]
        (default: the spec's); ``rotation_period`` in seconds."""
        p = _key_params(spec, name, usage, description, tags, activation_date, rotation_period,
                        rotate_after_uses, exportable, pre_active)
        out = c_uint64()
        _call("kms_key_create", self.handle, byref(p), byref(out))
        return Key(self, out.value, name)

    def import_key(self, spec: Union[str, int], material: Bytes, name: Optional[str] = None, *,
                   usage: Any = None, description: Optional[str] = None,
                   tags: Union[None, str, Mapping[str, str]] = None, exportable: bool = False) -> "Key":
        """Creates a key from raw AES/HMAC bytes or PKCS#8 DER (copied and sealed)."""
        p = _key_params(spec, name, usage, description, tags, None, None, None, exportable, False)
        m, n = _in(material)
        out = c_uint64()
        _call("kms_key_import", self.handle, byref(p), m, n, byref(out))
        return Key(self, out.value, name)

    def import_wrapped(self, wrapped: Bytes, name: Optional[str] = None, *,
                       description: Optional[str] = None, exportable: bool = False) -> "Key":
        """Imports a key exported with :meth:`Key.export_wrapped`."""
        p = _key_params(0, name, None, description, None, None, None, None, exportable, False)
        w, n = _in(wrapped)
        out = c_uint64()
        _call("kms_key_import_wrapped", self.handle, byref(p), w, n, byref(out))
        return Key(self, out.value, name)

    def key(self, key: Union[str, int]) -> "Key":
        """A :class:`Key` object for an existing key id or name (looked up, so a missing key
        raises :class:`~kms.errors.NotFound`)."""
        d = json.loads(_call_out("kms_key_describe", (self.handle, _keyname(key)), guess=4096, text=True))
        return Key(self, int(d["id"]), d.get("name"))

    def list_keys(self, *, name_prefix: Optional[str] = None, spec: Union[None, str, int] = None,
                  state: Union[None, str, int] = None, tag: Optional[str] = None,
                  include_destroyed: bool = False, after_id: int = 0, limit: int = 0) -> List[Dict[str, Any]]:
        """Keys of the keyring as dicts (shaped as :meth:`Key.describe`), in id order."""
        f = _L().header.structs["kms_key_filter"]()
        f.name_prefix = _s(name_prefix)
        f.spec = 0 if spec is None else _enum("KMS_SPEC_", spec, "key spec")
        f.state = 0 if state is None else _enum("KMS_STATE_", state, "state")
        f.tag = _s(tag)
        f.include_destroyed = 1 if include_destroyed else 0
        f.after_id = after_id
        f.limit = limit
        return json.loads(_call_out("kms_key_list", (self.handle, byref(f)), guess=8192, text=True))

    # -- crypto

    def encrypt(self, key: KeyRef, plaintext: Bytes, context: Context = None) -> bytes:
        """Encrypts under the key's primary version; ``context`` is bound (give it to decrypt)."""
        p, n = _in(plaintext)
        ck, cv, cn = _ctx(context)
        return bytes(_call_out("kms_encrypt", (self.handle, _keyname(key), p, n, ck, cv, cn),
                               guess=n + _const("KMS_CIPHERTEXT_OVERHEAD")))

    def decrypt(self, ciphertext: Bytes, context: Context = None) -> bytes:
        """Decrypts (the key comes from the ciphertext). Raises
        :class:`~kms.errors.InvalidCiphertext` when altered or the context differs."""
        c, n = _in(ciphertext)
        ck, cv, cn = _ctx(context)
        return bytes(_call_out("kms_decrypt", (self.handle, c, n, ck, cv, cn),
                               guess=max(n - _const("KMS_CIPHERTEXT_OVERHEAD"), 1), wipe=True))

    def decrypt_to_buffer(self, ciphertext: Bytes, context: Context = None) -> SecretBuffer:
        """As :meth:`decrypt`, into libkms memory wiped on close (for secrets)."""
        c, n = _in(ciphertext)
        ck, cv, cn = _ctx(context)
        buf = _new_buffer()
        _call("kms_decrypt_buffer", self.handle, c, n, ck, cv, cn, byref(buf))
        return SecretBuffer(buf)

    def reencrypt(self, ciphertext: Bytes, context: Context = None, *, dest_key: Optional[KeyRef] = None,
                  dest_context: Context = None) -> bytes:
        """Decrypts and encrypts again inside libkms (the plaintext never reaches Python):
        under ``dest_key`` (default: the same key's primary version) and ``dest_context``
        (default: the same context)."""
        c, n = _in(ciphertext)
        ck, cv, cn = _ctx(context)
        dk, dv, dn = _ctx(dest_context)
        return bytes(_call_out("kms_reencrypt", (self.handle, c, n, ck, cv, cn,
                                                 None if dest_key is None else _keyname(dest_key), dk, dv, dn),
                               guess=n + 64))

    def generate_data_key(self, key: KeyRef, context: Context = None, length: int = 32) -> DataKey:
        """A fresh data key: plaintext (in a :class:`DataKey`, wiped on close) and the same key
        wrapped under ``key``. Use ``with``."""
        ck, cv, cn = _ctx(context)
        size = length + _const("KMS_CIPHERTEXT_OVERHEAD")
        wrapped = (c_uint8 * size)()
        n = c_size_t(size)
        buf = _new_buffer()
        _call("kms_generate_data_key", self.handle, _keyname(key), length, ck, cv, cn, byref(buf), wrapped, byref(n))
        return DataKey(buf, ctypes.string_at(wrapped, n.value))

    def generate_data_key_without_plaintext(self, key: KeyRef, context: Context = None, length: int = 32) -> bytes:
        """Only the wrapped data key (for a party that will decrypt it later)."""
        ck, cv, cn = _ctx(context)
        return bytes(_call_out("kms_generate_data_key_without_plaintext", (self.handle, _keyname(key), length, ck, cv, cn),
                               guess=length + _const("KMS_CIPHERTEXT_OVERHEAD")))

    def decrypt_data_key(self, wrapped: Bytes, context: Context = None) -> DataKey:
        """Unwraps a stored data key (wiped on close)."""
        w, n = _in(wrapped)
        ck, cv, cn = _ctx(context)
        buf = _new_buffer()
        _call("kms_decrypt_data_key", self.handle, w, n, ck, cv, cn, byref(buf))
        return DataKey(buf, bytes(wrapped))

    def sign(self, key: KeyRef, data: Bytes, alg: Union[str, int], *, prehashed: bool = False) -> Signed:
        """Signs with the primary version; ``alg``: "ECDSA_SHA256", "ED25519",
        "RSA_PSS_SHA256", ... (``KMS_SIGN_*``)."""
        d, n = _in(data)
        ver = c_uint32()
        sig = _call_out("kms_sign", (self.handle, _keyname(key), _enum("KMS_SIGN_", alg, "algorithm"), d, n,
                                     1 if prehashed else 0), (byref(ver),), guess=_const("KMS_MAX_SIGNATURE"))
        return Signed(bytes(sig), ver.value)

    def verify(self, key: KeyRef, data: Bytes, signature: Union[Signed, Bytes], alg: Union[str, int], *,
               version: int = 0, prehashed: bool = False) -> bool:
        """True when the signature verifies (False on ``KMS_ERR_VERIFICATION_FAILED``)."""
        if isinstance(signature, Signed):
            version, signature = signature.version, signature.value
        d, n = _in(data)
        s, sn = _in(signature)
        try:
            _call("kms_verify", self.handle, _keyname(key), version, _enum("KMS_SIGN_", alg, "algorithm"), d, n,
                  1 if prehashed else 0, s, sn)
        except VerificationFailed:
            return False
        return True

    def get_public_key(self, key: KeyRef, version: int = 0) -> bytes:
        """The public key (DER SubjectPublicKeyInfo) of an asymmetric key version (0 = primary)."""
        return bytes(_call_out("kms_get_public_key", (self.handle, _keyname(key), version), guess=1024))

    def mac(self, key: KeyRef, data: Bytes) -> Signed:
        """An HMAC with the primary version of an HMAC key."""
        d, n = _in(data)
        ver = c_uint32()
        m = _call_out("kms_mac", (self.handle, _keyname(key), d, n), (byref(ver),), guess=_const("KMS_MAX_MAC"))
        return Signed(bytes(m), ver.value)

    def verify_mac(self, key: KeyRef, data: Bytes, mac: Union[Signed, Bytes], *, version: int = 0) -> bool:
        """True when the MAC verifies."""
        if isinstance(mac, Signed):
            version, mac = mac.version, mac.value
        d, n = _in(data)
        m, mn = _in(mac)
        try:
            _call("kms_verify_mac", self.handle, _keyname(key), version, d, n, m, mn)
        except VerificationFailed:
            return False
        return True

    def wrap(self, key: KeyRef, data: Bytes) -> bytes:
        """Wraps key material under a wrapping key."""
        d, n = _in(data)
        return bytes(_call_out("kms_wrap", (self.handle, _keyname(key), d, n), guess=n + 128))

    def unwrap(self, wrapped: Bytes) -> SecretBuffer:
        """Unwraps material wrapped by :meth:`wrap` (wiped on close)."""
        w, n = _in(wrapped)
        buf = _new_buffer()
        _call("kms_unwrap", self.handle, w, n, byref(buf))
        return SecretBuffer(buf)

    def derive(self, key: KeyRef, length: int, *, salt: Bytes = b"", info: Bytes = b"") -> SecretBuffer:
        """HKDF output of ``length`` bytes from a derive key (wiped on close)."""
        s, sn = _in(salt)
        i, inn = _in(info)
        buf = _new_buffer()
        _call("kms_derive", self.handle, _keyname(key), s, sn, i, inn, length, byref(buf))
        return SecretBuffer(buf)

    def random(self, n: int) -> bytes:
        """``n`` random bytes (at most 1 MiB)."""
        buf = (c_uint8 * max(n, 1))()
        _call("kms_random", self.handle, buf, n)
        return ctypes.string_at(buf, n)

    # -- identities and grants

    def create_identity(self, name: str, secret: Union[str, Bytes], roles: Any = (), *,
                        combined_roles: bool = False) -> None:
        """Creates an identity; ``roles``: names among "admin", "user", "auditor",
        "security-officer" (more than one needs ``combined_roles=True``). An identity with no
        role can do only what grants allow."""
        sec = secret.encode() if isinstance(secret, str) else secret
        p, n = _in(sec)
        _call("kms_identity_create", self.handle, _s(name), p, n, _bits("KMS_ROLE_", roles, "role"),
              1 if combined_roles else 0)

    def disable_identity(self, name: str) -> None:
        """Disables an identity (its open contexts are refused from their next call)."""
        _call("kms_identity_disable", self.handle, _s(name))

    def enable_identity(self, name: str) -> None:
        """Enables a disabled identity."""
        _call("kms_identity_enable", self.handle, _s(name))

    def unlock_identity(self, name: str) -> None:
        """Clears an identity's lockout after failed authentications."""
        _call("kms_identity_unlock", self.handle, _s(name))

    def delete_identity(self, name: str) -> None:
        """Deletes an identity."""
        _call("kms_identity_delete", self.handle, _s(name))

    def set_identity_secret(self, name: str, secret: Union[str, Bytes]) -> None:
        """Replaces an identity's secret."""
        sec = secret.encode() if isinstance(secret, str) else secret
        p, n = _in(sec)
        _call("kms_identity_set_secret", self.handle, _s(name), p, n)

    def grant(self, identity: str, actions: Iterable[Union[str, int]], key: Optional[KeyRef] = None, *,
              expires: Optional[int] = None, max_uses: int = 0, context: Context = None) -> int:
        """Grants ``identity`` the ``actions`` ("encrypt", "decrypt", "generate-data-key", ...)
        on ``key`` (None = every key of the keyring), optionally until ``expires`` (epoch
        seconds), for ``max_uses`` uses, and only with ``context``. Returns the grant id."""
        codes = [_enum("KMS_ACTION_", a, "action") for a in actions]
        g = _L().header.structs["kms_grant_params"]()
        g.identity = _s(identity)
        g.key = None if key is None else _keyname(key)
        arr = (c_uint32 * len(codes))(*codes)
        g.actions = ctypes.cast(arr, POINTER(c_uint32))
        g.action_count = len(codes)
        g.expires = int(expires or 0)
        g.max_uses = max_uses
        ck, cv, cn = _ctx(context)
        g.ctx_keys, g.ctx_values, g.ctx_count = ck, cv, cn
        out = c_uint64()
        _call("kms_grant_create", self.handle, byref(g), byref(out))
        del arr
        return out.value

    def revoke_grant(self, grant_id: int) -> None:
        """Revokes a grant."""
        _call("kms_grant_revoke", self.handle, grant_id)

    def list_grants(self, key: Optional[KeyRef] = None) -> List[Dict[str, Any]]:
        """Grants (of one key, or all) as dicts."""
        return json.loads(_call_out("kms_grant_list", (self.handle, None if key is None else _keyname(key)),
                                    guess=4096, text=True))

    # -- audit

    def audit_query(self, *, key: Optional[KeyRef] = None, identity: Optional[str] = None,
                    action: Optional[str] = None, since_us: int = 0, until_us: int = 0,
                    after_seq: int = 0, limit: int = 0, descending: bool = False) -> List[Dict[str, Any]]:
        """Audit records matching the filter, as dicts (never data or key material)."""
        f = _audit_filter(key, identity, action, since_us, until_us, after_seq, limit, descending)
        text = str(_call_out("kms_audit_query", (self.handle, byref(f)), guess=65536, text=True))
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def audit_export(self, path: Union[str, os.PathLike, int], *, key: Optional[KeyRef] = None,
                     identity: Optional[str] = None, action: Optional[str] = None, since_us: int = 0,
                     until_us: int = 0, after_seq: int = 0, limit: int = 0,
                     descending: bool = False) -> int:
        """Writes matching records as JSON lines to ``path`` (or an open file descriptor, an
        ``int``); returns the count."""
        f = _audit_filter(key, identity, action, since_us, until_us, after_seq, limit, descending)
        out = c_uint64()
        if isinstance(path, int):
            _call("kms_audit_export_fd", self.handle, byref(f), path, byref(out))
        else:
            _call("kms_audit_export", self.handle, byref(f), _s(os.fspath(path)), byref(out))
        return out.value

    def audit_verify(self, checkpoint_key: Optional[Bytes] = None) -> AuditReport:
        """Checks the hash chain (and checkpoints signed with ``checkpoint_key``). Returns the
        report; ``report.ok`` is False when a problem was found (never raises for that)."""
        r = _L().header.structs["kms_audit_report"]()
        k, n = _in(checkpoint_key)
        try:
            _call("kms_audit_verify", self.handle, k, n, byref(r))
        except KmsError as e:
            if e.code != _const("KMS_ERR_INTEGRITY"):
                raise
        return AuditReport(bool(r.ok), r.records, r.first_seq, r.last_seq, r.checkpoints, r.problem_seq)

    def audit_checkpoint(self, key: Bytes) -> int:
        """Writes a checkpoint over the chain so far, MACed with ``key`` (32 bytes)."""
        k, n = _in(key)
        out = c_uint64()
        _call("kms_audit_checkpoint", self.handle, k, n, byref(out))
        return out.value

    # -- secrets

    def put_secret(self, name: str, value: Union[str, Bytes], key: KeyRef) -> int:
        """Stores ``value`` as a new version of secret ``name`` encrypted under ``key``;
        returns the version (1 for a new secret)."""
        v = value.encode() if isinstance(value, str) else value
        p, n = _in(v)
        out = c_uint32()
        _call("kms_secret_put", self.handle, _s(name), _keyname(key), p, n, byref(out))
        return out.value

    def get_secret_buffer(self, name: str, version: int = 0) -> SecretBuffer:
        """A secret's value (``version`` 0 = latest) in libkms memory wiped on close."""
        buf = _new_buffer()
        _call("kms_secret_get", self.handle, _s(name), version, byref(buf))
        return SecretBuffer(buf)

    def get_secret(self, name: str, version: int = 0) -> bytes:
        """A secret's value as bytes (a Python copy; see :meth:`get_secret_buffer`)."""
        with self.get_secret_buffer(name, version) as b:
            return bytes(b)

    def list_secrets(self, name: Optional[str] = None) -> List[Dict[str, Any]]:
        """Versions of one secret (or of all) as dicts {name, version, key_id, created,
        deleted}; never values."""
        return json.loads(_call_out("kms_secret_list", (self.handle, _s(name)), guess=4096, text=True))

    def delete_secret(self, name: str) -> int:
        """Deletes every version of a secret; returns how many."""
        out = c_uint32()
        _call("kms_secret_delete", self.handle, _s(name), byref(out))
        return out.value

    # -- certificates and data objects

    def create_object(self, cls: str, label: str, value: Bytes, id: Bytes = b"", sensitive: bool = False) -> int:
        """Stores a certificate (``cls="certificate"``, DER value), data object (``"data"``)
        or public key (``"public-key"``); returns its object id. ``sensitive`` seals the
        value and keeps it out of listings."""
        vp, vn = _in(value)
        ip, inn = _in(id)
        out = c_uint64()
        _call("kms_object_create", self.handle, _s(cls), _s(label), ip, inn, vp, vn, 1 if sensitive else 0, byref(out))
        return out.value

    def get_object(self, object_id: int) -> bytes:
        """An object's value (unsealed when sensitive)."""
        buf = _new_buffer()
        _call("kms_object_get", self.handle, object_id, byref(buf))
        with SecretBuffer(buf) as b:
            return bytes(b)

    def list_objects(self, cls: Optional[str] = None, label: Optional[str] = None) -> List[Dict[str, Any]]:
        """Objects as dicts {id, class, label, ext_id, size, sensitive, created, version};
        never values."""
        return json.loads(_call_out("kms_object_list", (self.handle, _s(cls), _s(label)), guess=4096, text=True))

    def delete_object(self, object_id: int) -> None:
        """Deletes an object."""
        _call("kms_object_delete", self.handle, object_id)

    # -- streams

    def encrypt_stream(self, key: KeyRef, context: Context = None) -> Stream:
        """A streaming encryption under a fresh data key wrapped by ``key``."""
        ck, cv, cn = _ctx(context)
        out = c_uint64()
        _call("kms_stream_encrypt_init", self.handle, _keyname(key), ck, cv, cn, byref(out))
        return Stream(out.value)

    def decrypt_stream(self, context: Context = None) -> Stream:
        """A streaming decryption of :meth:`encrypt_stream` output with the same context."""
        ck, cv, cn = _ctx(context)
        out = c_uint64()
        _call("kms_stream_decrypt_init", self.handle, ck, cv, cn, byref(out))
        return Stream(out.value)

    def encrypt_file(self, key: KeyRef, src: Union[str, os.PathLike], dst: Union[str, os.PathLike],
                     context: Context = None, chunk_size: int = 1 << 16) -> int:
        """Encrypts file ``src`` into ``dst``; returns the bytes written."""
        return self._pipe(self.encrypt_stream(key, context), src, dst, chunk_size)

    def decrypt_file(self, src: Union[str, os.PathLike], dst: Union[str, os.PathLike],
                     context: Context = None, chunk_size: int = 1 << 16) -> int:
        """Decrypts ``src`` into ``dst``; on any failure ``dst`` is removed (no partial
        plaintext is left behind) and the error raised."""
        return self._pipe(self.decrypt_stream(context), src, dst, chunk_size)

    @staticmethod
    def _pipe(stream: Stream, src: Any, dst: Any, chunk_size: int) -> int:
        written = 0
        try:
            with stream, open(src, "rb") as fin, open(dst, "wb") as fout:
                while True:
                    chunk = fin.read(chunk_size)
                    if not chunk:
                        break
                    out = stream.update(chunk)
                    fout.write(out)
                    written += len(out)
                out = stream.final()
                fout.write(out)
                written += len(out)
        except BaseException:
            try:
                os.unlink(dst)
            except OSError:
                pass
            raise
        return written


class Key:
    """A key of a :class:`Kms` context: ``id`` (stable) and ``name``. Methods call libkms
    each time (nothing is cached except the id), so state changes by others are seen."""

    def __init__(self, kms: Kms, key_id: int, name: Optional[str] = None) -> None:
        self.kms = kms
        self.id = int(key_id)
        self.name = name

    def __repr__(self) -> str:
        return f"<Key {self.id}{' ' + repr(self.name) if self.name else ''}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def _ref(self) -> bytes:
        return str(self.id).encode()

    def describe(self) -> Dict[str, Any]:
        """The key's metadata (id, name, spec, usage, state, versions, ...), never material."""
        return json.loads(_call_out("kms_key_describe", (self.kms.handle, self._ref()), guess=4096, text=True))

    @property
    def state(self) -> str:
        """The key's current state name ("active", "suspended", ...)."""
        return str(self.describe()["state"])

    def encrypt(self, plaintext: Bytes, context: Context = None) -> bytes:
        """See :meth:`Kms.encrypt`."""
        return self.kms.encrypt(self, plaintext, context)

    def decrypt(self, ciphertext: Bytes, context: Context = None) -> bytes:
        """See :meth:`Kms.decrypt` (the key is named by the ciphertext itself)."""
        return self.kms.decrypt(ciphertext, context)

    def reencrypt(self, ciphertext: Bytes, context: Context = None) -> bytes:
        """Re-encrypts ``ciphertext`` (of any key) under this key's primary version."""
        return self.kms.reencrypt(ciphertext, context, dest_key=self)

    def generate_data_key(self, context: Context = None, length: int = 32) -> DataKey:
        """See :meth:`Kms.generate_data_key`."""
        return self.kms.generate_data_key(self, context, length)

    def sign(self, data: Bytes, alg: Union[str, int], *, prehashed: bool = False) -> Signed:
        """See :meth:`Kms.sign`."""
        return self.kms.sign(self, data, alg, prehashed=prehashed)

    def verify(self, data: Bytes, signature: Union[Signed, Bytes], alg: Union[str, int], *,
               version: int = 0, prehashed: bool = False) -> bool:
        """See :meth:`Kms.verify`."""
        return self.kms.verify(self, data, signature, alg, version=version, prehashed=prehashed)

    def public_key(self, version: int = 0) -> bytes:
        """See :meth:`Kms.get_public_key`."""
        return self.kms.get_public_key(self, version)

    def mac(self, data: Bytes) -> Signed:
        """See :meth:`Kms.mac`."""
        return self.kms.mac(self, data)

    def verify_mac(self, data: Bytes, mac: Union[Signed, Bytes], *, version: int = 0) -> bool:
        """See :meth:`Kms.verify_mac`."""
        return self.kms.verify_mac(self, data, mac, version=version)

    def wrap(self, data: Bytes) -> bytes:
        """See :meth:`Kms.wrap`."""
        return self.kms.wrap(self, data)

    def derive(self, length: int, *, salt: Bytes = b"", info: Bytes = b"") -> SecretBuffer:
        """See :meth:`Kms.derive`."""
        return self.kms.derive(self, length, salt=salt, info=info)

    def rotate(self) -> int:
        """Adds a version and makes it primary; returns its number. Older versions still
        decrypt and verify."""
        out = c_uint32()
        _call("kms_key_rotate", self.kms.handle, self._ref(), byref(out))
        return out.value

    def enable(self) -> None:
        """Pre-active or suspended -> active."""
        _call("kms_key_enable", self.kms.handle, self._ref())

    def disable(self) -> None:
        """Active -> suspended (reversible with :meth:`enable`)."""
        _call("kms_key_disable", self.kms.handle, self._ref())

    def suspend(self) -> None:
        """Active -> suspended."""
        _call("kms_key_suspend", self.kms.handle, self._ref())

    def deactivate(self) -> None:
        """Decrypt/verify only, for good."""
        _call("kms_key_deactivate", self.kms.handle, self._ref())

    def mark_compromised(self) -> None:
        """Flags the key compromised: decrypt/verify only from now on."""
        _call("kms_key_mark_compromised", self.kms.handle, self._ref())

    def schedule_deletion(self, days: Optional[int] = None) -> None:
        """Pending deletion for ``days`` (None = the store default); :meth:`cancel_deletion`
        restores the key, :meth:`destroy` wipes it after the waiting period."""
        _call("kms_key_schedule_deletion", self.kms.handle, self._ref(),
              _const("KMS_DELETION_DEFAULT") if days is None else days)

    def cancel_deletion(self) -> None:
        """Cancels a scheduled deletion."""
        _call("kms_key_cancel_deletion", self.kms.handle, self._ref())

    def destroy(self) -> None:
        """Wipes the material of a key whose deletion waiting period has ended (crypto-shred:
        everything encrypted under it becomes unreadable)."""
        _call("kms_key_destroy", self.kms.handle, self._ref())

    def set_min_decrypt_version(self, version: int) -> None:
        """Versions below ``version`` no longer decrypt."""
        _call("kms_key_set_min_decrypt_version", self.kms.handle, self._ref(), version)

    def destroy_version(self, version: int) -> None:
        """Wipes one (non-primary) version."""
        _call("kms_key_destroy_version", self.kms.handle, self._ref(), version)

    def set_rotation(self, period_seconds: int = 0, after_uses: int = 0) -> None:
        """Automatic rotation schedule (0 = none)."""
        _call("kms_key_set_rotation", self.kms.handle, self._ref(), period_seconds, after_uses)

    def export_wrapped(self, wrapping_key: KeyRef, version: int = 0) -> bytes:
        """The key (an exportable one) wrapped under ``wrapping_key``."""
        return bytes(_call_out("kms_key_export_wrapped", (self.kms.handle, self._ref(), version,
                                                          _keyname(wrapping_key)), guess=4096))
