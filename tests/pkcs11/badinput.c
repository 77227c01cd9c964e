/* badinput.c - the bad-input matrix of the PKCS#11 module (issue 10), driven by
 * tests/pkcs11_badinput.rs: libkms.so (argv[1]) is loaded with dlopen and reached through
 * C_GetFunctionList and C_GetInterface (3.0) only, as any PKCS#11 application does. Every
 * C_* function is called before C_Initialize, after C_Finalize, with invalid, closed and
 * out-of-range session and object handles, NULL pointers, zero and huge lengths (CK_ULONG
 * values above 2^32 and above the module's limits), wrong object classes, operations in the
 * wrong state, and templates with duplicate, unknown or inconsistent attributes. Each row
 * asserts the exact CK_RV; the program also runs under valgrind and ASAN. The store is
 * $KMS_STORE (a fresh one; the owner's PIN comes from <store>.owner). */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

/* The 3.0 additions (p11-kit's header is 2.40): CK_INTERFACE and the function list, which
 * extends the 2.40 list (same prefix) with these entries, in this order. */
#ifndef CKF_FIND_OBJECTS
#define CKF_FIND_OBJECTS 0x00000040UL
#endif
#ifndef CKF_INTERFACE_FORK_SAFE
#define CKF_INTERFACE_FORK_SAFE 0x00000001UL
#endif

typedef struct {
    CK_CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
} ck_interface3;

typedef CK_RV (*fn_mech_init)(CK_SESSION_HANDLE, CK_MECHANISM *, CK_OBJECT_HANDLE);
typedef CK_RV (*fn_final)(CK_SESSION_HANDLE);
typedef CK_RV (*fn_crypt_msg)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                              CK_ULONG, CK_BYTE *, CK_ULONG *);
typedef CK_RV (*fn_crypt_begin)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG);
typedef CK_RV (*fn_crypt_next)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                               CK_ULONG *, CK_FLAGS);
typedef CK_RV (*fn_sign_msg)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG, CK_BYTE *,
                             CK_ULONG *);
typedef CK_RV (*fn_msg_begin)(CK_SESSION_HANDLE, void *, CK_ULONG);
typedef CK_RV (*fn_verify_msg)(CK_SESSION_HANDLE, void *, CK_ULONG, CK_BYTE *, CK_ULONG,
                               CK_BYTE *, CK_ULONG);

typedef struct {
    CK_FUNCTION_LIST v2;
    CK_RV (*C_GetInterfaceList)(ck_interface3 *, CK_ULONG *);
    CK_RV (*C_GetInterface)(CK_UTF8CHAR *, CK_VERSION *, ck_interface3 **, CK_FLAGS);
    CK_RV (*C_LoginUser)(CK_SESSION_HANDLE, CK_USER_TYPE, CK_UTF8CHAR *, CK_ULONG, CK_UTF8CHAR *,
                         CK_ULONG);
    CK_RV (*C_SessionCancel)(CK_SESSION_HANDLE, CK_FLAGS);
    fn_mech_init C_MessageEncryptInit;
    fn_crypt_msg C_EncryptMessage;
    fn_crypt_begin C_EncryptMessageBegin;
    fn_crypt_next C_EncryptMessageNext;
    fn_final C_MessageEncryptFinal;
    fn_mech_init C_MessageDecryptInit;
    fn_crypt_msg C_DecryptMessage;
    fn_crypt_begin C_DecryptMessageBegin;
    fn_crypt_next C_DecryptMessageNext;
    fn_final C_MessageDecryptFinal;
    fn_mech_init C_MessageSignInit;
    fn_sign_msg C_SignMessage;
    fn_msg_begin C_SignMessageBegin;
    fn_sign_msg C_SignMessageNext;
    fn_final C_MessageSignFinal;
    fn_mech_init C_MessageVerifyInit;
    fn_verify_msg C_VerifyMessage;
    fn_msg_begin C_VerifyMessageBegin;
    fn_verify_msg C_VerifyMessageNext;
    fn_final C_MessageVerifyFinal;
} function_list_3_0;

static CK_FUNCTION_LIST *f;
static function_list_3_0 *f3;
static unsigned long cases = 0, failures = 0;

#define EXPECT(want, call)                                                                  \
    do {                                                                                    \
        CK_RV rv_ = (call);                                                                 \
        cases++;                                                                            \
        if (rv_ != (CK_RV)(want)) {                                                         \
            fprintf(stderr, "%s:%d: %s returned 0x%lx, expected 0x%lx (%s)\n", __FILE__,    \
                    __LINE__, #call, (unsigned long)rv_, (unsigned long)(want), #want);     \
            failures++;                                                                     \
        }                                                                                   \
    } while (0)

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
            failures++;                                                               \
        }                                                                             \
    } while (0)

#define MUST(call)                                                                          \
    do {                                                                                    \
        CK_RV rv_ = (call);                                                                 \
        if (rv_ != CKR_OK) {                                                                \
            fprintf(stderr, "%s:%d: setup %s failed: 0x%lx\n", __FILE__, __LINE__, #call,   \
                    (unsigned long)rv_);                                                    \
            exit(2);                                                                        \
        }                                                                                   \
    } while (0)

#define N(a) ((CK_ULONG)(sizeof(a) / sizeof((a)[0])))
/* Lengths that do not fit 32 bits, or exceed the module's 1 GiB input limit. */
#define HIGH32 (((CK_ULONG)1 << 32) | 5)
#define HUGE_LEN (~(CK_ULONG)0)
#define FREE_SLOT ((CK_SLOT_ID)0x7fffffff)
#define BAD_MECH ((CK_MECHANISM_TYPE)0x7ffffff0)

static CK_SLOT_ID slot;
static char pin[512];
static CK_BBOOL yes = CK_TRUE;
static CK_BYTE buf[4096];
static CK_BYTE iv[12];
static CK_GCM_PARAMS gcm;
static CK_MECHANISM m_gcm = {CKM_AES_GCM, &gcm, sizeof gcm};
static CK_MECHANISM m_ecdsa = {CKM_ECDSA, NULL, 0};
static CK_MECHANISM m_sha256 = {CKM_SHA256, NULL, 0};
static CK_MECHANISM m_hmac = {CKM_SHA256_HMAC, NULL, 0};
static CK_MECHANISM m_aesgen = {CKM_AES_KEY_GEN, NULL, 0};
static CK_MECHANISM m_ecgen = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
static CK_MECHANISM m_wrap = {CKM_AES_KEY_WRAP_PAD, NULL, 0};
static CK_MECHANISM m_bad = {BAD_MECH, NULL, 0};
static CK_BYTE p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* Objects made in setup_objects. */
static CK_OBJECT_HANDLE aes, ec_pub, ec_priv, hmac, wrapper, cert, data_obj, extractable;

static void read_pin(void) {
    char path[600];
    const char *store = getenv("KMS_STORE");
    FILE *fp;
    size_t n;
    if (store == NULL) {
        fprintf(stderr, "KMS_STORE not set\n");
        exit(2);
    }
    snprintf(path, sizeof path, "%s.owner", store);
    fp = fopen(path, "r");
    if (fp == NULL || fgets(pin, sizeof pin, fp) == NULL) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(fp);
    n = strcspn(pin, "\r\n");
    pin[n] = '\0';
}

/* --- the function tables -------------------------------------------------------------- */

/* Functions that need no session, with valid-looking arguments: before C_Initialize and after
 * C_Finalize they all answer CKR_CRYPTOKI_NOT_INITIALIZED. */
static void global_functions(CK_RV want) {
    CK_INFO info;
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_INFO mi;
    CK_SLOT_ID slots[8];
    CK_MECHANISM_TYPE mechs[64];
    CK_ULONG n = 8;
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID ev;
    EXPECT(want, f->C_GetInfo(&info));
    EXPECT(want, f->C_GetSlotList(CK_TRUE, slots, &n));
    EXPECT(want, f->C_GetSlotInfo(1, &si));
    EXPECT(want, f->C_GetTokenInfo(1, &ti));
    n = N(mechs);
    EXPECT(want, f->C_GetMechanismList(1, mechs, &n));
    EXPECT(want, f->C_GetMechanismInfo(1, CKM_AES_GCM, &mi));
    EXPECT(want, f->C_InitToken(FREE_SLOT, (CK_UTF8CHAR *)"so-pin-1", 8,
                                (CK_UTF8CHAR *)"label                           "));
    EXPECT(want, f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &h));
    EXPECT(want, f->C_CloseAllSessions(1));
    EXPECT(want, f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL));
    EXPECT(want, f->C_Finalize(NULL));
}

/* Every function taking a session handle, with otherwise valid arguments. */
static void session_functions(CK_SESSION_HANDLE h, CK_RV want) {
    CK_SESSION_INFO si;
    CK_ATTRIBUTE label = {CKA_LABEL, "x", 1};
    CK_ATTRIBUTE get = {CKA_LABEL, NULL, 0};
    CK_OBJECT_HANDLE o = 0, o2 = 0, found[4];
    CK_ULONG n = sizeof buf, cnt = 0;
    CK_ATTRIBUTE aes_t[] = {{CKA_VALUE_LEN, NULL, sizeof(CK_ULONG)}};
    CK_ULONG vlen = 32;
    aes_t[0].pValue = &vlen;
    EXPECT(want, f->C_InitPIN(h, (CK_UTF8CHAR *)"user-pin", 8));
    EXPECT(want, f->C_SetPIN(h, (CK_UTF8CHAR *)"old-pin1", 8, (CK_UTF8CHAR *)"new-pin1", 8));
    EXPECT(want, f->C_CloseSession(h));
    EXPECT(want, f->C_GetSessionInfo(h, &si));
    EXPECT(want, f->C_GetOperationState(h, buf, &n));
    EXPECT(want, f->C_SetOperationState(h, buf, 16, 0, 0));
    EXPECT(want, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)));
    EXPECT(want, f->C_Logout(h));
    EXPECT(want, f->C_CreateObject(h, &label, 1, &o));
    EXPECT(want, f->C_CopyObject(h, 1, &label, 1, &o));
    EXPECT(want, f->C_DestroyObject(h, 1));
    EXPECT(want, f->C_GetObjectSize(h, 1, &n));
    EXPECT(want, f->C_GetAttributeValue(h, 1, &get, 1));
    EXPECT(want, f->C_SetAttributeValue(h, 1, &label, 1));
    EXPECT(want, f->C_FindObjectsInit(h, &label, 1));
    EXPECT(want, f->C_FindObjects(h, found, 4, &cnt));
    EXPECT(want, f->C_FindObjectsFinal(h));
    EXPECT(want, f->C_EncryptInit(h, &m_gcm, 1));
    n = sizeof buf;
    EXPECT(want, f->C_Encrypt(h, buf, 16, buf, &n));
    n = sizeof buf;
    EXPECT(want, f->C_EncryptUpdate(h, buf, 16, buf, &n));
    n = sizeof buf;
    EXPECT(want, f->C_EncryptFinal(h, buf, &n));
    EXPECT(want, f->C_DecryptInit(h, &m_gcm, 1));
    n = sizeof buf;
    EXPECT(want, f->C_Decrypt(h, buf, 32, buf, &n));
    n = sizeof buf;
    EXPECT(want, f->C_DecryptUpdate(h, buf, 32, buf, &n));
    n = sizeof buf;
    EXPECT(want, f->C_DecryptFinal(h, buf, &n));
    EXPECT(want, f->C_DigestInit(h, &m_sha256));
    n = sizeof buf;
    EXPECT(want, f->C_Digest(h, buf, 16, buf, &n));
    EXPECT(want, f->C_DigestUpdate(h, buf, 16));
    EXPECT(want, f->C_DigestKey(h, 1));
    n = sizeof buf;
    EXPECT(want, f->C_DigestFinal(h, buf, &n));
    EXPECT(want, f->C_SignInit(h, &m_ecdsa, 1));
    n = sizeof buf;
    EXPECT(want, f->C_Sign(h, buf, 32, buf, &n));
    EXPECT(want, f->C_SignUpdate(h, buf, 32));
    n = sizeof buf;
    EXPECT(want, f->C_SignFinal(h, buf, &n));
    EXPECT(want, f->C_VerifyInit(h, &m_ecdsa, 1));
    EXPECT(want, f->C_Verify(h, buf, 32, buf, 64));
    EXPECT(want, f->C_VerifyUpdate(h, buf, 32));
    EXPECT(want, f->C_VerifyFinal(h, buf, 64));
    EXPECT(want, f->C_GenerateKey(h, &m_aesgen, aes_t, 1, &o));
    EXPECT(want, f->C_GenerateKeyPair(h, &m_ecgen, NULL, 0, NULL, 0, &o, &o2));
    n = sizeof buf;
    EXPECT(want, f->C_WrapKey(h, &m_wrap, 1, 2, buf, &n));
    EXPECT(want, f->C_UnwrapKey(h, &m_wrap, 1, buf, 40, aes_t, 1, &o));
    EXPECT(want, f->C_DeriveKey(h, &m_ecdsa, 1, aes_t, 1, &o));
    EXPECT(want, f->C_SeedRandom(h, buf, 16));
    EXPECT(want, f->C_GenerateRandom(h, buf, 16));
    EXPECT(want, f->C_GetFunctionStatus(h));
    EXPECT(want, f->C_CancelFunction(h));
    EXPECT(want, f3->C_LoginUser(h, CKU_USER, (CK_UTF8CHAR *)"secret-123", 10,
                                 (CK_UTF8CHAR *)"owner", 5));
    EXPECT(want, f3->C_SessionCancel(h, CKF_ENCRYPT | CKF_FIND_OBJECTS));
}

/* The functions the module does not offer: CKR_FUNCTION_NOT_SUPPORTED once initialised
 * (whatever the session), CKR_CRYPTOKI_NOT_INITIALIZED before. */
static void unsupported_functions(CK_SESSION_HANDLE h, CK_RV want) {
    CK_ULONG n = sizeof buf;
    CK_SLOT_ID ev;
    EXPECT(want, f->C_SignRecoverInit(h, &m_ecdsa, 1));
    EXPECT(want, f->C_SignRecover(h, buf, 16, buf, &n));
    EXPECT(want, f->C_VerifyRecoverInit(h, &m_ecdsa, 1));
    EXPECT(want, f->C_VerifyRecover(h, buf, 64, buf, &n));
    EXPECT(want, f->C_DigestEncryptUpdate(h, buf, 16, buf, &n));
    EXPECT(want, f->C_DecryptDigestUpdate(h, buf, 16, buf, &n));
    EXPECT(want, f->C_SignEncryptUpdate(h, buf, 16, buf, &n));
    EXPECT(want, f->C_DecryptVerifyUpdate(h, buf, 16, buf, &n));
    if (want == CKR_FUNCTION_NOT_SUPPORTED) {
        EXPECT(want, f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL));
    }
    EXPECT(want, f3->C_MessageEncryptInit(h, &m_gcm, 1));
    EXPECT(want, f3->C_EncryptMessage(h, &gcm, sizeof gcm, buf, 0, buf, 16, buf, &n));
    EXPECT(want, f3->C_EncryptMessageBegin(h, &gcm, sizeof gcm, buf, 0));
    EXPECT(want, f3->C_EncryptMessageNext(h, &gcm, sizeof gcm, buf, 16, buf, &n, 0));
    EXPECT(want, f3->C_MessageEncryptFinal(h));
    EXPECT(want, f3->C_MessageDecryptInit(h, &m_gcm, 1));
    EXPECT(want, f3->C_DecryptMessage(h, &gcm, sizeof gcm, buf, 0, buf, 32, buf, &n));
    EXPECT(want, f3->C_DecryptMessageBegin(h, &gcm, sizeof gcm, buf, 0));
    EXPECT(want, f3->C_DecryptMessageNext(h, &gcm, sizeof gcm, buf, 32, buf, &n, 0));
    EXPECT(want, f3->C_MessageDecryptFinal(h));
    EXPECT(want, f3->C_MessageSignInit(h, &m_hmac, 1));
    EXPECT(want, f3->C_SignMessage(h, NULL, 0, buf, 16, buf, &n));
    EXPECT(want, f3->C_SignMessageBegin(h, NULL, 0));
    EXPECT(want, f3->C_SignMessageNext(h, NULL, 0, buf, 16, buf, &n));
    EXPECT(want, f3->C_MessageSignFinal(h));
    EXPECT(want, f3->C_MessageVerifyInit(h, &m_hmac, 1));
    EXPECT(want, f3->C_VerifyMessage(h, NULL, 0, buf, 16, buf, 32));
    EXPECT(want, f3->C_VerifyMessageBegin(h, NULL, 0));
    EXPECT(want, f3->C_VerifyMessageNext(h, NULL, 0, buf, 16, buf, 32));
    EXPECT(want, f3->C_MessageVerifyFinal(h));
}

/* --- the matrix ----------------------------------------------------------------------- */

static void test_entry_points(void) {
    CK_FUNCTION_LIST *g = NULL;
    ck_interface3 list[4], *itf = NULL;
    CK_ULONG n;
    CK_VERSION v30 = {3, 0}, v99 = {9, 9};
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetFunctionList(NULL));
    EXPECT(CKR_OK, f->C_GetFunctionList(&g));
    CHECK(g == f);
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterfaceList(NULL, NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterfaceList(list, NULL));
    n = 0;
    EXPECT(CKR_OK, f3->C_GetInterfaceList(NULL, &n));
    CHECK(n == 2);
    n = 1;
    EXPECT(CKR_BUFFER_TOO_SMALL, f3->C_GetInterfaceList(list, &n));
    CHECK(n == 2);
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterface(NULL, NULL, NULL, 0));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterface((CK_UTF8CHAR *)"PKCS 12", NULL, &itf, 0));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterface((CK_UTF8CHAR *)"PKCS 11", &v99, &itf, 0));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterface((CK_UTF8CHAR *)"\xff\xfe", NULL, &itf, 0));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_GetInterface(NULL, NULL, &itf, CKF_INTERFACE_FORK_SAFE));
    EXPECT(CKR_OK, f3->C_GetInterface((CK_UTF8CHAR *)"PKCS 11", &v30, &itf, 0));
    CHECK(itf != NULL && itf->pFunctionList == (void *)f3);
}

static CK_RV dummy_mutex(void *m) {
    (void)m;
    return CKR_OK;
}
static CK_RV dummy_create(void **m) {
    *m = NULL;
    return CKR_OK;
}

static void test_initialize(void) {
    CK_C_INITIALIZE_ARGS a;
    memset(&a, 0, sizeof a);
    a.CreateMutex = dummy_create; /* only one of the four */
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Initialize(&a));
    a.DestroyMutex = dummy_mutex;
    a.LockMutex = dummy_mutex;
    a.UnlockMutex = dummy_mutex; /* all four, but no OS locking allowed */
    EXPECT(CKR_CANT_LOCK, f->C_Initialize(&a));
    memset(&a, 0, sizeof a);
    a.pReserved = (void *)"/nonexistent-dir/kms-p11.conf";
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Initialize(&a));
    a.pReserved = (void *)"\xff\xfe";
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Initialize(&a));
    EXPECT(CKR_CRYPTOKI_NOT_INITIALIZED, f->C_Finalize(NULL));
}

static void test_slots_tokens(void) {
    CK_SLOT_ID slots[2];
    CK_SLOT_INFO si;
    CK_TOKEN_INFO ti;
    CK_MECHANISM_INFO mi;
    CK_MECHANISM_TYPE mechs[2];
    CK_ULONG n;
    CK_SESSION_HANDLE h = 0;
    CK_SLOT_ID bad_slots[] = {0, 12345, slot | ((CK_SLOT_ID)1 << 32), ~(CK_SLOT_ID)0};
    CK_ULONG i;
    CK_INFO info;
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetInfo(NULL));
    EXPECT(CKR_OK, f->C_GetInfo(&info));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetSlotList(CK_TRUE, NULL, NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetSlotList(CK_TRUE, slots, NULL));
    n = 0;
    EXPECT(CKR_BUFFER_TOO_SMALL, f->C_GetSlotList(CK_FALSE, slots, &n));
    CHECK(n == 2);
    for (i = 0; i < N(bad_slots); i++) {
        EXPECT(CKR_SLOT_ID_INVALID, f->C_GetSlotInfo(bad_slots[i], &si));
        EXPECT(CKR_SLOT_ID_INVALID, f->C_GetTokenInfo(bad_slots[i], &ti));
        n = N(mechs);
        EXPECT(CKR_SLOT_ID_INVALID, f->C_GetMechanismList(bad_slots[i], mechs, &n));
        EXPECT(CKR_SLOT_ID_INVALID, f->C_GetMechanismInfo(bad_slots[i], CKM_AES_GCM, &mi));
        EXPECT(CKR_SLOT_ID_INVALID, f->C_OpenSession(bad_slots[i], CKF_SERIAL_SESSION, NULL, NULL, &h));
        EXPECT(CKR_SLOT_ID_INVALID, f->C_CloseAllSessions(bad_slots[i]));
        EXPECT(CKR_SLOT_ID_INVALID, f->C_InitToken(bad_slots[i], (CK_UTF8CHAR *)"so-pin-1", 8,
                                                   (CK_UTF8CHAR *)"label                           "));
    }
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetSlotInfo(slot, NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetTokenInfo(slot, NULL));
    EXPECT(CKR_OK, f->C_GetTokenInfo(FREE_SLOT, &ti)); /* an uninitialised token */
    CHECK((ti.flags & CKF_TOKEN_INITIALIZED) == 0);
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetMechanismList(slot, mechs, NULL));
    n = 1;
    EXPECT(CKR_BUFFER_TOO_SMALL, f->C_GetMechanismList(slot, mechs, &n));
    CHECK(n > 1);
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetMechanismInfo(slot, CKM_AES_GCM, NULL));
    EXPECT(CKR_MECHANISM_INVALID, f->C_GetMechanismInfo(slot, BAD_MECH, &mi));
    EXPECT(CKR_MECHANISM_INVALID,
           f->C_GetMechanismInfo(slot, CKM_AES_GCM | ((CK_MECHANISM_TYPE)1 << 32), &mi));
    EXPECT(CKR_MECHANISM_INVALID, f->C_GetMechanismInfo(slot, CKM_RSA_X_509, &mi));
    /* C_InitToken: NULL PIN with a length, NULL label, wrong SO PIN, huge PIN length */
    EXPECT(CKR_ARGUMENTS_BAD, f->C_InitToken(FREE_SLOT, NULL, 8,
                                             (CK_UTF8CHAR *)"label                           "));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_InitToken(FREE_SLOT, (CK_UTF8CHAR *)"so-pin-1", 8, NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_InitToken(FREE_SLOT, (CK_UTF8CHAR *)"so-pin-1", HIGH32,
                                             (CK_UTF8CHAR *)"label                           "));
    EXPECT(CKR_PIN_LEN_RANGE, f->C_InitToken(FREE_SLOT, (CK_UTF8CHAR *)"so", 2,
                                             (CK_UTF8CHAR *)"label                           "));
    /* sessions: flags, NULL output, the uninitialised token */
    EXPECT(CKR_SESSION_PARALLEL_NOT_SUPPORTED, f->C_OpenSession(slot, 0, NULL, NULL, &h));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, NULL));
    EXPECT(CKR_TOKEN_NOT_RECOGNIZED, f->C_OpenSession(FREE_SLOT, CKF_SERIAL_SESSION, NULL, NULL, &h));
    CHECK(h == 0);
}

static CK_SESSION_HANDLE open_rw(void) {
    CK_SESSION_HANDLE h = 0;
    MUST(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h));
    return h;
}

static void setup_objects(CK_SESSION_HANDLE h) {
    CK_ULONG vlen = 32;
    CK_OBJECT_CLASS cls_cert = CKO_CERTIFICATE, cls_data = CKO_DATA;
    CK_CERTIFICATE_TYPE x509 = CKC_X_509;
    CK_ATTRIBUTE aes_t[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen},
                            {CKA_LABEL, "bi-aes", 6},
                            {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE ext_t[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen},
                            {CKA_LABEL, "bi-ext", 6},
                            {CKA_EXTRACTABLE, &yes, 1}};
    CK_ATTRIBUTE wrap_t[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen},
                             {CKA_LABEL, "bi-wrap", 7},
                             {CKA_WRAP, &yes, 1},
                             {CKA_UNWRAP, &yes, 1}};
    CK_ULONG hlen = 32;
    CK_MECHANISM m_gen = {CKM_GENERIC_SECRET_KEY_GEN, NULL, 0};
    CK_ATTRIBUTE hmac_t[] = {{CKA_VALUE_LEN, &hlen, sizeof hlen},
                             {CKA_LABEL, "bi-hmac", 7},
                             {CKA_SIGN, &yes, 1},
                             {CKA_VERIFY, &yes, 1}};
    CK_ATTRIBUTE pub_t[] = {{CKA_EC_PARAMS, p256_oid, sizeof p256_oid}, {CKA_LABEL, "bi-ec", 5}};
    CK_ATTRIBUTE priv_t[] = {{CKA_LABEL, "bi-ec", 5}, {CKA_SIGN, &yes, 1}};
    CK_ATTRIBUTE cert_t[] = {{CKA_CLASS, &cls_cert, sizeof cls_cert},
                             {CKA_CERTIFICATE_TYPE, &x509, sizeof x509},
                             {CKA_LABEL, "bi-cert", 7},
                             {CKA_VALUE, "\x30\x03\x02\x01\x01", 5}};
    CK_ATTRIBUTE data_t[] = {{CKA_CLASS, &cls_data, sizeof cls_data},
                             {CKA_LABEL, "bi-data", 7},
                             {CKA_VALUE, "payload", 7}};
    MUST(f->C_GenerateKey(h, &m_aesgen, aes_t, N(aes_t), &aes));
    MUST(f->C_GenerateKey(h, &m_aesgen, wrap_t, N(wrap_t), &wrapper));
    MUST(f->C_GenerateKey(h, &m_aesgen, ext_t, N(ext_t), &extractable));
    MUST(f->C_GenerateKey(h, &m_gen, hmac_t, N(hmac_t), &hmac));
    MUST(f->C_GenerateKeyPair(h, &m_ecgen, pub_t, N(pub_t), priv_t, N(priv_t), &ec_pub, &ec_priv));
    MUST(f->C_CreateObject(h, cert_t, N(cert_t), &cert));
    MUST(f->C_CreateObject(h, data_t, N(data_t), &data_obj));
}

static void test_sessions_login(CK_SESSION_HANDLE h) {
    CK_SESSION_HANDLE ro = 0, closed = 0;
    CK_SESSION_INFO si;
    MUST(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
    closed = open_rw();
    EXPECT(CKR_OK, f->C_CloseSession(closed));
    EXPECT(CKR_SESSION_HANDLE_INVALID, f->C_CloseSession(closed)); /* double close */
    session_functions(0, CKR_SESSION_HANDLE_INVALID);
    session_functions(closed, CKR_SESSION_HANDLE_INVALID);
    session_functions(h | ((CK_SESSION_HANDLE)1 << 32), CKR_SESSION_HANDLE_INVALID);
    session_functions(~(CK_SESSION_HANDLE)0, CKR_SESSION_HANDLE_INVALID);
    unsupported_functions(h, CKR_FUNCTION_NOT_SUPPORTED);
    unsupported_functions(closed, CKR_FUNCTION_NOT_SUPPORTED);

    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetSessionInfo(h, NULL));
    EXPECT(CKR_USER_NOT_LOGGED_IN, f->C_Logout(h));
    EXPECT(CKR_USER_TYPE_INVALID, f->C_Login(h, 7, (CK_UTF8CHAR *)pin, strlen(pin)));
    EXPECT(CKR_USER_TYPE_INVALID, f->C_Login(h, ((CK_USER_TYPE)1 << 32) | CKU_USER,
                                             (CK_UTF8CHAR *)pin, strlen(pin)));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Login(h, CKU_USER, NULL, 8));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, HIGH32));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, HUGE_LEN));
    EXPECT(CKR_PIN_INCORRECT, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"owner:wrong-pin", 15));
    /* C_Login has no CKR_PIN_LEN_RANGE: a PIN of a length that cannot be right is incorrect */
    EXPECT(CKR_PIN_INCORRECT, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)"ab", 2));
    EXPECT(CKR_PIN_INCORRECT, f->C_Login(h, CKU_USER, NULL, 0));
    /* public session: random works, but its length is bounded (no unbounded allocation) */
    EXPECT(CKR_OK, f->C_GenerateRandom(h, buf, 16));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateRandom(h, buf, ((CK_ULONG)1 << 40)));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateRandom(h, buf, HUGE_LEN));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_LoginUser(h, CKU_USER, (CK_UTF8CHAR *)"secret-123", 10, NULL, 5));
    EXPECT(CKR_ARGUMENTS_BAD, f3->C_LoginUser(h, CKU_USER, (CK_UTF8CHAR *)"secret-123", 10,
                                              (CK_UTF8CHAR *)"\xff\xfe", 2));
    EXPECT(CKR_PIN_INCORRECT, f3->C_LoginUser(h, CKU_USER, (CK_UTF8CHAR *)"secret-123", 10,
                                              (CK_UTF8CHAR *)"nobody", 6));
    /* before login: no key generation, nothing visible */
    {
        CK_ULONG vlen = 32;
        CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}};
        CK_OBJECT_HANDLE o = 0;
        EXPECT(CKR_USER_NOT_LOGGED_IN, f->C_GenerateKey(h, &m_aesgen, t, 1, &o));
    }
    EXPECT(CKR_OK, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)));
    EXPECT(CKR_USER_ALREADY_LOGGED_IN, f->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)));
    EXPECT(CKR_USER_ANOTHER_ALREADY_LOGGED_IN,
           f->C_Login(h, CKU_SO, (CK_UTF8CHAR *)"so-pin-1", 8));
    EXPECT(CKR_OK, f->C_GetSessionInfo(ro, &si));
    CHECK(si.state == CKS_RO_USER_FUNCTIONS);
    /* a read-only session cannot create token objects */
    {
        CK_ULONG vlen = 32;
        CK_ATTRIBUTE t[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_TOKEN, &yes, 1}};
        CK_OBJECT_HANDLE o = 0;
        EXPECT(CKR_SESSION_READ_ONLY, f->C_GenerateKey(ro, &m_aesgen, t, N(t), &o));
        CHECK(o == 0);
    }
    EXPECT(CKR_SESSION_EXISTS, f->C_InitToken(slot, (CK_UTF8CHAR *)"so-pin-1", 8,
                                              (CK_UTF8CHAR *)"label                           "));
    EXPECT(CKR_OK, f->C_CloseSession(ro));
}

static void test_object_handles(CK_SESSION_HANDLE h) {
    CK_OBJECT_HANDLE gone = 0, o = 0;
    CK_OBJECT_HANDLE bad[4];
    CK_ULONG i, n;
    CK_ATTRIBUTE get = {CKA_LABEL, NULL, 0};
    CK_ATTRIBUTE label = {CKA_LABEL, "new", 3};
    CK_OBJECT_CLASS cls_data = CKO_DATA, cls_sec = CKO_SECRET_KEY;
    CK_KEY_TYPE kt_aes = CKK_AES;
    CK_ATTRIBUTE unwrap_t[] = {{CKA_CLASS, &cls_sec, sizeof cls_sec},
                               {CKA_KEY_TYPE, &kt_aes, sizeof kt_aes}};
    CK_ATTRIBUTE data_t[] = {{CKA_CLASS, &cls_data, sizeof cls_data}, {CKA_LABEL, "gone", 4}};
    MUST(f->C_CreateObject(h, data_t, N(data_t), &gone));
    EXPECT(CKR_OK, f->C_DestroyObject(h, gone));
    EXPECT(CKR_OBJECT_HANDLE_INVALID, f->C_DestroyObject(h, gone)); /* double destroy */
    bad[0] = 0;
    bad[1] = gone;
    bad[2] = aes | ((CK_OBJECT_HANDLE)1 << 32);
    bad[3] = ~(CK_OBJECT_HANDLE)0;
    for (i = 0; i < N(bad); i++) {
        EXPECT(CKR_OBJECT_HANDLE_INVALID, f->C_GetAttributeValue(h, bad[i], &get, 1));
        EXPECT(CKR_OBJECT_HANDLE_INVALID, f->C_SetAttributeValue(h, bad[i], &label, 1));
        EXPECT(CKR_OBJECT_HANDLE_INVALID, f->C_DestroyObject(h, bad[i]));
        EXPECT(CKR_OBJECT_HANDLE_INVALID, f->C_GetObjectSize(h, bad[i], &n));
        EXPECT(CKR_OBJECT_HANDLE_INVALID, f->C_CopyObject(h, bad[i], &label, 1, &o));
        EXPECT(CKR_KEY_HANDLE_INVALID, f->C_EncryptInit(h, &m_gcm, bad[i]));
        EXPECT(CKR_KEY_HANDLE_INVALID, f->C_DecryptInit(h, &m_gcm, bad[i]));
        EXPECT(CKR_KEY_HANDLE_INVALID, f->C_SignInit(h, &m_ecdsa, bad[i]));
        EXPECT(CKR_KEY_HANDLE_INVALID, f->C_VerifyInit(h, &m_ecdsa, bad[i]));
        n = sizeof buf;
        EXPECT(CKR_WRAPPING_KEY_HANDLE_INVALID, f->C_WrapKey(h, &m_wrap, bad[i], aes, buf, &n));
        n = sizeof buf;
        EXPECT(CKR_KEY_HANDLE_INVALID, f->C_WrapKey(h, &m_wrap, wrapper, bad[i], buf, &n));
        EXPECT(CKR_UNWRAPPING_KEY_HANDLE_INVALID,
               f->C_UnwrapKey(h, &m_wrap, bad[i], buf, 40, unwrap_t, N(unwrap_t), &o));
        EXPECT(CKR_KEY_HANDLE_INVALID, f->C_DeriveKey(h, &m_ecdsa, bad[i], unwrap_t, 2, &o));
    }
    CHECK(o == 0);
    /* NULL outputs */
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetObjectSize(h, cert, NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_CopyObject(h, cert, NULL, 0, NULL));
}

static void test_wrong_class(CK_SESSION_HANDLE h) {
    CK_MECHANISM m_oaep;
    CK_RSA_PKCS_OAEP_PARAMS oaep = {CKM_SHA256, CKG_MGF1_SHA256, CKZ_DATA_SPECIFIED, NULL, 0};
    CK_ULONG n;
    m_oaep.mechanism = CKM_RSA_PKCS_OAEP;
    m_oaep.pParameter = &oaep;
    m_oaep.ulParameterLen = sizeof oaep;
    /* not keys at all */
    EXPECT(CKR_KEY_HANDLE_INVALID, f->C_SignInit(h, &m_ecdsa, cert));
    EXPECT(CKR_KEY_HANDLE_INVALID, f->C_VerifyInit(h, &m_ecdsa, cert));
    EXPECT(CKR_KEY_HANDLE_INVALID, f->C_EncryptInit(h, &m_gcm, data_obj));
    EXPECT(CKR_KEY_HANDLE_INVALID, f->C_DecryptInit(h, &m_gcm, cert));
    n = sizeof buf;
    EXPECT(CKR_WRAPPING_KEY_HANDLE_INVALID, f->C_WrapKey(h, &m_wrap, cert, aes, buf, &n));
    /* a public key cannot sign or decrypt; a private EC key cannot encrypt */
    EXPECT(CKR_KEY_FUNCTION_NOT_PERMITTED, f->C_SignInit(h, &m_ecdsa, ec_pub));
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_DecryptInit(h, &m_gcm, ec_pub));
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_DecryptInit(h, &m_oaep, ec_pub));
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_EncryptInit(h, &m_gcm, ec_priv));
    /* mechanism and key type disagree */
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_SignInit(h, &m_ecdsa, aes));
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_SignInit(h, &m_hmac, ec_priv));
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_EncryptInit(h, &m_gcm, hmac));
    EXPECT(CKR_KEY_TYPE_INCONSISTENT, f->C_EncryptInit(h, &m_oaep, aes));
    /* a key without the usage */
    n = sizeof buf;
    EXPECT(CKR_KEY_FUNCTION_NOT_PERMITTED, f->C_WrapKey(h, &m_wrap, aes, extractable, buf, &n));
    n = sizeof buf;
    EXPECT(CKR_OK, f->C_WrapKey(h, &m_wrap, wrapper, extractable, NULL, &n));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_WrapKey(h, &m_wrap, wrapper, extractable, buf, NULL));
    n = sizeof buf;
    EXPECT(CKR_KEY_UNEXTRACTABLE, f->C_WrapKey(h, &m_wrap, wrapper, aes, buf, &n));
    EXPECT(CKR_OK, f->C_DigestInit(h, &m_sha256));
    EXPECT(CKR_KEY_INDIGESTIBLE, f->C_DigestKey(h, aes));
    n = sizeof buf;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DigestFinal(h, buf, &n)); /* the error ended it */
}

static void test_mechanisms(CK_SESSION_HANDLE h) {
    CK_GCM_PARAMS p;
    CK_MECHANISM m;
    CK_BYTE small[3];
    memset(&p, 0, sizeof p);
    EXPECT(CKR_ARGUMENTS_BAD, f->C_EncryptInit(h, NULL, aes));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_SignInit(h, NULL, ec_priv));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_DigestInit(h, NULL));
    EXPECT(CKR_MECHANISM_INVALID, f->C_EncryptInit(h, &m_bad, aes));
    EXPECT(CKR_MECHANISM_INVALID, f->C_SignInit(h, &m_bad, ec_priv));
    EXPECT(CKR_MECHANISM_INVALID, f->C_DigestInit(h, &m_bad));
    m.mechanism = CKM_AES_GCM | ((CK_MECHANISM_TYPE)1 << 32);
    m.pParameter = &gcm;
    m.ulParameterLen = sizeof gcm;
    EXPECT(CKR_MECHANISM_INVALID, f->C_EncryptInit(h, &m, aes));
    m.mechanism = CKM_SHA256 | ((CK_MECHANISM_TYPE)1 << 32);
    EXPECT(CKR_MECHANISM_INVALID, f->C_DigestInit(h, &m));
    m.mechanism = CKM_AES_GCM;
    m.pParameter = NULL;
    m.ulParameterLen = 0;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    m.pParameter = NULL;
    m.ulParameterLen = sizeof p;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    m.pParameter = small;
    m.ulParameterLen = sizeof small;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    m.pParameter = &p;
    m.ulParameterLen = sizeof p | ((CK_ULONG)1 << 32);
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    m.ulParameterLen = sizeof p;
    p.pIv = NULL;
    p.ulIvLen = 12;
    p.ulTagBits = 128;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    p.pIv = iv;
    p.ulIvLen = HIGH32;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    p.ulIvLen = 8;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    p.ulIvLen = 12;
    p.ulTagBits = 64;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    p.ulTagBits = 128 | ((CK_ULONG)1 << 32);
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    p.ulTagBits = 128;
    p.pAAD = NULL;
    p.ulAADLen = 16;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    p.ulAADLen = HUGE_LEN;
    p.pAAD = buf;
    EXPECT(CKR_MECHANISM_PARAM_INVALID, f->C_EncryptInit(h, &m, aes));
    /* a mechanism for another function */
    EXPECT(CKR_MECHANISM_INVALID, f->C_EncryptInit(h, &m_ecdsa, aes));
    EXPECT(CKR_MECHANISM_INVALID, f->C_DigestInit(h, &m_gcm));
    EXPECT(CKR_MECHANISM_INVALID, f->C_SignInit(h, &m_sha256, hmac));
}

static void test_operation_state(CK_SESSION_HANDLE h) {
    CK_SESSION_HANDLE other = open_rw();
    CK_ULONG n, cnt = 0;
    CK_OBJECT_HANDLE found[4];
    CK_BYTE out[512];
    CK_ATTRIBUTE label = {CKA_LABEL, "bi-aes", 6};
    /* without Init */
    n = sizeof out;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Encrypt(h, buf, 16, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_EncryptUpdate(h, buf, 16, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_EncryptFinal(h, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Decrypt(h, buf, 32, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DecryptUpdate(h, buf, 32, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DecryptFinal(h, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Digest(h, buf, 16, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DigestUpdate(h, buf, 16));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DigestKey(h, aes));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DigestFinal(h, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Sign(h, buf, 32, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_SignUpdate(h, buf, 32));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_SignFinal(h, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Verify(h, buf, 32, out, 64));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_VerifyUpdate(h, buf, 32));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_VerifyFinal(h, out, 64));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_FindObjects(h, found, 4, &cnt));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_FindObjectsFinal(h));

    /* double Init */
    memset(&gcm, 0, sizeof gcm);
    gcm.pIv = iv;
    gcm.ulIvLen = sizeof iv;
    gcm.ulTagBits = 128;
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    EXPECT(CKR_OPERATION_ACTIVE, f->C_EncryptInit(h, &m_gcm, aes));
    /* the operation belongs to its session: another session has none */
    n = sizeof out;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Encrypt(other, buf, 16, out, &n));
    /* NULL input with a length, lengths above 32 bits or the 1 GiB limit: the operation ends */
    n = sizeof out;
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Encrypt(h, NULL, 16, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Encrypt(h, buf, 16, out, &n));
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Encrypt(h, buf, HIGH32, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_EncryptUpdate(h, buf, 16, out, &n));
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_EncryptUpdate(h, buf, HUGE_LEN, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_EncryptFinal(h, out, &n));
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Encrypt(h, buf, 16, out, NULL));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Encrypt(h, buf, 16, out, &n));
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    /* too small an output keeps the operation; then it completes and ends */
    n = 4;
    EXPECT(CKR_BUFFER_TOO_SMALL, f->C_Encrypt(h, buf, 16, out, &n));
    CHECK(n == 32);
    n = sizeof out;
    EXPECT(CKR_OK, f->C_Encrypt(h, buf, 16, out, &n));
    CHECK(n == 32);
    n = sizeof out;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Encrypt(h, buf, 16, out, &n));
    /* decrypt: bad ciphertext ends the operation */
    EXPECT(CKR_OK, f->C_DecryptInit(h, &m_gcm, aes));
    EXPECT(CKR_OPERATION_ACTIVE, f->C_DecryptInit(h, &m_gcm, aes));
    out[0] ^= 1;
    n = sizeof buf;
    EXPECT(CKR_ENCRYPTED_DATA_INVALID, f->C_Decrypt(h, out, 32, buf, &n));
    n = sizeof buf;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Decrypt(h, out, 32, buf, &n));
    EXPECT(CKR_OK, f->C_DecryptInit(h, &m_gcm, aes));
    n = sizeof buf;
    EXPECT(CKR_ENCRYPTED_DATA_LEN_RANGE, f->C_Decrypt(h, out, 8, buf, &n));
    /* multi-part then single-part in the same operation */
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    n = sizeof out;
    EXPECT(CKR_OK, f->C_EncryptUpdate(h, buf, 16, out, &n));
    n = sizeof out;
    EXPECT(CKR_OPERATION_ACTIVE, f->C_Encrypt(h, buf, 16, out, &n));
    n = sizeof out;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_EncryptFinal(h, out, &n));

    /* digest */
    EXPECT(CKR_OK, f->C_DigestInit(h, &m_sha256));
    EXPECT(CKR_OPERATION_ACTIVE, f->C_DigestInit(h, &m_sha256));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_DigestUpdate(h, NULL, 5));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DigestUpdate(h, buf, 5));
    EXPECT(CKR_OK, f->C_DigestInit(h, &m_sha256));
    EXPECT(CKR_OK, f->C_DigestUpdate(h, buf, 5));
    n = sizeof out;
    EXPECT(CKR_OPERATION_ACTIVE, f->C_Digest(h, buf, 5, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_DigestFinal(h, out, &n));
    EXPECT(CKR_OK, f->C_DigestInit(h, &m_sha256));
    n = 31;
    EXPECT(CKR_BUFFER_TOO_SMALL, f->C_Digest(h, buf, 5, out, &n));
    CHECK(n == 32);
    EXPECT(CKR_OK, f->C_Digest(h, buf, 5, out, &n));

    /* sign while a find is active: the operations are independent */
    EXPECT(CKR_OK, f->C_FindObjectsInit(h, &label, 1));
    EXPECT(CKR_OPERATION_ACTIVE, f->C_FindObjectsInit(h, &label, 1));
    n = sizeof out;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Sign(h, buf, 32, out, &n));
    EXPECT(CKR_OK, f->C_SignInit(h, &m_ecdsa, ec_priv));
    EXPECT(CKR_OPERATION_ACTIVE, f->C_SignInit(h, &m_ecdsa, ec_priv));
    n = 0;
    EXPECT(CKR_BUFFER_TOO_SMALL, f->C_Sign(h, buf, 32, out, &n));
    CHECK(n == 64);
    EXPECT(CKR_OK, f->C_Sign(h, buf, 32, out, &n));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_FindObjects(h, NULL, 4, &cnt));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_FindObjects(h, found, 4, NULL));
    EXPECT(CKR_OK, f->C_FindObjects(h, found, 0, &cnt));
    CHECK(cnt == 0);
    EXPECT(CKR_OK, f->C_FindObjects(h, found, 4, &cnt));
    CHECK(cnt == 1);
    EXPECT(CKR_OK, f->C_FindObjectsFinal(h));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_FindObjectsFinal(h));
    /* verify: wrong signature length, bad signature */
    EXPECT(CKR_OK, f->C_VerifyInit(h, &m_ecdsa, ec_pub));
    EXPECT(CKR_SIGNATURE_LEN_RANGE, f->C_Verify(h, buf, 32, out, 63));
    EXPECT(CKR_OK, f->C_VerifyInit(h, &m_ecdsa, ec_pub));
    out[3] ^= 1;
    EXPECT(CKR_SIGNATURE_INVALID, f->C_Verify(h, buf, 32, out, 64));
    EXPECT(CKR_OK, f->C_VerifyInit(h, &m_ecdsa, ec_pub));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Verify(h, buf, 32, NULL, 64));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Verify(h, buf, 32, out, 64));
    EXPECT(CKR_OK, f->C_VerifyInit(h, &m_ecdsa, ec_pub));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_VerifyUpdate(h, NULL, 32));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_VerifyFinal(h, out, 64));
    EXPECT(CKR_OK, f->C_VerifyInit(h, &m_hmac, hmac));
    EXPECT(CKR_OK, f->C_VerifyUpdate(h, buf, 10));
    EXPECT(CKR_OPERATION_ACTIVE, f->C_Verify(h, buf, 10, out, 32));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_VerifyFinal(h, out, 32));
    /* sign/update mixing */
    EXPECT(CKR_OK, f->C_SignInit(h, &m_hmac, hmac));
    EXPECT(CKR_OK, f->C_SignUpdate(h, buf, 10));
    n = sizeof out;
    EXPECT(CKR_OPERATION_ACTIVE, f->C_Sign(h, buf, 10, out, &n));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_SignFinal(h, out, &n));
    /* C_SessionCancel ends operations */
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    EXPECT(CKR_OK, f3->C_SessionCancel(h, CKF_ENCRYPT));
    n = sizeof out;
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_Encrypt(h, buf, 16, out, &n));
    /* fixed answers */
    n = sizeof out;
    EXPECT(CKR_STATE_UNSAVEABLE, f->C_GetOperationState(h, out, &n));
    EXPECT(CKR_SAVED_STATE_INVALID, f->C_SetOperationState(h, out, 16, 0, 0));
    EXPECT(CKR_FUNCTION_NOT_PARALLEL, f->C_GetFunctionStatus(h));
    EXPECT(CKR_FUNCTION_NOT_PARALLEL, f->C_CancelFunction(h));
    EXPECT(CKR_RANDOM_SEED_NOT_SUPPORTED, f->C_SeedRandom(h, buf, 16));
    /* random: NULL with a length, above 32 bits, huge */
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateRandom(h, NULL, 16));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateRandom(h, buf, HIGH32));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateRandom(h, buf, HUGE_LEN));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateRandom(other, buf, ((CK_ULONG)1 << 40)));
    EXPECT(CKR_OK, f->C_GenerateRandom(h, NULL, 0));
    EXPECT(CKR_OK, f->C_CloseSession(other));
}

static void test_templates(CK_SESSION_HANDLE h) {
    CK_ULONG vlen = 32, bad_len = 17, high = ((CK_ULONG)1 << 32) | 32;
    CK_OBJECT_CLASS pub = CKO_PUBLIC_KEY, sec = CKO_SECRET_KEY, cls_data = CKO_DATA;
    CK_KEY_TYPE kt_ec = CKK_EC;
    CK_OBJECT_HANDLE o = 0, o2 = 0;
    CK_BYTE two[2] = {1, 2};
    CK_ATTRIBUTE t_dup[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen},
                            {CKA_LABEL, "dup-a", 5},
                            {CKA_LABEL, "dup-b", 5}};
    CK_ATTRIBUTE t_unknown[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {0x7ffffff1UL, "x", 1}};
    CK_ATTRIBUTE t_class[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_CLASS, &pub, sizeof pub}};
    CK_ATTRIBUTE t_ktype[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_KEY_TYPE, &kt_ec, sizeof kt_ec}};
    CK_ATTRIBUTE t_nullval[] = {{CKA_VALUE_LEN, NULL, sizeof vlen}};
    CK_ATTRIBUTE t_shortlen[] = {{CKA_VALUE_LEN, two, sizeof two}};
    CK_ATTRIBUTE t_badlen[] = {{CKA_VALUE_LEN, &bad_len, sizeof bad_len}};
    CK_ATTRIBUTE t_highlen[] = {{CKA_VALUE_LEN, &high, sizeof high}};
    CK_ATTRIBUTE t_nolen[] = {{CKA_LABEL, "nolen", 5}};
    CK_ATTRIBUTE t_nullout[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen},
                                {CKA_LABEL, "nullout", 7},
                                {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE t_nulloutobj[] = {{CKA_CLASS, &cls_data, sizeof cls_data},
                                   {CKA_LABEL, "nullout", 7}};
    CK_ATTRIBUTE t_samedup[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen},
                                {CKA_VALUE_LEN, &vlen, sizeof vlen}};
    CK_ATTRIBUTE t_bool[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_TOKEN, two, sizeof two}};
    CK_ATTRIBUTE t_sign[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_SIGN, &yes, 1}};
    CK_ATTRIBUTE t_digits[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_LABEL, "12345", 5},
                               {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE t_taken[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_LABEL, "bi-aes", 6},
                              {CKA_TOKEN, &yes, 1}};
    CK_ATTRIBUTE t_badutf8[] = {{CKA_VALUE_LEN, &vlen, sizeof vlen}, {CKA_LABEL, "\xff\xfe", 2}};
    CK_ATTRIBUTE ec_pub_ok[] = {{CKA_EC_PARAMS, p256_oid, sizeof p256_oid}};
    CK_ATTRIBUTE ec_pub_vlen[] = {{CKA_EC_PARAMS, p256_oid, sizeof p256_oid},
                                  {CKA_VALUE_LEN, &vlen, sizeof vlen}};
    CK_ATTRIBUTE ec_no_params[] = {{CKA_LABEL, "ec-x", 4}};
    CK_ATTRIBUTE ec_bad_params[] = {{CKA_EC_PARAMS, "\x06\x03\x2a\x03\x04", 5}};
    CK_ATTRIBUTE ec_priv_class[] = {{CKA_CLASS, &sec, sizeof sec}};
    CK_ATTRIBUTE ec_priv_encrypt[] = {{CKA_DECRYPT, &yes, 1}};
    CK_ATTRIBUTE co_noclass[] = {{CKA_LABEL, "x", 1}};
    CK_ATTRIBUTE co_data_dup[] = {{CKA_CLASS, &cls_data, sizeof cls_data},
                                  {CKA_CLASS, &sec, sizeof sec}};
    CK_ATTRIBUTE co_priv[] = {{CKA_CLASS, &pub, sizeof pub}, {CKA_KEY_TYPE, &kt_ec, sizeof kt_ec}};
    CK_ATTRIBUTE co_sec_noval[] = {{CKA_CLASS, &sec, sizeof sec}};
    CK_ATTRIBUTE co_unknown_class[] = {{CKA_CLASS, &high, sizeof high}};

    /* NULL template with a count, huge counts, a count above 32 bits */
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateKey(h, &m_aesgen, NULL, 1, &o));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateKey(h, &m_aesgen, t_nolen, HIGH32, &o));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateKey(h, &m_aesgen, t_nolen, HUGE_LEN, &o));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateKey(h, &m_aesgen, t_nullout, N(t_nullout), NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_CreateObject(h, t_nulloutobj, N(t_nulloutobj), NULL));
    {   /* nothing was created for the NULL handle pointers */
        CK_ATTRIBUTE q[] = {{CKA_LABEL, "nullout", 7}};
        CK_ULONG cnt = 9;
        EXPECT(CKR_OK, f->C_FindObjectsInit(h, q, 1));
        EXPECT(CKR_OK, f->C_FindObjects(h, &o, 1, &cnt));
        CHECK(cnt == 0);
        EXPECT(CKR_OK, f->C_FindObjectsFinal(h));
        o = 0;
    }
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GenerateKey(h, NULL, t_nolen, 1, &o));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_CreateObject(h, NULL, 3, &o));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_FindObjectsInit(h, NULL, 2));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_FindObjectsInit(h, t_nolen, HUGE_LEN));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetAttributeValue(h, aes, NULL, 1));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_GetAttributeValue(h, aes, t_nolen, HIGH32));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_SetAttributeValue(h, aes, NULL, 1));
    EXPECT(CKR_ARGUMENTS_BAD,
           f->C_GenerateKeyPair(h, &m_ecgen, ec_pub_ok, 1, NULL, 0, NULL, &o2));
    EXPECT(CKR_ARGUMENTS_BAD,
           f->C_GenerateKeyPair(h, &m_ecgen, ec_pub_ok, HUGE_LEN, NULL, 0, &o, &o2));
    /* attribute values */
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKey(h, &m_aesgen, t_dup, N(t_dup), &o));
    EXPECT(CKR_ATTRIBUTE_TYPE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_unknown, N(t_unknown), &o));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKey(h, &m_aesgen, t_class, N(t_class), &o));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKey(h, &m_aesgen, t_ktype, N(t_ktype), &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_nullval, 1, &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_shortlen, 1, &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_badlen, 1, &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_highlen, 1, &o));
    EXPECT(CKR_TEMPLATE_INCOMPLETE, f->C_GenerateKey(h, &m_aesgen, t_nolen, 1, &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_bool, N(t_bool), &o));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKey(h, &m_aesgen, t_sign, N(t_sign), &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_digits, N(t_digits), &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_taken, N(t_taken), &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_GenerateKey(h, &m_aesgen, t_badutf8, N(t_badutf8), &o));
    EXPECT(CKR_MECHANISM_INVALID, f->C_GenerateKey(h, &m_ecgen, t_nolen, 1, &o));
    CHECK(o == 0);
    /* the same attribute twice with the same value is accepted */
    EXPECT(CKR_OK, f->C_GenerateKey(h, &m_aesgen, t_samedup, N(t_samedup), &o));
    EXPECT(CKR_OK, f->C_DestroyObject(h, o));
    o = 0;
    /* key pairs: CKA_VALUE_LEN on an EC key, no or unknown curve, wrong class, bad usage */
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKeyPair(h, &m_ecgen, ec_pub_vlen, N(ec_pub_vlen),
                                                           NULL, 0, &o, &o2));
    EXPECT(CKR_TEMPLATE_INCOMPLETE, f->C_GenerateKeyPair(h, &m_ecgen, ec_no_params, 1, NULL, 0,
                                                         &o, &o2));
    EXPECT(CKR_CURVE_NOT_SUPPORTED, f->C_GenerateKeyPair(h, &m_ecgen, ec_bad_params, 1, NULL, 0,
                                                         &o, &o2));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKeyPair(h, &m_ecgen, ec_pub_ok, 1, ec_priv_class,
                                                           1, &o, &o2));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_GenerateKeyPair(h, &m_ecgen, ec_pub_ok, 1,
                                                           ec_priv_encrypt, 1, &o, &o2));
    EXPECT(CKR_MECHANISM_INVALID, f->C_GenerateKeyPair(h, &m_aesgen, ec_pub_ok, 1, NULL, 0, &o, &o2));
    CHECK(o == 0 && o2 == 0);
    /* C_CreateObject */
    EXPECT(CKR_TEMPLATE_INCOMPLETE, f->C_CreateObject(h, co_noclass, 1, &o));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_CreateObject(h, co_data_dup, N(co_data_dup), &o));
    EXPECT(CKR_TEMPLATE_INCONSISTENT, f->C_CreateObject(h, co_priv, N(co_priv), &o));
    EXPECT(CKR_TEMPLATE_INCOMPLETE, f->C_CreateObject(h, co_sec_noval, 1, &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_CreateObject(h, co_unknown_class, 1, &o));
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_CreateObject(h, t_nullval, 1, &o));
    CHECK(o == 0);
    /* C_GetAttributeValue: unknown, sensitive, too small, size query; every entry answered */
    {
        CK_BYTE lab[2];
        CK_ATTRIBUTE q[] = {{0x7ffffff1UL, NULL, 0}, {CKA_VALUE, NULL, 0}, {CKA_LABEL, lab, 2},
                            {CKA_KEY_TYPE, NULL, 0}};
        EXPECT(CKR_ATTRIBUTE_TYPE_INVALID, f->C_GetAttributeValue(h, aes, q, 1));
        CHECK(q[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        EXPECT(CKR_ATTRIBUTE_SENSITIVE, f->C_GetAttributeValue(h, aes, q + 1, 1));
        CHECK(q[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        EXPECT(CKR_BUFFER_TOO_SMALL, f->C_GetAttributeValue(h, aes, q + 2, 1));
        CHECK(q[2].ulValueLen == CK_UNAVAILABLE_INFORMATION);
        q[2].ulValueLen = 2;
        EXPECT(CKR_OK, f->C_GetAttributeValue(h, aes, q + 3, 1));
        CHECK(q[3].ulValueLen == sizeof(CK_KEY_TYPE));
        q[0].ulValueLen = 0;
        q[1].ulValueLen = 0;
        q[3].ulValueLen = 0;
        {
            CK_RV rv = f->C_GetAttributeValue(h, aes, q, N(q));
            cases++;
            CHECK(rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_ATTRIBUTE_SENSITIVE ||
                  rv == CKR_BUFFER_TOO_SMALL);
            CHECK(q[0].ulValueLen == CK_UNAVAILABLE_INFORMATION);
            CHECK(q[1].ulValueLen == CK_UNAVAILABLE_INFORMATION);
            CHECK(q[3].ulValueLen == sizeof(CK_KEY_TYPE));
        }
    }
    /* C_SetAttributeValue: read-only and unknown attributes, bad values */
    {
        CK_ATTRIBUTE s_class[] = {{CKA_CLASS, &pub, sizeof pub}};
        CK_ATTRIBUTE s_unknown[] = {{0x7ffffff1UL, "x", 1}};
        CK_ATTRIBUTE s_null[] = {{CKA_LABEL, NULL, 4}};
        CK_ATTRIBUTE s_digits[] = {{CKA_LABEL, "777", 3}};
        EXPECT(CKR_ATTRIBUTE_READ_ONLY, f->C_SetAttributeValue(h, aes, s_class, 1));
        EXPECT(CKR_ATTRIBUTE_TYPE_INVALID, f->C_SetAttributeValue(h, aes, s_unknown, 1));
        EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_SetAttributeValue(h, aes, s_null, 1));
        EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_SetAttributeValue(h, aes, s_digits, 1));
        EXPECT(CKR_ACTION_PROHIBITED, f->C_CopyObject(h, aes, NULL, 0, &o));
    }
    /* C_FindObjectsInit with a NULL value and a length */
    EXPECT(CKR_ATTRIBUTE_VALUE_INVALID, f->C_FindObjectsInit(h, t_nullval, 1));
    EXPECT(CKR_OPERATION_NOT_INITIALIZED, f->C_FindObjectsFinal(h));
}

static void test_pins(CK_SESSION_HANDLE h) {
    EXPECT(CKR_ARGUMENTS_BAD, f->C_SetPIN(h, NULL, 8, (CK_UTF8CHAR *)"new-pin1", 8));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_SetPIN(h, (CK_UTF8CHAR *)pin, strlen(pin), NULL, 8));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_SetPIN(h, (CK_UTF8CHAR *)pin, HIGH32, (CK_UTF8CHAR *)"x", 1));
    EXPECT(CKR_PIN_INCORRECT, f->C_SetPIN(h, (CK_UTF8CHAR *)"owner:not-it", 12,
                                          (CK_UTF8CHAR *)"owner:new-pin-1", 15));
    EXPECT(CKR_USER_NOT_LOGGED_IN, f->C_InitPIN(h, (CK_UTF8CHAR *)"user-pin", 8));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_InitPIN(h, NULL, 8));
}

int main(int argc, char **argv) {
    void *lib;
    CK_RV (*get_list)(CK_FUNCTION_LIST **);
    CK_RV (*get_itf)(CK_UTF8CHAR *, CK_VERSION *, ck_interface3 **, CK_FLAGS);
    ck_interface3 *itf = NULL;
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4, i;
    CK_SESSION_HANDLE h;
    if (argc != 2) {
        fprintf(stderr, "usage: %s /path/to/libkms.so\n", argv[0]);
        return 2;
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "dlopen: %s\n", dlerror());
        return 2;
    }
    *(void **)&get_list = dlsym(lib, "C_GetFunctionList");
    *(void **)&get_itf = dlsym(lib, "C_GetInterface");
    if (get_list == NULL || get_itf == NULL) return 2;
    MUST(get_list(&f));
    MUST(get_itf(NULL, NULL, &itf, 0));
    f3 = (function_list_3_0 *)itf->pFunctionList;
    memset(&gcm, 0, sizeof gcm);
    gcm.pIv = iv;
    gcm.ulIvLen = sizeof iv;
    gcm.ulTagBits = 128;

    /* before C_Initialize */
    test_entry_points();
    global_functions(CKR_CRYPTOKI_NOT_INITIALIZED);
    session_functions(1, CKR_CRYPTOKI_NOT_INITIALIZED);
    unsupported_functions(1, CKR_CRYPTOKI_NOT_INITIALIZED);
    test_initialize();

    MUST(f->C_Initialize(NULL));
    EXPECT(CKR_CRYPTOKI_ALREADY_INITIALIZED, f->C_Initialize(NULL));
    EXPECT(CKR_ARGUMENTS_BAD, f->C_Finalize((void *)buf));
    read_pin();
    MUST(f->C_GetSlotList(CK_TRUE, slots, &n));
    slot = FREE_SLOT;
    for (i = 0; i < n; i++) {
        if (slots[i] != FREE_SLOT) slot = slots[i];
    }
    if (slot == FREE_SLOT) return 2;

    test_slots_tokens();
    h = open_rw();
    test_sessions_login(h);
    setup_objects(h);
    test_object_handles(h);
    test_wrong_class(h);
    test_mechanisms(h);
    test_operation_state(h);
    test_templates(h);
    test_pins(h);
    /* C_Finalize with sessions and operations open, then everything is dead */
    EXPECT(CKR_OK, f->C_EncryptInit(h, &m_gcm, aes));
    EXPECT(CKR_OK, f->C_Finalize(NULL));
    EXPECT(CKR_CRYPTOKI_NOT_INITIALIZED, f->C_Finalize(NULL));
    global_functions(CKR_CRYPTOKI_NOT_INITIALIZED);
    session_functions(h, CKR_CRYPTOKI_NOT_INITIALIZED);
    unsupported_functions(h, CKR_CRYPTOKI_NOT_INITIALIZED);
    /* a new C_Initialize: old session handles do not come back */
    MUST(f->C_Initialize(NULL));
    session_functions(h, CKR_SESSION_HANDLE_INVALID);
    MUST(f->C_Finalize(NULL));
    dlclose(lib);

    printf("pkcs11_badinput: %lu cases checked\n", cases);
    if (failures != 0) {
        fprintf(stderr, "pkcs11_badinput: %lu failed\n", failures);
        return 1;
    }
    printf("pkcs11_badinput: all passed\n");
    return 0;
}
