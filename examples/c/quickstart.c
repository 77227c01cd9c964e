/* quickstart.c - the libkms C API in one page: open the default store as its owner, create
 * a key, encrypt and decrypt with an encryption context, rotate, decrypt the old
 * ciphertext, re-encrypt it under the new version, and verify the audit trail.
 *
 * Build:  cc -std=c99 quickstart.c $(pkg-config --cflags --libs kms) -o quickstart
 *    or:  cc -std=c99 -I/path/to/include quickstart.c -L/path/to/lib -lkms -o quickstart
 * Run:    KMS_STORE=/tmp/demo/kms.db ./quickstart   (the store is created if missing)
 */
#include <stdio.h>
#include <string.h>

#include "kms.h"

/* Prints a failed call's status and detail, frees the error, and returns 1. */
static int fail(const char *what, kms_status st, kms_error *err) {
    fprintf(stderr, "%s failed: %s (%d): %s\n", what, kms_status_str(st), (int)st,
            kms_error_message(err));
    kms_error_free(err);
    return 1;
}

int main(void) {
    kms_ctx ctx = KMS_NO_HANDLE;
    kms_error *err = NULL;
    kms_status st;
    kms_key_params params;
    uint64_t key_id = 0;
    char key[32];
    const char *ctx_keys[] = {"tenant", "purpose"};
    const char *ctx_values[] = {"acme", "quickstart"};
    const char *msg = "the launch code is 0000";
    uint8_t ct1[256], ct2[256], pt[256];
    size_t ct1_len = sizeof ct1, ct2_len = sizeof ct2, pt_len = sizeof pt;
    uint32_t version = 0;
    kms_audit_report report;

    printf("libkms %s\n", kms_version());

    /* 1. Open the default store (KMS_STORE or $XDG_DATA_HOME/kms/kms.db) as its owner. */
    st = kms_open_default_owner(NULL, &ctx, &err);
    if (st != KMS_OK) return fail("kms_open_default_owner", st, err);

    /* 2. Create an AES-256 key (zeroed params = defaults: encrypt+decrypt, active now). */
    memset(&params, 0, sizeof params);
    params.spec = KMS_SPEC_AES256;
    params.description = "quickstart example";
    params.tags = "app=quickstart";
    st = kms_key_create(ctx, &params, &key_id, &err);
    if (st != KMS_OK) return fail("kms_key_create", st, err);
    snprintf(key, sizeof key, "%llu", (unsigned long long)key_id);
    printf("created key %s\n", key);

    /* 3. Encrypt with an encryption context; the same context is needed to decrypt. */
    st = kms_encrypt(ctx, key, (const uint8_t *)msg, strlen(msg), ctx_keys, ctx_values, 2, ct1,
                     &ct1_len, &err);
    if (st != KMS_OK) return fail("kms_encrypt", st, err);
    printf("ciphertext: %zu bytes (plaintext %zu + overhead %d)\n", ct1_len, strlen(msg),
           (int)KMS_CIPHERTEXT_OVERHEAD);

    st = kms_decrypt(ctx, ct1, ct1_len, ctx_keys, ctx_values, 2, pt, &pt_len, &err);
    if (st != KMS_OK) return fail("kms_decrypt", st, err);
    printf("decrypted: %.*s\n", (int)pt_len, (const char *)pt);

    /* 4. Rotate: new data is encrypted under version 2, version 1 still decrypts. */
    st = kms_key_rotate(ctx, key, &version, &err);
    if (st != KMS_OK) return fail("kms_key_rotate", st, err);
    printf("rotated to version %u\n", (unsigned)version);

    pt_len = sizeof pt;
    st = kms_decrypt(ctx, ct1, ct1_len, ctx_keys, ctx_values, 2, pt, &pt_len, &err);
    if (st != KMS_OK) return fail("kms_decrypt (old version)", st, err);
    printf("old ciphertext still decrypts: %.*s\n", (int)pt_len, (const char *)pt);

    /* 5. Move the old ciphertext to the new version without seeing the plaintext. */
    st = kms_reencrypt(ctx, ct1, ct1_len, ctx_keys, ctx_values, 2, NULL, NULL, NULL, 0, ct2,
                       &ct2_len, &err);
    if (st != KMS_OK) return fail("kms_reencrypt", st, err);
    printf("re-encrypted under the primary version (%zu bytes)\n", ct2_len);

    /* 6. A wrong context is refused (and audited). */
    ctx_values[0] = "someone-else";
    pt_len = sizeof pt;
    st = kms_decrypt(ctx, ct2, ct2_len, ctx_keys, ctx_values, 2, pt, &pt_len, &err);
    printf("decrypt with the wrong context: %s\n", kms_status_str(st));
    kms_error_free(err);
    err = NULL;

    /* 7. Verify the tamper-evident audit trail. */
    st = kms_audit_verify(ctx, NULL, 0, &report, &err);
    if (st != KMS_OK) return fail("kms_audit_verify", st, err);
    printf("audit chain intact: %llu records, last seq %llu\n",
           (unsigned long long)report.records, (unsigned long long)report.last_seq);

    st = kms_close(ctx);
    if (st != KMS_OK) return fail("kms_close", st, NULL);
    printf("quickstart: ok\n");
    return 0;
}
