// parse_json_exact (util/exact_json): numbers with a fraction or an
// exponent read as the nearest double to their text, where Boost.JSON's
// own parse rounds about one in ten of them to a neighbour; everything
// else (structure, strings, integers, errors, limits) as Boost.JSON reads
// it.

#include <catch2/catch.hpp>

#include <charconv>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "util/exact_json.hpp"

using namespace solver_state;
namespace json = boost::json;

namespace {

json::value exact(std::string_view text, json::error_code& ec,
                  const json::parse_options& opt = {}) {
  return parse_json_exact(text, ec, {}, opt);
}

json::value exact(std::string_view text) {
  json::error_code ec;
  auto v = exact(text, ec);
  INFO(text << ": " << ec.message());
  REQUIRE_FALSE(ec);
  return v;
}

double nearest(const std::string& text) {
  double out = 0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return out;
}

} // namespace

TEST_CASE("the shortest text of any double reads back as that double") {
  std::mt19937_64 rng{GENERATE(1u, 2u)};
  int boost_differs = 0;
  for (int i = 0; i < 20'000; ++i) {
    // Any finite double: random bits, exponents from tiny to huge.
    double x = std::ldexp(static_cast<double>(rng() >> 11),
                          static_cast<int>(rng() % 700) - 400);
    if (rng() % 2)
      x = -x;
    char buf[32];
    std::string text{buf, std::to_chars(buf, buf + sizeof buf, x).ptr};
    if (text.find_first_of(".e") == std::string::npos)
      text += ".0"; // an integer's text would read as an integer
    auto v = exact(text);
    INFO(text);
    REQUIRE(v.is_double());
    REQUIRE(v.get_double() == x);
    boost_differs += json::parse(text).as_double() != x;
  }
  // The control: Boost.JSON's own parse misses some of them.
  CHECK(boost_differs > 100);
}

TEST_CASE("numbers: integers as Boost.JSON reads them, the rest nearest") {
  CHECK(exact("42").as_int64() == 42);
  CHECK(exact("-9223372036854775808").as_int64() == INT64_MIN);
  CHECK(exact("18446744073709551615").as_uint64() == UINT64_MAX);
  // Past 64 bits: a double, the nearest.
  CHECK(exact("123456789012345678901234567890").as_double()
        == nearest("123456789012345678901234567890"));
  CHECK(exact("123.45678901234567").as_double() == 123.45678901234567);
  CHECK(exact("6.02214076e23").as_double() == 6.02214076e23);
  CHECK(exact("1E-30").as_double() == 1e-30);
  auto zero = exact("-0.0").as_double();
  CHECK(zero == 0.0);
  CHECK(std::signbit(zero));
  // Past a double's range: what Boost.JSON answers, not an error.
  CHECK(exact("1e400").as_double() == json::parse("1e400").as_double());
  CHECK(exact("1e-400").as_double() == json::parse("1e-400").as_double());
}

TEST_CASE("structure, strings and keys as Boost.JSON reads them") {
  std::vector<std::string> texts{
    R"({"a":[1,2.5,"x",true,false,null,{}],"b":{"c":"\u00e9\n\"q\""}})",
    R"([])",
    R"("only a string")",
    R"({"k":1,"k":2})",
    R"({"a\/b":{"~":[[[]]]},"long":")" + std::string(5000, 'z') + "\"}",
    " \t{ \"spaced\" : [ 1 , 2 ] }\n"};
  for (auto& text : texts) {
    INFO(text);
    CHECK(exact(text) == json::parse(text));
  }
}

TEST_CASE("what is not JSON is an error, as Boost.JSON says") {
  std::vector<std::string> texts{"",   "{",  "[1,]", "{\"a\":}", "1 2",
                                 "nul", "\"open", "{} x", "01", "1.",
                                 ".5", "+1", "[1e]", "NaN"};
  for (auto& text : texts) {
    json::error_code ours, theirs;
    auto v = exact(text, ours);
    json::parse(text, theirs);
    INFO("'" << text << "': " << theirs.message());
    CHECK(bool(ours));
    CHECK(ours == theirs);
    CHECK(v.is_null());
  }
}

TEST_CASE("the depth limit of the options holds") {
  auto nested = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  json::error_code ec;
  exact(nested(32), ec);
  CHECK_FALSE(ec);
  exact(nested(33), ec);
  CHECK(ec == json::error::too_deep);
  json::parse_options deep;
  deep.max_depth = 1024;
  exact(nested(1000), ec, deep);
  CHECK_FALSE(ec);
}
