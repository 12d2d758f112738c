#pragma once

// The encryption keys of state.encryption, read from their files once at
// start-up. Key material lives only here: never in the YAML, never in a log
// line or an error message, and it is wiped from memory when the ring goes
// (after the last shard stopped).

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "config/config.hpp"

namespace solver_state {

/// Bytes of an AES-256 key.
constexpr size_t encryption_key_bytes = 32;

/// Longest key id: every stored value names its key, so ids stay short.
constexpr size_t max_key_id_bytes = 64;

/// What is wrong with `id` as a key id (empty when nothing): 1 to 64 of
/// A-Z a-z 0-9 . _ -.
std::string key_id_problem(std::string_view id);

class key_ring {
public:
  struct key {
    std::string id;
    std::array<unsigned char, encryption_key_bytes> material{};
  };

  /// Reads every key file of `cfg`. Refuses, naming the field: a missing or
  /// unreadable file, one that group or others may access, one that holds
  /// neither 32 raw bytes nor 64 hex digits, a primary not among the keys.
  static caf::expected<std::shared_ptr<const key_ring>>
  load(const encryption_config& cfg);

  key_ring(const key_ring&) = delete;
  key_ring& operator=(const key_ring&) = delete;
  ~key_ring();

  /// The key with `id`, or nullptr.
  const key* find(std::string_view id) const;

  /// The key new writes use.
  const key& primary() const { return keys_[primary_]; }

  const std::vector<key>& keys() const { return keys_; }

  /// state.encryption.require_encrypted: a stored value that is not
  /// encrypted is refused, not served.
  bool requires_encrypted() const { return requires_encrypted_; }

private:
  key_ring() = default;

  std::vector<key> keys_;
  size_t primary_ = 0;
  bool requires_encrypted_ = false;
};

} // namespace solver_state
