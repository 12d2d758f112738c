#pragma once

// The zstd dictionaries of state.compression.dictionaries, read once at
// start-up and shared (read-only) by every shard's codec. A dictionary
// trained on a store's own values (solver-state-cli train-dictionary)
// holds what those values have in common (field names, fixed words,
// entropy tables), so a 1.5 KiB JSON order compresses to what is
// particular to it. Every compressed value names its dictionary's id in
// its zstd frame: the first listed dictionary compresses new values, each
// listed one decompresses those naming it, and a value whose dictionary is
// no longer listed answers an error naming the id.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "config/config.hpp"

struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace solver_state {

/// Most dictionaries listed at once (each costs a few hundred KiB of
/// prepared tables).
constexpr size_t max_zstd_dictionaries = 16;

class zstd_dictionaries {
public:
  /// Reads every file of `cfg.dictionaries` (none: nullptr). Refuses, naming
  /// the field: an unreadable file, one that is no zstd dictionary (the
  /// format `zstd --train` and train-dictionary write), two with one id,
  /// and when `private_only` (values are encrypted) a file that group or
  /// others may access: a dictionary holds fragments of the values it was
  /// trained on, in plaintext.
  static caf::expected<std::shared_ptr<const zstd_dictionaries>>
  load(const compression_config& cfg, bool private_only = false);

  zstd_dictionaries(const zstd_dictionaries&) = delete;
  zstd_dictionaries& operator=(const zstd_dictionaries&) = delete;
  ~zstd_dictionaries();

  /// The dictionary new values are compressed with (prepared at cfg.level).
  const ZSTD_CDict_s* for_writes() const { return compress_; }
  uint32_t write_id() const { return ids_.front(); }

  /// The dictionary with `id`, or nullptr.
  const ZSTD_DDict_s* find(uint32_t id) const;

private:
  zstd_dictionaries() = default;
  ZSTD_CDict_s* compress_ = nullptr;
  std::vector<uint32_t> ids_;
  std::vector<ZSTD_DDict_s*> decompress_;
};

} // namespace solver_state
