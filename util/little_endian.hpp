#pragma once

// Little-endian integers in byte strings: the on-disk formats (the file
// backend's logs, value files and key index, the query indexes' snapshot)
// read the same on every machine.

#include <cstdint>
#include <string>

namespace solver_state {

inline void put_u16(std::string& out, uint16_t x) {
  out += static_cast<char>(x & 0xFF);
  out += static_cast<char>(x >> 8);
}

inline void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((x >> (8 * i)) & 0xFF);
}

inline void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((x >> (8 * i)) & 0xFF);
}

inline uint16_t get_u16(const char* p) {
  return static_cast<uint16_t>(static_cast<unsigned char>(p[0])
                               | static_cast<unsigned char>(p[1]) << 8);
}

inline uint32_t get_u32(const char* p) {
  uint32_t x = 0;
  for (int i = 3; i >= 0; --i)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

inline uint64_t get_u64(const char* p) {
  uint64_t x = 0;
  for (int i = 7; i >= 0; --i)
    x = (x << 8) | static_cast<unsigned char>(p[i]);
  return x;
}

} // namespace solver_state
