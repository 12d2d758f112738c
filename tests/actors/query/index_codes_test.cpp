// The codes an index's entries are ordered by (actors/query/index_codes):
// a code's order never contradicts the values' order, and a complete code
// is equal exactly when the values are. Checked on every pair of a set of
// values chosen at the edges: signs, zeros, infinities, integers past
// 2^53, fractions, strings with zero bytes, at and past 14 bytes.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "actors/query/index_codes.hpp"
#include "actors/query/index_set.hpp"

using namespace solver_state;

namespace {

int sign(int x) {
  return (x > 0) - (x < 0);
}

std::vector<index_value> edge_values() {
  std::vector<index_value> out;
  auto inf = std::numeric_limits<long double>::infinity();
  for (long double x :
       {-inf, -1e300L, -18446744073709551615.0L, -9007199254740993.0L,
        -9007199254740992.0L, -2.5L, -1.0L, -0.5L, -1e-300L,
        -std::numeric_limits<long double>::denorm_min(), -0.0L, 0.0L,
        std::numeric_limits<long double>::denorm_min(), 1e-300L, 0.1L,
        static_cast<long double>(0.1), 0.5L, 1.0L, 2.5L, 1800000000.0L,
        9007199254740992.0L, 9007199254740993.0L,
        18446744073709551615.0L, 1e300L, inf})
    out.push_back(index_value::of(x));
  std::string zeros{"a\0\0b", 4};
  for (std::string s :
       {std::string{}, std::string{"\0", 1}, zeros, std::string{"a"},
        std::string{"a\0", 2}, std::string{"ab"}, std::string{"B"},
        std::string{"filled"}, std::string{"pending"},
        std::string{"\xff\xfe"}, std::string(13, 'x'), std::string(14, 'x'),
        std::string(15, 'x'), std::string(40, 'x'),
        std::string(14, 'x') + "a", std::string(14, 'x') + "b",
        std::string(14, 'x') + std::string{"\0", 1},
        std::string(13, 'x') + "y", std::string{"pending-settlement-on-chain-1"},
        std::string{"pending-settlement-on-chain-2"}})
    out.push_back(index_value::of(std::move(s)));
  return out;
}

} // namespace

TEST_CASE("value codes keep the order of the values, and complete codes "
          "tell equal values apart") {
  auto values = edge_values();
  // Random fractions and long strings besides the edges.
  std::mt19937_64 rng{42};
  for (int i = 0; i < 200; ++i) {
    auto n = static_cast<long double>(static_cast<int64_t>(rng() % 2001) - 1000)
             / 8;
    values.push_back(index_value::of(n));
    std::string s(rng() % 20, 'a');
    for (auto& c : s)
      c = static_cast<char>('a' + rng() % 3);
    values.push_back(index_value::of(std::move(s)));
  }
  for (auto& a : values)
    for (auto& b : values) {
      auto ca = value_code::of(a), cb = value_code::of(b);
      int by_value = sign(compare_values(a, b));
      int by_code = sign(compare(ca, cb));
      INFO((a.is_number ? std::to_string(static_cast<double>(a.number)) : a.text)
           << " vs "
           << (b.is_number ? std::to_string(static_cast<double>(b.number))
                           : b.text));
      if (by_code != 0)
        CHECK(by_code == by_value);
      if (ca.complete() && cb.complete())
        CHECK(by_code == by_value);
    }
  // Those a code cannot tell: strings past 14 bytes that share them.
  CHECK_FALSE(value_code::of(index_value::of(std::string(15, 'x'))).complete());
  CHECK(value_code::of(index_value::of(std::string(14, 'x'))).complete());
}

TEST_CASE("key heads order keys by their first 16 bytes past the prefix") {
  std::vector<std::string> keys = {"",         "0",        "0x1",
                                   "0x10",     "0x1\0",    "0x2",
                                   "abcdefghijklmnop",     "abcdefghijklmnoq",
                                   "abcdefghijklmnopq",    "\xff"};
  keys[4] = std::string{"0x1\0", 4};
  for (auto& a : keys)
    for (auto& b : keys) {
      int by_head = sign(compare(key_head::of(a), key_head::of(b)));
      if (by_head != 0)
        CHECK(by_head == sign(a.compare(b)));
    }
  CHECK(compare(key_head::of("abcdefghijklmnop"),
                key_head::of("abcdefghijklmnopq"))
        == 0); // the 17th byte is the key's to decide
}
