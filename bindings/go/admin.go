package kms

/*
#include <stdlib.h>
#include "kms.h"
*/
import "C"

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"unsafe"
)

// Role is a set of identity roles (KMS_ROLE_* bits).
type Role uint32

// Roles, from kms.h.
const (
	RoleAdmin           Role = C.KMS_ROLE_ADMIN
	RoleUser            Role = C.KMS_ROLE_USER
	RoleAuditor         Role = C.KMS_ROLE_AUDITOR
	RoleSecurityOfficer Role = C.KMS_ROLE_SECURITY_OFFICER
)

// Action is a policy action (KMS_ACTION_*), used in grants.
type Action uint32

// Actions most grants use, from kms.h (any KMS_ACTION_* number is accepted).
const (
	ActionEncrypt         Action = C.KMS_ACTION_ENCRYPT
	ActionDecrypt         Action = C.KMS_ACTION_DECRYPT
	ActionGenerateDataKey Action = C.KMS_ACTION_GENERATE_DATA_KEY
	ActionReEncrypt       Action = C.KMS_ACTION_RE_ENCRYPT
	ActionSign            Action = C.KMS_ACTION_SIGN
	ActionVerify          Action = C.KMS_ACTION_VERIFY
	ActionMAC             Action = C.KMS_ACTION_MAC
	ActionDescribe        Action = C.KMS_ACTION_DESCRIBE
	ActionRotate          Action = C.KMS_ACTION_ROTATE
	ActionReadAudit       Action = C.KMS_ACTION_READ_AUDIT
	ActionPutSecret       Action = C.KMS_ACTION_PUT_SECRET
	ActionGetSecret       Action = C.KMS_ACTION_GET_SECRET
)

// ---------------------------------------------------------------- identities

// CreateIdentity creates an identity with a secret and roles (0 = none: only grants apply).
// More than one role needs combinedRoles.
func (c *Client) CreateIdentity(ctx context.Context, name string, secret []byte, roles Role, combinedRoles bool) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var m cmem
	defer m.free()
	p, n := in(secret)
	var e *C.kms_error
	return check(C.kms_identity_create(h, m.str(name), p, n, C.uint32_t(roles), b2u(combinedRoles), &e), e)
}

func (c *Client) identityOp(ctx context.Context, name string, f func(C.kms_ctx, *C.char, **C.kms_error) C.kms_status) error {
	return c.keyOp(ctx, name, f)
}

// DisableIdentity disables an identity (its open clients are refused from their next call).
func (c *Client) DisableIdentity(ctx context.Context, name string) error {
	return c.identityOp(ctx, name, func(h C.kms_ctx, n *C.char, e **C.kms_error) C.kms_status {
		return C.kms_identity_disable(h, n, e)
	})
}

// EnableIdentity enables a disabled identity.
func (c *Client) EnableIdentity(ctx context.Context, name string) error {
	return c.identityOp(ctx, name, func(h C.kms_ctx, n *C.char, e **C.kms_error) C.kms_status {
		return C.kms_identity_enable(h, n, e)
	})
}

// UnlockIdentity clears a lockout after failed authentications.
func (c *Client) UnlockIdentity(ctx context.Context, name string) error {
	return c.identityOp(ctx, name, func(h C.kms_ctx, n *C.char, e **C.kms_error) C.kms_status {
		return C.kms_identity_unlock(h, n, e)
	})
}

// DeleteIdentity deletes an identity.
func (c *Client) DeleteIdentity(ctx context.Context, name string) error {
	return c.identityOp(ctx, name, func(h C.kms_ctx, n *C.char, e **C.kms_error) C.kms_status {
		return C.kms_identity_delete(h, n, e)
	})
}

// SetIdentitySecret replaces an identity's secret.
func (c *Client) SetIdentitySecret(ctx context.Context, name string, secret []byte) error {
	p, n := in(secret)
	return c.identityOp(ctx, name, func(h C.kms_ctx, nm *C.char, e **C.kms_error) C.kms_status {
		return C.kms_identity_set_secret(h, nm, p, n, e)
	})
}

// ---------------------------------------------------------------- grants

// Grant lets Identity do Actions on Key ("" = every key of the keyring).
type Grant struct {
	Identity string
	Key      string
	Actions  []Action
	Expires  int64             // seconds since the epoch; 0 = never
	MaxUses  uint64            // 0 = unlimited
	Context  map[string]string // required encryption-context pairs
}

// GrantInfo is a grant as listed.
type GrantInfo struct {
	ID       uint64            `json:"id"`
	Identity string            `json:"identity"`
	KeyID    *uint64           `json:"key_id"`
	Actions  []string          `json:"actions"`
	Expires  *int64            `json:"expires"`
	MaxUses  *uint64           `json:"max_uses"`
	Uses     uint64            `json:"uses"`
	Context  map[string]string `json:"context"`
	Created  int64             `json:"created"`
}

// CreateGrant creates a grant and returns its id.
func (c *Client) CreateGrant(ctx context.Context, g Grant) (uint64, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	var cg C.kms_grant_params
	cg.identity = m.str(g.Identity)
	cg.key = m.optStr(g.Key)
	if len(g.Actions) > 0 {
		arr := C.malloc(C.size_t(len(g.Actions)) * C.size_t(unsafe.Sizeof(C.uint32_t(0))))
		m.ptrs = append(m.ptrs, arr)
		s := unsafe.Slice((*C.uint32_t)(arr), len(g.Actions))
		for i, a := range g.Actions {
			s[i] = C.uint32_t(a)
		}
		cg.actions = (*C.uint32_t)(arr)
		cg.action_count = C.size_t(len(g.Actions))
	}
	cg.expires = C.int64_t(g.Expires)
	cg.max_uses = C.uint64_t(g.MaxUses)
	ck, cv, cn := m.ectx(g.Context)
	cg.ctx_keys, cg.ctx_values, cg.ctx_count = ck, cv, cn
	var id C.uint64_t
	var e *C.kms_error
	if err := check(C.kms_grant_create(h, &cg, &id, &e), e); err != nil {
		return 0, err
	}
	return uint64(id), nil
}

// RevokeGrant revokes a grant.
func (c *Client) RevokeGrant(ctx context.Context, id uint64) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var e *C.kms_error
	return check(C.kms_grant_revoke(h, C.uint64_t(id), &e), e)
}

// ListGrants lists the grants of key ("" = all).
func (c *Client) ListGrants(ctx context.Context, key string) ([]GrantInfo, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.optStr(key)
	text, err := outText(4096, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_grant_list(h, k, out, n, e)
	})
	if err != nil {
		return nil, err
	}
	var gs []GrantInfo
	return gs, json.Unmarshal([]byte(text), &gs)
}

// ---------------------------------------------------------------- audit

// AuditFilter selects audit records; the zero value matches all.
type AuditFilter struct {
	KeyID      uint64
	Identity   string
	Action     string // "encrypt", "create-identity", ...
	SinceUS    int64
	UntilUS    int64
	AfterSeq   uint64
	Limit      uint64
	Descending bool
}

func (f *AuditFilter) c(m *cmem) C.kms_audit_filter {
	var cf C.kms_audit_filter
	cf.key_id = C.uint64_t(f.KeyID)
	cf.identity = m.optStr(f.Identity)
	cf.action = m.optStr(f.Action)
	cf.since_us = C.int64_t(f.SinceUS)
	cf.until_us = C.int64_t(f.UntilUS)
	cf.after_seq = C.uint64_t(f.AfterSeq)
	cf.limit = C.uint64_t(f.Limit)
	cf.descending = b2u(f.Descending)
	return cf
}

// AuditRecord is one audit record (no data, no key material).
type AuditRecord struct {
	Seq        uint64  `json:"seq"`
	TimeUS     int64   `json:"time_us"`
	Identity   string  `json:"identity"`
	Action     string  `json:"action"`
	KeyID      *uint64 `json:"key_id"`
	KeyVersion *uint32 `json:"key_version"`
	Outcome    string  `json:"outcome"`
	Error      string  `json:"error"`
	Context    string  `json:"context"`
	RequestID  string  `json:"request_id"`
	Detail     string  `json:"detail"`
	Hash       string  `json:"hash"`
	PrevHash   string  `json:"prev_hash"`
}

// AuditQuery returns the matching audit records.
func (c *Client) AuditQuery(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	cf := f.c(&m)
	text, err := outText(1<<16, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_audit_query(h, &cf, out, n, e)
	})
	if err != nil {
		return nil, err
	}
	var recs []AuditRecord
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 1<<16), 1<<24)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		var r AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recs, sc.Err()
}

// AuditExport writes the matching records as JSON lines to the file at path; returns the
// count.
func (c *Client) AuditExport(ctx context.Context, f AuditFilter, path string) (uint64, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	cf := f.c(&m)
	var n C.uint64_t
	var e *C.kms_error
	err = check(C.kms_audit_export(h, &cf, m.str(path), &n, &e), e)
	return uint64(n), err
}

// AuditExportFile writes the matching records to an open file (its descriptor).
func (c *Client) AuditExportFile(ctx context.Context, f AuditFilter, file *os.File) (uint64, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	cf := f.c(&m)
	var n C.uint64_t
	var e *C.kms_error
	err = check(C.kms_audit_export_fd(h, &cf, C.int32_t(file.Fd()), &n, &e), e)
	return uint64(n), err
}

// AuditReport is the result of AuditVerify.
type AuditReport struct {
	OK          bool
	Records     uint64
	FirstSeq    uint64
	LastSeq     uint64
	Checkpoints uint64
	ProblemSeq  uint64
}

// AuditVerify checks the hash chain (and the checkpoints MACed with checkpointKey, if
// given). A broken chain is reported with OK false and an error matching ErrIntegrity.
func (c *Client) AuditVerify(ctx context.Context, checkpointKey []byte) (AuditReport, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return AuditReport{}, err
	}
	p, n := in(checkpointKey)
	var r C.kms_audit_report
	var e *C.kms_error
	err = check(C.kms_audit_verify(h, p, n, &r, &e), e)
	rep := AuditReport{r.ok != 0, uint64(r.records), uint64(r.first_seq), uint64(r.last_seq),
		uint64(r.checkpoints), uint64(r.problem_seq)}
	if err != nil && !errors.Is(err, ErrIntegrity) {
		return AuditReport{}, err
	}
	return rep, err
}

// AuditCheckpoint writes a checkpoint MACed with key (32 bytes); returns its sequence.
func (c *Client) AuditCheckpoint(ctx context.Context, key []byte) (uint64, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	p, n := in(key)
	var seq C.uint64_t
	var e *C.kms_error
	err = check(C.kms_audit_checkpoint(h, p, n, &seq, &e), e)
	return uint64(seq), err
}

// ---------------------------------------------------------------- secrets

// SecretVersion describes one stored version of an application secret (never its value).
type SecretVersion struct {
	Name    string `json:"name"`
	Version uint32 `json:"version"`
	KeyID   uint64 `json:"key_id"`
	Created int64  `json:"created"`
	Deleted bool   `json:"deleted"`
}

// PutSecret stores value as a new version of secret name, encrypted under key; returns the
// version (1 for a new secret).
func (c *Client) PutSecret(ctx context.Context, name, key string, value []byte) (uint32, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	p, n := in(value)
	var v C.uint32_t
	var e *C.kms_error
	err = check(C.kms_secret_put(h, m.str(name), m.str(key), p, n, &v, &e), e)
	return uint32(v), err
}

// GetSecret reads version (0 = latest) of secret name, in libkms memory wiped on Close.
func (c *Client) GetSecret(ctx context.Context, name string, version uint32) (*SecretBuffer, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	s := newSecret()
	var e *C.kms_error
	if err := check(C.kms_secret_get(h, m.str(name), C.uint32_t(version), s.buf, &e), e); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ListSecrets lists the versions of secret name ("" = of every secret).
func (c *Client) ListSecrets(ctx context.Context, name string) ([]SecretVersion, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	nm := m.optStr(name)
	text, err := outText(4096, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_secret_list(h, nm, out, n, e)
	})
	if err != nil {
		return nil, err
	}
	var vs []SecretVersion
	return vs, json.Unmarshal([]byte(text), &vs)
}

// DeleteSecret deletes every version of secret name; returns how many.
func (c *Client) DeleteSecret(ctx context.Context, name string) (uint32, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	var n C.uint32_t
	var e *C.kms_error
	err = check(C.kms_secret_delete(h, m.str(name), &n, &e), e)
	return uint32(n), err
}

// ---------------------------------------------------------------- objects

// Object describes a stored certificate, data object or public key (never its value).
type Object struct {
	ID        uint64 `json:"id"`
	Class     string `json:"class"`
	Label     string `json:"label"`
	ExtID     string `json:"ext_id"`
	Size      int    `json:"size"`
	Sensitive bool   `json:"sensitive"`
	Created   int64  `json:"created"`
	Version   uint32 `json:"version"`
}

// CreateObject stores a certificate ("certificate", DER value), data object ("data") or
// public key ("public-key"); sensitive values are sealed and never listed.
func (c *Client) CreateObject(ctx context.Context, class, label string, id, value []byte, sensitive bool) (uint64, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return 0, err
	}
	var m cmem
	defer m.free()
	ip, in1 := in(id)
	vp, vn := in(value)
	s := C.uint32_t(0)
	if sensitive {
		s = 1
	}
	var out C.uint64_t
	var e *C.kms_error
	err = check(C.kms_object_create(h, m.str(class), m.str(label), ip, in1, vp, vn, s, &out, &e), e)
	return uint64(out), err
}

// GetObject reads an object's value (unsealed when sensitive).
func (c *Client) GetObject(ctx context.Context, id uint64) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	s := newSecret()
	defer s.Close()
	var e *C.kms_error
	if err := check(C.kms_object_get(h, C.uint64_t(id), s.buf, &e), e); err != nil {
		return nil, err
	}
	return append([]byte(nil), s.Bytes()...), nil
}

// ListObjects lists objects of class and label ("" = any).
func (c *Client) ListObjects(ctx context.Context, class, label string) ([]Object, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	cl, lb := m.optStr(class), m.optStr(label)
	text, err := outText(4096, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_object_list(h, cl, lb, out, n, e)
	})
	if err != nil {
		return nil, err
	}
	var os []Object
	return os, json.Unmarshal([]byte(text), &os)
}

// DeleteObject deletes an object.
func (c *Client) DeleteObject(ctx context.Context, id uint64) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var e *C.kms_error
	return check(C.kms_object_delete(h, C.uint64_t(id), &e), e)
}

// ---------------------------------------------------------------- streams

// Stream is a streaming encryption or decryption. Use one Stream per goroutine.
type Stream struct {
	h C.kms_stream
}

// EncryptStream starts encrypting under a fresh data key wrapped by key.
func (c *Client) EncryptStream(ctx context.Context, key string, ec map[string]string) (*Stream, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	ck, cv, cn := m.ectx(ec)
	var s C.kms_stream
	var e *C.kms_error
	if err := check(C.kms_stream_encrypt_init(h, m.str(key), ck, cv, cn, &s, &e), e); err != nil {
		return nil, err
	}
	return &Stream{s}, nil
}

// DecryptStream starts decrypting an EncryptStream output made with the same context.
func (c *Client) DecryptStream(ctx context.Context, ec map[string]string) (*Stream, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	ck, cv, cn := m.ectx(ec)
	var s C.kms_stream
	var e *C.kms_error
	if err := check(C.kms_stream_decrypt_init(h, ck, cv, cn, &s, &e), e); err != nil {
		return nil, err
	}
	return &Stream{s}, nil
}

// Update feeds data and returns the output ready so far.
func (s *Stream) Update(data []byte) ([]byte, error) {
	if s.h == 0 {
		return nil, ErrClosed
	}
	p, n := in(data)
	var b C.kms_buffer
	var e *C.kms_error
	if err := check(C.kms_stream_update(s.h, p, n, &b, &e), e); err != nil {
		return nil, err
	}
	return take(&b), nil
}

// Final ends the stream and returns the remaining output; decrypted output is complete and
// authentic only when Final returns nil.
func (s *Stream) Final() ([]byte, error) {
	if s.h == 0 {
		return nil, ErrClosed
	}
	var b C.kms_buffer
	var e *C.kms_error
	if err := check(C.kms_stream_final(s.h, &b, &e), e); err != nil {
		return nil, err
	}
	return take(&b), nil
}

// Close frees the stream (idempotent).
func (s *Stream) Close() error {
	if s.h == 0 {
		return nil
	}
	h := s.h
	s.h = 0
	return check(C.kms_stream_free(h), nil)
}

// Copy streams r through s into w, then finishes the stream; it returns the bytes written.
// When decrypting, treat w's content as valid only if Copy returns nil.
func (s *Stream) Copy(w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<16)
	var total int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			out, err := s.Update(buf[:n])
			if err != nil {
				return total, err
			}
			m, err := w.Write(out)
			wipe(out)
			total += int64(m)
			if err != nil {
				return total, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return total, rerr
		}
	}
	out, err := s.Final()
	if err != nil {
		return total, err
	}
	m, err := w.Write(out)
	wipe(out)
	return total + int64(m), err
}
