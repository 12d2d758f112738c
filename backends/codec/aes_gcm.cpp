#include "backends/codec/aes_gcm.hpp"

#include <climits>
#include <variant>

#include <openssl/evp.h>
#include <sodium.h>

namespace solver_state {

namespace {

/// libsodium detects the CPU's features in sodium_init, once per process
/// (thread-safe, and a no-op after the first call).
bool sodium_ready() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

/// libsodium declares its buffers nonnull even when they hold no bytes,
/// while an empty vector's data() or an empty string_view may be null.
unsigned char no_bytes[1];

unsigned char* nonnull(unsigned char* p) { return p ? p : no_bytes; }

const unsigned char* bytes_of(std::string_view s) {
  return s.data() ? reinterpret_cast<const unsigned char*>(s.data())
                  : no_bytes;
}

/// libsodium's key schedule: the expanded key and GHASH's powers of H
/// (512 bytes, aligned), ours to wipe.
struct sodium_schedule {
  crypto_aead_aes256gcm_state schedule;

  sodium_schedule() = default;
  sodium_schedule(const sodium_schedule&) = delete;
  sodium_schedule& operator=(const sodium_schedule&) = delete;
  ~sodium_schedule() { sodium_memzero(&schedule, sizeof schedule); }
};

/// OpenSSL's: a context per direction, each with the key schedule set
/// (EVP_CIPHER_CTX_free wipes it).
struct evp_contexts {
  EVP_CIPHER_CTX* seal = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* open = EVP_CIPHER_CTX_new();

  evp_contexts() = default;
  evp_contexts(const evp_contexts&) = delete;
  evp_contexts& operator=(const evp_contexts&) = delete;
  ~evp_contexts() {
    EVP_CIPHER_CTX_free(seal);
    EVP_CIPHER_CTX_free(open);
  }
};

} // namespace

struct aes_gcm_key::state {
  /// Empty only until the constructor picks one.
  std::variant<std::monostate, sodium_schedule, evp_contexts> schedule;

  explicit state(implementation kind) {
    if (kind == implementation::libsodium)
      schedule.emplace<sodium_schedule>();
    else
      schedule.emplace<evp_contexts>();
  }
};

aes_gcm_key::aes_gcm_key(std::unique_ptr<state> s) : state_(std::move(s)) {
}

std::unique_ptr<aes_gcm_key> aes_gcm_key::make(const unsigned char* material,
                                               implementation kind) {
  if (!available(kind))
    return nullptr;
  auto s = std::make_unique<state>(kind);
  if (auto* sodium = std::get_if<sodium_schedule>(&s->schedule)) {
    crypto_aead_aes256gcm_beforenm(&sodium->schedule, material);
  } else {
    auto& evp = std::get<evp_contexts>(s->schedule);
    if (!evp.seal || !evp.open
        || EVP_EncryptInit_ex(evp.seal, EVP_aes_256_gcm(), nullptr, material,
                              nullptr)
             != 1
        || EVP_DecryptInit_ex(evp.open, EVP_aes_256_gcm(), nullptr, material,
                              nullptr)
             != 1)
      return nullptr;
  }
  return std::unique_ptr<aes_gcm_key>{new aes_gcm_key(std::move(s))};
}

aes_gcm_key::implementation aes_gcm_key::fastest() {
  return available(implementation::libsodium) ? implementation::libsodium
                                              : implementation::openssl;
}

bool aes_gcm_key::available(implementation kind) {
  if (kind == implementation::openssl)
    return true;
  return sodium_ready() && crypto_aead_aes256gcm_is_available() == 1;
}

const char* aes_gcm_key::name(implementation kind) {
  return kind == implementation::libsodium ? "libsodium (AES-NI)"
                                           : "OpenSSL EVP";
}

aes_gcm_key::~aes_gcm_key() = default;

aes_gcm_key::implementation aes_gcm_key::kind() const {
  return std::holds_alternative<sodium_schedule>(state_->schedule)
           ? implementation::libsodium
           : implementation::openssl;
}

bool aes_gcm_key::seal(std::string_view plain, std::string_view aad,
                       const unsigned char* nonce, unsigned char* out,
                       unsigned char* tag) {
  if (auto* sodium = std::get_if<sodium_schedule>(&state_->schedule))
    return crypto_aead_aes256gcm_encrypt_detached_afternm(
             nonnull(out), tag, nullptr, bytes_of(plain), plain.size(),
             bytes_of(aad), aad.size(), nullptr, nonce, &sodium->schedule)
           == 0;
  if (plain.size() > INT_MAX || aad.size() > INT_MAX)
    return false;
  auto* ctx = std::get<evp_contexts>(state_->schedule).seal;
  int len = 0;
  return EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1
         && EVP_EncryptUpdate(ctx, nullptr, &len, bytes_of(aad),
                              static_cast<int>(aad.size()))
              == 1
         && EVP_EncryptUpdate(ctx, out, &len, bytes_of(plain),
                              static_cast<int>(plain.size()))
              == 1
         && EVP_EncryptFinal_ex(ctx, out + len, &len) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                                static_cast<int>(tag_bytes), tag)
              == 1;
}

bool aes_gcm_key::open(unsigned char* body, size_t size, std::string_view aad,
                       const unsigned char* nonce, const unsigned char* tag) {
  if (auto* sodium = std::get_if<sodium_schedule>(&state_->schedule))
    return crypto_aead_aes256gcm_decrypt_detached_afternm(
             nonnull(body), nullptr, nonnull(body), size, tag, bytes_of(aad),
             aad.size(), nonce, &sodium->schedule)
           == 0;
  if (size > INT_MAX || aad.size() > INT_MAX)
    return false;
  auto* ctx = std::get<evp_contexts>(state_->schedule).open;
  int len = 0;
  // EVP_CTRL_GCM_SET_TAG takes a non-const pointer; it only reads.
  auto* expected = const_cast<unsigned char*>(tag);
  return EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1
         && EVP_DecryptUpdate(ctx, nullptr, &len, bytes_of(aad),
                              static_cast<int>(aad.size()))
              == 1
         && EVP_DecryptUpdate(ctx, body, &len, body, static_cast<int>(size))
              == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                static_cast<int>(tag_bytes), expected)
              == 1
         && EVP_DecryptFinal_ex(ctx, body + len, &len) == 1;
}

} // namespace solver_state
