// header_cxx.cpp - include/kms.h must compile as C++ (cpp_compat) and link.
#include "kms.h"

int main() {
    kms_error *err = nullptr;
    kms_error_free(err);
    return kms_version() != nullptr && kms_status_str(KMS_OK) != nullptr ? 0 : 1;
}
