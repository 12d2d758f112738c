#pragma once

// Where a key lives under base_path (README.md, "Backends"): each ':'-segment is a
// directory, the last one a file NAME.val. Every byte outside [A-Za-z0-9._-]
// is percent-encoded, and so is a whole segment that is "." or ".." (an empty
// segment is written "%"), so no key can name "..", "/" or a path outside
// base_path, and `order:a` (order/a.val) and `order:a:b` (order/a/b.val)
// coexist. Two details keep the mapping one-to-one:
//  - a directory whose encoded name would end in ".val" encodes that last
//    dot (x%2Eval), so it never collides with a leaf;
//  - an encoded segment longer than piece_bytes is split into directories
//    "PIECE+" (a '+' is never produced by the encoding), because filesystems
//    refuse names over 255 bytes.
// Names the encoding never produces ('~' is always encoded) are free for the
// backend's own files: "~wal-N.log", "~hwm-N", "~lock", "NAME.val~tmp".

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace solver_state {

constexpr size_t piece_bytes = 200;

/// Path components of `key` relative to base_path; the last one is the leaf
/// file "NAME.val".
std::vector<std::string> key_to_path(std::string_view key);

/// The key stored at `components`, if they are exactly what key_to_path
/// produces for it (anything else is not ours).
std::optional<std::string> path_to_key(const std::vector<std::string>& components);

/// Name of the temporary file a leaf is written to before its rename.
inline std::string temp_name(const std::string& leaf) {
  return leaf + "~tmp";
}

/// True for the backend's own names at the top of base_path.
inline bool is_backend_file(std::string_view name) {
  return !name.empty() && name.front() == '~';
}

/// "a/b/c.val": components joined, for messages.
std::string join_path(const std::vector<std::string>& components);

} // namespace solver_state
