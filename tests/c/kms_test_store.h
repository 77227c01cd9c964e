/* kms_test_store.h - a temporary store per C test (needs _POSIX_C_SOURCE 200809L). */
#ifndef KMS_TEST_STORE_H
#define KMS_TEST_STORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char kms_test_dir[256];
static char kms_test_db[300];

/* Creates a temporary directory and returns the store path inside it. Sets
 * KMS_MIN_DELETION_DAYS=0 so deletion can be tested without waiting. */
static inline const char *kms_test_store(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(kms_test_dir, sizeof kms_test_dir, "%s/kmsctest.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(kms_test_dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    snprintf(kms_test_db, sizeof kms_test_db, "%s/kms.db", kms_test_dir);
    setenv("KMS_MIN_DELETION_DAYS", "0", 1);
    return kms_test_db;
}

/* Path of a file in the test directory (static buffer, one at a time). */
static inline const char *kms_test_path(const char *name) {
    static char p[400];
    snprintf(p, sizeof p, "%s/%s", kms_test_dir, name);
    return p;
}

/* Removes the store files and any extra files named, then the directory. */
static inline void kms_test_cleanup(const char *const *extra) {
    static const char *const files[] = {"kms.db", "kms.db.key", "kms.db.owner", "kms.db-wal",
                                        "kms.db-shm", "kms.db-journal", NULL};
    size_t i;
    for (i = 0; files[i] != NULL; i++) {
        unlink(kms_test_path(files[i]));
    }
    for (i = 0; extra != NULL && extra[i] != NULL; i++) {
        unlink(kms_test_path(extra[i]));
    }
    rmdir(kms_test_dir);
}

/* The owner's secret, read from the file beside a new store ("owner:<secret>"). */
static inline size_t kms_test_owner_secret(char *out, size_t cap) {
    char line[256];
    FILE *f = fopen(kms_test_path("kms.db.owner"), "r");
    size_t n;
    const char *colon;
    if (f == NULL || fgets(line, sizeof line, f) == NULL) {
        if (f != NULL) fclose(f);
        return 0;
    }
    fclose(f);
    colon = strchr(line, ':');
    if (colon == NULL) return 0;
    colon++;
    n = strcspn(colon, "\r\n");
    if (n >= cap) return 0;
    memcpy(out, colon, n);
    out[n] = '\0';
    return n;
}

#endif
