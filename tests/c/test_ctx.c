/* test_ctx.c - contexts: open (owner file and identity), close, double close, stale and
 * forged handles, NULL arguments, wrong secret, kms_ctx_identity buffer convention. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

static void test_open_close(const char *db) {
    kms_ctx ctx = KMS_NO_HANDLE, ctx2 = KMS_NO_HANDLE;
    char secret[128];
    size_t secret_len;
    char name[16];
    size_t len;

    /* NULL out_ctx: nothing opened. */
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_open_default_owner(db, NULL, ERR));
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    CHECK(ctx != KMS_NO_HANDLE);

    /* Identity name through the output-buffer convention (NUL counted). */
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_ctx_identity(ctx, name, NULL, ERR));
    len = 0;
    CHECK_ST(KMS_OK, kms_ctx_identity(ctx, NULL, &len, ERR));
    CHECK(len == 6);
    len = 3;
    memset(name, 'x', sizeof name);
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_ctx_identity(ctx, name, &len, ERR));
    CHECK(len == 6);
    CHECK(name[0] == 'x');
    len = sizeof name;
    CHECK_ST(KMS_OK, kms_ctx_identity(ctx, name, &len, ERR));
    CHECK(len == 6 && strcmp(name, "owner") == 0);

    /* kms_open with the owner's credentials. */
    secret_len = kms_test_owner_secret(secret, sizeof secret);
    CHECK(secret_len > 0);
    CHECK_ST(KMS_OK, kms_open(db, NULL, "owner", (const uint8_t *)secret, secret_len, &ctx2, ERR));
    CHECK(ctx2 != KMS_NO_HANDLE && ctx2 != ctx);
    CHECK(kms_close(ctx2) == KMS_OK);

    /* Wrong secret, unknown identity, unknown keyring, NULL identity, NULL secret. */
    CHECK_ST(KMS_ERR_AUTHENTICATION_FAILED,
             kms_open(db, NULL, "owner", (const uint8_t *)"wrong-secret", 12, &ctx2, ERR));
    CHECK_ST(KMS_ERR_AUTHENTICATION_FAILED,
             kms_open(db, "default", "nobody", (const uint8_t *)secret, secret_len, &ctx2, ERR));
    CHECK_ST(KMS_ERR_AUTHENTICATION_FAILED,
             kms_open(db, "no-such-ring", "owner", (const uint8_t *)secret, secret_len, &ctx2, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER,
             kms_open(db, NULL, NULL, (const uint8_t *)secret, secret_len, &ctx2, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_open(db, NULL, "owner", NULL, 5, &ctx2, ERR));

    /* Close, double close, use after close. */
    CHECK(kms_close(ctx) == KMS_OK);
    CHECK(kms_close(ctx) == KMS_ERR_INVALID_HANDLE);
    len = sizeof name;
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_ctx_identity(ctx, name, &len, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_ctx_identity(KMS_NO_HANDLE, name, &len, ERR));
    /* Forged handles: random bits, a handle of another kind. */
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_ctx_identity(0xdeadbeefcafef00dULL, name, &len, ERR));
    CHECK(kms_close(0) == KMS_ERR_INVALID_HANDLE);
    CHECK(kms_close(~(kms_ctx)0) == KMS_ERR_INVALID_HANDLE);
}

static void test_error_detail(const char *db) {
    kms_error *err = (kms_error *)1; /* overwritten, not freed */
    kms_status st = kms_open(db, NULL, "owner", (const uint8_t *)"nope", 4, NULL, &err);
    CHECK(st == KMS_ERR_NULL_POINTER);
    CHECK(err != NULL && kms_error_code(err) == KMS_ERR_NULL_POINTER);
    CHECK(strstr(kms_error_message(err), "out_ctx") != NULL);
    kms_error_free(err);
    /* Bad UTF-8 in a string argument. */
    {
        kms_ctx ctx;
        const char bad[] = {(char)0xff, (char)0xfe, 0};
        CHECK_ST(KMS_ERR_UTF8, kms_open(db, NULL, bad, (const uint8_t *)"x", 1, &ctx, ERR));
    }
}

int main(void) {
    const char *db = kms_test_store();
    test_open_close(db);
    test_error_detail(db);
    kms_test_cleanup(NULL);
    return KMS_TEST_DONE("test_ctx");
}
