/* test_key.c - key management: create, describe, list, rotate, lifecycle, deletion,
 * version floors, rotation settings, import, wrapped export/import; NULLs, bad handles,
 * wrong states, buffer conventions. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

static kms_ctx ctx;

static void id_str(uint64_t id, char *out, size_t cap) {
    snprintf(out, cap, "%llu", (unsigned long long)id);
}

/* Describes `key` into a malloc'd string (caller frees), using the size query. */
static char *describe(const char *key) {
    size_t len = 0;
    char *json;
    CHECK_ST(KMS_OK, kms_key_describe(ctx, key, NULL, &len, ERR));
    json = malloc(len);
    if (json == NULL) return NULL;
    CHECK_ST(KMS_OK, kms_key_describe(ctx, key, json, &len, ERR));
    CHECK(len > 0 && json[len - 1] == '\0');
    return json;
}

static int has(const char *key, const char *needle) {
    char *json = describe(key);
    int found = json != NULL && strstr(json, needle) != NULL;
    if (!found) fprintf(stderr, "describe %s: %s lacks %s\n", key, json ? json : "(null)", needle);
    free(json);
    return found;
}

static void test_create_describe(void) {
    kms_key_params p;
    uint64_t id = 0, id2 = 0;
    char ids[32], small[8];
    size_t len;

    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = "orders";
    p.description = "order table key";
    p.tags = "team=billing,env=test";
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id, ERR));
    CHECK(id > 0);
    id_str(id, ids, sizeof ids);
    CHECK(has("orders", "\"spec\":\"AES-256\""));
    CHECK(has(ids, "\"name\":\"orders\""));
    CHECK(has(ids, "\"state\":\"active\""));
    CHECK(has(ids, "\"team\":\"billing\""));
    CHECK(has(ids, "\"usage\":[\"encrypt\",\"decrypt\"]"));

    /* Buffer too small: size returned, buffer untouched. */
    len = sizeof small;
    memset(small, 'x', sizeof small);
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_key_describe(ctx, "orders", small, &len, ERR));
    CHECK(len > sizeof small && small[0] == 'x');

    /* Errors: name taken, NULL params/out, unknown spec, bad usage, bad tags, no key. */
    CHECK_ST(KMS_ERR_ALREADY_EXISTS, kms_key_create(ctx, &p, &id2, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_create(ctx, NULL, &id2, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_create(ctx, &p, NULL, ERR));
    memset(&p, 0, sizeof p);
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id2, ERR));
    p.spec = 999;
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id2, ERR));
    p.spec = KMS_SPEC_AES256;
    p.usage = KMS_USAGE_SIGN;
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id2, ERR));
    p.usage = 1u << 20;
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id2, ERR));
    p.usage = 0;
    p.tags = "novalue";
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id2, ERR));
    p.tags = NULL;
    p.name = "12345";
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_create(ctx, &p, &id2, ERR));
    len = 0;
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_key_describe(ctx, "no-such-key", NULL, &len, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_key_describe(ctx, "999999", NULL, &len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_describe(ctx, NULL, NULL, &len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_describe(ctx, "orders", NULL, NULL, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_key_describe(ctx + 1, "orders", NULL, &len, ERR));

    /* Pre-active key, EC key with a rotation period. */
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES128;
    p.name = "later";
    p.pre_active = 1;
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id2, ERR));
    CHECK(has("later", "\"state\":\"pre-active\""));
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_EC_P256;
    p.name = "signer";
    p.rotation_period_seconds = 86400;
    p.rotate_after_uses = 1000;
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id2, ERR));
    CHECK(has("signer", "\"rotation_period\":86400"));
    CHECK(has("signer", "\"rotate_after_uses\":1000"));
}

static void test_list(void) {
    kms_key_filter f;
    size_t len = 0;
    char *json;

    CHECK_ST(KMS_OK, kms_key_list(ctx, NULL, NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_key_list(ctx, NULL, json, &len, ERR));
    CHECK(json != NULL && json[0] == '[' && strstr(json, "\"orders\"") && strstr(json, "\"signer\""));
    free(json);

    memset(&f, 0, sizeof f);
    f.spec = KMS_SPEC_EC_P256;
    len = 0;
    CHECK_ST(KMS_OK, kms_key_list(ctx, &f, NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_key_list(ctx, &f, json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"signer\"") && !strstr(json, "\"orders\""));
    free(json);

    memset(&f, 0, sizeof f);
    f.state = KMS_STATE_PRE_ACTIVE;
    f.name_prefix = "lat";
    len = 0;
    CHECK_ST(KMS_OK, kms_key_list(ctx, &f, NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_key_list(ctx, &f, json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"later\"") && !strstr(json, "\"signer\""));
    free(json);

    memset(&f, 0, sizeof f);
    f.tag = "team=billing";
    f.limit = 1;
    len = 0;
    CHECK_ST(KMS_OK, kms_key_list(ctx, &f, NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_key_list(ctx, &f, json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"orders\"") && !strstr(json, "\"later\""));
    free(json);

    /* Paging past every key: an empty array. */
    memset(&f, 0, sizeof f);
    f.after_id = 1000000;
    {
        char buf[8];
        len = sizeof buf;
        CHECK_ST(KMS_OK, kms_key_list(ctx, &f, buf, &len, ERR));
        CHECK(len == 3 && strcmp(buf, "[]") == 0);
    }
    memset(&f, 0, sizeof f);
    f.state = 77;
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_list(ctx, &f, NULL, &len, ERR));
    f.state = 0;
    f.tag = "notag";
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_list(ctx, &f, NULL, &len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_list(ctx, NULL, NULL, NULL, ERR));
}

static void test_rotate_and_versions(void) {
    uint32_t v = 0;
    CHECK_ST(KMS_OK, kms_key_rotate(ctx, "orders", &v, ERR));
    CHECK(v == 2);
    CHECK_ST(KMS_OK, kms_key_rotate(ctx, "orders", NULL, ERR));
    CHECK(has("orders", "\"primary_version\":3"));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_rotate(ctx, NULL, &v, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_key_rotate(ctx, "nope", &v, ERR));

    CHECK_ST(KMS_OK, kms_key_set_min_decrypt_version(ctx, "orders", 2, ERR));
    CHECK(has("orders", "\"min_decrypt_version\":2"));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_set_min_decrypt_version(ctx, "orders", 0, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_set_min_decrypt_version(ctx, "orders", 9, ERR));

    CHECK_ST(KMS_OK, kms_key_destroy_version(ctx, "orders", 1, ERR));
    CHECK(has("orders", "{\"version\":1,"));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_destroy_version(ctx, "orders", 3, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_key_destroy_version(ctx, "orders", 42, ERR));

    CHECK_ST(KMS_OK, kms_key_set_rotation(ctx, "orders", 3600, 0, ERR));
    CHECK(has("orders", "\"rotation_period\":3600"));
    CHECK_ST(KMS_OK, kms_key_set_rotation(ctx, "orders", 0, 0, ERR));
    CHECK(has("orders", "\"rotation_period\":null"));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_set_rotation(ctx, "orders", -5, 0, ERR));
}

static void test_lifecycle(void) {
    /* pre-active -> active -> suspended -> active -> deactivated */
    CHECK_ST(KMS_OK, kms_key_enable(ctx, "later", ERR));
    CHECK(has("later", "\"state\":\"active\""));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_key_enable(ctx, "later", ERR));
    CHECK_ST(KMS_OK, kms_key_suspend(ctx, "later", ERR));
    CHECK(has("later", "\"state\":\"suspended\""));
    CHECK_ST(KMS_OK, kms_key_enable(ctx, "later", ERR));
    CHECK_ST(KMS_OK, kms_key_disable(ctx, "later", ERR));
    CHECK(has("later", "\"state\":\"suspended\""));
    CHECK_ST(KMS_OK, kms_key_deactivate(ctx, "later", ERR));
    CHECK(has("later", "\"state\":\"deactivated\""));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_key_enable(ctx, "later", ERR));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_key_cancel_deletion(ctx, "later", ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_enable(ctx, NULL, ERR));

    /* compromised flag */
    CHECK_ST(KMS_OK, kms_key_mark_compromised(ctx, "signer", ERR));
    CHECK(has("signer", "\"compromised\":true"));

    /* deletion: schedule, cancel, schedule with 0 days, destroy */
    CHECK_ST(KMS_OK, kms_key_schedule_deletion(ctx, "later", KMS_DELETION_DEFAULT, ERR));
    CHECK(has("later", "\"state\":\"pending-deletion\""));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_key_destroy(ctx, "later", ERR)); /* 30 days not over */
    CHECK_ST(KMS_OK, kms_key_cancel_deletion(ctx, "later", ERR));
    CHECK(has("later", "\"state\":\"deactivated\""));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_schedule_deletion(ctx, "later", 5000, ERR));
    CHECK_ST(KMS_OK, kms_key_schedule_deletion(ctx, "later", 0, ERR));
    CHECK_ST(KMS_OK, kms_key_destroy(ctx, "later", ERR));
    CHECK(has("later", "\"state\":\"destroyed\""));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_key_schedule_deletion(ctx, "later", 0, ERR));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_key_mark_compromised(ctx, "later", ERR));
}

static void test_import_export(void) {
    kms_key_params p;
    uint64_t id = 0, wk = 0;
    uint8_t material[32], wrapped[4096];
    size_t len;
    size_t i;
    char ids[32];

    for (i = 0; i < sizeof material; i++) material[i] = (uint8_t)i;
    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = "imported";
    p.exportable = 1;
    CHECK_ST(KMS_OK, kms_key_import(ctx, &p, material, sizeof material, &id, ERR));
    CHECK(has("imported", "\"origin\":\"imported\""));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_key_import(ctx, &p, NULL, 32, &id, ERR));
    p.name = "bad-material";
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_key_import(ctx, &p, material, 7, &id, ERR));

    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = "wrapper";
    p.usage = KMS_USAGE_WRAP | KMS_USAGE_UNWRAP;
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &wk, ERR));

    len = 0;
    CHECK_ST(KMS_OK, kms_key_export_wrapped(ctx, "imported", 0, "wrapper", NULL, &len, ERR));
    CHECK(len > 32 && len <= sizeof wrapped);
    {
        size_t small = 4;
        CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL,
                 kms_key_export_wrapped(ctx, "imported", 0, "wrapper", wrapped, &small, ERR));
        CHECK(small == len);
    }
    len = sizeof wrapped;
    CHECK_ST(KMS_OK, kms_key_export_wrapped(ctx, "imported", 0, "wrapper", wrapped, &len, ERR));
    /* Not exportable; wrapping key that cannot wrap. */
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_key_export_wrapped(ctx, "wrapper", 0, "wrapper", NULL, &len, ERR));
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_key_export_wrapped(ctx, "imported", 0, "orders", NULL, &len, ERR));

    memset(&p, 0, sizeof p);
    p.name = "reimported";
    CHECK_ST(KMS_OK, kms_key_import_wrapped(ctx, &p, wrapped, len, &id, ERR));
    id_str(id, ids, sizeof ids);
    CHECK(has(ids, "\"name\":\"reimported\""));
    CHECK(has(ids, "\"spec\":\"AES-256\""));
    wrapped[len - 1] ^= 1;
    p.name = "tampered";
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_key_import_wrapped(ctx, &p, wrapped, len, &id, ERR));
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_key_import_wrapped(ctx, &p, wrapped, 3, &id, ERR));
}

int main(void) {
    const char *db = kms_test_store();
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    test_create_describe();
    test_list();
    test_rotate_and_versions();
    test_lifecycle();
    test_import_export();
    CHECK(kms_close(ctx) == KMS_OK);
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_key_enable(ctx, "orders", ERR));
    kms_test_cleanup(NULL);
    return KMS_TEST_DONE("test_key");
}
