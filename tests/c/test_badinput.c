/* test_badinput.c - the bad-input matrix of the C API (issue 10): every kms_* function
 * called with NULL pointers, zero, huge and overflowing lengths, unknown, closed, stale,
 * forged and wrong-kind handles, misaligned pointers, bad strings (not UTF-8, too long),
 * wrong key kinds and wrong states. Each case asserts the exact documented status (see
 * docs/c-api.md and kms.h); the whole program also runs under ASAN+UBSan and valgrind
 * (tests/c_api.rs), so a crash, an out-of-bounds read or a leak fails it. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdint.h>

#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

static unsigned long cases = 0;

/* One row of the matrix: `call` (using ERR) must return `expected`. */
#define EXPECT(expected, call)      \
    do {                            \
        cases++;                    \
        CHECK_ST(expected, call);   \
    } while (0)

/* A row for the functions without an out-error argument. */
#define EXPECT_RAW(expected, call)                                                         \
    do {                                                                                   \
        kms_status raw_ = (call);                                                          \
        cases++;                                                                           \
        if (raw_ != (expected)) {                                                          \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, \
                    #call, (int)raw_, kms_status_str(raw_), (int)(expected));              \
            kms_test_failures++;                                                           \
        }                                                                                  \
    } while (0)

#define HUGE1 ((size_t)KMS_MAX_INPUT + 1)
#define HUGE2 SIZE_MAX
/* An element count whose byte size overflows size_t. */
#define OVERFLOW_COUNT (SIZE_MAX / sizeof(char *) + 2)

static const char *db;
static kms_ctx ctx;
static uint8_t buf[8192];
static uint8_t ct[256];
static size_t ct_len;
static uint8_t sig[KMS_MAX_SIGNATURE];
static size_t sig_len;
static char *long_str; /* KMS_MAX_STRING + 1 characters */
static const char bad_utf8[] = {'k', (char)0xff, (char)0xfe, 0};
static const char *const ck[] = {"tenant"};
static const char *const cv[] = {"t1"};
static const char *const null_el[] = {NULL};
static const char *const dup_k[] = {"a", "a"};
static const char *const dup_v[] = {"1", "2"};
/* Backing store for misaligned pointers (8-byte aligned, used at offset 1). */
static uint64_t misaligned_area[64];

static void *misaligned(void) {
    return (void *)((char *)misaligned_area + 1);
}

static void mk(const char *name, uint32_t spec, uint32_t usage, uint32_t exportable) {
    kms_key_params p;
    uint64_t id = 0;
    memset(&p, 0, sizeof p);
    p.spec = spec;
    p.usage = usage;
    p.name = name;
    p.exportable = exportable;
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id, ERR));
}

static void setup(void) {
    db = kms_test_store();
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    mk("aes", KMS_SPEC_AES256, 0, 0);
    mk("exp", KMS_SPEC_AES256, 0, 1);
    mk("ec", KMS_SPEC_EC_P256, 0, 0);
    mk("hmac", KMS_SPEC_HMAC_SHA256, 0, 0);
    mk("wrap", KMS_SPEC_AES256, KMS_USAGE_WRAP | KMS_USAGE_UNWRAP, 0);
    mk("drv", KMS_SPEC_SECRET, KMS_USAGE_DERIVE, 0);
    ct_len = sizeof ct;
    CHECK_ST(KMS_OK,
             kms_encrypt(ctx, "aes", (const uint8_t *)"hello", 5, ck, cv, 1, ct, &ct_len, ERR));
    sig_len = sizeof sig;
    CHECK_ST(KMS_OK, kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, (const uint8_t *)"m", 1, 0, sig,
                              &sig_len, NULL, ERR));
    long_str = malloc(KMS_MAX_STRING + 2);
    if (long_str == NULL) exit(2);
    memset(long_str, 'a', KMS_MAX_STRING + 1);
    long_str[KMS_MAX_STRING + 1] = '\0';
}

/* Every function taking a kms_ctx, with otherwise valid arguments, given handle `h`: all
 * must answer `want` (KMS_ERR_INVALID_HANDLE) and touch nothing. */
static void every_ctx_function(kms_ctx h, kms_status want) {
    kms_key_params kp;
    kms_grant_params gp;
    kms_audit_report rep;
    kms_buffer kb = {NULL, 0};
    kms_stream st = KMS_NO_HANDLE;
    uint32_t act = KMS_ACTION_ENCRYPT;
    uint64_t u64 = 0;
    uint32_t u32 = 0;
    size_t len = 0;
    int fd = open("/dev/null", O_WRONLY);
    memset(&kp, 0, sizeof kp);
    kp.spec = KMS_SPEC_AES256;
    memset(&gp, 0, sizeof gp);
    gp.identity = "owner";
    gp.key = "aes";
    gp.actions = &act;
    gp.action_count = 1;

    EXPECT(want, kms_flush(h, ERR));
    EXPECT(want, kms_ctx_identity(h, NULL, &len, ERR));
    EXPECT(want, kms_key_create(h, &kp, &u64, ERR));
    EXPECT(want, kms_key_import(h, &kp, buf, 32, &u64, ERR));
    EXPECT(want, kms_key_describe(h, "aes", NULL, &len, ERR));
    EXPECT(want, kms_key_list(h, NULL, NULL, &len, ERR));
    EXPECT(want, kms_key_rotate(h, "aes", &u32, ERR));
    EXPECT(want, kms_key_enable(h, "aes", ERR));
    EXPECT(want, kms_key_disable(h, "aes", ERR));
    EXPECT(want, kms_key_suspend(h, "aes", ERR));
    EXPECT(want, kms_key_deactivate(h, "aes", ERR));
    EXPECT(want, kms_key_mark_compromised(h, "aes", ERR));
    EXPECT(want, kms_key_schedule_deletion(h, "aes", 7, ERR));
    EXPECT(want, kms_key_cancel_deletion(h, "aes", ERR));
    EXPECT(want, kms_key_destroy(h, "aes", ERR));
    EXPECT(want, kms_key_set_min_decrypt_version(h, "aes", 1, ERR));
    EXPECT(want, kms_key_destroy_version(h, "aes", 1, ERR));
    EXPECT(want, kms_key_set_rotation(h, "aes", 0, 0, ERR));
    EXPECT(want, kms_key_export_wrapped(h, "exp", 0, "wrap", NULL, &len, ERR));
    EXPECT(want, kms_key_import_wrapped(h, &kp, ct, ct_len, &u64, ERR));
    EXPECT(want, kms_encrypt(h, "aes", buf, 5, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(want, kms_decrypt(h, ct, ct_len, ck, cv, 1, NULL, &len, ERR));
    EXPECT(want, kms_decrypt_buffer(h, ct, ct_len, ck, cv, 1, &kb, ERR));
    EXPECT(want, kms_reencrypt(h, ct, ct_len, ck, cv, 1, NULL, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(want, kms_generate_data_key(h, "aes", 32, NULL, NULL, 0, &kb, NULL, &len, ERR));
    EXPECT(want, kms_generate_data_key_without_plaintext(h, "aes", 32, NULL, NULL, 0, NULL,
                                                         &len, ERR));
    EXPECT(want, kms_decrypt_data_key(h, ct, ct_len, ck, cv, 1, &kb, ERR));
    EXPECT(want, kms_sign(h, "ec", KMS_SIGN_ECDSA_SHA256, buf, 1, 0, NULL, &len, NULL, ERR));
    EXPECT(want, kms_verify(h, "ec", 0, KMS_SIGN_ECDSA_SHA256, (const uint8_t *)"m", 1, 0, sig,
                            sig_len, ERR));
    EXPECT(want, kms_get_public_key(h, "ec", 0, NULL, &len, ERR));
    EXPECT(want, kms_mac(h, "hmac", buf, 1, NULL, &len, NULL, ERR));
    EXPECT(want, kms_verify_mac(h, "hmac", 0, buf, 1, buf, 32, ERR));
    EXPECT(want, kms_wrap(h, "wrap", buf, 32, NULL, &len, ERR));
    EXPECT(want, kms_unwrap(h, ct, ct_len, &kb, ERR));
    EXPECT(want, kms_derive(h, "drv", NULL, 0, NULL, 0, 32, &kb, ERR));
    EXPECT(want, kms_random(h, buf, 16, ERR));
    EXPECT(want, kms_identity_create(h, "someone", (const uint8_t *)"secret-123", 10,
                                     KMS_ROLE_USER, 0, ERR));
    EXPECT(want, kms_identity_disable(h, "owner", ERR));
    EXPECT(want, kms_identity_enable(h, "owner", ERR));
    EXPECT(want, kms_identity_unlock(h, "owner", ERR));
    EXPECT(want, kms_identity_delete(h, "owner", ERR));
    EXPECT(want, kms_identity_set_secret(h, "owner", (const uint8_t *)"secret-123", 10, ERR));
    EXPECT(want, kms_grant_create(h, &gp, &u64, ERR));
    EXPECT(want, kms_grant_revoke(h, 1, ERR));
    EXPECT(want, kms_grant_list(h, NULL, NULL, &len, ERR));
    EXPECT(want, kms_audit_query(h, NULL, NULL, &len, ERR));
    EXPECT(want, kms_audit_export(h, NULL, kms_test_path("audit.jsonl"), &u64, ERR));
    EXPECT(want, kms_audit_export_fd(h, NULL, fd, &u64, ERR));
    EXPECT(want, kms_audit_verify(h, NULL, 0, &rep, ERR));
    EXPECT(want, kms_audit_checkpoint(h, buf, 32, &u64, ERR));
    EXPECT(want, kms_object_create(h, "data", "obj", NULL, 0, buf, 4, 0, &u64, ERR));
    EXPECT(want, kms_object_get(h, 1, &kb, ERR));
    EXPECT(want, kms_object_list(h, NULL, NULL, NULL, &len, ERR));
    EXPECT(want, kms_object_delete(h, 1, ERR));
    EXPECT(want, kms_secret_put(h, "s", "aes", buf, 4, &u32, ERR));
    EXPECT(want, kms_secret_get(h, "s", 0, &kb, ERR));
    EXPECT(want, kms_secret_list(h, NULL, NULL, &len, ERR));
    EXPECT(want, kms_secret_delete(h, "s", &u32, ERR));
    EXPECT(want, kms_stream_encrypt_init(h, "aes", NULL, NULL, 0, &st, ERR));
    EXPECT(want, kms_stream_decrypt_init(h, NULL, NULL, 0, &st, ERR));
    EXPECT_RAW(want, kms_close(h));
    CHECK(kb.data == NULL && st == KMS_NO_HANDLE && len == 0);
    if (fd >= 0) close(fd);
}

static void every_stream_function(kms_stream h, kms_status want) {
    kms_buffer kb = {NULL, 0};
    EXPECT(want, kms_stream_update(h, buf, 4, &kb, ERR));
    EXPECT(want, kms_stream_final(h, &kb, ERR));
    EXPECT_RAW(want, kms_stream_free(h));
    CHECK(kb.data == NULL);
}

static void test_handles(void) {
    kms_ctx closed = KMS_NO_HANDLE, other = KMS_NO_HANDLE;
    kms_stream s = KMS_NO_HANDLE, freed = KMS_NO_HANDLE;
    kms_buffer kb = {NULL, 0};
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &closed, ERR));
    EXPECT_RAW(KMS_OK, kms_close(closed));
    EXPECT_RAW(KMS_ERR_INVALID_HANDLE, kms_close(closed)); /* double close */
    CHECK_ST(KMS_OK, kms_stream_encrypt_init(ctx, "aes", NULL, NULL, 0, &s, ERR));
    CHECK_ST(KMS_OK, kms_stream_encrypt_init(ctx, "aes", NULL, NULL, 0, &freed, ERR));
    EXPECT_RAW(KMS_OK, kms_stream_free(freed));
    EXPECT_RAW(KMS_ERR_INVALID_HANDLE, kms_stream_free(freed)); /* double free */

    every_ctx_function(KMS_NO_HANDLE, KMS_ERR_INVALID_HANDLE);
    every_ctx_function(UINT64_MAX, KMS_ERR_INVALID_HANDLE);
    every_ctx_function(closed, KMS_ERR_INVALID_HANDLE);
    every_ctx_function(s, KMS_ERR_INVALID_HANDLE);                /* a stream as a context */
    every_ctx_function(ctx ^ ((uint64_t)1 << 24), KMS_ERR_INVALID_HANDLE); /* other generation */
    every_ctx_function(ctx + 1000, KMS_ERR_INVALID_HANDLE);       /* slot never used */

    every_stream_function(KMS_NO_HANDLE, KMS_ERR_INVALID_HANDLE);
    every_stream_function(UINT64_MAX, KMS_ERR_INVALID_HANDLE);
    every_stream_function(freed, KMS_ERR_INVALID_HANDLE);
    every_stream_function(ctx, KMS_ERR_INVALID_HANDLE); /* a context as a stream */
    every_stream_function(s ^ ((uint64_t)1 << 24), KMS_ERR_INVALID_HANDLE);

    /* A stream outlives its context; a closed context is dead, even when reopened. */
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &other, ERR));
    EXPECT(KMS_OK, kms_stream_update(s, buf, 4, &kb, ERR));
    kms_buffer_free(&kb);
    EXPECT_RAW(KMS_OK, kms_close(other));
    EXPECT(KMS_ERR_INVALID_HANDLE, kms_flush(other, ERR));
    EXPECT(KMS_ERR_INVALID_HANDLE, kms_flush(closed, ERR));
    EXPECT(KMS_OK, kms_stream_final(s, &kb, ERR));
    kms_buffer_free(&kb);
    EXPECT_RAW(KMS_OK, kms_stream_free(s));
}

static void test_open(void) {
    kms_ctx c = KMS_NO_HANDLE;
    EXPECT(KMS_ERR_NULL_POINTER, kms_open(db, NULL, "owner", (const uint8_t *)"x", 1, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_open(db, NULL, NULL, (const uint8_t *)"x", 1, &c, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_open(db, NULL, "owner", NULL, 5, &c, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_open(db, NULL, "owner", buf, HUGE1, &c, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_open(db, NULL, "owner", buf, HUGE2, &c, ERR));
    EXPECT(KMS_ERR_UTF8, kms_open(db, NULL, bad_utf8, (const uint8_t *)"x", 1, &c, ERR));
    EXPECT(KMS_ERR_UTF8, kms_open(db, bad_utf8, "owner", (const uint8_t *)"x", 1, &c, ERR));
    EXPECT(KMS_ERR_UTF8, kms_open(bad_utf8, NULL, "owner", (const uint8_t *)"x", 1, &c, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_open(db, NULL, long_str, (const uint8_t *)"x", 1, &c, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_open(long_str, NULL, "owner", (const uint8_t *)"x", 1, &c, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_open(db, NULL, "owner", (const uint8_t *)"x", 1, (kms_ctx *)misaligned(), ERR));
    EXPECT(KMS_ERR_AUTHENTICATION_FAILED,
           kms_open(db, NULL, "nobody", (const uint8_t *)"secret-123", 10, &c, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_open_default_owner(db, NULL, ERR));
    EXPECT(KMS_ERR_UTF8, kms_open_default_owner(bad_utf8, &c, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_open_default_owner(long_str, &c, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_open_default_owner(db, (kms_ctx *)misaligned(), ERR));
    CHECK(c == KMS_NO_HANDLE);
    /* NULL out_err: the status alone reports. */
    CHECK(kms_open_default_owner(db, NULL, NULL) == KMS_ERR_NULL_POINTER);
    cases++;
}

static void test_ctx_identity(void) {
    size_t len = 3;
    char small[3] = {'x', 'x', 'x'};
    EXPECT(KMS_ERR_NULL_POINTER, kms_ctx_identity(ctx, small, NULL, ERR));
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_ctx_identity(ctx, small, &len, ERR));
    CHECK(len == 6 && small[0] == 'x'); /* "owner" + NUL needed, nothing written */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_ctx_identity(ctx, small, (size_t *)misaligned(), ERR));
    len = 0;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_ctx_identity(ctx, small, &len, ERR));
    EXPECT(KMS_OK, kms_ctx_identity(ctx, NULL, &len, ERR));
    CHECK(len == 6);
}

static void test_keys(void) {
    kms_key_params p;
    kms_key_filter f;
    uint64_t id = 0;
    uint32_t v = 0;
    size_t len = 0;
    const char *all_names[] = {NULL, "nosuch", bad_utf8, long_str};
    const kms_status all_want[] = {KMS_ERR_NULL_POINTER, KMS_ERR_NOT_FOUND, KMS_ERR_UTF8,
                                   KMS_ERR_LENGTH};
    size_t i;

    EXPECT(KMS_ERR_NULL_POINTER, kms_key_create(ctx, NULL, &id, ERR));
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_create(ctx, &p, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, (uint64_t *)misaligned(), ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_key_create(ctx, (const kms_key_params *)misaligned(), &id, ERR));
    p.spec = 0;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.spec = 999;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.spec = KMS_SPEC_AES256;
    p.usage = KMS_USAGE_SIGN; /* an AES key cannot sign */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.usage = 1u << 30; /* unknown usage bit */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.usage = 0;
    p.name = "aes"; /* taken */
    EXPECT(KMS_ERR_ALREADY_EXISTS, kms_key_create(ctx, &p, &id, ERR));
    p.name = "12345"; /* digits name key ids */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.name = bad_utf8;
    EXPECT(KMS_ERR_UTF8, kms_key_create(ctx, &p, &id, ERR));
    p.name = long_str;
    EXPECT(KMS_ERR_LENGTH, kms_key_create(ctx, &p, &id, ERR));
    p.name = NULL;
    p.tags = "novalue";
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.tags = NULL;
    p.description = bad_utf8;
    EXPECT(KMS_ERR_UTF8, kms_key_create(ctx, &p, &id, ERR));
    p.description = NULL;
    p.rotation_period_seconds = -5;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id, ERR));
    p.rotation_period_seconds = 0;

    /* import */
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_import(ctx, NULL, buf, 32, &id, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_import(ctx, &p, buf, 32, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_import(ctx, &p, NULL, 32, &id, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_key_import(ctx, &p, buf, HUGE1, &id, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_key_import(ctx, &p, buf, HUGE2, &id, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_import(ctx, &p, buf, 5, &id, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_import(ctx, &p, NULL, 0, &id, ERR));
    p.spec = 0;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_import(ctx, &p, buf, 32, &id, ERR));
    p.spec = KMS_SPEC_EC_P256; /* not a PKCS#8 document */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_import(ctx, &p, buf, 32, &id, ERR));
    CHECK(id == 0);

    /* describe / list */
    for (i = 0; i < 4; i++) {
        EXPECT(all_want[i], kms_key_describe(ctx, all_names[i], NULL, &len, ERR));
        EXPECT(all_want[i], kms_key_rotate(ctx, all_names[i], &v, ERR));
        EXPECT(all_want[i], kms_key_enable(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_disable(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_suspend(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_deactivate(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_mark_compromised(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_schedule_deletion(ctx, all_names[i], 7, ERR));
        EXPECT(all_want[i], kms_key_cancel_deletion(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_destroy(ctx, all_names[i], ERR));
        EXPECT(all_want[i], kms_key_set_min_decrypt_version(ctx, all_names[i], 1, ERR));
        EXPECT(all_want[i], kms_key_destroy_version(ctx, all_names[i], 1, ERR));
        EXPECT(all_want[i], kms_key_set_rotation(ctx, all_names[i], 0, 0, ERR));
        EXPECT(all_want[i], kms_key_export_wrapped(ctx, all_names[i], 0, "wrap", NULL, &len, ERR));
        EXPECT(all_want[i], kms_key_export_wrapped(ctx, "exp", 0, all_names[i], NULL, &len, ERR));
        len = sizeof buf;
        EXPECT(all_want[i], kms_encrypt(ctx, all_names[i], buf, 5, NULL, NULL, 0, buf, &len, ERR));
        EXPECT(all_want[i], kms_sign(ctx, all_names[i], KMS_SIGN_ECDSA_SHA256, buf, 1, 0, NULL,
                                     &len, NULL, ERR));
        EXPECT(all_want[i], kms_verify(ctx, all_names[i], 0, KMS_SIGN_ECDSA_SHA256, buf, 1, 0,
                                       sig, sig_len, ERR));
        EXPECT(all_want[i], kms_get_public_key(ctx, all_names[i], 0, NULL, &len, ERR));
        EXPECT(all_want[i], kms_mac(ctx, all_names[i], buf, 1, NULL, &len, NULL, ERR));
        EXPECT(all_want[i], kms_verify_mac(ctx, all_names[i], 0, buf, 1, buf, 32, ERR));
        EXPECT(all_want[i], kms_wrap(ctx, all_names[i], buf, 32, NULL, &len, ERR));
        len = sizeof buf;
        EXPECT(all_want[i], kms_generate_data_key_without_plaintext(ctx, all_names[i], 32, NULL,
                                                                    NULL, 0, buf, &len, ERR));
        {
            kms_buffer kb = {NULL, 0};
            kms_stream s = KMS_NO_HANDLE;
            len = sizeof buf;
            EXPECT(all_want[i], kms_generate_data_key(ctx, all_names[i], 32, NULL, NULL, 0, &kb,
                                                      buf, &len, ERR));
            EXPECT(all_want[i], kms_derive(ctx, all_names[i], NULL, 0, NULL, 0, 32, &kb, ERR));
            EXPECT(all_want[i], kms_stream_encrypt_init(ctx, all_names[i], NULL, NULL, 0, &s, ERR));
            CHECK(kb.data == NULL && s == KMS_NO_HANDLE);
        }
        len = sizeof buf;
        EXPECT(all_want[i], kms_secret_put(ctx, "sec", all_names[i], buf, 4, &v, ERR));
    }
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_describe(ctx, "aes", NULL, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_key_describe(ctx, "aes", NULL, (size_t *)misaligned(), ERR));
    len = 4;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_key_describe(ctx, "aes", (char *)buf, &len, ERR));
    CHECK(len > 4);
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_list(ctx, NULL, NULL, NULL, ERR));
    memset(&f, 0, sizeof f);
    f.spec = 999;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_list(ctx, &f, NULL, &len, ERR));
    f.spec = 0;
    f.state = 999;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_list(ctx, &f, NULL, &len, ERR));
    f.state = 0;
    f.tag = "notag";
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_list(ctx, &f, NULL, &len, ERR));
    f.tag = NULL;
    f.name_prefix = bad_utf8;
    EXPECT(KMS_ERR_UTF8, kms_key_list(ctx, &f, NULL, &len, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_key_list(ctx, (const kms_key_filter *)misaligned(), NULL, &len, ERR));
    len = 1;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_key_list(ctx, NULL, (char *)buf, &len, ERR));

    /* rotate: misaligned version output */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_rotate(ctx, "aes", (uint32_t *)misaligned(), ERR));

    /* wrong states and versions */
    EXPECT(KMS_ERR_KEY_STATE, kms_key_cancel_deletion(ctx, "aes", ERR));
    EXPECT(KMS_ERR_KEY_STATE, kms_key_destroy(ctx, "aes", ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_set_min_decrypt_version(ctx, "aes", 99, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_set_min_decrypt_version(ctx, "aes", 0, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_key_destroy_version(ctx, "aes", 99, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_key_set_rotation(ctx, "aes", -1, 0, ERR));

    /* wrapped export/import */
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_export_wrapped(ctx, "exp", 0, "wrap", NULL, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_key_export_wrapped(ctx, "aes", 0, "wrap", NULL, &len, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_key_export_wrapped(ctx, "exp", 0, "ec", NULL, &len, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_key_export_wrapped(ctx, "exp", 99, "wrap", NULL, &len, ERR));
    len = 2;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_key_export_wrapped(ctx, "exp", 0, "wrap", buf, &len, ERR));
    memset(&p, 0, sizeof p);
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_import_wrapped(ctx, NULL, ct, ct_len, &id, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_import_wrapped(ctx, &p, ct, ct_len, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_key_import_wrapped(ctx, &p, NULL, 10, &id, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_key_import_wrapped(ctx, &p, ct, HUGE1, &id, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_key_import_wrapped(ctx, &p, ct, HUGE2, &id, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_key_import_wrapped(ctx, &p, NULL, 0, &id, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_key_import_wrapped(ctx, &p, buf, 3, &id, ERR));
    CHECK(id == 0);
}

static void test_encrypt_decrypt(void) {
    size_t len = 0;
    uint8_t bad[256];
    kms_buffer kb = {NULL, 0};
    const char *const bad_k[] = {bad_utf8};
    const char *const other_v[] = {"t2"};

    /* encrypt */
    EXPECT(KMS_ERR_NULL_POINTER, kms_encrypt(ctx, "aes", NULL, 5, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_encrypt(ctx, "aes", buf, HUGE1, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_encrypt(ctx, "aes", buf, HUGE2, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_encrypt(ctx, "aes", buf, 5, NULL, cv, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_encrypt(ctx, "aes", buf, 5, ck, NULL, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_encrypt(ctx, "aes", buf, 5, null_el, cv, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_encrypt(ctx, "aes", buf, 5, ck, null_el, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_encrypt(ctx, "aes", buf, 5, ck, cv, SIZE_MAX, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_encrypt(ctx, "aes", buf, 5, ck, cv, OVERFLOW_COUNT, NULL, &len, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_encrypt(ctx, "aes", buf, 5, dup_k, dup_v, 2, NULL, &len, ERR));
    EXPECT(KMS_ERR_UTF8, kms_encrypt(ctx, "aes", buf, 5, bad_k, cv, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_encrypt(ctx, "aes", buf, 5, NULL, NULL, 0, buf, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_encrypt(ctx, "aes", buf, 5, NULL, NULL, 0, buf, (size_t *)misaligned(), ERR));
    len = 5;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_encrypt(ctx, "aes", buf, 5, NULL, NULL, 0, buf, &len, ERR));
    CHECK(len == 5 + KMS_CIPHERTEXT_OVERHEAD);
    len = sizeof buf;
    EXPECT(KMS_ERR_KEY_USAGE, kms_encrypt(ctx, "ec", buf, 5, NULL, NULL, 0, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_KEY_USAGE, kms_encrypt(ctx, "hmac", buf, 5, NULL, NULL, 0, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_OK, kms_encrypt(ctx, "aes", NULL, 0, NULL, NULL, 0, buf, &len, ERR)); /* empty */

    /* decrypt */
    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt(ctx, NULL, 10, ck, cv, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_decrypt(ctx, ct, HUGE1, ck, cv, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_decrypt(ctx, ct, HUGE2, ck, cv, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt(ctx, ct, ct_len, ck, cv, 1, buf, NULL, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_decrypt(ctx, ct, ct_len, ck, cv, SIZE_MAX, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt(ctx, ct, ct_len, NULL, cv, 1, NULL, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, ct_len, ck, other_v, 1, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, ct_len, NULL, NULL, 0, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, NULL, 0, NULL, NULL, 0, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, buf, 3, NULL, NULL, 0, buf + 100, &len, ERR));
    memcpy(bad, ct, ct_len);
    bad[ct_len - 1] ^= 1;
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, bad, ct_len, ck, cv, 1, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT,
           kms_decrypt(ctx, bad, ct_len - 1, ck, cv, 1, buf, &len, ERR)); /* truncated */
    len = 1;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_decrypt(ctx, ct, ct_len, ck, cv, 1, buf, &len, ERR));
    CHECK(len == 5);

    /* decrypt_buffer */
    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt_buffer(ctx, ct, ct_len, ck, cv, 1, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_decrypt_buffer(ctx, ct, ct_len, ck, cv, 1, (kms_buffer *)misaligned(), ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt_buffer(ctx, NULL, 5, ck, cv, 1, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_decrypt_buffer(ctx, ct, HUGE2, ck, cv, 1, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt_buffer(ctx, bad, ct_len, ck, cv, 1, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt_buffer(ctx, ct, ct_len, NULL, NULL, 0, &kb, ERR));
    CHECK(kb.data == NULL);

    /* reencrypt */
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_reencrypt(ctx, NULL, 5, ck, cv, 1, NULL, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_reencrypt(ctx, ct, HUGE1, ck, cv, 1, NULL, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, NULL, NULL, NULL, 0, buf, NULL, ERR));
    EXPECT(KMS_ERR_UTF8,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, bad_utf8, NULL, NULL, 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, NULL, ck, NULL, 1, NULL, &len, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, NULL, ck, cv, SIZE_MAX, NULL, &len, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, NULL, dup_k, dup_v, 2, NULL, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT,
           kms_reencrypt(ctx, bad, ct_len, ck, cv, 1, NULL, NULL, NULL, 0, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_KEY_USAGE,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, "ec", NULL, NULL, 0, buf, &len, ERR));
    len = sizeof buf;
    EXPECT(KMS_ERR_NOT_FOUND,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, "nosuch", NULL, NULL, 0, buf, &len, ERR));
    len = 3;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL,
           kms_reencrypt(ctx, ct, ct_len, ck, cv, 1, NULL, NULL, NULL, 0, buf, &len, ERR));
}

static void test_data_keys(void) {
    size_t len = sizeof buf;
    kms_buffer kb = {NULL, 0};
    size_t bad_lens[] = {0, 1, 7, 33, HUGE1, HUGE2};
    size_t i;
    for (i = 0; i < sizeof bad_lens / sizeof bad_lens[0]; i++) {
        len = sizeof buf;
        EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_generate_data_key(ctx, "aes", bad_lens[i], NULL, NULL,
                                                               0, &kb, buf, &len, ERR));
        CHECK(len == sizeof buf);
        len = sizeof buf;
        EXPECT(KMS_ERR_INVALID_ARGUMENT,
               kms_generate_data_key_without_plaintext(ctx, "aes", bad_lens[i], NULL, NULL, 0,
                                                       buf, &len, ERR));
        /* a size query for a length that can never work fails too */
        EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_generate_data_key(ctx, "aes", bad_lens[i], NULL, NULL,
                                                               0, &kb, NULL, &len, ERR));
        EXPECT(KMS_ERR_INVALID_ARGUMENT,
               kms_generate_data_key_without_plaintext(ctx, "aes", bad_lens[i], NULL, NULL, 0,
                                                       NULL, &len, ERR));
    }
    len = sizeof buf;
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_generate_data_key(ctx, "aes", 32, NULL, NULL, 0, NULL, buf, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_generate_data_key(ctx, "aes", 32, NULL, NULL, 0, &kb, buf, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_generate_data_key_without_plaintext(ctx, "aes", 32, NULL, NULL, 0, buf, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_generate_data_key(ctx, "aes", 32, ck, NULL, 1, &kb, buf, &len, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_generate_data_key(ctx, "aes", 32, ck, cv, OVERFLOW_COUNT, &kb, buf, &len, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_generate_data_key_without_plaintext(ctx, "aes", 32, dup_k, dup_v, 2, buf, &len, ERR));
    len = 10;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL,
           kms_generate_data_key(ctx, "aes", 32, NULL, NULL, 0, &kb, buf, &len, ERR));
    CHECK(len == 32 + KMS_CIPHERTEXT_OVERHEAD && kb.data == NULL);
    len = sizeof buf;
    EXPECT(KMS_ERR_KEY_USAGE,
           kms_generate_data_key(ctx, "ec", 32, NULL, NULL, 0, &kb, buf, &len, ERR));
    CHECK(kb.data == NULL);

    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt_data_key(ctx, ct, ct_len, ck, cv, 1, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_decrypt_data_key(ctx, NULL, 4, ck, cv, 1, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_decrypt_data_key(ctx, ct, HUGE1, ck, cv, 1, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt_data_key(ctx, buf, 3, NULL, NULL, 0, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT,
           kms_decrypt_data_key(ctx, ct, ct_len, NULL, NULL, 0, &kb, ERR));
    CHECK(kb.data == NULL);
}

static void test_sign_mac_wrap(void) {
    size_t len = sizeof buf;
    uint32_t v = 0;
    kms_buffer kb = {NULL, 0};
    uint8_t bad_sig[KMS_MAX_SIGNATURE];
    memcpy(bad_sig, sig, sig_len);
    bad_sig[5] ^= 1;

    /* sign */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_sign(ctx, "ec", 0, buf, 1, 0, sig, &len, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_sign(ctx, "ec", 999, buf, 1, 0, sig, &len, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, NULL, 1, 0, sig, &len, NULL, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, buf, HUGE1, 0, sig, &len, NULL, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, buf, HUGE2, 0, sig, &len, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, buf, 1, 0, buf, NULL, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, buf, 1, 0, buf,
                                              &len, (uint32_t *)misaligned(), ERR));
    EXPECT(KMS_ERR_KEY_USAGE,
           kms_sign(ctx, "aes", KMS_SIGN_ECDSA_SHA256, buf, 1, 0, buf, &len, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE,
           kms_sign(ctx, "ec", KMS_SIGN_ED25519, buf, 1, 0, buf, &len, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE,
           kms_sign(ctx, "ec", KMS_SIGN_RSA_PSS_SHA256, buf, 1, 0, buf, &len, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, /* prehashed: not a SHA-256 digest length */
           kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, buf, 5, 1, buf, &len, NULL, ERR));
    len = 4;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL,
           kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, buf, 1, 0, buf, &len, &v, ERR));
    CHECK(len > 4 && len <= KMS_MAX_SIGNATURE && v == 0);

    /* verify */
    EXPECT(KMS_ERR_NULL_POINTER, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256,
                                            (const uint8_t *)"m", 1, 0, NULL, 64, ERR));
    EXPECT(KMS_ERR_NULL_POINTER,
           kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256, NULL, 1, 0, sig, sig_len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256, (const uint8_t *)"m",
                                      1, 0, sig, HUGE1, ERR));
    EXPECT(KMS_ERR_LENGTH,
           kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256, buf, HUGE2, 0, sig, sig_len, ERR));
    EXPECT(KMS_ERR_VERIFICATION_FAILED, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256,
                                                   (const uint8_t *)"m", 1, 0, bad_sig, sig_len, ERR));
    EXPECT(KMS_ERR_VERIFICATION_FAILED, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256,
                                                   (const uint8_t *)"m", 1, 0, NULL, 0, ERR));
    EXPECT(KMS_ERR_VERIFICATION_FAILED, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256,
                                                   (const uint8_t *)"x", 1, 0, sig, sig_len, ERR));
    /* a version the key does not have */
    EXPECT(KMS_ERR_NOT_FOUND, kms_verify(ctx, "ec", 99, KMS_SIGN_ECDSA_SHA256,
                                         (const uint8_t *)"m", 1, 0, sig, sig_len, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_verify(ctx, "aes", 0, KMS_SIGN_ECDSA_SHA256,
                                         (const uint8_t *)"m", 1, 0, sig, sig_len, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_verify(ctx, "ec", 0, 12345, (const uint8_t *)"m", 1, 0,
                                                sig, sig_len, ERR));

    /* public key */
    EXPECT(KMS_ERR_NULL_POINTER, kms_get_public_key(ctx, "ec", 0, buf, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_get_public_key(ctx, "aes", 0, NULL, &len, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_get_public_key(ctx, "ec", 99, NULL, &len, ERR));
    len = 8;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_get_public_key(ctx, "ec", 0, buf, &len, ERR));
    CHECK(len == 91);

    /* mac */
    len = sizeof buf;
    EXPECT(KMS_ERR_NULL_POINTER, kms_mac(ctx, "hmac", NULL, 3, buf, &len, NULL, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_mac(ctx, "hmac", buf, HUGE1, buf, &len, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_mac(ctx, "hmac", buf, 3, buf, NULL, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_mac(ctx, "aes", buf, 3, buf, &len, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_mac(ctx, "ec", buf, 3, buf, &len, NULL, ERR));
    len = 31;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_mac(ctx, "hmac", buf, 3, buf, &len, NULL, ERR));
    CHECK(len == 32);
    EXPECT(KMS_ERR_NULL_POINTER, kms_verify_mac(ctx, "hmac", 0, buf, 3, NULL, 32, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_verify_mac(ctx, "hmac", 0, buf, 3, buf, HUGE2, ERR));
    EXPECT(KMS_ERR_VERIFICATION_FAILED, kms_verify_mac(ctx, "hmac", 0, buf, 3, buf, 32, ERR));
    EXPECT(KMS_ERR_VERIFICATION_FAILED, kms_verify_mac(ctx, "hmac", 0, buf, 3, NULL, 0, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_verify_mac(ctx, "aes", 0, buf, 3, buf, 32, ERR));

    /* wrap / unwrap */
    len = sizeof buf;
    EXPECT(KMS_ERR_NULL_POINTER, kms_wrap(ctx, "wrap", NULL, 32, buf, &len, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_wrap(ctx, "wrap", buf, HUGE1, buf, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_wrap(ctx, "wrap", buf, 32, buf, NULL, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_wrap(ctx, "aes", buf, 32, buf, &len, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_wrap(ctx, "ec", buf, 32, buf, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_unwrap(ctx, ct, ct_len, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_unwrap(ctx, NULL, 4, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_unwrap(ctx, ct, HUGE2, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_unwrap(ctx, buf, 3, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_unwrap(ctx, NULL, 0, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_unwrap(ctx, ct, ct_len, &kb, ERR)); /* a ciphertext */

    /* derive */
    EXPECT(KMS_ERR_NULL_POINTER, kms_derive(ctx, "drv", NULL, 0, NULL, 0, 32, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_derive(ctx, "drv", NULL, 4, NULL, 0, 32, &kb, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_derive(ctx, "drv", NULL, 0, NULL, 4, 32, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_derive(ctx, "drv", buf, HUGE1, NULL, 0, 32, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_derive(ctx, "drv", NULL, 0, buf, HUGE2, 32, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_derive(ctx, "drv", NULL, 0, NULL, 0, 0, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_derive(ctx, "drv", NULL, 0, NULL, 0, 8161, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_derive(ctx, "drv", NULL, 0, NULL, 0, HUGE2, &kb, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_derive(ctx, "aes", NULL, 0, NULL, 0, 32, &kb, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_derive(ctx, "ec", NULL, 0, NULL, 0, 32, &kb, ERR));
    CHECK(kb.data == NULL);

    /* random */
    EXPECT(KMS_ERR_NULL_POINTER, kms_random(ctx, NULL, 5, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_random(ctx, buf, 1024 * 1024 + 1, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_random(ctx, buf, HUGE1, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_random(ctx, buf, HUGE2, ERR));
    EXPECT(KMS_OK, kms_random(ctx, NULL, 0, ERR));
}

static void test_identities_grants(void) {
    kms_grant_params gp;
    uint32_t acts[] = {KMS_ACTION_ENCRYPT, 999};
    uint64_t gid = 0;
    size_t len = 0;
    const char *names[] = {NULL, bad_utf8, long_str};
    const kms_status want[] = {KMS_ERR_NULL_POINTER, KMS_ERR_UTF8, KMS_ERR_LENGTH};
    size_t i;
    for (i = 0; i < 3; i++) {
        EXPECT(want[i], kms_identity_create(ctx, names[i], (const uint8_t *)"secret-123", 10,
                                            KMS_ROLE_USER, 0, ERR));
        EXPECT(want[i], kms_identity_disable(ctx, names[i], ERR));
        EXPECT(want[i], kms_identity_enable(ctx, names[i], ERR));
        EXPECT(want[i], kms_identity_unlock(ctx, names[i], ERR));
        EXPECT(want[i], kms_identity_delete(ctx, names[i], ERR));
        EXPECT(want[i], kms_identity_set_secret(ctx, names[i], (const uint8_t *)"secret-123", 10,
                                                ERR));
        {
            kms_buffer kb = {NULL, 0};
            uint32_t n = 0;
            EXPECT(want[i], kms_secret_get(ctx, names[i], 0, &kb, ERR));
            EXPECT(want[i], kms_secret_delete(ctx, names[i], &n, ERR));
            EXPECT(want[i], kms_secret_put(ctx, names[i], "aes", buf, 4, &n, ERR));
            CHECK(kb.data == NULL);
        }
    }
    EXPECT(KMS_ERR_NULL_POINTER, kms_identity_create(ctx, "ann", NULL, 10, KMS_ROLE_USER, 0, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_identity_create(ctx, "ann", buf, HUGE1, KMS_ROLE_USER, 0, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_identity_create(ctx, "ann", buf, HUGE2, KMS_ROLE_USER, 0, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_identity_create(ctx, "ann", NULL, 0, KMS_ROLE_USER, 0, ERR)); /* empty secret */
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_identity_create(ctx, "ann", (const uint8_t *)"secret-123", 10,
                               KMS_ROLE_ADMIN | KMS_ROLE_USER, 0, ERR)); /* combined, not asked */
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_identity_create(ctx, "ann", (const uint8_t *)"abc", 3, KMS_ROLE_USER, 0, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_identity_create(ctx, "", (const uint8_t *)"secret-123", 10, KMS_ROLE_USER, 0, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_identity_create(ctx, "ann", (const uint8_t *)"secret-123", 10, 1u << 20, 0, ERR));
    EXPECT(KMS_ERR_ALREADY_EXISTS, kms_identity_create(ctx, "owner", (const uint8_t *)"secret-123",
                                                       10, KMS_ROLE_USER, 0, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_identity_disable(ctx, "nobody", ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_identity_enable(ctx, "nobody", ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_identity_unlock(ctx, "nobody", ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_identity_delete(ctx, "nobody", ERR));
    EXPECT(KMS_ERR_NOT_FOUND,
           kms_identity_set_secret(ctx, "nobody", (const uint8_t *)"secret-123", 10, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_identity_set_secret(ctx, "owner", NULL, 10, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_identity_set_secret(ctx, "owner", buf, HUGE1, ERR));

    memset(&gp, 0, sizeof gp);
    gp.identity = "owner";
    gp.key = "aes";
    gp.actions = acts;
    gp.action_count = 1;
    EXPECT(KMS_ERR_NULL_POINTER, kms_grant_create(ctx, NULL, &gid, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_grant_create(ctx, &gp, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_grant_create(ctx, (const kms_grant_params *)misaligned(), &gid, ERR));
    gp.action_count = 2; /* 999 is no action */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.action_count = 0;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.action_count = SIZE_MAX;
    EXPECT(KMS_ERR_LENGTH, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.action_count = 1;
    gp.actions = NULL;
    EXPECT(KMS_ERR_NULL_POINTER, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.actions = acts;
    gp.identity = NULL;
    EXPECT(KMS_ERR_NULL_POINTER, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.identity = "nobody";
    EXPECT(KMS_ERR_NOT_FOUND, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.identity = "owner";
    gp.key = "nosuch";
    EXPECT(KMS_ERR_NOT_FOUND, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.key = "aes";
    gp.ctx_keys = ck;
    gp.ctx_values = NULL;
    gp.ctx_count = 1;
    EXPECT(KMS_ERR_NULL_POINTER, kms_grant_create(ctx, &gp, &gid, ERR));
    gp.ctx_keys = dup_k;
    gp.ctx_values = dup_v;
    gp.ctx_count = 2;
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_grant_create(ctx, &gp, &gid, ERR));
    CHECK(gid == 0);
    EXPECT(KMS_ERR_NOT_FOUND, kms_grant_revoke(ctx, 0, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_grant_revoke(ctx, UINT64_MAX, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_grant_list(ctx, NULL, NULL, NULL, ERR));
    EXPECT(KMS_ERR_UTF8, kms_grant_list(ctx, bad_utf8, NULL, &len, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_grant_list(ctx, "nosuch", NULL, &len, ERR));
}

static void test_audit(void) {
    kms_audit_filter f;
    kms_audit_report rep;
    uint64_t n = 0;
    size_t len = 0;
    int fd = open("/dev/null", O_WRONLY);
    memset(&f, 0, sizeof f);
    EXPECT(KMS_ERR_NULL_POINTER, kms_audit_query(ctx, NULL, NULL, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_audit_query(ctx, (const kms_audit_filter *)misaligned(), NULL, &len, ERR));
    f.identity = bad_utf8;
    EXPECT(KMS_ERR_UTF8, kms_audit_query(ctx, &f, NULL, &len, ERR));
    f.identity = NULL;
    f.action = long_str;
    EXPECT(KMS_ERR_LENGTH, kms_audit_query(ctx, &f, NULL, &len, ERR));
    f.action = NULL;
    len = 1;
    EXPECT(KMS_ERR_BUFFER_TOO_SMALL, kms_audit_query(ctx, NULL, (char *)buf, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_audit_export(ctx, NULL, NULL, &n, ERR));
    EXPECT(KMS_ERR_UTF8, kms_audit_export(ctx, NULL, bad_utf8, &n, ERR));
    EXPECT(KMS_ERR_STORE, kms_audit_export(ctx, NULL, "/nonexistent-dir/x/audit.jsonl", &n, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_audit_export(ctx, NULL, kms_test_path("a.jsonl"),
                                                      (uint64_t *)misaligned(), ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_audit_export_fd(ctx, NULL, -1, &n, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_audit_export_fd(ctx, NULL, fd, (uint64_t *)misaligned(), ERR));
    EXPECT(KMS_ERR_STORE, kms_audit_export_fd(ctx, NULL, 100000, &n, ERR)); /* not open */
    EXPECT(KMS_ERR_NULL_POINTER, kms_audit_verify(ctx, NULL, 0, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_audit_verify(ctx, NULL, 32, &rep, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_audit_verify(ctx, buf, HUGE1, &rep, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_audit_verify(ctx, NULL, 0, (kms_audit_report *)misaligned(), ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_audit_checkpoint(ctx, NULL, 32, &n, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_audit_checkpoint(ctx, buf, HUGE2, &n, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_audit_checkpoint(ctx, NULL, 0, &n, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_audit_checkpoint(ctx, buf, 32, (uint64_t *)misaligned(), ERR));
    if (fd >= 0) close(fd);
    unlink(kms_test_path("a.jsonl"));
}

static void test_objects_secrets(void) {
    uint64_t id = 0;
    uint32_t v = 0;
    size_t len = 0;
    kms_buffer kb = {NULL, 0};
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_create(ctx, NULL, "o", NULL, 0, buf, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_create(ctx, "data", NULL, NULL, 0, buf, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_create(ctx, "data", "o", NULL, 3, buf, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_create(ctx, "data", "o", NULL, 0, NULL, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_create(ctx, "data", "o", NULL, 0, buf, 4, 0, NULL, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_object_create(ctx, "data", "o", buf, HUGE1, buf, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_object_create(ctx, "data", "o", NULL, 0, buf, HUGE2, 0, &id, ERR));
    EXPECT(KMS_ERR_UTF8, kms_object_create(ctx, bad_utf8, "o", NULL, 0, buf, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_object_create(ctx, "bogus", "o", NULL, 0, buf, 4, 0, &id, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_object_create(ctx, "data", "o", NULL, 0, buf, 4, 2, &id, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_object_create(ctx, "data", "o", NULL, 0, buf, 4, 0, (uint64_t *)misaligned(), ERR));
    CHECK(id == 0);
    EXPECT(KMS_ERR_NOT_FOUND, kms_object_get(ctx, 0, &kb, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_object_get(ctx, UINT64_MAX, &kb, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_get(ctx, 1, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_object_list(ctx, NULL, NULL, NULL, NULL, ERR));
    EXPECT(KMS_ERR_UTF8, kms_object_list(ctx, bad_utf8, NULL, NULL, &len, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_object_delete(ctx, 0, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_object_delete(ctx, UINT64_MAX, ERR));

    EXPECT(KMS_ERR_NULL_POINTER, kms_secret_put(ctx, NULL, "aes", buf, 4, &v, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_secret_put(ctx, "s", "aes", NULL, 4, &v, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_secret_put(ctx, "s", "aes", buf, HUGE1, &v, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_secret_put(ctx, "s", "aes", buf, HUGE2, &v, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_secret_put(ctx, "s", "aes", buf, 4, (uint32_t *)misaligned(), ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_secret_put(ctx, "s", "ec", buf, 4, &v, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_secret_get(ctx, "nosuch", 0, &kb, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_secret_get(ctx, "nosuch", 0, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_secret_list(ctx, NULL, NULL, NULL, ERR));
    EXPECT(KMS_ERR_UTF8, kms_secret_list(ctx, bad_utf8, NULL, &len, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_secret_delete(ctx, NULL, &v, ERR));
    EXPECT(KMS_ERR_NOT_FOUND, kms_secret_delete(ctx, "nosuch", &v, ERR));
    CHECK(kb.data == NULL);
}

static void test_streams(void) {
    kms_stream s = KMS_NO_HANDLE;
    kms_buffer kb = {NULL, 0};
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_encrypt_init(ctx, NULL, NULL, NULL, 0, &s, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_encrypt_init(ctx, "aes", NULL, NULL, 0, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_stream_encrypt_init(ctx, "aes", NULL, NULL, 0, (kms_stream *)misaligned(), ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_encrypt_init(ctx, "aes", ck, NULL, 1, &s, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_stream_encrypt_init(ctx, "aes", ck, cv, OVERFLOW_COUNT, &s, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_stream_encrypt_init(ctx, "aes", dup_k, dup_v, 2, &s, ERR));
    EXPECT(KMS_ERR_KEY_USAGE, kms_stream_encrypt_init(ctx, "ec", NULL, NULL, 0, &s, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_decrypt_init(ctx, NULL, NULL, 0, NULL, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_decrypt_init(ctx, NULL, cv, 1, &s, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_stream_decrypt_init(ctx, ck, cv, SIZE_MAX, &s, ERR));
    CHECK(s == KMS_NO_HANDLE);

    CHECK_ST(KMS_OK, kms_stream_encrypt_init(ctx, "aes", NULL, NULL, 0, &s, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_update(s, NULL, 4, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_stream_update(s, buf, HUGE1, &kb, ERR));
    EXPECT(KMS_ERR_LENGTH, kms_stream_update(s, buf, HUGE2, &kb, ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_update(s, buf, 4, NULL, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT,
           kms_stream_update(s, buf, 4, (kms_buffer *)misaligned(), ERR));
    EXPECT(KMS_ERR_NULL_POINTER, kms_stream_final(s, NULL, ERR));
    EXPECT(KMS_OK, kms_stream_update(s, NULL, 0, &kb, ERR));
    kms_buffer_free(&kb);
    EXPECT(KMS_OK, kms_stream_final(s, &kb, ERR));
    kms_buffer_free(&kb);
    /* used after final: the stream is finished */
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_stream_update(s, buf, 4, &kb, ERR));
    EXPECT(KMS_ERR_INVALID_ARGUMENT, kms_stream_final(s, &kb, ERR));
    EXPECT_RAW(KMS_OK, kms_stream_free(s));

    /* decrypting garbage, and a stream that ends before its header */
    s = KMS_NO_HANDLE;
    CHECK_ST(KMS_OK, kms_stream_decrypt_init(ctx, NULL, NULL, 0, &s, ERR));
    memset(buf, 0xA5, 200);
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_stream_update(s, buf, 200, &kb, ERR));
    EXPECT_RAW(KMS_OK, kms_stream_free(s));
    CHECK_ST(KMS_OK, kms_stream_decrypt_init(ctx, NULL, NULL, 0, &s, ERR));
    EXPECT(KMS_ERR_INVALID_CIPHERTEXT, kms_stream_final(s, &kb, ERR));
    EXPECT_RAW(KMS_OK, kms_stream_free(s));
    CHECK(kb.data == NULL);
}

static void test_out_err_and_misc(void) {
    kms_error *err = (kms_error *)misaligned_area; /* garbage: overwritten, never read */
    kms_buffer b = {NULL, 0};
    CHECK(kms_key_describe(ctx, NULL, NULL, NULL, &err) == KMS_ERR_NULL_POINTER);
    CHECK(kms_error_code(err) == KMS_ERR_NULL_POINTER);
    kms_error_free(err);
    err = (kms_error *)misaligned_area;
    CHECK(kms_flush(ctx, &err) == KMS_OK);
    CHECK(err == NULL);
    /* A misaligned out_err is ignored: the status still reports. */
    CHECK(kms_flush(KMS_NO_HANDLE, (kms_error **)misaligned()) == KMS_ERR_INVALID_HANDLE);
    CHECK(kms_flush(KMS_NO_HANDLE, NULL) == KMS_ERR_INVALID_HANDLE);
    CHECK(strcmp(kms_status_str(INT32_MIN), "unknown status") == 0);
    CHECK(strcmp(kms_status_str(INT32_MAX), "unknown status") == 0);
    CHECK(kms_error_code(NULL) == KMS_OK);
    kms_error_free(NULL);
    kms_buffer_free(NULL);
    kms_buffer_free(&b);
    kms_buffer_free((kms_buffer *)misaligned()); /* ignored */
    cases += 10;
}

int main(void) {
    setup();
    test_handles();
    test_open();
    test_ctx_identity();
    test_keys();
    test_encrypt_decrypt();
    test_data_keys();
    test_sign_mac_wrap();
    test_identities_grants();
    test_audit();
    test_objects_secrets();
    test_streams();
    test_out_err_and_misc();
    CHECK(kms_close(ctx) == KMS_OK);
    free(long_str);
    kms_test_cleanup(NULL);
    printf("test_badinput: %lu cases checked\n", cases);
    return KMS_TEST_DONE("test_badinput");
}
