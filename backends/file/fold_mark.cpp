// The fold's mark: the keys an interrupted fold may have left temp files of.

#include "backends/file/fold_mark.hpp"

#include <algorithm>
#include <unordered_set>

#include "backends/file/index_file.hpp"
#include "backends/file/tree.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"
#include "util/crc32c.hpp"
#include "util/little_endian.hpp"

namespace solver_state {

namespace {

constexpr std::string_view magic{"SSFM1\n\0\0", 8};

} // namespace

std::string encode_fold_mark(const std::vector<const std::string*>& keys) {
  size_t bytes = magic.size() + 8 + 4;
  for (auto* key : keys)
    bytes += 2 + key->size();
  std::string out;
  out.reserve(bytes);
  out.append(magic);
  put_u64(out, keys.size());
  for (auto* key : keys) {
    put_u16(out, static_cast<uint16_t>(key->size()));
    out.append(*key);
  }
  put_u32(out, crc32c(out));
  return out;
}

std::optional<std::vector<std::string>>
decode_fold_mark(std::string_view bytes) {
  if (bytes.size() < magic.size() + 8 + 4
      || bytes.compare(0, magic.size(), magic) != 0)
    return std::nullopt;
  auto body = bytes.substr(0, bytes.size() - 4);
  if (get_u32(bytes.data() + body.size()) != crc32c(body))
    return std::nullopt;
  auto count = get_u64(body.data() + magic.size());
  size_t at = magic.size() + 8;
  // Each key takes at least 3 bytes: a count past that is a lie.
  if (count > (body.size() - at) / 3)
    return std::nullopt;
  std::vector<std::string> keys;
  keys.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    if (body.size() - at < 2)
      return std::nullopt;
    size_t len = get_u16(body.data() + at);
    at += 2;
    if (body.size() - at < len)
      return std::nullopt;
    auto key = body.substr(at, len);
    if (!is_valid_key(key))
      return std::nullopt;
    keys.emplace_back(key);
    at += len;
  }
  if (at != body.size())
    return std::nullopt;
  return keys;
}

caf::expected<std::vector<std::string>>
write_fold_mark(const file_tree& tree, uint32_t shard,
                const std::vector<const std::string*>& keys) {
  auto name = fold_mark_name(shard);
  auto old = read_tree_root_file(tree, name);
  if (!old) {
    if (code_of(old.error()) != state_errc::not_found)
      return std::move(old.error());
    if (auto err = tree.write_root_file(name, encode_fold_mark(keys)))
      return err;
    return std::vector<std::string>{};
  }
  auto earlier = decode_fold_mark(*old);
  if (!earlier)
    return std::vector<std::string>{}; // the start walks the tree
  std::unordered_set<std::string_view> mine;
  for (auto* key : keys)
    mine.insert(*key);
  std::vector<std::string> leftovers;
  for (auto& key : *earlier)
    if (mine.count(key) == 0)
      leftovers.push_back(std::move(key));
  auto all = keys;
  for (auto& key : leftovers)
    all.push_back(&key);
  std::sort(all.begin(), all.end(), [](auto* a, auto* b) { return *a < *b; });
  if (auto err = tree.write_root_file(name, encode_fold_mark(all)))
    return err;
  return leftovers;
}

} // namespace solver_state
