package kms

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func init() {
	// A 0-day deletion window for the crypto-shredding test.
	os.Setenv("KMS_MIN_DELETION_DAYS", "0")
}

var bg = context.Background()

func ownerClient(t *testing.T) (*Client, string) {
	t.Helper()
	store := filepath.Join(t.TempDir(), "kms.db")
	c, err := OpenDefaultOwner(store)
	if err != nil {
		t.Fatalf("OpenDefaultOwner: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, store
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, sentinel error) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("got %v, want %v", err, sentinel)
	}
	var ke *Error
	if !errors.As(err, &ke) || ke.Message == "" {
		t.Fatalf("%v: not a *kms.Error with a message", err)
	}
}

// The binding and the header agree: every kms_* function of include/kms.h is called, and
// every KMS_ERR_* status has a sentinel. (cgo checks each call's types against the header.)
func TestHeaderCoverage(t *testing.T) {
	hdr, err := os.ReadFile("../../include/kms.h")
	must(t, err)
	var src strings.Builder
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		must(t, err)
		src.Write(b)
	}
	fns := regexp.MustCompile(`(?m)^[a-z_ ]*[ *](kms_[a-z0-9_]+)\(`).FindAllStringSubmatch(string(hdr), -1)
	if len(fns) < 60 {
		t.Fatalf("only %d functions found in kms.h", len(fns))
	}
	for _, m := range fns {
		if !strings.Contains(src.String(), "C."+m[1]+"(") {
			t.Errorf("kms.h declares %s, the Go binding does not call it", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`#define (KMS_ERR_[A-Z0-9_]+) (\d+)`).FindAllStringSubmatch(string(hdr), -1) {
		code, _ := strconv.Atoi(m[2])
		if _, ok := sentinels[Status(code)]; !ok {
			t.Errorf("no sentinel for %s", m[1])
		}
	}
	if Version() == "" || VersionNumber() == 0 {
		t.Error("no version")
	}
}

func TestLifecycle(t *testing.T) {
	c, _ := ownerClient(t)
	id, err := c.Identity()
	must(t, err)
	if id != "owner" {
		t.Fatalf("identity %q", id)
	}
	k, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256, Name: "orders", Tags: map[string]string{"app": "t"}})
	must(t, err)
	ec := map[string]string{"tenant": "acme", "table": "orders"}
	ct, err := c.Encrypt(bg, "orders", []byte("card 4111"), ec)
	must(t, err)
	if len(ct) != len("card 4111")+Overhead {
		t.Fatalf("ciphertext length %d", len(ct))
	}
	pt, err := c.Decrypt(bg, ct, ec)
	must(t, err)
	if string(pt) != "card 4111" {
		t.Fatalf("decrypted %q", pt)
	}
	_, err = c.Decrypt(bg, ct, map[string]string{"tenant": "evil", "table": "orders"})
	wantErr(t, err, ErrInvalidCiphertext)
	info, err := c.DescribeKey(bg, k.Ref())
	must(t, err)
	if info.ID != k.ID || info.State != "active" || info.Tags["app"] != "t" || *info.Name != "orders" {
		t.Fatalf("describe %+v", info)
	}
	must(t, c.DisableKey(bg, "orders"))
	_, err = c.Encrypt(bg, "orders", []byte("x"), nil)
	wantErr(t, err, ErrKeyState)
	must(t, c.EnableKey(bg, "orders"))
	must(t, c.ScheduleDeletion(bg, "orders", 7))
	_, err = c.Decrypt(bg, ct, ec)
	wantErr(t, err, ErrKeyState)
	must(t, c.CancelDeletion(bg, "orders"))
	_, err = c.Decrypt(bg, ct, ec)
	must(t, err)
	keys, err := c.ListKeys(bg, ListFilter{})
	must(t, err)
	if len(keys) != 1 {
		t.Fatalf("list %d keys", len(keys))
	}
	_, err = c.CreateKey(bg, KeyParams{Spec: SpecAES256, Name: "orders"})
	wantErr(t, err, ErrAlreadyExists)
	_, err = c.DescribeKey(bg, "missing")
	wantErr(t, err, ErrNotFound)

	// crypto-shredding: 0-day window, destroy, ciphertext unreadable
	must(t, c.ScheduleDeletion(bg, "orders", 0))
	must(t, c.DestroyKey(bg, "orders"))
	_, err = c.Decrypt(bg, ct, ec)
	wantErr(t, err, ErrKeyState)

	// canceled context: no call made
	cctx, cancel := context.WithCancel(bg)
	cancel()
	if _, err := c.Encrypt(cctx, "orders", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

func TestRotationReEncryptDataKeys(t *testing.T) {
	c, _ := ownerClient(t)
	k, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256})
	must(t, err)
	ec := map[string]string{"row": "1"}
	old, err := c.Encrypt(bg, k.Ref(), []byte("v1"), ec)
	must(t, err)
	v, err := c.RotateKey(bg, k.Ref())
	must(t, err)
	if v != 2 {
		t.Fatalf("rotated to %d", v)
	}
	pt, err := c.Decrypt(bg, old, ec)
	must(t, err)
	if string(pt) != "v1" {
		t.Fatal(string(pt))
	}
	fresh, err := c.ReEncrypt(bg, old, ec, "", nil)
	must(t, err)
	must(t, c.SetMinDecryptVersion(bg, k.Ref(), 2))
	_, err = c.Decrypt(bg, old, ec)
	wantErr(t, err, ErrKeyState)
	pt, err = c.Decrypt(bg, fresh, ec)
	must(t, err)
	if string(pt) != "v1" {
		t.Fatal(string(pt))
	}

	dk, err := c.GenerateDataKey(bg, k.Ref(), 32, ec)
	must(t, err)
	first := append([]byte(nil), dk.Plaintext()...)
	if len(first) != 32 || len(dk.Wrapped) != 32+Overhead {
		t.Fatalf("data key %d/%d", len(first), len(dk.Wrapped))
	}
	dk.Close()
	if dk.Plaintext() != nil || dk.Len() != 0 {
		t.Fatal("data key not wiped on Close")
	}
	dk.Close()
	again, err := c.DecryptDataKey(bg, dk.Wrapped, ec)
	must(t, err)
	if !bytes.Equal(again.Plaintext(), first) {
		t.Fatal("unwrapped data key differs")
	}
	again.Close()
	w, err := c.GenerateDataKeyWithoutPlaintext(bg, k.Ref(), 16, ec)
	must(t, err)
	_, err = c.DecryptDataKey(bg, w, map[string]string{"row": "2"})
	wantErr(t, err, ErrInvalidCiphertext)
	sb, err := c.DecryptSecret(bg, fresh, ec)
	must(t, err)
	if string(sb.Bytes()) != "v1" {
		t.Fatal("DecryptSecret")
	}
	sb.Close()
}

func TestSignMACWrapDeriveStream(t *testing.T) {
	c, _ := ownerClient(t)
	ec, err := c.CreateKey(bg, KeyParams{Spec: SpecECP256})
	must(t, err)
	sig, ver, err := c.Sign(bg, ec.Ref(), ECDSASHA256, []byte("msg"), false)
	must(t, err)
	must(t, c.Verify(bg, ec.Ref(), ver, ECDSASHA256, []byte("msg"), false, sig))
	wantErr(t, c.Verify(bg, ec.Ref(), ver, ECDSASHA256, []byte("other"), false, sig), ErrVerificationFailed)
	pub, err := c.PublicKey(bg, ec.Ref(), 0)
	must(t, err)
	if len(pub) == 0 || pub[0] != 0x30 {
		t.Fatal("public key not DER")
	}
	hm, err := c.CreateKey(bg, KeyParams{Spec: SpecHMACSHA256})
	must(t, err)
	mac, mv, err := c.MAC(bg, hm.Ref(), []byte("d"))
	must(t, err)
	must(t, c.VerifyMAC(bg, hm.Ref(), mv, []byte("d"), mac))
	_, err = c.Encrypt(bg, hm.Ref(), []byte("x"), nil)
	wantErr(t, err, ErrKeyUsage)
	wk, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256, Usage: UsageWrap | UsageUnwrap})
	must(t, err)
	wrapped, err := c.Wrap(bg, wk.Ref(), bytes.Repeat([]byte("k"), 32))
	must(t, err)
	u, err := c.Unwrap(bg, wrapped)
	must(t, err)
	if !bytes.Equal(u.Bytes(), bytes.Repeat([]byte("k"), 32)) {
		t.Fatal("unwrap")
	}
	u.Close()
	dkey, err := c.CreateKey(bg, KeyParams{Spec: SpecHMACSHA256, Usage: UsageDerive})
	must(t, err)
	d, err := c.Derive(bg, dkey.Ref(), []byte("s"), []byte("i"), 48)
	must(t, err)
	if d.Len() != 48 {
		t.Fatal("derive")
	}
	d.Close()
	r, err := c.Random(bg, 16)
	must(t, err)
	if len(r) != 16 {
		t.Fatal("random")
	}

	aes, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256})
	must(t, err)
	data := bytes.Repeat([]byte("0123456789"), 30000)
	es, err := c.EncryptStream(bg, aes.Ref(), map[string]string{"file": "f"})
	must(t, err)
	var enc, dec bytes.Buffer
	_, err = es.Copy(&enc, bytes.NewReader(data))
	must(t, err)
	must(t, es.Close())
	ds, err := c.DecryptStream(bg, map[string]string{"file": "f"})
	must(t, err)
	_, err = ds.Copy(&dec, bytes.NewReader(enc.Bytes()))
	must(t, err)
	ds.Close()
	if !bytes.Equal(dec.Bytes(), data) {
		t.Fatal("stream round trip")
	}
	bad := append([]byte(nil), enc.Bytes()...)
	bad[len(bad)-5] ^= 1
	ds, err = c.DecryptStream(bg, map[string]string{"file": "f"})
	must(t, err)
	_, err = ds.Copy(&bytes.Buffer{}, bytes.NewReader(bad))
	wantErr(t, err, ErrInvalidCiphertext)
	ds.Close()
}

func TestRefusalsGrantsAudit(t *testing.T) {
	c, store := ownerClient(t)
	data, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256, Name: "data"})
	must(t, err)
	must(t, c.CreateIdentity(bg, "app", []byte("app-secret-1"), 0, false))
	_, err = Open(bg, store, "", "app", []byte("wrong-secret"))
	wantErr(t, err, ErrAuthenticationFailed)
	app, err := Open(bg, store, "", "app", []byte("app-secret-1"))
	must(t, err)
	defer app.Close()
	_, err = app.Encrypt(bg, "data", []byte("x"), nil)
	wantErr(t, err, ErrAccessDenied)
	_, err = app.CreateKey(bg, KeyParams{Spec: SpecAES256})
	wantErr(t, err, ErrAccessDenied)
	_, err = app.RotateKey(bg, data.Ref())
	wantErr(t, err, ErrAccessDenied)
	ec := map[string]string{"tenant": "acme"}
	gid, err := c.CreateGrant(bg, Grant{Identity: "app", Key: "data", Actions: []Action{ActionEncrypt, ActionDecrypt}, Context: ec})
	must(t, err)
	ct, err := app.Encrypt(bg, "data", []byte("ok"), ec)
	must(t, err)
	_, err = app.Decrypt(bg, ct, ec)
	must(t, err)
	_, err = app.Encrypt(bg, "data", []byte("x"), map[string]string{"tenant": "evil"})
	wantErr(t, err, ErrAccessDenied)
	gs, err := c.ListGrants(bg, "data")
	must(t, err)
	if len(gs) != 1 || gs[0].Identity != "app" || gs[0].Context["tenant"] != "acme" {
		t.Fatalf("grants %+v", gs)
	}
	must(t, c.DisableIdentity(bg, "app"))
	_, err = app.Encrypt(bg, "data", []byte("x"), ec)
	wantErr(t, err, ErrAccessDenied)
	must(t, c.EnableIdentity(bg, "app"))
	must(t, c.RevokeGrant(bg, gid))
	wantErr(t, c.RevokeGrant(bg, gid), ErrNotFound)
	_, err = app.Encrypt(bg, "data", []byte("x"), ec)
	wantErr(t, err, ErrAccessDenied)
	_, err = app.AuditVerify(bg, nil)
	wantErr(t, err, ErrAccessDenied)
	must(t, c.SetIdentitySecret(bg, "app", []byte("new-secret-2")))
	must(t, c.UnlockIdentity(bg, "app"))
	app.Close()
	must(t, c.DeleteIdentity(bg, "app"))
	_, err = Open(bg, store, "", "app", []byte("new-secret-2"))
	wantErr(t, err, ErrAuthenticationFailed)

	// Audit: reopen so the batched usage records are durable.
	must(t, c.Close())
	if _, err := c.Encrypt(bg, "data", nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	c2, err := OpenDefaultOwner(store)
	must(t, err)
	defer c2.Close()
	recs, err := c2.AuditQuery(bg, AuditFilter{Identity: "app"})
	must(t, err)
	var denied, ok bool
	for _, r := range recs {
		if r.Action == "encrypt" && r.Outcome == "ok" {
			ok = true
		}
		if r.Action == "encrypt" && r.Outcome != "ok" {
			denied = true
		}
	}
	if !ok || !denied {
		t.Fatalf("audit records of app: %+v", recs)
	}
	dir := t.TempDir()
	n, err := c2.AuditExport(bg, AuditFilter{}, filepath.Join(dir, "a.jsonl"))
	must(t, err)
	f, err := os.Create(filepath.Join(dir, "b.jsonl"))
	must(t, err)
	m, err := c2.AuditExportFile(bg, AuditFilter{Limit: 2}, f)
	must(t, err)
	f.Close()
	if n < 10 || m != 2 {
		t.Fatalf("exported %d / %d", n, m)
	}
	rep, err := c2.AuditVerify(bg, nil)
	must(t, err)
	if !rep.OK || rep.Records < n-1 {
		t.Fatalf("report %+v", rep)
	}
	cp := []byte("0123456789abcdef0123456789abcdef")
	_, err = c2.AuditCheckpoint(bg, cp)
	must(t, err)
	rep, err = c2.AuditVerify(bg, cp)
	must(t, err)
	if !rep.OK || rep.Checkpoints < 1 {
		t.Fatalf("report %+v", rep)
	}
}

func TestSecrets(t *testing.T) {
	c, _ := ownerClient(t)
	_, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256, Name: "secrets"})
	must(t, err)
	v, err := c.PutSecret(bg, "db/password", "secrets", []byte("hunter2"))
	must(t, err)
	v2, err := c.PutSecret(bg, "db/password", "secrets", []byte("hunter3"))
	must(t, err)
	if v != 1 || v2 != 2 {
		t.Fatalf("versions %d %d", v, v2)
	}
	s, err := c.GetSecret(bg, "db/password", 0)
	must(t, err)
	if string(s.Bytes()) != "hunter3" {
		t.Fatal("latest secret")
	}
	s.Close()
	s, err = c.GetSecret(bg, "db/password", 1)
	must(t, err)
	if string(s.Bytes()) != "hunter2" {
		t.Fatal("secret v1")
	}
	s.Close()
	vs, err := c.ListSecrets(bg, "")
	must(t, err)
	if len(vs) != 2 || vs[1].Version != 2 {
		t.Fatalf("list %+v", vs)
	}
	n, err := c.DeleteSecret(bg, "db/password")
	must(t, err)
	if n != 2 {
		t.Fatalf("deleted %d", n)
	}
	_, err = c.GetSecret(bg, "db/password", 0)
	wantErr(t, err, ErrNotFound)
}

func TestConcurrentGoroutines(t *testing.T) {
	c, _ := ownerClient(t)
	k, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256})
	must(t, err)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				ec := map[string]string{"g": strconv.Itoa(g), "i": strconv.Itoa(i)}
				msg := []byte(fmt.Sprintf("%d-%d", g, i))
				ct, err := c.Encrypt(bg, k.Ref(), msg, ec)
				if err != nil {
					errs <- err
					return
				}
				pt, err := c.Decrypt(bg, ct, ec)
				if err != nil || !bytes.Equal(pt, msg) {
					errs <- fmt.Errorf("decrypt: %v", err)
					return
				}
				// Errors come from the per-call kms_error object: each goroutine sees its own.
				_, err = c.Decrypt(bg, ct, map[string]string{"g": "other"})
				if !errors.Is(err, ErrInvalidCiphertext) {
					errs <- fmt.Errorf("wrong context: %v", err)
					return
				}
				dk, err := c.GenerateDataKey(bg, k.Ref(), 32, ec)
				if err != nil {
					errs <- err
					return
				}
				dk.Close()
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	rep, err := c.AuditVerify(bg, nil)
	must(t, err)
	if !rep.OK {
		t.Fatal("audit chain broken")
	}
}

func TestCloseWhileGoroutinesRun(t *testing.T) {
	c, _ := ownerClient(t)
	k, err := c.CreateKey(bg, KeyParams{Spec: SpecAES256})
	must(t, err)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if _, err := c.Encrypt(bg, k.Ref(), []byte("x"), nil); err != nil {
					if !errors.Is(err, ErrClosed) && !errors.Is(err, ErrInvalidHandle) {
						t.Errorf("unexpected: %v", err)
					}
					return
				}
			}
		}()
	}
	must(t, c.Close())
	wg.Wait()
}
