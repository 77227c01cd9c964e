/* test_object.c - certificates and data objects: create, list (by class and label), get,
 * delete; sensitive values kept out of listings; NULLs, bad class, unknown ids, closed
 * context. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

int main(void) {
    kms_ctx ctx;
    uint64_t cert = 0, data = 0, none = 0;
    kms_buffer out = {NULL, 0};
    size_t len = 0;
    char *json;
    const uint8_t der[] = {0x30, 0x82, 0x01, 0x0a, 0x02, 0x01, 0x01};
    const uint8_t id[] = {0x01, 0x02};
    const char *db = kms_test_store();

    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    CHECK_ST(KMS_OK, kms_object_create(ctx, "certificate", "web", id, sizeof id, der, sizeof der, 0, &cert, ERR));
    CHECK(cert != 0);
    CHECK_ST(KMS_OK, kms_object_create(ctx, "data", "seed", NULL, 0, (const uint8_t *)"do-not-list", 11, 1, &data, ERR));
    CHECK(data != 0 && data != cert);

    CHECK_ST(KMS_OK, kms_object_get(ctx, cert, &out, ERR));
    CHECK(out.len == sizeof der && memcmp(out.data, der, sizeof der) == 0);
    kms_buffer_free(&out);
    CHECK_ST(KMS_OK, kms_object_get(ctx, data, &out, ERR));
    CHECK(out.len == 11 && memcmp(out.data, "do-not-list", 11) == 0);
    kms_buffer_free(&out);

    CHECK_ST(KMS_OK, kms_object_list(ctx, "certificate", NULL, NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_object_list(ctx, "certificate", NULL, json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"class\":\"certificate\",\"label\":\"web\",\"ext_id\":\"0102\"") != NULL);
    CHECK(json != NULL && strstr(json, "seed") == NULL);
    free(json);
    len = 0;
    CHECK_ST(KMS_OK, kms_object_list(ctx, NULL, "seed", NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_object_list(ctx, NULL, "seed", json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"sensitive\":true") != NULL);
    CHECK(json != NULL && strstr(json, "do-not-list") == NULL);
    free(json);

    /* errors */
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_object_create(ctx, "bogus", "x", NULL, 0, der, sizeof der, 0, &none, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_object_create(ctx, "data", "x", NULL, 0, der, sizeof der, 2, &none, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_object_create(ctx, NULL, "x", NULL, 0, der, sizeof der, 0, &none, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_object_create(ctx, "data", "x", NULL, 0, der, sizeof der, 0, NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_object_create(ctx, "data", "x", NULL, 3, der, sizeof der, 0, &none, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_object_get(ctx, cert, NULL, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_object_get(ctx, 999999, &out, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_object_list(ctx, NULL, NULL, NULL, NULL, ERR));

    CHECK_ST(KMS_OK, kms_object_delete(ctx, cert, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_object_delete(ctx, cert, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_object_get(ctx, cert, &out, ERR));

    CHECK(kms_close(ctx) == KMS_OK);
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_object_list(ctx, NULL, NULL, NULL, &len, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_object_delete(ctx, data, ERR));
    kms_test_cleanup(NULL);
    return KMS_TEST_DONE("test_object");
}
