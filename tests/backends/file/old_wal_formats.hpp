#pragma once

// The log formats older binaries wrote (versions 1 and 2), spelled out byte
// by byte from their format comments rather than through the current
// encoder, so the upgrade tests replay what an old binary really left.
//   version 1: "SSWAL1\n\0" | records with CRCs seeded 0
//   version 2: "SSWAL2\n\0" | epoch u64 | crc32c u32 of the 16 bytes before |
//              4 zero bytes; records with CRCs seeded with crc32c(epoch u64)
//   records:   crc32c u32 | length u32 | op u8 | version u64 |
//              expires_at_ms u64 | key_length u32 | key | value

#include <string>
#include <string_view>

#include "backends/file/value.hpp"
#include "backends/file/wal.hpp"
#include "util/crc32c.hpp"

namespace solver_state::testing {

/// The CRC seed of a version 2 log of `epoch` (0 for version 1).
inline uint32_t old_wal_seed(uint64_t epoch) {
  if (epoch == 0)
    return 0;
  std::string bytes;
  put_u64(bytes, epoch);
  return crc32c(bytes);
}

inline std::string old_wal_header_v1() {
  return std::string("SSWAL1\n\0", 8);
}

inline std::string old_wal_header_v2(uint64_t epoch) {
  std::string out("SSWAL2\n\0", 8);
  put_u64(out, epoch);
  put_u32(out, crc32c(out));
  put_u32(out, 0);
  return out;
}

/// Appends a version 1 (epoch 0) or version 2 record to `buf`.
inline void append_old_wal_record(std::string& buf, uint64_t epoch, wal_op op,
                                  std::string_view key,
                                  std::string_view value, version_t version) {
  std::string body;
  body += static_cast<char>(op);
  put_u64(body, version);
  put_u64(body, 0); // expires_at_ms
  put_u32(body, static_cast<uint32_t>(key.size()));
  body.append(key);
  body.append(value);
  std::string len;
  put_u32(len, static_cast<uint32_t>(body.size()));
  auto crc = crc32c(body, crc32c(len, old_wal_seed(epoch)));
  put_u32(buf, crc);
  buf += len;
  buf += body;
}

} // namespace solver_state::testing
