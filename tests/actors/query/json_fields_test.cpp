// The fields an index takes from a value (actors/query/json_fields): what
// each kind of JSON gives, and, over random documents and pointers (also
// broken documents), the same answers as a Boost.JSON DOM with its own
// pointer lookup (its numbers read exactly, as a query's are): the reading
// the indexes had before simdjson, which every stored value and snapshot
// was indexed by.

#include <catch2/catch.hpp>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "actors/query/json_fields.hpp"
#include "util/exact_json.hpp"

using namespace solver_state;

namespace {

std::optional<index_value> field(std::string_view json, std::string_view path) {
  return extract_fields(json, {path}).at(0);
}

/// What a Boost.JSON DOM finds at `path` (numbers read as a query's are).
std::optional<index_value> dom_field(std::string_view json,
                                     std::string_view path) {
  boost::json::error_code ec;
  auto doc = parse_json_exact(json, ec);
  if (ec || !doc.is_object())
    return std::nullopt;
  auto found = doc.find_pointer(boost::json::string_view{path.data(), path.size()}, ec);
  if (!found)
    return std::nullopt;
  if (found->is_string())
    return index_value::of(std::string{found->get_string()});
  if (found->is_int64())
    return index_value::of(static_cast<long double>(found->get_int64()));
  if (found->is_uint64())
    return index_value::of(static_cast<long double>(found->get_uint64()));
  if (found->is_double() && std::isfinite(found->get_double()))
    return index_value::of(static_cast<long double>(found->get_double()));
  return std::nullopt;
}

/// Random JSON with the shapes that make a reader differ: members named
/// twice, names with '/' and '~', escapes, nesting, numbers of every kind
/// (also past 64 bits), and the pointers that reach into it.
struct document_maker {
  std::mt19937_64 rng;
  std::vector<std::string> pointers; // to members that exist, or nearly

  size_t pick(size_t n) { return rng() % n; }

  std::string name() {
    static const char* names[] = {"a", "b", "status", "a/b", "m~n", "é", "x\"y"};
    return names[pick(7)];
  }
  /// The name as a JSON string and as a pointer token.
  static std::string quoted(const std::string& n) {
    std::string out = "\"";
    for (char c : n)
      out += c == '"' ? std::string{"\\\""} : std::string(1, c);
    return out + "\"";
  }
  static std::string token(const std::string& n) {
    std::string out;
    for (char c : n)
      out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    return out;
  }

  std::string number() {
    switch (pick(9)) {
      case 0: return std::to_string(static_cast<int64_t>(rng()));
      case 1: return std::to_string(rng()); // often past int64
      case 2: return "123456789012345678901234567890"; // past 64 bits
      case 3: return "-0.0";
      case 4: return "1.5e3";
      case 5: return "1e400"; // past double
      case 6: return std::to_string(pick(1000)) + "." + std::to_string(pick(1000));
      case 7: { // the shortest text of a double: 17 digits, exponents
        char buf[32];
        double x = std::ldexp(static_cast<double>(rng() >> 11),
                              static_cast<int>(pick(200)) - 150);
        return {buf, std::to_chars(buf, buf + sizeof buf, x).ptr};
      }
      default: return std::to_string(pick(10));
    }
  }
  std::string string() {
    static const char* strings[] = {"\"pending\"", "\"\"", "\"a\\\"b\"",
                                    "\"\\u00e9t\\u00e9\"", "\"tab\\there\"",
                                    "\"0x12ab\""};
    return strings[pick(6)];
  }

  std::string value(int depth, const std::string& at) {
    auto kind = depth > 4 ? pick(4) : pick(7);
    switch (kind) {
      case 0: return number();
      case 1: return string();
      case 2: return pick(2) ? "true" : "null";
      case 3: return string();
      case 4: case 5: return object(depth + 1, at);
      default: {
        std::string out = "[";
        auto n = pick(4);
        for (size_t i = 0; i < n; ++i) {
          if (i)
            out += ",";
          out += value(depth + 1, at + "/" + std::to_string(i));
        }
        pointers.push_back(at + "/" + std::to_string(n)); // one past the end
        pointers.push_back(at + "/0" + std::to_string(pick(3))); // leading 0
        return out + "]";
      }
    }
  }

  std::string object(int depth, const std::string& at) {
    std::string out = "{";
    auto n = pick(5);
    for (size_t i = 0; i < n; ++i) {
      auto member = name();
      auto path = at + "/" + token(member);
      pointers.push_back(path);
      out += (i ? "," : "") + quoted(member) + ":" + value(depth, path);
    }
    return out + "}";
  }
};

} // namespace

TEST_CASE("fields are the string or number at a JSON pointer of an object") {
  CHECK(field(R"({"status":"pending"})", "/status")
        == index_value::of(std::string{"pending"}));
  CHECK(field(R"({"a":{"b":7}})", "/a/b") == index_value::of(7.0L));
  CHECK(field(R"({"list":[5,6]})", "/list/1") == index_value::of(6.0L));
  CHECK(field(R"({"a/b":1,"m~n":2})", "/a~1b") == index_value::of(1.0L));
  CHECK(field(R"({"a/b":1,"m~n":2})", "/m~0n") == index_value::of(2.0L));
  CHECK(field(R"({"d":1.5e3})", "/d") == index_value::of(1500.0L));
  // Every int64 and uint64 exactly (amounts, timestamps in ns).
  CHECK(field(R"({"n":18446744073709551615})", "/n")->number
        == 18446744073709551615.0L);
  CHECK(field(R"({"n":9007199254740993})", "/n")->number
        != field(R"({"n":9007199254740992})", "/n")->number);
  CHECK(field(R"({"n":-5})", "/n") == index_value::of(-5.0L));
  CHECK(field("  {\"s\":\"\\u00e9\"}\n", "/s")
        == index_value::of(std::string{"\xc3\xa9"}));
  // Not a string or a number, missing, not an object, not JSON: nothing.
  for (auto* value : {R"({"status":true})", R"({"status":null})",
                      R"({"status":{"x":1}})", R"({"status":[1]})",
                      R"({"other":1})", R"(["status"])", "\"status\"", "42",
                      "not json", R"({"status":"x")", "",
                      R"({"status":"x",})", R"({"status":"x"} trailing)",
                      "{\"status\":\"\xff\"}"})
    CHECK_FALSE(field(value, "/status"));
}

TEST_CASE("a member named twice gives its last value, as a DOM keeps it") {
  CHECK(field(R"({"s":"first","s":"last"})", "/s")
        == index_value::of(std::string{"last"}));
  CHECK(field(R"({"o":{"d":1},"o":{"d":2}})", "/o/d") == index_value::of(2.0L));
  // The last `o` has no `d`: nothing, not the first one's.
  CHECK_FALSE(field(R"({"o":{"d":1},"o":{"e":2}})", "/o/d"));
}

TEST_CASE("numbers past 64 bits read as the nearest double, and do not hide "
          "the other fields") {
  CHECK(field(R"({"n":123456789012345678901234567890})", "/n")
        == index_value::of(static_cast<long double>(1.2345678901234568e29)));
  CHECK(field(R"({"big":123456789012345678901234567890,"s":"x"})", "/s")
        == index_value::of(std::string{"x"}));
  CHECK(field(R"({"s":"x","inf":1e400})", "/s")
        == index_value::of(std::string{"x"}));
}

TEST_CASE("a number past the double range is not indexed (no query can name "
          "it, and a cluster could not carry it)") {
  CHECK_FALSE(field(R"({"n":1e400})", "/n"));
  CHECK_FALSE(field(R"({"n":-1e400})", "/n"));
  CHECK(field(R"({"n":1e308})", "/n")
        == index_value::of(static_cast<long double>(1e308)));
  // An exponent past what the JSON readers count (INT_MAX) is not indexed
  // either, and hides no other field; one written with leading zeros is
  // an exponent like any other; strings that look like one are left alone.
  auto doc = std::string{R"({"s":"pending","n":1e9999999999,)"}
             + R"("z":-2.5E-99999999999,"k":"1e99999999999",)"
             + R"("lead":1e0000000000002,"esc":"a\"1e12345678901"})";
  CHECK(field(doc, "/s") == index_value::of(std::string{"pending"}));
  CHECK_FALSE(field(doc, "/n"));
  CHECK(field(doc, "/z") == index_value::of(0.0L));
  CHECK(field(doc, "/k") == index_value::of(std::string{"1e99999999999"}));
  CHECK(field(doc, "/lead") == index_value::of(100.0L));
  CHECK(field(doc, "/esc")
        == index_value::of(std::string{"a\"1e12345678901"}));
}

TEST_CASE("a decimal reads as the nearest double to its text, whichever "
          "parser reads the document") {
  // Boost.JSON 1.81 rounds these to a neighbour; simdjson and the compiler
  // do not. A document with a number past 64 bits goes to Boost.JSON.
  for (auto text : {"123.45678901234567", "1664336.7447514997",
                    "247361.78675413286", "6.02214076e23", "1e-30"}) {
    double nearest = 0;
    std::from_chars(text, text + std::strlen(text), nearest);
    auto want = index_value::of(static_cast<long double>(nearest));
    INFO(text);
    CHECK(field(std::string{R"({"d":)"} + text + "}", "/d") == want);
    CHECK(field(std::string{R"({"big":123456789012345678901234567890,"d":)"}
                  + text + "}",
                "/d")
          == want);
  }
}

TEST_CASE("nesting reads the same to 1,024 levels, whichever parser reads "
          "the document") {
  auto nested = [](int levels, const std::string& extra) {
    std::string doc = R"({"s":"x")" + extra + R"(,"deep":)";
    for (int i = 0; i < levels; ++i)
      doc += "[";
    for (int i = 0; i < levels; ++i)
      doc += "]";
    return doc + "}";
  };
  auto big = std::string{R"(,"big":123456789012345678901234567890)"};
  auto x = index_value::of(std::string{"x"});
  CHECK(field(nested(100, ""), "/s") == x);
  CHECK(field(nested(100, big), "/s") == x); // Boost.JSON reads this one
  CHECK_FALSE(field(nested(1100, ""), "/s")); // past both: not JSON here
  CHECK_FALSE(field(nested(1100, big), "/s"));
}

TEST_CASE("array indexes and escapes as RFC 6901 writes them") {
  auto doc = R"({"l":[10,11,12],"~":{"/":5}})";
  CHECK(field(doc, "/l/0") == index_value::of(10.0L));
  CHECK(field(doc, "/l/2") == index_value::of(12.0L));
  CHECK_FALSE(field(doc, "/l/3"));
  CHECK_FALSE(field(doc, "/l/01"));
  CHECK_FALSE(field(doc, "/l/-"));
  CHECK_FALSE(field(doc, "/l/x"));
  CHECK(field(doc, "/~0/~1") == index_value::of(5.0L));
  CHECK_FALSE(field(doc, "/~2"));
  CHECK_FALSE(field(doc, "/~"));
}

TEST_CASE("an empty path asks for nothing and each path finds its own field") {
  auto got = extract_fields(R"({"a":1,"b":"x"})", {"/b", "", "/a", "/c"});
  REQUIRE(got.size() == 4);
  CHECK(got[0] == index_value::of(std::string{"x"}));
  CHECK_FALSE(got[1]);
  CHECK(got[2] == index_value::of(1.0L));
  CHECK_FALSE(got[3]);
}

TEST_CASE("random documents and pointers: the same fields as a Boost.JSON "
          "DOM") {
  document_maker maker{std::mt19937_64{GENERATE(1u, 2u, 3u)}, {}};
  size_t compared = 0, found = 0, broken = 0;
  for (int d = 0; d < 2'000; ++d) {
    maker.pointers.clear();
    auto doc = maker.object(0, "");
    // Some broken: cut short, or one byte changed.
    if (d % 5 == 4 && !doc.empty()) {
      if (maker.pick(2))
        doc.resize(maker.pick(doc.size()));
      else
        doc[maker.pick(doc.size())] = "{}[],:\"x0"[maker.pick(9)];
      ++broken;
    }
    maker.pointers.push_back("/nothing");
    for (auto& p : maker.pointers) {
      auto ours = field(doc, p);
      auto theirs = dom_field(doc, p);
      INFO(doc << " at " << p);
      REQUIRE(ours.has_value() == theirs.has_value());
      if (ours) {
        REQUIRE(ours->is_number == theirs->is_number);
        if (ours->is_number && std::isnan(static_cast<double>(ours->number)))
          continue;
        REQUIRE(*ours == *theirs);
        ++found;
      }
      ++compared;
    }
  }
  CHECK(broken == 400);
  CHECK(compared > 10'000);
  CHECK(found > 2'000); // the walk reached fields, not only misses
}

TEST_CASE("a value past the shared parser's size reads the same") {
  // 200 KiB: a parser of its own, freed after (json_fields.cpp).
  std::string doc = R"({"pad":")" + std::string(200 * 1024, 'x')
                    + R"(","list":[)";
  for (int i = 0; i < 1000; ++i)
    doc += std::to_string(i) + ",";
  doc += R"("end"],"status":"pending"})";
  auto got = extract_fields(doc, {"/status", "/list/999", "/list/1000"});
  CHECK(got[0] == index_value::of(std::string{"pending"}));
  CHECK(got[1] == index_value::of(999.0L));
  CHECK(got[2] == index_value::of(std::string{"end"}));
  // And a small one after it, through the shared parser again.
  CHECK(field(R"({"status":"filled"})", "/status")
        == index_value::of(std::string{"filled"}));
}

TEST_CASE("what the field rules yield for tricky documents is pinned to "
          "field_rules_version") {
  // If this fails, extract_fields now reads some value otherwise: bump
  // field_rules_version in actors/query/json_fields.hpp (index snapshots
  // of the old rules are then rebuilt from the values, not trusted), say
  // why there, and pin the new reading here.
  std::vector<std::string> documents = {
    R"({"n":123.45678901234567})",
    R"({"n":1664336.7447514997})",
    R"({"n":6.02214076e23})",
    R"({"n":1e-30})",
    R"({"n":-0})",
    R"({"n":-0.0})",
    R"({"n":1e308})",
    R"({"n":1e400})",
    R"({"n":-1e400})",
    R"({"n":1e9999999999,"s":"x"})",
    R"({"n":18446744073709551615})",
    R"({"n":18446744073709551616})",
    R"({"n":-9223372036854775808})",
    R"({"n":-9223372036854775809})",
    R"({"n":123456789012345678901234567890,"s":"y"})",
    R"({"n":1.0,"s":"\u00e9"})",
    R"({"s":"\ud83d\ude80"})",
    R"({"s":"\ud800"})",
    R"({"s":"a\u0000b"})",
    R"({"s":"first","s":"second"})",
    R"({"n":[1,2],"s":{"x":1}})",
    R"(["not","an","object"])",
    R"({"n":1,)",
    R"({"a/b":{"c~d":7}})",
    R"({"n":true,"s":null})",
    R"({"s":")" + std::string(4096, 'a') + "\"}",
    R"({"s":")" + std::string(4097, 'a') + "\"}",
    R"({"big":123456789012345678901234567890,"s":")" + std::string(4097, 'a')
      + "\"}",
  };
  std::string reading;
  for (auto& doc : documents) {
    for (auto& f : extract_fields(doc, {"/n", "/s", "/a~1b/c~0d"})) {
      if (!f) {
        reading += "-;";
      } else if (f->is_number) {
        char text[64];
        std::snprintf(text, sizeof text, "%.21Lg;", f->number);
        reading += text;
      } else if (f->text.size() > 64) {
        reading += "<" + std::to_string(f->text.size()) + " bytes>;";
      } else {
        reading += '"';
        for (unsigned char c : f->text) {
          if (c >= 0x20 && c < 0x7f) {
            reading += static_cast<char>(c);
          } else {
            char hex[8];
            std::snprintf(hex, sizeof hex, "\\x%02x", c);
            reading += hex;
          }
        }
        reading += "\";";
      }
    }
    reading += "\n";
  }
  CHECK(field_rules_version == 3);
  CHECK(reading == R"(123.456789012345666379;-;-;
1664336.74475149973296;-;-;
6.02214075999999987024e+23;-;-;
1.00000000000000008334e-30;-;-;
0;-;-;
-0;-;-;
1.00000000000000001098e+308;-;-;
-;-;-;
-;-;-;
-;"x";-;
18446744073709551615;-;-;
18446744073709551616;-;-;
-9223372036854775808;-;-;
-9223372036854775808;-;-;
1.23456789012345677878e+29;"y";-;
1;"\xc3\xa9";-;
-;"\xf0\x9f\x9a\x80";-;
-;-;-;
-;"a\x00b";-;
-;"second";-;
-;-;-;
-;-;-;
-;-;-;
-;-;7;
-;-;-;
-;<4096 bytes>;-;
-;-;-;
-;-;-;
)");
}
