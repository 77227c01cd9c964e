/* test_secret.c - application secrets: put (versions), get (latest and by version), list,
 * delete; NULLs, unknown names and versions, a key that cannot encrypt, closed context. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

int main(void) {
    kms_ctx ctx;
    kms_key_params p;
    uint64_t id;
    uint32_t v = 0, n = 0;
    kms_buffer out = {NULL, 0};
    size_t len = 0;
    char *json;
    const char *db = kms_test_store();

    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = "vault";
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id, ERR));
    p.spec = KMS_SPEC_HMAC_SHA256;
    p.name = "hmac";
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id, ERR));

    CHECK_ST(KMS_OK, kms_secret_put(ctx, "db/password", "vault", (const uint8_t *)"hunter2", 7, &v, ERR));
    CHECK(v == 1);
    CHECK_ST(KMS_OK, kms_secret_put(ctx, "db/password", "vault", (const uint8_t *)"correct horse", 13, &v, ERR));
    CHECK(v == 2);
    CHECK_ST(KMS_OK, kms_secret_put(ctx, "api/token", "vault", NULL, 0, NULL, ERR));

    CHECK_ST(KMS_OK, kms_secret_get(ctx, "db/password", 0, &out, ERR));
    CHECK(out.len == 13 && memcmp(out.data, "correct horse", 13) == 0);
    kms_buffer_free(&out);
    CHECK_ST(KMS_OK, kms_secret_get(ctx, "db/password", 1, &out, ERR));
    CHECK(out.len == 7 && memcmp(out.data, "hunter2", 7) == 0);
    kms_buffer_free(&out);
    CHECK_ST(KMS_OK, kms_secret_get(ctx, "api/token", 0, &out, ERR));
    CHECK(out.len == 0 && out.data == NULL);

    CHECK_ST(KMS_OK, kms_secret_list(ctx, NULL, NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_secret_list(ctx, NULL, json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"name\":\"db/password\",\"version\":2") != NULL);
    CHECK(json != NULL && strstr(json, "\"name\":\"api/token\"") != NULL);
    CHECK(json != NULL && strstr(json, "hunter2") == NULL);
    free(json);
    {
        char small[4];
        len = sizeof small;
        CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_secret_list(ctx, "db/password", small, &len, ERR));
        CHECK(len > sizeof small);
    }

    /* errors */
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_secret_get(ctx, "nope", 0, &out, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_secret_get(ctx, "db/password", 9, &out, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_secret_get(ctx, NULL, 0, &out, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_secret_get(ctx, "db/password", 0, NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_secret_put(ctx, "x", NULL, (const uint8_t *)"v", 1, NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_secret_put(ctx, "x", "vault", NULL, 1, NULL, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_secret_put(ctx, "", "vault", (const uint8_t *)"v", 1, NULL, ERR));
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_secret_put(ctx, "x", "hmac", (const uint8_t *)"v", 1, NULL, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_secret_put(ctx, "x", "no-key", (const uint8_t *)"v", 1, NULL, ERR));

    /* a disabled key protects its secrets: no new versions */
    CHECK_ST(KMS_OK, kms_key_disable(ctx, "vault", ERR));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_secret_put(ctx, "db/password", "vault", (const uint8_t *)"v", 1, NULL, ERR));
    CHECK_ST(KMS_OK, kms_key_enable(ctx, "vault", ERR));

    CHECK_ST(KMS_OK, kms_secret_delete(ctx, "db/password", &n, ERR));
    CHECK(n == 2);
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_secret_get(ctx, "db/password", 0, &out, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_secret_get(ctx, "db/password", 1, &out, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_secret_delete(ctx, "db/password", NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_secret_delete(ctx, NULL, NULL, ERR));

    CHECK(kms_close(ctx) == KMS_OK);
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_secret_get(ctx, "api/token", 0, &out, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_secret_put(ctx, "a", "vault", (const uint8_t *)"v", 1, NULL, ERR));
    kms_test_cleanup(NULL);
    return KMS_TEST_DONE("test_secret");
}
