// The shard's key index on disk: encoding, verification, and the fold's
// merge of its changes into it.

#include "backends/file/index_file.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "backends/file/value.hpp"
#include "messages/errors.hpp"
#include "util/crc32c.hpp"

namespace solver_state {

namespace {

constexpr std::string_view magic{"SSIX1\n\0\0", 8};
constexpr size_t header_bytes = 8 + 4 + 4 + 8 + 8;
constexpr size_t entry_fixed_bytes = 2 + 8 + 8 + 8;

caf::error corrupt(const std::string& path, const std::string& why) {
  return make_state_error(state_errc::backend_error,
                          "corrupt index file " + path + ": " + why);
}

} // namespace

std::string index_file_name(size_t shard) {
  return "~index-" + std::to_string(shard);
}

std::string fold_mark_name(size_t shard) {
  return "~folding-" + std::to_string(shard);
}

std::string snapshot_file_name(size_t shard) {
  return "~query-" + std::to_string(shard);
}

namespace {

/// True for `prefix` followed by digits only, setting `shard`.
bool parse_shard_file_name(std::string_view prefix, const std::string& name,
                           size_t& shard) {
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix))
    return false;
  auto first = name.data() + prefix.size();
  auto last = name.data() + name.size();
  auto [end, ec] = std::from_chars(first, last, shard);
  return ec == std::errc{} && end == last;
}

} // namespace

bool parse_index_file_name(const std::string& name, size_t& shard) {
  return parse_shard_file_name("~index-", name, shard);
}

bool parse_snapshot_file_name(const std::string& name, size_t& shard) {
  return parse_shard_file_name("~query-", name, shard);
}

index_file_builder::index_file_builder() {
  bytes_.resize(header_bytes); // written by finish()
}

void index_file_builder::add(std::string_view key, const key_meta& meta) {
  put_u16(bytes_, static_cast<uint16_t>(key.size()));
  bytes_.append(key);
  put_u64(bytes_, meta.version);
  put_u64(bytes_, static_cast<uint64_t>(meta.expires_at_ms));
  put_u64(bytes_, meta.size);
  ++keys_;
}

std::string index_file_builder::finish(index_file_header header) {
  std::string head{magic};
  put_u32(head, header.shard);
  put_u32(head, header.shard_count);
  put_u64(head, header.set);
  put_u64(head, keys_);
  std::memcpy(bytes_.data(), head.data(), header_bytes);
  put_u32(bytes_, crc32c(bytes_));
  return std::move(bytes_);
}

caf::expected<index_file_header> read_index_file(std::string_view bytes,
                                                 const std::string& path,
                                                 const index_visitor& visit) {
  if (bytes.size() < header_bytes + 4
      || bytes.compare(0, magic.size(), magic) != 0)
    return corrupt(path, "not an index file of this version");
  auto body = bytes.substr(0, bytes.size() - 4);
  if (get_u32(bytes.data() + body.size()) != crc32c(body))
    return corrupt(path, "checksum mismatch");
  index_file_header h;
  auto p = body.data() + magic.size();
  h.shard = get_u32(p);
  h.shard_count = get_u32(p + 4);
  h.set = get_u64(p + 8);
  h.keys = get_u64(p + 16);
  if (h.shard_count == 0 || h.shard >= h.shard_count)
    return corrupt(path, "shard " + std::to_string(h.shard) + " of "
                           + std::to_string(h.shard_count));
  size_t at = header_bytes;
  std::string_view previous;
  for (uint64_t i = 0; i < h.keys; ++i) {
    if (body.size() - at < entry_fixed_bytes)
      return corrupt(path, "ends inside key " + std::to_string(i));
    size_t len = get_u16(body.data() + at);
    if (body.size() - at < entry_fixed_bytes + len)
      return corrupt(path, "ends inside key " + std::to_string(i));
    auto key = body.substr(at + 2, len);
    // Sorted and unique, as the shard's map writes them: a merge relies on it.
    if (len == 0 || (i > 0 && key <= previous))
      return corrupt(path, "keys out of order at key " + std::to_string(i));
    auto q = body.data() + at + 2 + len;
    key_meta meta{get_u64(q), static_cast<unix_ms>(get_u64(q + 8)),
                  get_u64(q + 16)};
    if (visit)
      visit(key, meta);
    previous = key;
    at += entry_fixed_bytes + len;
  }
  if (at != body.size())
    return corrupt(path, "bytes after the last key");
  return h;
}

uint64_t new_index_set() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

caf::expected<std::string> read_tree_root_file(const file_tree& tree,
                                               const std::string& name) {
  auto path = tree.root_path() + "/" + name;
  auto& env = tree.env();
  int fd = env.open_at(tree.root_fd(), name, O_RDONLY | O_NOFOLLOW);
  if (fd == -ENOENT)
    return make_state_error(state_errc::not_found, "no " + path);
  if (fd < 0)
    return io_failure("cannot open", path, fd);
  unique_fd guard{&env, fd};
  std::string bytes;
  if (int rc = env.read_all(fd, bytes); rc != 0)
    return io_failure("cannot read", path, rc);
  return bytes;
}

caf::error fold_into_index(const file_tree& tree, uint32_t shard,
                           const log_changes& changes) {
  auto name = index_file_name(shard);
  auto old = read_tree_root_file(tree, name);
  if (!old) {
    // No index: the next start scans the tree. One it cannot read now (out
    // of descriptors, a disk error) is still there, checksummed, and would
    // be trusted by the next start without this fold's changes: the fold
    // fails, and keeps the logs that hold them.
    if (code_of(old.error()) == state_errc::not_found)
      return {};
    return std::move(old.error());
  }
  std::vector<log_changes::const_pointer> sorted;
  sorted.reserve(changes.size());
  for (auto& change : changes)
    sorted.push_back(&change);
  std::sort(sorted.begin(), sorted.end(),
            [](auto a, auto b) { return a->first < b->first; });
  auto path = tree.root_path() + "/" + name;
  index_file_builder out;
  auto next = sorted.begin();
  auto emit_change = [&](log_changes::const_pointer c) {
    if (!c->second.removed)
      out.add(c->first, key_meta{c->second.data.version,
                                 c->second.data.expires_at_ms,
                                 c->second.data.value.size()});
  };
  auto header = read_index_file(
    *old, path, [&](std::string_view key, const key_meta& meta) {
      while (next != sorted.end() && (*next)->first < key)
        emit_change(*next++);
      if (next != sorted.end() && (*next)->first == key) {
        emit_change(*next++);
        return;
      }
      out.add(key, meta);
    });
  if (header && header->shard != shard)
    header = corrupt(path, "it names shard " + std::to_string(header->shard));
  if (!header) {
    spdlog::warn("file backend shard {}: the fold leaves the key index "
                 "alone ({}): the next start scans the tree",
                 shard, message_of(header.error()));
    return {};
  }
  while (next != sorted.end())
    emit_change(*next++);
  old->clear();
  old->shrink_to_fit();
  return tree.write_root_file(name, out.finish(*header));
}

} // namespace solver_state
