// quickstart.cpp - libkms from C++ through a small RAII wrapper: handles close and secret
// buffers are wiped and freed in destructors; failures become exceptions carrying the
// status and the library's detail message.
//
// Build:  c++ -std=c++11 quickstart.cpp $(pkg-config --cflags --libs kms) -o quickstart_cpp
// Run:    KMS_STORE=/tmp/demo/kms.db ./quickstart_cpp
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kms.h"

namespace kms {

// A failed call: the status number and the library's message.
class Error : public std::runtime_error {
public:
    Error(const std::string &what, kms_status status, const kms_error *err)
        : std::runtime_error(what + ": " + kms_status_str(status) + ": " + kms_error_message(err)),
          status_(status) {}
    kms_status status() const { return status_; }

private:
    kms_status status_;
};

// Throws if `st` is not KMS_OK; always frees `err`.
inline void check(const char *what, kms_status st, kms_error *err) {
    if (st != KMS_OK) {
        Error e(what, st, err);
        kms_error_free(err);
        throw e;
    }
    kms_error_free(err);
}

// Library-allocated secret bytes, wiped and freed on destruction.
class SecretBuffer {
public:
    SecretBuffer() { buf_.data = nullptr; buf_.len = 0; }
    ~SecretBuffer() { kms_buffer_free(&buf_); }
    SecretBuffer(const SecretBuffer &) = delete;
    SecretBuffer &operator=(const SecretBuffer &) = delete;
    kms_buffer *out() { kms_buffer_free(&buf_); return &buf_; }
    const uint8_t *data() const { return buf_.data; }
    size_t size() const { return buf_.len; }
    std::string str() const { return std::string(reinterpret_cast<const char *>(buf_.data), buf_.len); }

private:
    kms_buffer buf_;
};

// An encryption context as parallel arrays for the C API.
class Context {
public:
    Context(std::initializer_list<std::pair<std::string, std::string>> pairs) : pairs_(pairs) {
        for (const auto &p : pairs_) { keys_.push_back(p.first.c_str()); values_.push_back(p.second.c_str()); }
    }
    const char *const *keys() const { return keys_.empty() ? nullptr : keys_.data(); }
    const char *const *values() const { return values_.empty() ? nullptr : values_.data(); }
    size_t size() const { return keys_.size(); }

private:
    std::vector<std::pair<std::string, std::string>> pairs_;
    std::vector<const char *> keys_, values_;
};

// An open context; closed on destruction. Movable, not copyable. Thread-safe to share.
class Kms {
public:
    static Kms open_default_owner(const char *store_path = nullptr) {
        kms_ctx ctx = KMS_NO_HANDLE;
        kms_error *err = nullptr;
        check("kms_open_default_owner", kms_open_default_owner(store_path, &ctx, &err), err);
        return Kms(ctx);
    }
    Kms(Kms &&o) noexcept : ctx_(o.ctx_) { o.ctx_ = KMS_NO_HANDLE; }
    Kms(const Kms &) = delete;
    Kms &operator=(const Kms &) = delete;
    ~Kms() { if (ctx_ != KMS_NO_HANDLE) kms_close(ctx_); }

    std::string create_key(uint32_t spec, const char *name = nullptr) {
        kms_key_params p = kms_key_params();  // zero = defaults
        p.spec = spec;
        p.name = name;
        uint64_t id = 0;
        kms_error *err = nullptr;
        check("kms_key_create", kms_key_create(ctx_, &p, &id, &err), err);
        return std::to_string(id);
    }

    std::vector<uint8_t> encrypt(const std::string &key, const std::string &pt, const Context &c) {
        std::vector<uint8_t> out(pt.size() + KMS_CIPHERTEXT_OVERHEAD);
        size_t len = out.size();
        kms_error *err = nullptr;
        check("kms_encrypt",
              kms_encrypt(ctx_, key.c_str(), reinterpret_cast<const uint8_t *>(pt.data()), pt.size(),
                          c.keys(), c.values(), c.size(), out.data(), &len, &err),
              err);
        out.resize(len);
        return out;
    }

    void decrypt(const std::vector<uint8_t> &ct, const Context &c, SecretBuffer &out) {
        kms_error *err = nullptr;
        check("kms_decrypt_buffer",
              kms_decrypt_buffer(ctx_, ct.data(), ct.size(), c.keys(), c.values(), c.size(),
                                 out.out(), &err),
              err);
    }

    uint32_t rotate(const std::string &key) {
        uint32_t v = 0;
        kms_error *err = nullptr;
        check("kms_key_rotate", kms_key_rotate(ctx_, key.c_str(), &v, &err), err);
        return v;
    }

    std::vector<uint8_t> sign(const std::string &key, uint32_t alg, const std::string &msg) {
        std::vector<uint8_t> sig(KMS_MAX_SIGNATURE);
        size_t len = sig.size();
        kms_error *err = nullptr;
        check("kms_sign",
              kms_sign(ctx_, key.c_str(), alg, reinterpret_cast<const uint8_t *>(msg.data()),
                       msg.size(), 0, sig.data(), &len, nullptr, &err),
              err);
        sig.resize(len);
        return sig;
    }

    bool verify(const std::string &key, uint32_t alg, const std::string &msg, const std::vector<uint8_t> &sig) {
        kms_error *err = nullptr;
        kms_status st = kms_verify(ctx_, key.c_str(), 0, alg, reinterpret_cast<const uint8_t *>(msg.data()),
                                   msg.size(), 0, sig.data(), sig.size(), &err);
        if (st == KMS_ERR_VERIFICATION_FAILED) { kms_error_free(err); return false; }
        check("kms_verify", st, err);
        return true;
    }

    kms_audit_report audit_verify() {
        kms_audit_report r = kms_audit_report();
        kms_error *err = nullptr;
        check("kms_audit_verify", kms_audit_verify(ctx_, nullptr, 0, &r, &err), err);
        return r;
    }

private:
    explicit Kms(kms_ctx ctx) : ctx_(ctx) {}
    kms_ctx ctx_;
};

}  // namespace kms

int main() {
    try {
        kms::Kms k = kms::Kms::open_default_owner();
        std::string key = k.create_key(KMS_SPEC_AES256);
        kms::Context ctx{{"tenant", "acme"}};

        std::vector<uint8_t> ct = k.encrypt(key, "hello from C++", ctx);
        std::printf("rotated to version %u\n", static_cast<unsigned>(k.rotate(key)));
        kms::SecretBuffer pt;
        k.decrypt(ct, ctx, pt);
        std::printf("decrypted old ciphertext: %s\n", pt.str().c_str());

        try {
            k.decrypt(ct, kms::Context{{"tenant", "other"}}, pt);
        } catch (const kms::Error &e) {
            std::printf("wrong context refused (status %d)\n", static_cast<int>(e.status()));
        }

        std::string signer = k.create_key(KMS_SPEC_ED25519);
        std::vector<uint8_t> sig = k.sign(signer, KMS_SIGN_ED25519, "release-1.0.tar.gz");
        std::printf("signature %zu bytes, verifies: %s\n", sig.size(),
                    k.verify(signer, KMS_SIGN_ED25519, "release-1.0.tar.gz", sig) ? "yes" : "no");

        kms_audit_report r = k.audit_verify();
        std::printf("audit chain intact: %llu records\n", static_cast<unsigned long long>(r.records));
        std::printf("quickstart_cpp: ok\n");
        return 0;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
