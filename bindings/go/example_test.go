package kms_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"libkms.dev/kms"
)

// The tour: open a store as its owner, create a key, encrypt with a context, rotate,
// decrypt the old ciphertext, verify the audit chain.
func Example() {
	dir, _ := os.MkdirTemp("", "kms-example")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	c, err := kms.OpenDefaultOwner(filepath.Join(dir, "kms.db"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	key, _ := c.CreateKey(ctx, kms.KeyParams{Spec: kms.SpecAES256, Name: "orders"})
	ec := map[string]string{"tenant": "acme"}
	ct, _ := c.Encrypt(ctx, key.Ref(), []byte("4111 1111 1111 1111"), ec)
	v, _ := c.RotateKey(ctx, "orders")
	pt, _ := c.Decrypt(ctx, ct, ec)
	rep, _ := c.AuditVerify(ctx, nil)
	fmt.Println(string(pt), v, rep.OK)
	// Output: 4111 1111 1111 1111 2 true
}
