#pragma once

// One AES-256-GCM key, ready to seal and open values: its key schedule is
// computed once, so a value costs its nonce and its bytes.
//
// Two implementations of the same cipher, interchangeable byte for byte (a
// value sealed by one opens under the other): libsodium's, on CPUs with
// AES-NI and PCLMULQDQ, and OpenSSL's EVP everywhere else. libsodium's keeps
// GHASH's powers of H with the key and takes a value in one call; through
// EVP a 256-byte value costs about 1.7x as much here (bench/README.md,
// "AES-256-GCM through libsodium").

#include <cstddef>
#include <memory>
#include <string_view>

namespace solver_state {

class aes_gcm_key {
public:
  static constexpr size_t key_bytes = 32;
  static constexpr size_t nonce_bytes = 12;
  static constexpr size_t tag_bytes = 16;

  enum class implementation {
    /// libsodium's AES-NI code: needs AES-NI and PCLMULQDQ.
    libsodium,
    /// OpenSSL's EVP: any CPU.
    openssl,
  };

  /// libsodium when this CPU can run it, OpenSSL otherwise.
  static implementation fastest();

  /// Whether this CPU can run `kind`.
  static bool available(implementation kind);

  /// The name of `kind` for logs ("libsodium (AES-NI)", "OpenSSL EVP").
  static const char* name(implementation kind);

  /// A key of `key_bytes` bytes at `material` (copied), used through
  /// `kind`; nullptr when this CPU cannot run `kind` (libsodium's code
  /// would stop the process on an instruction it lacks) or the cipher
  /// would not take the key.
  static std::unique_ptr<aes_gcm_key> make(const unsigned char* material,
                                           implementation kind);
  aes_gcm_key(const aes_gcm_key&) = delete;
  aes_gcm_key& operator=(const aes_gcm_key&) = delete;
  /// Wipes the key schedule.
  ~aes_gcm_key();

  implementation kind() const;

  /// Encrypts the `plain.size()` bytes of `plain` into `out` (as many
  /// bytes; it may be plain.data()) and writes the tag at `tag`,
  /// authenticating `aad` with them. False when the cipher failed.
  bool seal(std::string_view plain, std::string_view aad,
            const unsigned char* nonce, unsigned char* out,
            unsigned char* tag);

  /// Decrypts the `size` bytes at `body` in place when they and `aad`
  /// authenticate under `nonce` and `tag`. False otherwise: the bytes were
  /// altered or sealed under another key, nonce or aad (`body` is then
  /// unspecified).
  bool open(unsigned char* body, size_t size, std::string_view aad,
            const unsigned char* nonce, const unsigned char* tag);

private:
  /// One implementation's key schedule (aes_gcm.cpp): libsodium's, or
  /// OpenSSL's contexts, never both.
  struct state;
  explicit aes_gcm_key(std::unique_ptr<state> s);
  std::unique_ptr<state> state_;
};

} // namespace solver_state
