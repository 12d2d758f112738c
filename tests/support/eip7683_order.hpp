#pragma once

// A realistic solver value for compression tests and benchmarks: an
// EIP-7683 cross-chain order as JSON, about 1.5 KiB, about half of it
// random hex (ids, addresses, hashes, the signature) that no compressor
// shrinks below 4 bits a digit; and a zstd dictionary trained on such
// orders.

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <zdict.h>

#include "backends/codec/hex_runs.hpp"

namespace solver_state::testing {

/// An EIP-7683 cross-chain order as a solver stores it, about 1.5 KiB of
/// JSON: hex ids and addresses, decimal amounts, and each fill
/// instruction's originData ABI-encoded the way settlers read it (32-byte
/// words: addresses and small numbers zero-padded, hashes random).
inline std::string eip7683_order(std::mt19937_64& rng) {
  auto hex = [&](size_t n) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out.push_back(digits[rng() % 16]);
    return out;
  };
  auto address_word = [&] { return std::string(24, '0') + hex(40); };
  auto number_word = [&](uint64_t v) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
    return std::string(48, '0') + buf;
  };
  auto origin_data = [&] {
    // (bytes32 orderId, address token, uint256 amount, address recipient,
    //  uint256 chainId, address settler, uint32 deadline, bytes32 salt)
    return "0x" + hex(64) + address_word() + number_word(1'000'000'000'000'000'000ULL)
           + address_word() + number_word(10) + address_word()
           + number_word(1'767'229'200) + hex(64);
  };
  std::string o = R"({"orderId":"0x)" + hex(64) + R"(","user":"0x)" + hex(40)
                  + R"(","originChainId":1,"openDeadline":1767225600,)"
                  + R"("fillDeadline":1767229200,"orderDataType":"0x)" + hex(64)
                  + R"(","status":"pending","maxSpent":[)";
  o += R"({"token":"0x)" + hex(40) + R"(","amount":"1000000000000000000",)"
       + R"("recipient":"0x)" + hex(40) + R"(","chainId":10}])";
  o += R"(,"minReceived":[{"token":"0x)" + hex(40)
       + R"(","amount":"999000000000000000","recipient":"0x)" + hex(40)
       + R"(","chainId":1}],"fillInstructions":[)";
  o += R"({"destinationChainId":10,"destinationSettler":"0x)" + hex(40)
       + R"(","originData":")" + origin_data() + R"("}])";
  return o + R"(,"signature":"0x)" + hex(130) + R"("})";
}

/// A zstd dictionary of at most 16 KiB trained on `count` orders drawn
/// from `seed`, or "" when zstd cannot train one.
inline std::string order_dictionary(unsigned seed, size_t count = 2'000) {
  std::mt19937_64 rng{seed};
  std::string samples;
  std::vector<size_t> sizes;
  for (size_t i = 0; i < count; ++i) {
    // Trained on what the codec hands zstd: hex runs packed.
    auto order = pack_hex_runs(eip7683_order(rng));
    samples += order;
    sizes.push_back(order.size());
  }
  std::string dict(16'384, '\0');
  auto n = ZDICT_trainFromBuffer(dict.data(), dict.size(), samples.data(),
                                 sizes.data(),
                                 static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(n))
    return {};
  dict.resize(n);
  return dict;
}

} // namespace solver_state::testing
