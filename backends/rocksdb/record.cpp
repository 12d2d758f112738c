// Fixed-width little-endian fields in values, big-endian in index keys (so
// that byte order is time order).

#include "backends/rocksdb/record.hpp"

namespace solver_state::rocks {

namespace {

constexpr char record_format = '\x01';
constexpr size_t record_header = 1 + 8 + 8;
constexpr size_t totals_size = 3 * 8;

void put_le64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

uint64_t get_le64(std::string_view in) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | static_cast<uint8_t>(in[static_cast<size_t>(i)]);
  return x;
}

void put_be64(std::string& out, uint64_t x) {
  for (int i = 7; i >= 0; --i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

uint64_t get_be64(std::string_view in) {
  uint64_t x = 0;
  for (size_t i = 0; i < 8; ++i)
    x = (x << 8) | static_cast<uint8_t>(in[i]);
  return x;
}

} // namespace

std::string encode_record(std::string_view value, version_t version,
                          unix_ms expires_at) {
  std::string out;
  out.reserve(record_header + value.size());
  out.push_back(record_format);
  put_le64(out, version);
  put_le64(out, static_cast<uint64_t>(expires_at));
  out.append(value);
  return out;
}

std::optional<entry> decode_record(std::string_view bytes) {
  auto head = decode_head(bytes);
  if (!head)
    return std::nullopt;
  entry e;
  e.version = head->version;
  e.expires_at_ms = head->expires_at;
  e.value.assign(bytes.substr(record_header));
  return e;
}

std::optional<record_head> decode_head(std::string_view bytes) {
  if (bytes.size() < record_header || bytes[0] != record_format)
    return std::nullopt;
  // Every version this store writes is 1 or more (0 is "no value" to every
  // reader above): a record at 0 was put there by something else, and read
  // as a value it would be taken for an absent key by some paths and
  // served, undecoded, by others.
  auto version = get_le64(bytes.substr(1));
  if (version == 0)
    return std::nullopt;
  return record_head{version,
                     static_cast<unix_ms>(get_le64(bytes.substr(9))),
                     bytes.size() - record_header};
}

std::optional<unix_ms> record_expiry(std::string_view bytes) {
  auto head = decode_head(bytes);
  if (!head)
    return std::nullopt;
  return head->expires_at;
}

std::string expiry_key(unix_ms at, std::string_view key) {
  std::string out;
  out.reserve(9 + key.size());
  out.push_back(expiry_tag);
  put_be64(out, static_cast<uint64_t>(at));
  out.append(key);
  return out;
}

std::string expiry_bound(unix_ms now) {
  std::string out;
  out.push_back(expiry_tag);
  put_be64(out, static_cast<uint64_t>(now) + 1);
  return out;
}

std::optional<std::pair<unix_ms, std::string_view>>
parse_expiry_key(std::string_view index_key) {
  if (index_key.size() < 10 || index_key[0] != expiry_tag)
    return std::nullopt;
  return std::make_pair(static_cast<unix_ms>(get_be64(index_key.substr(1))),
                        index_key.substr(9));
}

std::string encode_totals(const shard_totals& t) {
  std::string out;
  out.reserve(totals_size);
  put_le64(out, t.keys);
  put_le64(out, t.bytes);
  put_le64(out, t.last_version);
  return out;
}

std::optional<shard_totals> decode_totals(std::string_view bytes) {
  if (bytes.size() != totals_size)
    return std::nullopt;
  return shard_totals{get_le64(bytes), get_le64(bytes.substr(8)),
                      get_le64(bytes.substr(16))};
}

} // namespace solver_state::rocks
