package kms

/*
#include <stdlib.h>
#include "kms.h"
*/
import "C"

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"unsafe"
)

// SignAlg is a signature algorithm (KMS_SIGN_*).
type SignAlg uint32

// Signature algorithms, from kms.h.
const (
	ECDSASHA256    SignAlg = C.KMS_SIGN_ECDSA_SHA256
	ECDSASHA384    SignAlg = C.KMS_SIGN_ECDSA_SHA384
	ECDSASHA512    SignAlg = C.KMS_SIGN_ECDSA_SHA512
	Ed25519        SignAlg = C.KMS_SIGN_ED25519
	RSAPKCS1SHA256 SignAlg = C.KMS_SIGN_RSA_PKCS1_SHA256
	RSAPKCS1SHA384 SignAlg = C.KMS_SIGN_RSA_PKCS1_SHA384
	RSAPKCS1SHA512 SignAlg = C.KMS_SIGN_RSA_PKCS1_SHA512
	RSAPSSSHA256   SignAlg = C.KMS_SIGN_RSA_PSS_SHA256
	RSAPSSSHA384   SignAlg = C.KMS_SIGN_RSA_PSS_SHA384
	RSAPSSSHA512   SignAlg = C.KMS_SIGN_RSA_PSS_SHA512
	maxSignature           = int(C.KMS_MAX_SIGNATURE)
	maxMAC                 = int(C.KMS_MAX_MAC)
)

// SecretBuffer holds secret bytes in libkms memory (a kms_buffer), zeroized and freed by
// Close (or by the garbage collector as a last resort). Bytes returns a slice aliasing that
// memory: do not keep it after Close.
type SecretBuffer struct {
	mu  sync.Mutex
	buf *C.kms_buffer // C memory, so C may write it and Go may keep it
}

func newSecret() *SecretBuffer {
	s := &SecretBuffer{buf: (*C.kms_buffer)(C.calloc(1, C.size_t(unsafe.Sizeof(C.kms_buffer{}))))}
	runtime.SetFinalizer(s, func(s *SecretBuffer) { s.Close() })
	return s
}

// Bytes is the secret, aliasing libkms memory (nil after Close).
func (s *SecretBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf == nil || s.buf.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(s.buf.data)), int(s.buf.len))
}

// Len is the secret's length (0 after Close).
func (s *SecretBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf == nil {
		return 0
	}
	return int(s.buf.len)
}

// Close zeroizes and frees the secret (idempotent).
func (s *SecretBuffer) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf != nil {
		C.kms_buffer_free(s.buf)
		C.free(unsafe.Pointer(s.buf))
		s.buf = nil
	}
}

// DataKey is a data key: the plaintext (wiped on Close) and the same key wrapped under the
// KMS key (store Wrapped beside the data; DecryptDataKey gives the plaintext back).
type DataKey struct {
	*SecretBuffer
	Wrapped []byte
}

// Plaintext is the data key, aliasing libkms memory until Close.
func (d *DataKey) Plaintext() []byte { return d.Bytes() }

// Encrypt encrypts under the key's primary version, binding the encryption context ec
// (give the same to Decrypt).
func (c *Client) Encrypt(ctx context.Context, key string, plaintext []byte, ec map[string]string) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	p, n := in(plaintext)
	ck, cv, cn := m.ectx(ec)
	return outBytes(len(plaintext)+Overhead, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_encrypt(h, k, p, n, ck, cv, cn, out, on, e)
	})
}

// Decrypt decrypts (the key is named in the ciphertext). ErrInvalidCiphertext when altered
// or when ec differs from the encryption's.
func (c *Client) Decrypt(ctx context.Context, ciphertext []byte, ec map[string]string) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	p, n := in(ciphertext)
	ck, cv, cn := m.ectx(ec)
	return outBytes(len(ciphertext)-Overhead, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_decrypt(h, p, n, ck, cv, cn, out, on, e)
	})
}

// DecryptSecret is Decrypt into libkms memory wiped on Close.
func (c *Client) DecryptSecret(ctx context.Context, ciphertext []byte, ec map[string]string) (*SecretBuffer, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	p, n := in(ciphertext)
	ck, cv, cn := m.ectx(ec)
	s := newSecret()
	var e *C.kms_error
	if err := check(C.kms_decrypt_buffer(h, p, n, ck, cv, cn, s.buf, &e), e); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ReEncrypt decrypts and encrypts again inside libkms (no plaintext in Go) under destKey
// ("" = the same key's primary version) and destEC (nil = the same context).
func (c *Client) ReEncrypt(ctx context.Context, ciphertext []byte, ec map[string]string, destKey string, destEC map[string]string) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	p, n := in(ciphertext)
	ck, cv, cn := m.ectx(ec)
	dk, dv, dn := m.ectx(destEC)
	d := m.optStr(destKey)
	return outBytes(len(ciphertext)+64, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_reencrypt(h, p, n, ck, cv, cn, d, dk, dv, dn, out, on, e)
	})
}

// GenerateDataKey returns a fresh data key of length bytes (plaintext and wrapped).
func (c *Client) GenerateDataKey(ctx context.Context, key string, length int, ec map[string]string) (*DataKey, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	ck, cv, cn := m.ectx(ec)
	s := newSecret()
	wrapped := make([]byte, length+Overhead)
	wn := C.size_t(len(wrapped))
	var e *C.kms_error
	if err := check(C.kms_generate_data_key(h, k, C.size_t(length), ck, cv, cn, s.buf,
		(*C.uint8_t)(unsafe.Pointer(&wrapped[0])), &wn, &e), e); err != nil {
		s.Close()
		return nil, err
	}
	return &DataKey{s, wrapped[:wn]}, nil
}

// GenerateDataKeyWithoutPlaintext returns only the wrapped data key.
func (c *Client) GenerateDataKeyWithoutPlaintext(ctx context.Context, key string, length int, ec map[string]string) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	ck, cv, cn := m.ectx(ec)
	return outBytes(length+Overhead, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_generate_data_key_without_plaintext(h, k, C.size_t(length), ck, cv, cn, out, on, e)
	})
}

// DecryptDataKey unwraps a stored data key (wiped on Close).
func (c *Client) DecryptDataKey(ctx context.Context, wrapped []byte, ec map[string]string) (*DataKey, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	p, n := in(wrapped)
	ck, cv, cn := m.ectx(ec)
	s := newSecret()
	var e *C.kms_error
	if err := check(C.kms_decrypt_data_key(h, p, n, ck, cv, cn, s.buf, &e), e); err != nil {
		s.Close()
		return nil, err
	}
	return &DataKey{s, append([]byte(nil), wrapped...)}, nil
}

// Sign signs data with the key's primary version; returns the signature and that version.
func (c *Client) Sign(ctx context.Context, key string, alg SignAlg, data []byte, prehashed bool) ([]byte, uint32, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	p, n := in(data)
	var v C.uint32_t
	sig, err := outBytes(maxSignature, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_sign(h, k, C.uint32_t(alg), p, n, b2u(prehashed), out, on, &v, e)
	})
	return sig, uint32(v), err
}

// Verify checks a signature made with version (0 = primary). It returns nil when it
// verifies and an error matching ErrVerificationFailed when it does not.
func (c *Client) Verify(ctx context.Context, key string, version uint32, alg SignAlg, data []byte, prehashed bool, signature []byte) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var m cmem
	defer m.free()
	p, n := in(data)
	s, sn := in(signature)
	var e *C.kms_error
	return check(C.kms_verify(h, m.str(key), C.uint32_t(version), C.uint32_t(alg), p, n, b2u(prehashed), s, sn, &e), e)
}

// PublicKey is the DER SubjectPublicKeyInfo of an asymmetric key version (0 = primary).
func (c *Client) PublicKey(ctx context.Context, key string, version uint32) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	return outBytes(1024, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_get_public_key(h, k, C.uint32_t(version), out, on, e)
	})
}

// MAC computes an HMAC with the key's primary version; returns the MAC and that version.
func (c *Client) MAC(ctx context.Context, key string, data []byte) ([]byte, uint32, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	p, n := in(data)
	var v C.uint32_t
	mac, err := outBytes(maxMAC, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_mac(h, k, p, n, out, on, &v, e)
	})
	return mac, uint32(v), err
}

// VerifyMAC checks a MAC (nil when it verifies; ErrVerificationFailed when not).
func (c *Client) VerifyMAC(ctx context.Context, key string, version uint32, data, mac []byte) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var m cmem
	defer m.free()
	p, n := in(data)
	mp, mn := in(mac)
	var e *C.kms_error
	return check(C.kms_verify_mac(h, m.str(key), C.uint32_t(version), p, n, mp, mn, &e), e)
}

// Wrap wraps key material under a wrapping key.
func (c *Client) Wrap(ctx context.Context, key string, material []byte) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	p, n := in(material)
	return outBytes(len(material)+128, func(out *C.uint8_t, on *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_wrap(h, k, p, n, out, on, e)
	})
}

// Unwrap unwraps material wrapped by Wrap (wiped on Close).
func (c *Client) Unwrap(ctx context.Context, wrapped []byte) (*SecretBuffer, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	p, n := in(wrapped)
	s := newSecret()
	var e *C.kms_error
	if err := check(C.kms_unwrap(h, p, n, s.buf, &e), e); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Derive returns length bytes of HKDF output from a derive key (wiped on Close).
func (c *Client) Derive(ctx context.Context, key string, salt, info []byte, length int) (*SecretBuffer, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	sp, sn := in(salt)
	ip, inn := in(info)
	s := newSecret()
	var e *C.kms_error
	if err := check(C.kms_derive(h, m.str(key), sp, sn, ip, inn, C.size_t(length), s.buf, &e), e); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Random returns n random bytes (at most 1 MiB).
func (c *Client) Random(ctx context.Context, n int) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	if n < 0 {
		return nil, errors.New("kms: negative length")
	}
	out := make([]byte, n+1)
	var e *C.kms_error
	if err := check(C.kms_random(h, (*C.uint8_t)(unsafe.Pointer(&out[0])), C.size_t(n), &e), e); err != nil {
		return nil, err
	}
	return out[:n], nil
}
