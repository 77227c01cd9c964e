/* kms_test.h - check macros and helpers for the C tests of libkms (tests/c). */
#ifndef KMS_TEST_H
#define KMS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int kms_test_failures = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            kms_test_failures++;                                                       \
        }                                                                              \
    } while (0)

/* Checks that a kms_* call returns the expected status; prints the error detail if not.
 * Uses (and frees) a local kms_error. */
#define CHECK_ST(expected, call_with_err)                                              \
    do {                                                                               \
        kms_error *err_ = NULL;                                                        \
        kms_status st_ = (call_with_err);                                              \
        if (st_ != (expected)) {                                                       \
            fprintf(stderr, "%s:%d: %s returned %d (%s: %s), expected %d\n", __FILE__, \
                    __LINE__, #call_with_err, (int)st_, kms_status_str(st_),           \
                    kms_error_message(err_), (int)(expected));                         \
            kms_test_failures++;                                                       \
        }                                                                              \
        CHECK(kms_error_code(err_) == st_);                                            \
        CHECK((st_ == KMS_OK) == (err_ == NULL));                                      \
        kms_error_free(err_);                                                          \
    } while (0)

/* Name the out-error argument inside CHECK_ST calls. */
#define ERR (&err_)

/* Prints the closing line the Rust harness looks for and returns the exit status. */
#define KMS_TEST_DONE(name)                                                            \
    (kms_test_failures == 0 ? (printf("%s: all passed\n", name), 0)                    \
                            : (fprintf(stderr, "%s: %d failed\n", name, kms_test_failures), 1))

#endif
