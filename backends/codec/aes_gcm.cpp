#include "backends/codec/aes_gcm.hpp"

#include <climits>

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

} // namespace

struct aes_gcm_key::state {
  implementation kind;
  /// libsodium: the expanded key and the powers of H (512 bytes, aligned).
  crypto_aead_aes256gcm_state sodium;
  /// OpenSSL: a context per direction, each with the key schedule set.
  EVP_CIPHER_CTX* seal = nullptr;
  EVP_CIPHER_CTX* open = nullptr;
};

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

aes_gcm_key::aes_gcm_key(const unsigned char* material, implementation kind)
  : state_(std::make_unique<state>()) {
  state_->kind = kind;
  if (kind == implementation::libsodium) {
    crypto_aead_aes256gcm_beforenm(&state_->sodium, material);
    return;
  }
  state_->seal = EVP_CIPHER_CTX_new();
  state_->open = EVP_CIPHER_CTX_new();
  EVP_EncryptInit_ex(state_->seal, EVP_aes_256_gcm(), nullptr, material,
                     nullptr);
  EVP_DecryptInit_ex(state_->open, EVP_aes_256_gcm(), nullptr, material,
                     nullptr);
}

aes_gcm_key::~aes_gcm_key() {
  // EVP_CIPHER_CTX_free wipes its key schedule; libsodium's is ours to wipe.
  sodium_memzero(&state_->sodium, sizeof state_->sodium);
  EVP_CIPHER_CTX_free(state_->seal);
  EVP_CIPHER_CTX_free(state_->open);
}

aes_gcm_key::implementation aes_gcm_key::kind() const {
  return state_->kind;
}

bool aes_gcm_key::seal(std::string_view plain, std::string_view aad,
                       const unsigned char* nonce, unsigned char* out,
                       unsigned char* tag) {
  if (state_->kind == implementation::libsodium)
    return crypto_aead_aes256gcm_encrypt_detached_afternm(
             nonnull(out), tag, nullptr, bytes_of(plain), plain.size(), bytes_of(aad),
             aad.size(), nullptr, nonce, &state_->sodium)
           == 0;
  if (plain.size() > INT_MAX || aad.size() > INT_MAX)
    return false;
  auto* ctx = state_->seal;
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
  if (state_->kind == implementation::libsodium)
    return crypto_aead_aes256gcm_decrypt_detached_afternm(
             nonnull(body), nullptr, nonnull(body), size, tag, bytes_of(aad), aad.size(), nonce,
             &state_->sodium)
           == 0;
  if (size > INT_MAX || aad.size() > INT_MAX)
    return false;
  auto* ctx = state_->open;
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
