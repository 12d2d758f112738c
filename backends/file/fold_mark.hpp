#pragma once

// A fold's mark ("~folding-S", index_file.hpp's fold_mark_name): written
// durably before the fold writes its first temp file, removed once the fold
// has completed. It names the keys whose temp files the fold may leave
// behind when it is cut short (a stop cancels a fold) or fails. A start
// that finds such a mark leaves those files to the shard's next fold, which
// overwrites them or removes them before it writes; before the marks named
// their keys, a start walked every directory of the tree for them and
// removed them, which after a write load of a million keys took 41-53 s
// with a cold page cache (bench/README.md, "A start after a write load").
//
//   magic "SSFM1\n\0\0" | keys u64 | keys x (key_len u16 | key) | crc32c u32
//
// A mark that does not decode (an empty one from an earlier version, a
// damaged one) names nothing for sure: the start walks the tree then.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace solver_state {

class file_tree;

std::string encode_fold_mark(const std::vector<const std::string*>& keys);

/// The keys of a whole, valid mark; nullopt for anything else.
std::optional<std::vector<std::string>>
decode_fold_mark(std::string_view bytes);

/// Writes shard `shard`'s mark for `keys` (the fold's), durably, before
/// the fold writes its first temp file. A mark already there is of a fold
/// that did not complete (a stop cut it short, an error failed it): its
/// keys stay named in the new mark, and those of them that `keys` lacks are
/// returned: their temp files are left that this fold will not overwrite,
/// for the caller to remove. A mark that does not decode is left as it is
/// (the next start walks the tree, as it must) and returns none.
caf::expected<std::vector<std::string>>
write_fold_mark(const file_tree& tree, uint32_t shard,
                const std::vector<const std::string*>& keys);

} // namespace solver_state
