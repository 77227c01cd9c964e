package kms

/*
#include <stdlib.h>
#include "kms.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
)

// Spec is a key spec (KMS_SPEC_*).
type Spec uint32

// Key specs, from kms.h.
const (
	SpecAES128     Spec = C.KMS_SPEC_AES128
	SpecAES256     Spec = C.KMS_SPEC_AES256
	SpecHMACSHA256 Spec = C.KMS_SPEC_HMAC_SHA256
	SpecHMACSHA384 Spec = C.KMS_SPEC_HMAC_SHA384
	SpecHMACSHA512 Spec = C.KMS_SPEC_HMAC_SHA512
	SpecECP256     Spec = C.KMS_SPEC_EC_P256
	SpecECP384     Spec = C.KMS_SPEC_EC_P384
	SpecEd25519    Spec = C.KMS_SPEC_ED25519
	SpecRSA2048    Spec = C.KMS_SPEC_RSA2048
	SpecRSA3072    Spec = C.KMS_SPEC_RSA3072
	SpecRSA4096    Spec = C.KMS_SPEC_RSA4096
	SpecSecret     Spec = C.KMS_SPEC_SECRET
)

// Usage is a set of key usages (KMS_USAGE_* bits); 0 = the spec's default.
type Usage uint32

// Usages, from kms.h.
const (
	UsageEncrypt Usage = C.KMS_USAGE_ENCRYPT
	UsageDecrypt Usage = C.KMS_USAGE_DECRYPT
	UsageSign    Usage = C.KMS_USAGE_SIGN
	UsageVerify  Usage = C.KMS_USAGE_VERIFY
	UsageMAC     Usage = C.KMS_USAGE_MAC
	UsageWrap    Usage = C.KMS_USAGE_WRAP
	UsageUnwrap  Usage = C.KMS_USAGE_UNWRAP
	UsageDerive  Usage = C.KMS_USAGE_DERIVE
)

// State is a key state (KMS_STATE_*), used in ListFilter.
type State uint32

// Key states, from kms.h.
const (
	StatePreActive       State = C.KMS_STATE_PRE_ACTIVE
	StateActive          State = C.KMS_STATE_ACTIVE
	StateSuspended       State = C.KMS_STATE_SUSPENDED
	StateDeactivated     State = C.KMS_STATE_DEACTIVATED
	StatePendingDeletion State = C.KMS_STATE_PENDING_DELETION
	StateDestroyed       State = C.KMS_STATE_DESTROYED
)

// DeletionDefault asks ScheduleDeletion for the store's default waiting period.
const DeletionDefault = uint32(C.KMS_DELETION_DEFAULT)

// KeyParams describes a key to create; the zero value means defaults (Spec is required).
type KeyParams struct {
	Spec                  Spec
	Usage                 Usage
	Name                  string
	Description           string
	Tags                  map[string]string
	ActivationDate        int64 // seconds since the epoch; 0 = now
	RotationPeriodSeconds int64
	RotateAfterUses       uint64
	Exportable            bool
	PreActive             bool
}

func b2u(b bool) C.uint32_t {
	if b {
		return 1
	}
	return 0
}

func (p *KeyParams) c(m *cmem) C.kms_key_params {
	var cp C.kms_key_params
	cp.spec = C.uint32_t(p.Spec)
	cp.usage = C.uint32_t(p.Usage)
	cp.name = m.optStr(p.Name)
	cp.description = m.optStr(p.Description)
	if len(p.Tags) > 0 {
		tags := make([]string, 0, len(p.Tags))
		for k, v := range p.Tags {
			tags = append(tags, k+"="+v)
		}
		sort.Strings(tags)
		cp.tags = m.str(strings.Join(tags, ","))
	}
	cp.activation_date = C.int64_t(p.ActivationDate)
	cp.rotation_period_seconds = C.int64_t(p.RotationPeriodSeconds)
	cp.rotate_after_uses = C.uint64_t(p.RotateAfterUses)
	cp.exportable = b2u(p.Exportable)
	cp.pre_active = b2u(p.PreActive)
	return cp
}

// Key identifies a key: ID is stable; Ref() is what the key arguments take.
type Key struct {
	ID   uint64
	Name string
}

// Ref is the decimal id, accepted wherever a key is named.
func (k Key) Ref() string { return KeyRef(k.ID) }

// VersionInfo is one version of a key.
type VersionInfo struct {
	Version   uint32 `json:"version"`
	Created   int64  `json:"created"`
	Destroyed bool   `json:"destroyed"`
	Uses      uint64 `json:"uses"`
	Primary   bool   `json:"primary"`
}

// KeyInfo is a key's metadata (never its material).
type KeyInfo struct {
	ID                uint64            `json:"id"`
	Name              *string           `json:"name"`
	Spec              string            `json:"spec"`
	Usage             []string          `json:"usage"`
	State             string            `json:"state"`
	Compromised       bool              `json:"compromised"`
	PrimaryVersion    uint32            `json:"primary_version"`
	MinDecryptVersion uint32            `json:"min_decrypt_version"`
	Exportable        bool              `json:"exportable"`
	Origin            string            `json:"origin"`
	Created           int64             `json:"created"`
	DeletionDate      *int64            `json:"deletion_date"`
	Owner             string            `json:"owner"`
	Description       string            `json:"description"`
	Tags              map[string]string `json:"tags"`
	Versions          []VersionInfo     `json:"versions"`
}

// CreateKey creates a key with generated material.
func (c *Client) CreateKey(ctx context.Context, p KeyParams) (Key, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return Key{}, err
	}
	var m cmem
	defer m.free()
	cp := p.c(&m)
	var id C.uint64_t
	var e *C.kms_error
	if err := check(C.kms_key_create(h, &cp, &id, &e), e); err != nil {
		return Key{}, err
	}
	return Key{uint64(id), p.Name}, nil
}

// ImportKey creates a key from raw AES/HMAC bytes or PKCS#8 DER (copied and sealed).
func (c *Client) ImportKey(ctx context.Context, p KeyParams, material []byte) (Key, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return Key{}, err
	}
	var m cmem
	defer m.free()
	cp := p.c(&m)
	mp, mn := in(material)
	var id C.uint64_t
	var e *C.kms_error
	if err := check(C.kms_key_import(h, &cp, mp, mn, &id, &e), e); err != nil {
		return Key{}, err
	}
	return Key{uint64(id), p.Name}, nil
}

// ImportWrapped imports a key exported by ExportWrapped (p.Spec is ignored).
func (c *Client) ImportWrapped(ctx context.Context, p KeyParams, wrapped []byte) (Key, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return Key{}, err
	}
	var m cmem
	defer m.free()
	cp := p.c(&m)
	wp, wn := in(wrapped)
	var id C.uint64_t
	var e *C.kms_error
	if err := check(C.kms_key_import_wrapped(h, &cp, wp, wn, &id, &e), e); err != nil {
		return Key{}, err
	}
	return Key{uint64(id), p.Name}, nil
}

// ExportWrapped exports an exportable key's version (0 = primary) wrapped under wrappingKey.
func (c *Client) ExportWrapped(ctx context.Context, key string, version uint32, wrappingKey string) ([]byte, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k, w := m.str(key), m.str(wrappingKey)
	return outBytes(4096, func(out *C.uint8_t, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_key_export_wrapped(h, k, C.uint32_t(version), w, out, n, e)
	})
}

// DescribeKey returns a key's metadata (key = decimal id or name).
func (c *Client) DescribeKey(ctx context.Context, key string) (*KeyInfo, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	k := m.str(key)
	text, err := outText(4096, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_key_describe(h, k, out, n, e)
	})
	if err != nil {
		return nil, err
	}
	var info KeyInfo
	if err := json.Unmarshal([]byte(text), &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// ListFilter selects keys for ListKeys; the zero value matches every key.
type ListFilter struct {
	NamePrefix       string
	Spec             Spec
	State            State
	Tag              string // "k=v"
	IncludeDestroyed bool
	AfterID          uint64
	Limit            uint64
}

// ListKeys lists the keyring's keys in id order (Versions empty).
func (c *Client) ListKeys(ctx context.Context, f ListFilter) ([]KeyInfo, error) {
	h, err := c.begin(ctx)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	var cf C.kms_key_filter
	cf.name_prefix = m.optStr(f.NamePrefix)
	cf.spec = C.uint32_t(f.Spec)
	cf.state = C.uint32_t(f.State)
	cf.tag = m.optStr(f.Tag)
	cf.include_destroyed = b2u(f.IncludeDestroyed)
	cf.after_id = C.uint64_t(f.AfterID)
	cf.limit = C.uint64_t(f.Limit)
	text, err := outText(8192, func(out *C.char, n *C.size_t, e **C.kms_error) C.kms_status {
		return C.kms_key_list(h, &cf, out, n, e)
	})
	if err != nil {
		return nil, err
	}
	var keys []KeyInfo
	if err := json.Unmarshal([]byte(text), &keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// keyOp runs one lifecycle call that takes (ctx, key, err).
func (c *Client) keyOp(ctx context.Context, key string, f func(C.kms_ctx, *C.char, **C.kms_error) C.kms_status) error {
	h, err := c.begin(ctx)
	if err != nil {
		return err
	}
	var m cmem
	defer m.free()
	var e *C.kms_error
	return check(f(h, m.str(key), &e), e)
}

// RotateKey adds a version and makes it primary; returns its number.
func (c *Client) RotateKey(ctx context.Context, key string) (uint32, error) {
	var v C.uint32_t
	err := c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_rotate(h, k, &v, e)
	})
	return uint32(v), err
}

// EnableKey: pre-active or suspended -> active.
func (c *Client) EnableKey(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status { return C.kms_key_enable(h, k, e) })
}

// DisableKey: active -> suspended (reversible with EnableKey).
func (c *Client) DisableKey(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status { return C.kms_key_disable(h, k, e) })
}

// SuspendKey: active -> suspended.
func (c *Client) SuspendKey(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status { return C.kms_key_suspend(h, k, e) })
}

// DeactivateKey makes the key decrypt/verify only, for good.
func (c *Client) DeactivateKey(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status { return C.kms_key_deactivate(h, k, e) })
}

// MarkCompromised flags the key: decrypt/verify only from now on.
func (c *Client) MarkCompromised(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_mark_compromised(h, k, e)
	})
}

// ScheduleDeletion puts the key in pending deletion for days (DeletionDefault = store default).
func (c *Client) ScheduleDeletion(ctx context.Context, key string, days uint32) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_schedule_deletion(h, k, C.uint32_t(days), e)
	})
}

// CancelDeletion restores a key pending deletion.
func (c *Client) CancelDeletion(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_cancel_deletion(h, k, e)
	})
}

// DestroyKey wipes a key whose deletion waiting period has ended (crypto-shredding).
func (c *Client) DestroyKey(ctx context.Context, key string) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status { return C.kms_key_destroy(h, k, e) })
}

// SetMinDecryptVersion stops versions below version from decrypting.
func (c *Client) SetMinDecryptVersion(ctx context.Context, key string, version uint32) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_set_min_decrypt_version(h, k, C.uint32_t(version), e)
	})
}

// DestroyVersion wipes one non-primary version.
func (c *Client) DestroyVersion(ctx context.Context, key string, version uint32) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_destroy_version(h, k, C.uint32_t(version), e)
	})
}

// SetRotation sets the automatic rotation schedule (0 = none).
func (c *Client) SetRotation(ctx context.Context, key string, periodSeconds int64, afterUses uint64) error {
	return c.keyOp(ctx, key, func(h C.kms_ctx, k *C.char, e **C.kms_error) C.kms_status {
		return C.kms_key_set_rotation(h, k, C.int64_t(periodSeconds), C.uint64_t(afterUses), e)
	})
}
