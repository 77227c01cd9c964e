/* envelope_file.c - envelope-encrypt a file of any size with the streaming API: each file
 * gets a fresh AES-256 data key, wrapped under a KMS key and stored in the file's header;
 * the data is sealed in 64 KiB authenticated chunks, so the file never has to fit in
 * memory and any change, reordering or truncation is detected on decryption.
 *
 *   envelope_file encrypt <in> <out> [key-name]    (creates the key if it does not exist)
 *   envelope_file decrypt <in> <out>
 *
 * An encryption context ("purpose" = "envelope_file") is bound to the wrapped data key:
 * the same context is needed to decrypt. Bind what identifies the data in your own use
 * (a tenant, a table and row id ...).
 *
 * Build:  cc -std=c99 envelope_file.c $(pkg-config --cflags --libs kms) -o envelope_file
 * Store:  KMS_STORE=/path/to/kms.db (default $XDG_DATA_HOME/kms/kms.db), opened as owner.
 */
#include <stdio.h>
#include <string.h>

#include "kms.h"

static int fail(const char *what, kms_status st, kms_error *err) {
    fprintf(stderr, "%s failed: %s: %s\n", what, kms_status_str(st), kms_error_message(err));
    kms_error_free(err);
    return 1;
}

/* Creates `key` (AES-256) unless it exists. */
static kms_status ensure_key(kms_ctx ctx, const char *key, kms_error **err) {
    size_t len = 0;
    kms_key_params p;
    uint64_t id;
    kms_status st = kms_key_describe(ctx, key, NULL, &len, err);
    if (st != KMS_ERR_NOT_FOUND) return st;
    kms_error_free(*err);
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = key;
    p.description = "envelope_file example";
    return kms_key_create(ctx, &p, &id, err);
}

/* Pumps `in` through the stream into `out`; frees the stream. */
static int pump(kms_stream s, FILE *in, FILE *out) {
    static uint8_t buf[64 * 1024];
    kms_buffer chunk = {NULL, 0};
    kms_error *err = NULL;
    kms_status st = KMS_OK;
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        st = kms_stream_update(s, buf, n, &chunk, &err);
        if (st != KMS_OK) break;
        if (chunk.len > 0 && fwrite(chunk.data, 1, chunk.len, out) != chunk.len) rc = 1;
        kms_buffer_free(&chunk); /* zeroizes: decrypted chunks do not linger */
    }
    if (st == KMS_OK && ferror(in)) rc = 1;
    if (st == KMS_OK && rc == 0) {
        st = kms_stream_final(s, &chunk, &err);
        if (st == KMS_OK && chunk.len > 0 && fwrite(chunk.data, 1, chunk.len, out) != chunk.len) rc = 1;
        kms_buffer_free(&chunk);
    }
    kms_stream_free(s);
    if (st != KMS_OK) return fail("stream", st, err);
    if (rc != 0) fprintf(stderr, "i/o error\n");
    return rc;
}

int main(int argc, char **argv) {
    kms_ctx ctx;
    kms_stream s;
    kms_error *err = NULL;
    kms_status st;
    const char *ctx_keys[] = {"purpose"};
    const char *ctx_values[] = {"envelope_file"};
    FILE *in, *out;
    int encrypt, rc;

    if (argc < 4 || (strcmp(argv[1], "encrypt") != 0 && strcmp(argv[1], "decrypt") != 0)) {
        fprintf(stderr, "usage: %s encrypt <in> <out> [key] | decrypt <in> <out>\n", argv[0]);
        return 2;
    }
    encrypt = strcmp(argv[1], "encrypt") == 0;

    st = kms_open_default_owner(NULL, &ctx, &err);
    if (st != KMS_OK) return fail("kms_open_default_owner", st, err);
    if (encrypt) {
        const char *key = argc > 4 ? argv[4] : "envelope-example";
        st = ensure_key(ctx, key, &err);
        if (st != KMS_OK) return fail("creating the key", st, err);
        st = kms_stream_encrypt_init(ctx, key, ctx_keys, ctx_values, 1, &s, &err);
    } else {
        st = kms_stream_decrypt_init(ctx, ctx_keys, ctx_values, 1, &s, &err);
    }
    if (st != KMS_OK) return fail("stream init", st, err);
    /* The stream keeps its own reference to the store: the context can go now. */
    kms_close(ctx);

    in = fopen(argv[2], "rb");
    out = fopen(argv[3], "wb");
    if (in == NULL || out == NULL) {
        perror("fopen");
        kms_stream_free(s);
        return 1;
    }
    rc = pump(s, in, out);
    fclose(in);
    if (fclose(out) != 0) rc = 1;
    if (rc != 0) {
        remove(argv[3]); /* never leave a partial (unauthenticated) output behind */
        return rc;
    }
    printf("%sed %s -> %s\n", argv[1], argv[2], argv[3]);
    return 0;
}
