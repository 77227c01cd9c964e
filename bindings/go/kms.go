// Package kms is the Go binding of libkms, an in-process key management service.
//
// Module path: libkms.dev/kms (a local module: use it with a replace directive or a go.work
// pointing at bindings/go of the libkms repository). It uses cgo with the generated header
// include/kms.h (#include "kms.h"); nothing is retyped, so the compiler checks every call
// against the header. It needs only the Go standard library. Link it against libkms.so:
//
//	CGO_LDFLAGS=-L/path/to/libkms/target/release LD_LIBRARY_PATH=/path/to/libkms/target/release go test ./...
//
// A Client is safe for concurrent use by many goroutines (the C side is thread-safe and
// error details come from a per-call kms_error object, never from thread-local state, so a
// goroutine moving between OS threads is harmless). Operations take a context.Context: it is
// checked before the C call starts; a C call already running is not interrupted (libkms
// calls are short: a store transaction, an Argon2id verification at Open).
package kms

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -lkms
#include <stdlib.h>
#include "kms.h"
*/
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"unsafe"
)

// Status is a libkms status number (KMS_OK or KMS_ERR_*); numbers are stable.
type Status int32

// String is the library's static name of the status (kms_status_str).
func (s Status) String() string { return C.GoString(C.kms_status_str(C.kms_status(s))) }

// Error is a failed libkms call: the status and the library's message for this call.
// Compare with errors.Is against the Err* sentinels.
type Error struct {
	Code    Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "kms: " + e.Code.String()
	}
	return fmt.Sprintf("kms: %s: %s", e.Code.String(), e.Message)
}

// Is reports whether target is the sentinel of e's status class.
func (e *Error) Is(target error) bool {
	s, ok := target.(*sentinel)
	return ok && s.code == e.Code
}

type sentinel struct {
	code Status
	name string
}

func (s *sentinel) Error() string { return "kms: " + s.name }

func newSentinel(code C.int, name string) error {
	s := &sentinel{Status(code), name}
	sentinels[Status(code)] = s
	return s
}

var sentinels = map[Status]*sentinel{}

// Sentinels, one per KMS_ERR_* status of kms.h (errors.Is(err, kms.ErrAccessDenied)).
var (
	ErrInvalidArgument      = newSentinel(C.KMS_ERR_INVALID_ARGUMENT, "invalid argument")
	ErrNotFound             = newSentinel(C.KMS_ERR_NOT_FOUND, "not found")
	ErrAlreadyExists        = newSentinel(C.KMS_ERR_ALREADY_EXISTS, "already exists")
	ErrKeyState             = newSentinel(C.KMS_ERR_KEY_STATE, "key state")
	ErrKeyUsage             = newSentinel(C.KMS_ERR_KEY_USAGE, "key usage")
	ErrAccessDenied         = newSentinel(C.KMS_ERR_ACCESS_DENIED, "access denied")
	ErrAuthenticationFailed = newSentinel(C.KMS_ERR_AUTHENTICATION_FAILED, "authentication failed")
	ErrIdentityLocked       = newSentinel(C.KMS_ERR_IDENTITY_LOCKED, "identity locked")
	ErrInvalidCiphertext    = newSentinel(C.KMS_ERR_INVALID_CIPHERTEXT, "invalid ciphertext")
	ErrVerificationFailed   = newSentinel(C.KMS_ERR_VERIFICATION_FAILED, "verification failed")
	ErrWrongMasterKey       = newSentinel(C.KMS_ERR_WRONG_MASTER_KEY, "wrong master key")
	ErrIntegrity            = newSentinel(C.KMS_ERR_INTEGRITY, "integrity")
	ErrAuditUnavailable     = newSentinel(C.KMS_ERR_AUDIT_UNAVAILABLE, "audit unavailable")
	ErrLimitExceeded        = newSentinel(C.KMS_ERR_LIMIT_EXCEEDED, "limit exceeded")
	ErrUnsupported          = newSentinel(C.KMS_ERR_UNSUPPORTED, "unsupported")
	ErrStore                = newSentinel(C.KMS_ERR_STORE, "store")
	ErrCrypto               = newSentinel(C.KMS_ERR_CRYPTO, "crypto")
	ErrInternal             = newSentinel(C.KMS_ERR_INTERNAL, "internal")
	ErrNullPointer          = newSentinel(C.KMS_ERR_NULL_POINTER, "null pointer")
	ErrBufferTooSmall       = newSentinel(C.KMS_ERR_BUFFER_TOO_SMALL, "buffer too small")
	ErrInvalidHandle        = newSentinel(C.KMS_ERR_INVALID_HANDLE, "invalid handle")
	ErrPanic                = newSentinel(C.KMS_ERR_PANIC, "panic")
	ErrLength               = newSentinel(C.KMS_ERR_LENGTH, "length")
	ErrUTF8                 = newSentinel(C.KMS_ERR_UTF8, "utf8")
)

// ErrClosed is returned by a Client or Stream used after Close.
var ErrClosed = errors.New("kms: closed")

// check turns a status and its kms_error into a Go error (nil on KMS_OK), freeing the error.
func check(st C.kms_status, e *C.kms_error) error {
	if st == C.KMS_OK {
		return nil
	}
	code := Status(st)
	msg := ""
	if e != nil {
		code = Status(C.kms_error_code(e))
		msg = C.GoString(C.kms_error_message(e))
		C.kms_error_free(e)
	}
	return &Error{Code: code, Message: msg}
}

// Version is the library's version string.
func Version() string { return C.GoString(C.kms_version()) }

// VersionNumber is the library's version as a number.
func VersionNumber() uint32 { return uint32(C.kms_version_number()) }

// Overhead is the number of bytes Encrypt adds to the plaintext.
const Overhead = int(C.KMS_CIPHERTEXT_OVERHEAD)

// ---------------------------------------------------------------- C memory helpers

// cstr is a C copy of s (nil for ""), freed by the caller through a cmem.
type cmem struct{ ptrs []unsafe.Pointer }

func (m *cmem) str(s string) *C.char {
	p := C.CString(s)
	m.ptrs = append(m.ptrs, unsafe.Pointer(p))
	return p
}

func (m *cmem) optStr(s string) *C.char {
	if s == "" {
		return nil
	}
	return m.str(s)
}

// ectx is an encryption context as the (keys[], values[], count) triple in C memory.
func (m *cmem) ectx(ec map[string]string) (**C.char, **C.char, C.size_t) {
	if len(ec) == 0 {
		return nil, nil, 0
	}
	n := len(ec)
	sz := C.size_t(n) * C.size_t(unsafe.Sizeof((*C.char)(nil)))
	keys := C.malloc(sz)
	vals := C.malloc(sz)
	m.ptrs = append(m.ptrs, keys, vals)
	ks := unsafe.Slice((**C.char)(keys), n)
	vs := unsafe.Slice((**C.char)(vals), n)
	i := 0
	for k, v := range ec {
		ks[i] = m.str(k)
		vs[i] = m.str(v)
		i++
	}
	return (**C.char)(keys), (**C.char)(vals), C.size_t(n)
}

func (m *cmem) free() {
	for _, p := range m.ptrs {
		C.free(p)
	}
	m.ptrs = nil
}

// in passes Go bytes to C (only read during the call; no Go pointers inside).
func in(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// outBytes calls f with the output-buffer convention, growing the buffer on
// KMS_ERR_BUFFER_TOO_SMALL.
func outBytes(guess int, f func(out *C.uint8_t, n *C.size_t, e **C.kms_error) C.kms_status) ([]byte, error) {
	if guess < 1 {
		guess = 1
	}
	for i := 0; i < 8; i++ {
		buf := make([]byte, guess)
		n := C.size_t(len(buf))
		var e *C.kms_error
		st := f((*C.uint8_t)(unsafe.Pointer(&buf[0])), &n, &e)
		if st == C.KMS_ERR_BUFFER_TOO_SMALL {
			if e != nil {
				C.kms_error_free(e)
			}
			if int(n) > guess {
				guess = int(n)
			} else {
				guess *= 2
			}
			continue
		}
		if err := check(st, e); err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, &Error{Code: Status(C.KMS_ERR_BUFFER_TOO_SMALL), Message: "output kept growing"}
}

// outText is outBytes for NUL-terminated text outputs.
func outText(guess int, f func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status) (string, error) {
	b, err := outBytes(guess, func(out *C.uint8_t, n *C.size_t, e **C.kms_error) C.kms_status {
		return f((*C.char)(unsafe.Pointer(out)), n, e)
	})
	if err != nil {
		return "", err
	}
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return string(b), nil
}

// take copies a kms_buffer into Go memory and frees (zeroizes) it.
func take(b *C.kms_buffer) []byte {
	defer C.kms_buffer_free(b)
	if b.len == 0 {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(b.data), C.int(b.len))
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// ---------------------------------------------------------------- Client

// Client is an open libkms context: a store and an authenticated identity. Open it once
// (authentication costs one Argon2id verification) and share it between goroutines.
type Client struct {
	h atomic.Uint64
}

func (c *Client) handle() (C.kms_ctx, error) {
	h := c.h.Load()
	if h == 0 {
		return 0, ErrClosed
	}
	return C.kms_ctx(h), nil
}

// begin checks the context and the client before a C call.
func (c *Client) begin(ctx context.Context) (C.kms_ctx, error) {
	if ctx != nil {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
	return c.handle()
}

func newClient(h C.kms_ctx) *Client {
	c := &Client{}
	c.h.Store(uint64(h))
	runtime.SetFinalizer(c, func(c *Client) { _ = c.Close() })
	return c
}

// Open opens (creating if needed) the store at path ("" = $KMS_STORE or the default store)
// and authenticates as identity with secret in keyring ("" = "default").
func Open(ctx context.Context, path, keyring, identity string, secret []byte) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	p, n := in(secret)
	var h C.kms_ctx
	var e *C.kms_error
	if err := check(C.kms_open(m.optStr(path), m.optStr(keyring), m.str(identity), p, n, &h, &e), e); err != nil {
		return nil, err
	}
	return newClient(h), nil
}

// OpenDefaultOwner opens the store at path ("" = the default store) as its owner, with the
// owner secret file kept beside it (<store>.owner).
func OpenDefaultOwner(path string) (*Client, error) {
	var m cmem
	defer m.free()
	var h C.kms_ctx
	var e *C.kms_error
	if err := check(C.kms_open_default_owner(m.optStr(path), &h, &e), e); err != nil {
		return nil, err
	}
	return newClient(h), nil
}

// Close flushes pending audit records and closes the client. Calls running in other
// goroutines finish; later calls return ErrClosed. A second Close returns nil.
func (c *Client) Close() error {
	h := c.h.Swap(0)
	if h == 0 {
		return nil
	}
	runtime.SetFinalizer(c, nil)
	return check(C.kms_close(C.kms_ctx(h)), nil)
}

// Flush makes this client's batched audit records durable and visible to other clients and
// processes now (otherwise group-committed within milliseconds; Close does it too).
func (c *Client) Flush(ctx context.Context) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var e *C.kms_error
	return check(C.kms_flush(h, &e), e)
}

// Handle is the C kms_ctx handle (for passing to C code); 0 after Close.
func (c *Client) Handle() uint64 { return c.h.Load() }

// Identity is the name of the authenticated identity.
func (c *Client) Identity() (string, error) {
	h, err := c.handle()
	if err != nil {
		return "", err
	}
	return outText(64, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_ctx_identity(h, out, n, e)
	})
}

// KeyRef names a key by its numeric id.
func KeyRef(id uint64) string { return strconv.FormatUint(id, 10) }
