#pragma once

// The value codec between a shard and its backend: what a client writes is
// compressed (zstd) and encrypted (AES-256-GCM) on its way into the store,
// and restored on its way out, so every backend keeps only the stored form
// and every client sees only its own bytes.
//
// A stored value is either a client's bytes as they are, or a frame:
//
//   ff 53 56 01        magic "\xffSV" and the frame format (1)
//   flags              1: zstd, 2: AES-256-GCM, 4: hex runs packed (others: refused)
//   [AES] n, id[n]     the key id (1..64 bytes)
//   [AES] nonce[12]    fresh and random for every stored value
//   body               the value, packed if 4, compressed if 1, encrypted if 2
//   [AES] tag[16]      GCM's authentication tag
//
// The additional authenticated data is the store key and the frame header
// (key id included): a ciphertext moved to another key, or a header byte
// changed, fails to decrypt. Each value says how it was stored, so changing
// the settings never breaks reading what is already there. A client value
// that happens to start with the magic is framed with flags 0, so the
// magic alone tells a frame (0xff is never part of UTF-8 text).

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/expected.hpp>

#include "backends/codec/aes_gcm.hpp"
#include "config/config.hpp"

namespace solver_state {

class key_ring;
class zstd_dictionaries;

/// What the header of a stored value says about it, read without
/// decrypting.
struct stored_form {
  bool framed = false;
  bool compressed = false;
  bool encrypted = false;
  /// The key that encrypted it (when encrypted); points into the value.
  std::string_view key_id;
  /// Empty when the header is well-formed.
  std::string problem;
};

/// Reads the header of `stored`.
stored_form inspect_stored(std::string_view stored);

/// One shard's codec: owns its cipher and compression contexts (not shared
/// between threads), shares the key ring.
class value_codec {
public:
  /// `keys` may be null (no encryption). `max_decoded_bytes` bounds what a
  /// stored value may decompress to, against a frame crafted to allocate
  /// gigabytes: the service passes max_value_bytes_ceiling
  /// (config/limits.hpp), never state.max_value_bytes, which bounds new
  /// writes and must not take back reads of values stored under a higher
  /// one. `dictionaries` (may be null): the
  /// first compresses, each decompresses the values naming it. `aes`: whose
  /// AES-256-GCM runs (both read and write the same frames).
  value_codec(compression_config compression,
              std::shared_ptr<const key_ring> keys, size_t max_decoded_bytes,
              std::shared_ptr<const zstd_dictionaries> dictionaries = {},
              aes_gcm_key::implementation aes = aes_gcm_key::fastest());
  value_codec(value_codec&&) noexcept;
  value_codec& operator=(value_codec&&) noexcept;
  ~value_codec();

  /// True when values are encrypted.
  bool encrypts() const;

  /// True when stored values are the client's bytes apart from escaping (no
  /// compression, no encryption).
  bool passthrough() const;

  /// The id of the key new writes use (empty without encryption).
  const std::string& primary_id() const;

  /// True when `stored` is protected the way new writes are: encrypted
  /// under the primary key (always true without encryption).
  bool current(std::string_view stored) const;

  /// True when `id` names a configured key.
  bool knows_key(std::string_view id) const;

  /// The stored form of `value`, the value of `key`. Fails only when the
  /// system's random source or a library call does (backend_error).
  caf::expected<std::string> encode(std::string_view key, std::string value);

  /// The client's bytes of a stored value of `key`. backend_error naming the
  /// key and the reason when it cannot be restored: a key id that is not
  /// configured, a failed authentication (tampered, or stored under another
  /// key), a damaged frame, a value that would decompress past
  /// max_decoded_bytes.
  caf::expected<std::string> decode(std::string_view key, std::string stored);

  /// True when `stored` is a client's bytes or a sound frame without
  /// encryption, and state.encryption.require_encrypted refuses such
  /// values: decode fails naming the setting, damage says why.
  bool refuses_plaintext(std::string_view stored) const;

  /// Why no key could ever decode `stored` (a frame cut short or of an
  /// unknown form, an encrypted one that does not authenticate under the
  /// key it names, which this codec holds, or an unencrypted one whose zstd
  /// frame or packed hex runs are damaged); empty when the frame itself is
  /// sound, so a failed decode comes from this configuration (a zstd
  /// dictionary no longer listed, a lower max_decoded_bytes) and another
  /// could read it.
  std::string damage(std::string_view key, std::string stored);

  /// `bytes` encrypted under the primary key as one frame, bound to `name`
  /// as a value is to its key but apart from every key (a value's stored
  /// bytes never open as a sealed blob, whatever its key), neither
  /// compressed nor bounded by
  /// max_decoded_bytes: for what a store keeps beside its values (the
  /// snapshot of the indexes). backend_error without encryption.
  caf::expected<std::string> seal(std::string_view name,
                                  std::string_view bytes);
  /// The bytes seal() protected under `name`: backend_error, as decode()
  /// fails, for anything else (not sealed, another name, a key that is not
  /// configured, an altered byte).
  caf::expected<std::string> unseal(std::string_view name,
                                    std::string sealed);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace solver_state
