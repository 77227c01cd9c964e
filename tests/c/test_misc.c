/* test_misc.c - version, status strings, kms_error and kms_buffer NULL-safety. */
#include <string.h>

#include "kms.h"
#include "kms_test.h"

static void test_version(void) {
    const char *v = kms_version();
    uint32_t n = kms_version_number();
    char dotted[32];
    CHECK(v != NULL);
    snprintf(dotted, sizeof dotted, "%u.%u.%u", (unsigned)(n >> 16), (unsigned)((n >> 8) & 0xff),
             (unsigned)(n & 0xff));
    CHECK(strcmp(v, dotted) == 0);
    printf("version %s\n", v);
}

static void test_status_str(void) {
    static const kms_status codes[] = {
        KMS_OK, KMS_ERR_INVALID_ARGUMENT, KMS_ERR_NOT_FOUND, KMS_ERR_ALREADY_EXISTS,
        KMS_ERR_KEY_STATE, KMS_ERR_KEY_USAGE, KMS_ERR_ACCESS_DENIED,
        KMS_ERR_AUTHENTICATION_FAILED, KMS_ERR_IDENTITY_LOCKED, KMS_ERR_INVALID_CIPHERTEXT,
        KMS_ERR_VERIFICATION_FAILED, KMS_ERR_WRONG_MASTER_KEY, KMS_ERR_INTEGRITY,
        KMS_ERR_AUDIT_UNAVAILABLE, KMS_ERR_LIMIT_EXCEEDED, KMS_ERR_UNSUPPORTED, KMS_ERR_STORE,
        KMS_ERR_CRYPTO, KMS_ERR_INTERNAL, KMS_ERR_NULL_POINTER, KMS_ERR_BUFFER_TOO_SMALL,
        KMS_ERR_INVALID_HANDLE, KMS_ERR_PANIC, KMS_ERR_LENGTH, KMS_ERR_UTF8,
    };
    size_t i, j;
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = kms_status_str(codes[i]);
        CHECK(s != NULL);
        CHECK(s != NULL && strlen(s) > 0);
        CHECK(s != NULL && strcmp(s, "unknown status") != 0);
        for (j = 0; j < i; j++) {
            CHECK(codes[i] != codes[j]);
        }
    }
    CHECK(KMS_OK == 0);
    CHECK(strcmp(kms_status_str(KMS_OK), "ok") == 0);
    CHECK(strcmp(kms_status_str(KMS_ERR_BUFFER_TOO_SMALL), "buffer too small") == 0);
    CHECK(strcmp(kms_status_str(-1), "unknown status") == 0);
    CHECK(strcmp(kms_status_str(99), "unknown status") == 0);
    CHECK(strcmp(kms_status_str(1000000), "unknown status") == 0);
}

static void test_error_null_safety(void) {
    kms_error *err = NULL;
    CHECK(kms_error_code(NULL) == KMS_OK);
    CHECK(kms_error_message(NULL) != NULL);
    CHECK(strcmp(kms_error_message(NULL), "") == 0);
    kms_error_free(NULL);
    kms_error_free(err);
}

static void test_buffer_free(void) {
    kms_buffer buf;
    buf.data = NULL;
    buf.len = 0;
    kms_buffer_free(NULL);
    kms_buffer_free(&buf);
    CHECK(buf.data == NULL && buf.len == 0);
}

static void test_constants(void) {
    CHECK(KMS_MAX_INPUT == (size_t)1 << 30);
    CHECK(KMS_MAX_STRING == (size_t)1 << 16);
    CHECK(KMS_NO_HANDLE == 0);
}

int main(void) {
    test_version();
    test_status_str();
    test_error_null_safety();
    test_buffer_free();
    test_constants();
    return KMS_TEST_DONE("test_misc");
}
