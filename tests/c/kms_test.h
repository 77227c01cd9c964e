/* kms_test.h - a minimal check macro for the C tests of libkms (tests/c). */
#ifndef KMS_TEST_H
#define KMS_TEST_H

#include <stdio.h>
#include <stdlib.h>

static int kms_test_failures = 0;

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
            kms_test_failures++;                                                       \
        }                                                                              \
    } while (0)

/* Prints the closing line the Rust harness looks for and returns the exit status. */
#define KMS_TEST_DONE(name)                                                            \
    (kms_test_failures == 0 ? (printf("%s: all passed\n", name), 0)                    \
                            : (fprintf(stderr, "%s: %d failed\n", name, kms_test_failures), 1))

#endif
