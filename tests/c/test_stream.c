/* test_stream.c - streaming encryption/decryption across chunk boundaries, in odd pieces;
 * tampered, truncated and wrong-context streams; handles after free and after their
 * context is closed. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

static kms_ctx ctx;
static const char *const ck[] = {"file"};
static const char *const cv[] = {"report.pdf"};

typedef struct {
    uint8_t *data;
    size_t len;
} bytes;

static void append(bytes *b, kms_buffer *out) {
    if (out->len > 0) {
        uint8_t *p = realloc(b->data, b->len + out->len);
        if (p == NULL) exit(2);
        memcpy(p + b->len, out->data, out->len);
        b->data = p;
        b->len += out->len;
    }
    kms_buffer_free(out);
}

static bytes encrypt_all(kms_ctx c, const uint8_t *pt, size_t n, size_t piece) {
    bytes ct = {NULL, 0};
    kms_stream s = KMS_NO_HANDLE;
    kms_buffer out = {NULL, 0};
    size_t off;
    CHECK_ST(KMS_OK, kms_stream_encrypt_init(c, "files", ck, cv, 1, &s, ERR));
    for (off = 0; off < n; off += piece) {
        size_t k = n - off < piece ? n - off : piece;
        CHECK_ST(KMS_OK, kms_stream_update(s, pt + off, k, &out, ERR));
        append(&ct, &out);
    }
    CHECK_ST(KMS_OK, kms_stream_final(s, &out, ERR));
    append(&ct, &out);
    CHECK(kms_stream_free(s) == KMS_OK);
    return ct;
}

/* Decrypts `ct` in pieces; returns the final status; plaintext in *pt. */
static kms_status decrypt_all(const bytes *ct, size_t piece, const char *const *vals, bytes *pt) {
    kms_stream s = KMS_NO_HANDLE;
    kms_buffer out = {NULL, 0};
    kms_status st;
    size_t off;
    pt->data = NULL;
    pt->len = 0;
    CHECK_ST(KMS_OK, kms_stream_decrypt_init(ctx, ck, vals, 1, &s, ERR));
    for (off = 0; off < ct->len; off += piece) {
        size_t k = ct->len - off < piece ? ct->len - off : piece;
        st = kms_stream_update(s, ct->data + off, k, &out, NULL);
        if (st != KMS_OK) {
            kms_stream_free(s);
            return st;
        }
        append(pt, &out);
    }
    st = kms_stream_final(s, &out, NULL);
    append(pt, &out);
    CHECK(kms_stream_free(s) == KMS_OK);
    return st;
}

static void test_round_trips(void) {
    size_t sizes[] = {0, 1, 65535, 65536, 65537, 200000};
    size_t i, j;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        uint8_t *pt = malloc(n + 1);
        bytes ct, back;
        for (j = 0; j < n; j++) pt[j] = (uint8_t)(j * 31 + 7);
        ct = encrypt_all(ctx, pt, n, 7000);
        CHECK(ct.len > n);
        CHECK(decrypt_all(&ct, 4099, cv, &back) == KMS_OK);
        CHECK(back.len == n && (n == 0 || memcmp(back.data, pt, n) == 0));
        free(back.data);
        if (n == 200000) {
            const char *const wrong[] = {"other.pdf"};
            /* tampered chunk */
            ct.data[ct.len / 2] ^= 1;
            CHECK(decrypt_all(&ct, 65536, cv, &back) == KMS_ERR_INVALID_CIPHERTEXT);
            free(back.data);
            ct.data[ct.len / 2] ^= 1;
            /* truncated: drop the last chunk */
            ct.len -= 100;
            CHECK(decrypt_all(&ct, 65536, cv, &back) == KMS_ERR_INVALID_CIPHERTEXT);
            free(back.data);
            ct.len += 100;
            /* wrong context: the data key does not unwrap */
            CHECK(decrypt_all(&ct, 65536, wrong, &back) == KMS_ERR_INVALID_CIPHERTEXT);
            free(back.data);
            /* not a stream */
            ct.data[0] ^= 0xff;
            CHECK(decrypt_all(&ct, 65536, cv, &back) == KMS_ERR_INVALID_CIPHERTEXT);
            free(back.data);
        }
        free(ct.data);
        free(pt);
    }
}

static void test_handles(const char *db) {
    kms_stream s = KMS_NO_HANDLE;
    kms_buffer out = {NULL, 0};
    kms_ctx c2;
    bytes ct = {NULL, 0}, back;

    CHECK_ST(KMS_ERR_NULL_POINTER, kms_stream_encrypt_init(ctx, "files", NULL, NULL, 0, NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_stream_encrypt_init(ctx, NULL, NULL, NULL, 0, &s, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_stream_encrypt_init(ctx, "nope", NULL, NULL, 0, &s, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_stream_encrypt_init(0, "files", NULL, NULL, 0, &s, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_stream_decrypt_init(ctx, NULL, NULL, 0, NULL, ERR));

    /* A stream outlives its context. */
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &c2, ERR));
    CHECK_ST(KMS_OK, kms_stream_encrypt_init(c2, "files", ck, cv, 1, &s, ERR));
    CHECK(kms_close(c2) == KMS_OK);
    CHECK_ST(KMS_OK, kms_stream_update(s, (const uint8_t *)"hello", 5, &out, ERR));
    append(&ct, &out);
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_stream_update(s, NULL, 5, &out, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_stream_update(s, (const uint8_t *)"x", 1, NULL, ERR));
    CHECK_ST(KMS_OK, kms_stream_final(s, &out, ERR));
    append(&ct, &out);
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_stream_update(s, (const uint8_t *)"x", 1, &out, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_stream_final(s, &out, ERR));
    CHECK(kms_stream_free(s) == KMS_OK);
    CHECK(kms_stream_free(s) == KMS_ERR_INVALID_HANDLE);
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_stream_update(s, (const uint8_t *)"x", 1, &out, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_stream_final(s, &out, ERR));
    /* A context handle is not a stream handle. */
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_stream_final(ctx, &out, ERR));
    CHECK(kms_stream_free(ctx) == KMS_ERR_INVALID_HANDLE);

    CHECK(decrypt_all(&ct, 3, cv, &back) == KMS_OK);
    CHECK(back.len == 5 && memcmp(back.data, "hello", 5) == 0);
    free(back.data);
    free(ct.data);

    /* An unfinished stream can be freed. */
    CHECK_ST(KMS_OK, kms_stream_encrypt_init(ctx, "files", NULL, NULL, 0, &s, ERR));
    CHECK(kms_stream_free(s) == KMS_OK);
}

int main(void) {
    kms_key_params p;
    uint64_t id;
    const char *db = kms_test_store();
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = "files";
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id, ERR));
    test_round_trips();
    test_handles(db);
    CHECK(kms_close(ctx) == KMS_OK);
    kms_test_cleanup(NULL);
    return KMS_TEST_DONE("test_stream");
}
