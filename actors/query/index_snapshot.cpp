#include "actors/query/index_snapshot.hpp"

#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "actors/query/index_set.hpp"
#include "actors/query/json_fields.hpp"
#include "messages/errors.hpp"
#include "util/crc32c.hpp"
#include "util/little_endian.hpp"

namespace solver_state {

namespace {

/// The format. SSQX1 (2026-12-04) had no field rules: it is rebuilt from
/// the values, as one of other rules is.
constexpr std::string_view magic{"SSQX2\n\0\0", 8};
constexpr std::string_view magic_family{"SSQX", 4};

/// The bytes of a long double that hold its value: x87's 80 bits in 16
/// bytes where long double is that (the rest is padding, whatever the
/// stack or heap held before: left out, so that no stray memory reaches
/// the disk and one set always writes the same bytes), all of them
/// elsewhere.
constexpr size_t long_double_value_bytes
  = std::numeric_limits<long double>::digits == 64 ? 10
                                                    : sizeof(long double);

enum field_tag : uint8_t { no_field = 0, number_field = 1, string_field = 2 };

void put_text(std::string& out, std::string_view s) {
  put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

void put_field(std::string& out, const std::optional<index_value>& f) {
  if (!f) {
    out += static_cast<char>(no_field);
  } else if (f->is_number) {
    out += static_cast<char>(number_field);
    char raw[sizeof(long double)] = {};
    std::memcpy(raw, &f->number, long_double_value_bytes);
    out.append(raw, sizeof raw);
  } else {
    out += static_cast<char>(string_field);
    put_text(out, f->text);
  }
}

caf::error unusable(const std::string& why) {
  return make_state_error(state_errc::backend_error,
                          "the index snapshot is not usable: " + why);
}

/// Reads the snapshot front to back; every read checks that the bytes are
/// there (a checksum that matches does not make a writer's bug safe).
struct reader {
  std::string_view rest;

  bool take(size_t n, std::string_view& out) {
    if (rest.size() < n)
      return false;
    out = rest.substr(0, n);
    rest.remove_prefix(n);
    return true;
  }
  bool u8(uint8_t& out) {
    std::string_view b;
    if (!take(1, b))
      return false;
    out = static_cast<uint8_t>(b[0]);
    return true;
  }
  bool u32(uint32_t& out) {
    std::string_view b;
    if (!take(4, b))
      return false;
    out = get_u32(b.data());
    return true;
  }
  bool u64(uint64_t& out) {
    std::string_view b;
    if (!take(8, b))
      return false;
    out = get_u64(b.data());
    return true;
  }
  bool text(std::string_view& out) {
    uint32_t n = 0;
    return u32(n) && take(n, out);
  }
};

/// One field; `out` set only when given.
bool read_field(reader& in, std::optional<index_value>* out) {
  uint8_t tag = 0;
  if (!in.u8(tag))
    return false;
  switch (tag) {
  case no_field:
    if (out)
      out->reset();
    return true;
  case number_field: {
    std::string_view raw;
    if (!in.take(sizeof(long double), raw))
      return false;
    if (out) {
      long double n = 0;
      std::memcpy(&n, raw.data(), long_double_value_bytes);
      *out = index_value::of(n);
    }
    return true;
  }
  case string_field: {
    std::string_view s;
    if (!in.text(s))
      return false;
    if (out)
      *out = index_value::of(std::string{s});
    return true;
  }
  default:
    return false;
  }
}

/// The keys of the snapshot: checked only (`into` null) or loaded.
caf::error read_keys(reader in, size_t indexes, uint64_t keys,
                     index_set* into) {
  std::vector<std::optional<index_value>> fields(indexes);
  for (uint64_t k = 0; k < keys; ++k) {
    std::string_view key;
    uint64_t version = 0;
    uint64_t expires_at = 0;
    if (!in.text(key) || !in.u64(version) || !in.u64(expires_at))
      return unusable("key " + std::to_string(k) + " is cut short");
    for (size_t i = 0; i < indexes; ++i)
      if (!read_field(in, into ? &fields[i] : nullptr))
        return unusable("a field of key " + std::to_string(k)
                        + " is cut short or of no known kind");
    if (into)
      into->load_key(std::string{key}, version, std::move(fields),
                     static_cast<unix_ms>(expires_at));
    fields.assign(indexes, std::nullopt);
  }
  if (into)
    into->finish_loading();
  if (!in.rest.empty())
    return unusable(std::to_string(in.rest.size())
                    + " bytes follow the last key");
  return {};
}

} // namespace

std::string encode_index_snapshot(const index_set& set, uint32_t shard,
                                  uint32_t shard_count) {
  std::string out;
  // Orders of ~20-byte keys take 60-80 bytes each; a little room at the
  // end for what the backend appends (its binding).
  out.reserve(64 + set.keys() * 80);
  out = magic;
  put_u32(out, field_rules_version);
  put_u32(out, shard);
  put_u32(out, shard_count);
  put_u32(out, static_cast<uint32_t>(set.specs().size()));
  for (auto& s : set.specs()) {
    put_text(out, s.name);
    put_text(out, s.prefix);
    put_text(out, s.path);
  }
  put_u64(out, set.keys());
  set.each([&](const std::string& key, version_t version, unix_ms expires_at,
               const std::vector<std::optional<index_value>>& fields) {
    put_text(out, key);
    put_u64(out, version);
    put_u64(out, static_cast<uint64_t>(expires_at));
    for (auto& f : fields)
      put_field(out, f);
  });
  put_u32(out, crc32c(out.data(), out.size()));
  return out;
}

caf::error load_index_snapshot(std::string_view bytes, uint32_t shard,
                               uint32_t shard_count, index_set& set) {
  if (bytes.size() < magic.size() + 4
      || bytes.substr(0, magic_family.size()) != magic_family)
    return unusable("it is not an index snapshot");
  if (bytes.substr(0, magic.size()) != magic)
    return unusable("it is of an older format ("
                    + std::string{bytes.substr(0, 5)}
                    + "), which does not say how its fields were read");
  auto body = bytes.substr(0, bytes.size() - 4);
  if (get_u32(bytes.data() + body.size()) != crc32c(body.data(), body.size()))
    return unusable("checksum mismatch");
  reader in{body.substr(magic.size())};
  uint32_t rules = 0;
  if (!in.u32(rules))
    return unusable("its header is cut short");
  if (rules != field_rules_version)
    return unusable("its fields were read by the rules of version "
                    + std::to_string(rules) + ", this build reads them by "
                    + std::to_string(field_rules_version));
  uint32_t was_shard = 0;
  uint32_t was_count = 0;
  uint32_t indexes = 0;
  if (!in.u32(was_shard) || !in.u32(was_count) || !in.u32(indexes))
    return unusable("its header is cut short");
  if (was_shard != shard || was_count != shard_count)
    return unusable("it was written by shard " + std::to_string(was_shard)
                    + " of " + std::to_string(was_count) + ", this is shard "
                    + std::to_string(shard) + " of "
                    + std::to_string(shard_count));
  auto& specs = set.specs();
  if (indexes != specs.size())
    return unusable("it holds " + std::to_string(indexes)
                    + " indexes, state.indexes declares "
                    + std::to_string(specs.size()));
  for (auto& s : specs) {
    std::string_view name, prefix, path;
    if (!in.text(name) || !in.text(prefix) || !in.text(path))
      return unusable("its indexes are cut short");
    if (name != s.name || prefix != s.prefix || path != s.path)
      return unusable("it holds index '" + std::string{name}
                      + "', state.indexes declares '" + s.name
                      + "' (or with another prefix or path) in its place");
  }
  uint64_t keys = 0;
  if (!in.u64(keys))
    return unusable("its key count is cut short");
  if (auto err = read_keys(in, specs.size(), keys, nullptr))
    return err;
  set.reserve(keys);
  return read_keys(in, specs.size(), keys, &set);
}

} // namespace solver_state
