#pragma once

// CRC32C (Castagnoli), the checksum of log records and value-file headers.
// Uses the SSE4.2 instruction when the CPU has it.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace solver_state {

uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

inline uint32_t crc32c(std::string_view bytes, uint32_t crc = 0) {
  return crc32c(bytes.data(), bytes.size(), crc);
}

} // namespace solver_state
