// Encoding and checksum-verified decoding of a value file ("SSV1" header,
// CRC32C, version, expiry, length).

#include "backends/file/value.hpp"

#include <cstring>

#include "util/crc32c.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

constexpr char magic[4] = {'S', 'S', 'V', '1'};

} // namespace

std::string encode_value_file(const entry& e) {
  std::string out;
  out.reserve(value_header_bytes + e.value.size());
  out.append(magic, 4);
  put_u32(out, 0); // CRC, filled in below
  put_u64(out, e.version);
  put_u64(out, static_cast<uint64_t>(e.expires_at_ms));
  // At most max_file_value_bytes: file_store::set() refuses more.
  put_u32(out, static_cast<uint32_t>(e.value.size()));
  out += e.value;
  auto crc = crc32c(out.data() + 8, out.size() - 8);
  for (int i = 0; i < 4; ++i)
    out[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
  return out;
}

caf::expected<entry> decode_value_file(std::string_view bytes,
                                       const std::string& path) {
  auto corrupt = [&](const char* why) {
    return make_state_error(state_errc::backend_error,
                            "corrupt value file " + path + ": " + why);
  };
  if (bytes.size() < value_header_bytes)
    return corrupt("shorter than its header");
  if (std::memcmp(bytes.data(), magic, 4) != 0)
    return corrupt("bad magic");
  auto p = bytes.data();
  if (get_u32(p + 4) != crc32c(p + 8, bytes.size() - 8))
    return corrupt("checksum mismatch");
  entry e;
  e.version = get_u64(p + 8);
  e.expires_at_ms = static_cast<unix_ms>(get_u64(p + 16));
  auto length = get_u32(p + 24);
  if (length != bytes.size() - value_header_bytes)
    return corrupt("length mismatch");
  if (e.version == 0)
    return corrupt("version 0");
  e.value.assign(p + value_header_bytes, length);
  return e;
}

} // namespace solver_state
