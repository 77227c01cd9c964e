/* test_crypto.c - encrypt/decrypt (contexts, size queries, tampering), re-encrypt, data
 * keys, sign/verify, public keys, MAC, wrap/unwrap, derive, random; state and usage
 * errors. */
#define _POSIX_C_SOURCE 200809L
#include "kms.h"
#include "kms_test.h"
#include "kms_test_store.h"

static kms_ctx ctx;

static const char *const ck[] = {"tenant", "table"};
static const char *const cv[] = {"acme", "users"};

static void mk(const char *name, uint32_t spec, uint32_t usage) {
    kms_key_params p;
    uint64_t id;
    memset(&p, 0, sizeof p);
    p.spec = spec;
    p.usage = usage;
    p.name = name;
    CHECK_ST(KMS_OK, kms_key_create(ctx, &p, &id, ERR));
}

static void test_encrypt_decrypt(void) {
    const uint8_t msg[] = "attack at dawn";
    uint8_t ct[128], pt[128];
    size_t ct_len, pt_len;
    kms_buffer buf = {NULL, 0};
    const char *const dup_keys[] = {"a", "a"};
    const char *const dup_vals[] = {"1", "2"};
    const char *const other_vals[] = {"acme", "orders"};

    /* size query, too small, success */
    ct_len = 0;
    CHECK_ST(KMS_OK, kms_encrypt(ctx, "data", msg, sizeof msg, ck, cv, 2, NULL, &ct_len, ERR));
    CHECK(ct_len == sizeof msg + KMS_CIPHERTEXT_OVERHEAD);
    ct_len = 10;
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_encrypt(ctx, "data", msg, sizeof msg, ck, cv, 2, ct, &ct_len, ERR));
    CHECK(ct_len == sizeof msg + KMS_CIPHERTEXT_OVERHEAD);
    ct_len = sizeof ct;
    CHECK_ST(KMS_OK, kms_encrypt(ctx, "data", msg, sizeof msg, ck, cv, 2, ct, &ct_len, ERR));
    CHECK(ct_len == sizeof msg + KMS_CIPHERTEXT_OVERHEAD);

    pt_len = 0;
    CHECK_ST(KMS_OK, kms_decrypt(ctx, ct, ct_len, ck, cv, 2, NULL, &pt_len, ERR));
    CHECK(pt_len == sizeof msg);
    pt_len = 3;
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_decrypt(ctx, ct, ct_len, ck, cv, 2, pt, &pt_len, ERR));
    CHECK(pt_len == sizeof msg);
    pt_len = sizeof pt;
    CHECK_ST(KMS_OK, kms_decrypt(ctx, ct, ct_len, ck, cv, 2, pt, &pt_len, ERR));
    CHECK(pt_len == sizeof msg && memcmp(pt, msg, sizeof msg) == 0);
    CHECK_ST(KMS_OK, kms_decrypt_buffer(ctx, ct, ct_len, ck, cv, 2, &buf, ERR));
    CHECK(buf.len == sizeof msg && memcmp(buf.data, msg, sizeof msg) == 0);
    kms_buffer_free(&buf);
    CHECK(buf.data == NULL && buf.len == 0);

    /* wrong, missing and duplicate contexts; tampering; truncation */
    pt_len = sizeof pt;
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, ct_len, ck, other_vals, 2, pt, &pt_len, ERR));
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, ct_len, NULL, NULL, 0, pt, &pt_len, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_decrypt(ctx, ct, ct_len, dup_keys, dup_vals, 2, pt, &pt_len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_decrypt(ctx, ct, ct_len, ck, NULL, 2, pt, &pt_len, ERR));
    ct[ct_len - 1] ^= 0x01;
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, ct_len, ck, cv, 2, pt, &pt_len, ERR));
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt_buffer(ctx, ct, ct_len, ck, cv, 2, &buf, ERR));
    CHECK(buf.data == NULL);
    ct[ct_len - 1] ^= 0x01;
    ct[30] ^= 0x80;
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, ct_len, ck, cv, 2, pt, &pt_len, ERR));
    ct[30] ^= 0x80;
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct, 20, ck, cv, 2, pt, &pt_len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_decrypt(ctx, NULL, ct_len, ck, cv, 2, pt, &pt_len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_decrypt(ctx, ct, ct_len, ck, cv, 2, pt, NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_encrypt(ctx, NULL, msg, sizeof msg, NULL, NULL, 0, ct, &ct_len, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_encrypt(ctx, "data", NULL, 5, NULL, NULL, 0, ct, &ct_len, ERR));
    CHECK_ST(KMS_ERR_LENGTH, kms_encrypt(ctx, "data", msg, (size_t)-1, NULL, NULL, 0, ct, &ct_len, ERR));
    CHECK_ST(KMS_ERR_INVALID_HANDLE, kms_encrypt(0, "data", msg, sizeof msg, NULL, NULL, 0, ct, &ct_len, ERR));
    /* empty plaintext is fine */
    ct_len = sizeof ct;
    CHECK_ST(KMS_OK, kms_encrypt(ctx, "data", NULL, 0, NULL, NULL, 0, ct, &ct_len, ERR));
    CHECK(ct_len == KMS_CIPHERTEXT_OVERHEAD);
    pt_len = sizeof pt;
    CHECK_ST(KMS_OK, kms_decrypt(ctx, ct, ct_len, NULL, NULL, 0, pt, &pt_len, ERR));
    CHECK(pt_len == 0);
    /* usage: a MAC key cannot encrypt */
    ct_len = sizeof ct;
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_encrypt(ctx, "mac", msg, sizeof msg, NULL, NULL, 0, ct, &ct_len, ERR));
}

static void test_rotation_and_reencrypt(void) {
    const uint8_t msg[] = "v1 data";
    uint8_t ct[128], ct2[128], pt[128];
    size_t ct_len = sizeof ct, ct2_len, pt_len;
    const char *const nk[] = {"purpose"};
    const char *const nv[] = {"archive"};

    CHECK_ST(KMS_OK, kms_encrypt(ctx, "data", msg, sizeof msg, NULL, NULL, 0, ct, &ct_len, ERR));
    CHECK_ST(KMS_OK, kms_key_rotate(ctx, "data", NULL, ERR));
    /* the old ciphertext still decrypts */
    pt_len = sizeof pt;
    CHECK_ST(KMS_OK, kms_decrypt(ctx, ct, ct_len, NULL, NULL, 0, pt, &pt_len, ERR));
    CHECK(pt_len == sizeof msg && memcmp(pt, msg, pt_len) == 0);
    /* re-encrypt to the new version with a new context, into another key */
    ct2_len = 0;
    CHECK_ST(KMS_OK, kms_reencrypt(ctx, ct, ct_len, NULL, NULL, 0, NULL, NULL, NULL, 0, NULL, &ct2_len, ERR));
    CHECK(ct2_len == ct_len);
    ct2_len = sizeof ct2;
    CHECK_ST(KMS_OK, kms_reencrypt(ctx, ct, ct_len, NULL, NULL, 0, "data2", nk, nv, 1, ct2, &ct2_len, ERR));
    pt_len = sizeof pt;
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt(ctx, ct2, ct2_len, NULL, NULL, 0, pt, &pt_len, ERR));
    CHECK_ST(KMS_OK, kms_decrypt(ctx, ct2, ct2_len, nk, nv, 1, pt, &pt_len, ERR));
    CHECK(pt_len == sizeof msg && memcmp(pt, msg, pt_len) == 0);
    ct2_len = 5;
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_reencrypt(ctx, ct, ct_len, NULL, NULL, 0, NULL, NULL, NULL, 0, ct2, &ct2_len, ERR));
    /* min decryption version makes the v1 ciphertext undecryptable */
    CHECK_ST(KMS_OK, kms_key_set_min_decrypt_version(ctx, "data", 2, ERR));
    pt_len = sizeof pt;
    CHECK_ST(KMS_ERR_KEY_STATE, kms_decrypt(ctx, ct, ct_len, NULL, NULL, 0, pt, &pt_len, ERR));
}

static void test_data_keys(void) {
    kms_buffer dk = {NULL, 0}, dk2 = {NULL, 0};
    uint8_t wrapped[256];
    size_t wl = 0;

    CHECK_ST(KMS_OK, kms_generate_data_key(ctx, "data", 32, ck, cv, 2, &dk, NULL, &wl, ERR));
    CHECK(wl == 32 + KMS_CIPHERTEXT_OVERHEAD && dk.data == NULL);
    wl = 8;
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_generate_data_key(ctx, "data", 32, ck, cv, 2, &dk, wrapped, &wl, ERR));
    CHECK(dk.data == NULL);
    wl = sizeof wrapped;
    CHECK_ST(KMS_OK, kms_generate_data_key(ctx, "data", 32, ck, cv, 2, &dk, wrapped, &wl, ERR));
    CHECK(dk.len == 32 && dk.data != NULL);
    CHECK_ST(KMS_OK, kms_decrypt_data_key(ctx, wrapped, wl, ck, cv, 2, &dk2, ERR));
    CHECK(dk2.len == 32 && memcmp(dk.data, dk2.data, 32) == 0);
    kms_buffer_free(&dk);
    kms_buffer_free(&dk2);
    kms_buffer_free(&dk2);
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_decrypt_data_key(ctx, wrapped, wl, NULL, NULL, 0, &dk2, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_generate_data_key(ctx, "data", 20, NULL, NULL, 0, &dk, wrapped, &wl, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_generate_data_key(ctx, "data", 32, NULL, NULL, 0, NULL, wrapped, &wl, ERR));
    wl = sizeof wrapped;
    CHECK_ST(KMS_OK, kms_generate_data_key_without_plaintext(ctx, "data", 16, NULL, NULL, 0, wrapped, &wl, ERR));
    CHECK(wl == 16 + KMS_CIPHERTEXT_OVERHEAD);
    CHECK_ST(KMS_OK, kms_decrypt_data_key(ctx, wrapped, wl, NULL, NULL, 0, &dk2, ERR));
    CHECK(dk2.len == 16);
    kms_buffer_free(&dk2);
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_decrypt_data_key(ctx, wrapped, wl, NULL, NULL, 0, NULL, ERR));
}

static void test_sign_verify(void) {
    const uint8_t msg[] = "signed message";
    uint8_t sig[KMS_MAX_SIGNATURE], spki[256];
    size_t sig_len = sizeof sig, spki_len;
    uint32_t v = 0;
    /* SHA-256 of "abc" for the prehashed path */
    static const uint8_t abc_sha256[32] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};

    CHECK_ST(KMS_OK, kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, &sig_len, &v, ERR));
    CHECK(v == 1 && sig_len > 8 && sig_len <= 72);
    CHECK_ST(KMS_OK, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, sig_len, ERR));
    CHECK_ST(KMS_OK, kms_verify(ctx, "ec", 1, KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, sig_len, ERR));
    sig[sig_len / 2] ^= 1;
    CHECK_ST(KMS_ERR_VERIFICATION_FAILED, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, sig_len, ERR));
    sig_len = 4;
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, &sig_len, NULL, ERR));
    CHECK(sig_len > 4);
    sig_len = sizeof sig;
    CHECK_ST(KMS_OK, kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, abc_sha256, 32, 1, sig, &sig_len, NULL, ERR));
    CHECK_ST(KMS_OK, kms_verify(ctx, "ec", 0, KMS_SIGN_ECDSA_SHA256, (const uint8_t *)"abc", 3, 0, sig, sig_len, ERR));
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_sign(ctx, "ec", KMS_SIGN_ED25519, msg, sizeof msg, 0, sig, &sig_len, NULL, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_sign(ctx, "ec", 999, msg, sizeof msg, 0, sig, &sig_len, NULL, ERR));
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_sign(ctx, "data", KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, &sig_len, NULL, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_sign(ctx, "ec", KMS_SIGN_ECDSA_SHA256, msg, sizeof msg, 0, sig, NULL, NULL, ERR));

    sig_len = sizeof sig;
    CHECK_ST(KMS_OK, kms_sign(ctx, "ed", KMS_SIGN_ED25519, msg, sizeof msg, 0, sig, &sig_len, NULL, ERR));
    CHECK(sig_len == 64);
    CHECK_ST(KMS_OK, kms_verify(ctx, "ed", 0, KMS_SIGN_ED25519, msg, sizeof msg, 0, sig, sig_len, ERR));
    CHECK_ST(KMS_ERR_VERIFICATION_FAILED, kms_verify(ctx, "ed", 0, KMS_SIGN_ED25519, msg, sizeof msg - 1, 0, sig, sig_len, ERR));

    spki_len = 0;
    CHECK_ST(KMS_OK, kms_get_public_key(ctx, "ec", 0, NULL, &spki_len, ERR));
    CHECK(spki_len == 91); /* P-256 SPKI DER */
    spki_len = sizeof spki;
    CHECK_ST(KMS_OK, kms_get_public_key(ctx, "ec", 0, spki, &spki_len, ERR));
    CHECK(spki_len == 91 && spki[0] == 0x30);
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_get_public_key(ctx, "data", 0, spki, &spki_len, ERR));
    /* a version the key does not have */
    CHECK_ST(KMS_ERR_NOT_FOUND, kms_get_public_key(ctx, "ec", 7, spki, &spki_len, ERR));

    /* a suspended key neither signs nor verifies? it refuses signing */
    CHECK_ST(KMS_OK, kms_key_suspend(ctx, "ed", ERR));
    sig_len = sizeof sig;
    CHECK_ST(KMS_ERR_KEY_STATE, kms_sign(ctx, "ed", KMS_SIGN_ED25519, msg, sizeof msg, 0, sig, &sig_len, NULL, ERR));
    CHECK_ST(KMS_OK, kms_key_enable(ctx, "ed", ERR));
}

static void test_mac_wrap_derive_random(void) {
    const uint8_t msg[] = "mac me";
    uint8_t mac[KMS_MAX_MAC], wrapped[128], r1[32], r2[32];
    size_t mac_len = sizeof mac, wl;
    uint32_t v = 0;
    kms_buffer out = {NULL, 0}, d2 = {NULL, 0};
    const uint8_t secret[24] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};

    CHECK_ST(KMS_OK, kms_mac(ctx, "mac", msg, sizeof msg, mac, &mac_len, &v, ERR));
    CHECK(mac_len == 32 && v == 1);
    CHECK_ST(KMS_OK, kms_verify_mac(ctx, "mac", 0, msg, sizeof msg, mac, mac_len, ERR));
    mac[0] ^= 1;
    CHECK_ST(KMS_ERR_VERIFICATION_FAILED, kms_verify_mac(ctx, "mac", 0, msg, sizeof msg, mac, mac_len, ERR));
    mac_len = 16;
    CHECK_ST(KMS_ERR_BUFFER_TOO_SMALL, kms_mac(ctx, "mac", msg, sizeof msg, mac, &mac_len, NULL, ERR));
    CHECK(mac_len == 32);
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_mac(ctx, "data", msg, sizeof msg, mac, &mac_len, NULL, ERR));

    wl = 0;
    CHECK_ST(KMS_OK, kms_wrap(ctx, "wrap", secret, sizeof secret, NULL, &wl, ERR));
    CHECK(wl > sizeof secret && wl <= sizeof secret + 29);
    wl = sizeof wrapped;
    CHECK_ST(KMS_OK, kms_wrap(ctx, "wrap", secret, sizeof secret, wrapped, &wl, ERR));
    CHECK_ST(KMS_OK, kms_unwrap(ctx, wrapped, wl, &out, ERR));
    CHECK(out.len == sizeof secret && memcmp(out.data, secret, sizeof secret) == 0);
    kms_buffer_free(&out);
    wrapped[wl - 1] ^= 1;
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_unwrap(ctx, wrapped, wl, &out, ERR));
    CHECK_ST(KMS_ERR_INVALID_CIPHERTEXT, kms_unwrap(ctx, wrapped, 5, &out, ERR));
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_wrap(ctx, "data", secret, sizeof secret, wrapped, &wl, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_wrap(ctx, "wrap", secret, 0, wrapped, &wl, ERR));

    CHECK_ST(KMS_OK, kms_derive(ctx, "mac", (const uint8_t *)"salt", 4, (const uint8_t *)"info", 4, 42, &out, ERR));
    CHECK(out.len == 42);
    CHECK_ST(KMS_OK, kms_derive(ctx, "mac", (const uint8_t *)"salt", 4, (const uint8_t *)"info", 4, 42, &d2, ERR));
    CHECK(d2.len == 42 && memcmp(out.data, d2.data, 42) == 0);
    kms_buffer_free(&out);
    kms_buffer_free(&d2);
    CHECK_ST(KMS_OK, kms_derive(ctx, "mac", NULL, 0, NULL, 0, 16, &out, ERR));
    kms_buffer_free(&out);
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_derive(ctx, "mac", NULL, 0, NULL, 0, 0, &out, ERR));
    CHECK_ST(KMS_ERR_KEY_USAGE, kms_derive(ctx, "ec", NULL, 0, NULL, 0, 16, &out, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_derive(ctx, "mac", NULL, 0, NULL, 0, 16, NULL, ERR));

    CHECK_ST(KMS_OK, kms_random(ctx, r1, sizeof r1, ERR));
    CHECK_ST(KMS_OK, kms_random(ctx, r2, sizeof r2, ERR));
    CHECK(memcmp(r1, r2, sizeof r1) != 0);
    CHECK_ST(KMS_OK, kms_random(ctx, NULL, 0, ERR));
    CHECK_ST(KMS_ERR_NULL_POINTER, kms_random(ctx, NULL, 8, ERR));
    CHECK_ST(KMS_ERR_INVALID_ARGUMENT, kms_random(ctx, r1, (size_t)2 << 20, ERR));
}

static void test_disabled_key(void) {
    uint8_t ct[128];
    size_t ct_len = sizeof ct;
    CHECK_ST(KMS_OK, kms_key_disable(ctx, "data2", ERR));
    CHECK_ST(KMS_ERR_KEY_STATE, kms_encrypt(ctx, "data2", (const uint8_t *)"x", 1, NULL, NULL, 0, ct, &ct_len, ERR));
    CHECK_ST(KMS_OK, kms_key_enable(ctx, "data2", ERR));
    CHECK_ST(KMS_OK, kms_encrypt(ctx, "data2", (const uint8_t *)"x", 1, NULL, NULL, 0, ct, &ct_len, ERR));
}

int main(void) {
    const char *db = kms_test_store();
    CHECK_ST(KMS_OK, kms_open_default_owner(db, &ctx, ERR));
    mk("data", KMS_SPEC_AES256, 0);
    mk("data2", KMS_SPEC_AES128, 0);
    mk("mac", KMS_SPEC_HMAC_SHA256, KMS_USAGE_MAC | KMS_USAGE_DERIVE);
    mk("ec", KMS_SPEC_EC_P256, 0);
    mk("ed", KMS_SPEC_ED25519, 0);
    mk("wrap", KMS_SPEC_AES256, KMS_USAGE_WRAP | KMS_USAGE_UNWRAP);
    test_encrypt_decrypt();
    test_rotation_and_reencrypt();
    test_data_keys();
    test_sign_verify();
    test_mac_wrap_derive_random();
    test_disabled_key();
    CHECK(kms_close(ctx) == KMS_OK);
    kms_test_cleanup(NULL);
    return KMS_TEST_DONE("test_crypto");
}
