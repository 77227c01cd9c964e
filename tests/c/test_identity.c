/* test_identity.c - identities, grants and the audit trail: a second identity with no role
 * and a per-key grant (with a context condition and a use limit) is allowed exactly what
 * it was granted; access denied otherwise; audit query, export, verify, checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

static kms_ctx owner, app;
static const char *const ck[] = {"tenant"};
static const char *const cv[] = {"acme"};
static const char *const cv_other[] = {"evil"};

static kms_status enc(kms_ctx c, const char *key, const char *const *k, const char *const *v, size_t n) {
    uint8_t ct[128];
    size_t len = sizeof ct;
    return kms_encrypt(c, key, (const uint8_t *)"hi", 2, k, v, n, ct, &len, NULL);
}

static void test_identities(const char *db) {
    const uint8_t secret[] = "app-secret-1";
    kms_key_params p;
    uint64_t id;

    memset(&p, 0, sizeof p);
    p.spec = KMS_SPEC_AES256;
    p.name = "data";
    CHECK_ST(KMS_OK, kms_key_create(owner, &p, &id, ERR));
    p.name = "other";
    CHECK_ST(KMS_OK, kms_key_create(owner, &p, &id, ERR));

    CHECK_ST(KMS_OK, kms_identity_create(owner, "app", secret, sizeof secret - 1, 0, 0, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT,
             kms_identity_create(owner, "two", secret, sizeof secret - 1, KMS_ROLE_ADMIN | KMS_ROLE_USER, 0, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_identity_create(owner, "short", secret, 2, KMS_ROLE_USER, 0, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_identity_create(owner, "bad:name", secret, 8, KMS_ROLE_USER, 0, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_identity_create(owner, "r", secret, 8, 1u << 9, 0, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_identity_create(owner, NULL, secret, 8, KMS_ROLE_USER, 0, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_identity_create(owner, "n", NULL, 8, KMS_ROLE_USER, 0, ERR));

    CHECK_ST(KMS_OK, kms_open(db, "default", "app", secret, sizeof secret - 1, &app, ERR));
    {
        char name[8];
        size_t len = sizeof name;
        CHECK_ST(KMS_OK, kms_ctx_identity(app, name, &len, ERR));
        CHECK(strcmp(name, "app") == 0);
    }
    /* No role, no grant: everything denied. */
    CHECK(enc(app, "data", ck, cv, 1) == KMS_ERR_ACCESS_DENIED);
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_key_create(app, &p, &id, ERR));
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_identity_disable(app, "owner", ERR));
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_key_rotate(app, "data", NULL, ERR));

    CHECK_ST(KMS_OK, kms_identity_unlock(owner, "app", ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_identity_unlock(owner, "ghost", ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_identity_enable(owner, "ghost", ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_identity_disable(owner, "owner", ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_identity_delete(owner, NULL, ERR));
}

static void test_grants(void) {
    kms_grant_params g;
    uint32_t actions[2] = {KMS_ACTION_ENCRYPT, KMS_ACTION_DECRYPT};
    uint32_t bad_action[1] = {4242};
    uint64_t gid = 0, gid2 = 0;
    size_t len = 0;
    char *json;

    memset(&g, 0, sizeof g);
    g.identity = "app";
    g.key = "data";
    g.actions = actions;
    g.action_count = 2;
    g.ctx_keys = ck;
    g.ctx_values = cv;
    g.ctx_count = 1;
    CHECK_ST(KMS_OK, kms_grant_create(owner, &g, &gid, ERR));
    CHECK(gid > 0);

    CHECK(enc(app, "data", ck, cv, 1) == KMS_OK);
    CHECK(enc(app, "data", ck, cv_other, 1) == KMS_ERR_ACCESS_DENIED);
    CHECK(enc(app, "data", NULL, NULL, 0) == KMS_ERR_ACCESS_DENIED);
    CHECK(enc(app, "other", ck, cv, 1) == KMS_ERR_ACCESS_DENIED);

    CHECK_ST(KMS_OK, kms_grant_list(owner, "data", NULL, &len, ERR));
    json = malloc(len);
    CHECK_ST(KMS_OK, kms_grant_list(owner, "data", json, &len, ERR));
    CHECK(json != NULL && strstr(json, "\"identity\":\"app\"") != NULL);
    CHECK(json != NULL && strstr(json, "\"actions\":[\"encrypt\",\"decrypt\"]") != NULL);
    CHECK(json != NULL && strstr(json, "\"context\":{\"tenant\":\"acme\"}") != NULL);
    free(json);
    len = 0;
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_grant_list(app, NULL, NULL, &len, ERR));

    /* Use-limited keyring-wide grant. */
    memset(&g, 0, sizeof g);
    g.identity = "app";
    g.actions = actions;
    g.action_count = 1;
    g.max_uses = 1;
    CHECK_ST(KMS_OK, kms_grant_create(owner, &g, &gid2, ERR));
    CHECK(enc(app, "other", NULL, NULL, 0) == KMS_OK);
    CHECK(enc(app, "other", NULL, NULL, 0) == KMS_ERR_ACCESS_DENIED);

    /* Errors. */
    g.action_count = 0;
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_grant_create(owner, &g, &gid2, ERR));
    g.actions = bad_action;
    g.action_count = 1;
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_grant_create(owner, &g, &gid2, ERR));
    g.actions = NULL;
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_grant_create(owner, &g, &gid2, ERR));
    g.actions = actions;
    g.identity = "ghost";
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_grant_create(owner, &g, &gid2, ERR));
    g.identity = NULL;
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_grant_create(owner, &g, &gid2, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_grant_create(owner, NULL, &gid2, ERR));
    g.identity = "app";
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_grant_create(app, &g, &gid2, ERR));

    /* Disable/enable the identity: its open context is refused meanwhile. */
    CHECK_ST(KMS_OK, kms_identity_disable(owner, "app", ERR));
    CHECK(enc(app, "data", ck, cv, 1) == KMS_ERR_ACCESS_DENIED);
    CHECK_ST(KMS_OK, kms_identity_enable(owner, "app", ERR));
    CHECK(enc(app, "data", ck, cv, 1) == KMS_OK);

    /* Revoke. */
    CHECK_ST(KMS_OK, kms_grant_revoke(owner, gid, ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_grant_revoke(owner, gid, ERR));
    CHECK(enc(app, "data", ck, cv, 1) == KMS_ERR_ACCESS_DENIED);
}

static void test_audit(void) {
    kms_audit_filter f;
    kms_audit_report r;
    size_t len = 0;
    char *text;
    uint64_t n = 0, seq = 0;
    const uint8_t cp_key[32] = "0123456789abcdef0123456789abcde";
    FILE *fp;

    /* app's records are batched by its own context: make them visible to owner's. */
    CHECK_ST(KMS_OK, kms_flush(app, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_flush(0, ERR));
    memset(&f, 0, sizeof f);
    f.identity = "app";
    f.action = "encrypt";
    CHECK_ST(KMS_OK, kms_audit_query(owner, &f, NULL, &len, ERR));
    text = malloc(len);
    CHECK_ST(KMS_OK, kms_audit_query(owner, &f, text, &len, ERR));
    CHECK(text != NULL && strstr(text, "\"outcome\":\"denied\"") != NULL);
    CHECK(text != NULL && strstr(text, "\"outcome\":\"ok\"") != NULL);
    CHECK(text != NULL && strstr(text, "\"identity\":\"owner\"") == NULL);
    free(text);
    f.limit = 1;
    f.descending = 1;
    len = 0;
    CHECK_ST(KMS_OK, kms_audit_query(owner, &f, NULL, &len, ERR));
    {
        char tiny[4];
        size_t tl = sizeof tiny;
        CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_audit_query(owner, &f, tiny, &tl, ERR));
        CHECK(tl == len);
    }
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_audit_query(app, NULL, NULL, &len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_audit_query(owner, NULL, NULL, NULL, ERR));

    CHECK_ST(KMS_OK, kms_audit_export(owner, NULL, kms_test_path("audit.jsonl"), &n, ERR));
    CHECK(n > 10);
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_audit_export(owner, NULL, NULL, &n, ERR));
    CHECK_ST(KMS_ERR_STORE, kms_audit_export(owner, NULL, "/nonexistent-dir/x.jsonl", &n, ERR));
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_audit_export(app, NULL, kms_test_path("denied.jsonl"), &n, ERR));
    fp = fopen(kms_test_path("audit-fd.jsonl"), "w");
    CHECK(fp != NULL);
    if (fp != NULL) {
        uint64_t m = 0;
        memset(&f, 0, sizeof f);
        f.limit = 3;
        CHECK_ST(KMS_OK, kms_audit_export_fd(owner, &f, fileno(fp), &m, ERR));
        CHECK(m == 3);
        fclose(fp);
    }
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_audit_export_fd(owner, NULL, -1, NULL, ERR));

    memset(&r, 0, sizeof r);
    CHECK_ST(KMS_OK, kms_audit_verify(owner, NULL, 0, &r, ERR));
    CHECK(r.ok == 1 && r.records > 10 && r.last_seq >= r.records && r.problem_seq == 0);
    CHECK_ST(KMS_OK, kms_audit_checkpoint(owner, cp_key, sizeof cp_key, &seq, ERR));
    CHECK(seq > 0);
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_audit_checkpoint(owner, cp_key, 8, &seq, ERR));
    CHECK_ST(KMS_OK, kms_audit_verify(owner, cp_key, sizeof cp_key, &r, ERR));
    CHECK(r.ok == 1 && r.checkpoints >= 1);
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_audit_verify(owner, NULL, 0, NULL, ERR));
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_audit_verify(app, NULL, 0, &r, ERR));
}

static void test_secrets_denied(void) {
    kms_buffer out = {NULL, 0};
    CHECK_ST(KMS_OK, kms_secret_put(owner, "svc/pw", "other", (const uint8_t *)"pw", 2, NULL, ERR));
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_secret_get(app, "svc/pw", 0, &out, ERR));
    CHECK(out.data == NULL);
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_secret_put(app, "svc/pw", "other", (const uint8_t *)"x", 1, NULL, ERR));
    CHECK_ST(KMS_ERR_ACCESS_DENIED, kms_secret_delete(app, "svc/pw", NULL, ERR));
}

static void test_secret_and_delete(void) {
    CHECK_ST(KMS_OK, kms_identity_set_secret(owner, "app", (const uint8_t *)"new-secret", 10, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_identity_set_secret(owner, "app", (const uint8_t *)"x", 1, ERR));
    CHECK_ST(KMS_OK, kms_identity_delete(owner, "app", ERR));
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_identity_delete(owner, "app", ERR));
    /* The deleted identity's context is refused. */
    CHECK(enc(app, "data", ck, cv, 1) != KMS_OK);
}

int main(void) {
    static const char *const extra[] = {"audit.jsonl", "audit-fd.jsonl", "denied.jsonl", NULL};
    const char *db = kms_test_store();
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &owner, ERR));
    test_identities(db);
    test_grants();
    test_audit();
    test_secrets_denied();
    test_secret_and_delete();
    CHECK(kms_close(app) == KMS_OK);
    CHECK(kms_close(owner) == KMS_OK);
    kms_test_cleanup(extra);
    return KMS_TEST_DONE("test_identity");
}
