// Tests of the file backend's key <-> path mapping: encoding, long segments,
// safe components for awkward keys, round trips, non-canonical names.

#include <catch2/catch.hpp>

#include <set>

#include "backends/file/layout.hpp"

using namespace solver_state;

namespace {

bool safe_component(const std::string& c) {
  return !c.empty() && c != "." && c != ".." && c.find('/') == std::string::npos
         && c.size() <= 255 && c.find('\0') == std::string::npos
         && c.front() != '~';
}

} // namespace

TEST_CASE("segments become directories and the last one a .val file") {
  CHECK(key_to_path("order:eip7683:42")
        == std::vector<std::string>{"order", "eip7683", "42.val"});
  CHECK(key_to_path("order:a") == std::vector<std::string>{"order", "a.val"});
  CHECK(key_to_path("order:a:b")
        == std::vector<std::string>{"order", "a", "b.val"});
}

TEST_CASE("dots, slashes, percent and empty segments are encoded") {
  CHECK(key_to_path("..:.:x")
        == std::vector<std::string>{"%2E%2E", "%2E", "x.val"});
  CHECK(key_to_path("a::b") == std::vector<std::string>{"a", "%", "b.val"});
  CHECK(key_to_path(":") == std::vector<std::string>{"%", "%.val"});
  CHECK(key_to_path("a/b%c") == std::vector<std::string>{"a%2Fb%25c.val"});
  CHECK(key_to_path("~x") == std::vector<std::string>{"%7Ex.val"});
  CHECK(key_to_path("x.val:y")
        == std::vector<std::string>{"x%2Eval", "y.val"});
  CHECK(key_to_path("..") == std::vector<std::string>{"%2E%2E.val"});
}

TEST_CASE("long segments are split below the filesystem's name limit") {
  std::string key = "state:" + std::string(1000, '%');
  auto path = key_to_path(key);
  REQUIRE(path.size() > 3);
  for (auto& c : path)
    CHECK(safe_component(c));
  CHECK(path_to_key(path) == key);
}

TEST_CASE("every awkward key maps to safe components and back") {
  std::vector<std::string> keys = {
    "order:a", "order:a:b", "a::b", "::", ":", "..", ".:..", "a/../../etc",
    "%", "%2E", "x.val", "x.val:y", "x:y.val", "\xe2\x82\xac:\xf0\x9f\x9a\x80",
    "a b", "a+b", "a~tmp", "-_.", std::string(1024, 'z'),
    std::string(300, ':'), "state:" + std::string(600, '\xff')};
  for (auto& key : keys) {
    INFO(key);
    auto path = key_to_path(key);
    for (auto& c : path)
      CHECK(safe_component(c));
    auto back = path_to_key(path);
    REQUIRE(back);
    CHECK(*back == key);
  }
  // Distinct keys, distinct paths (no leaf ever equals a directory).
  std::set<std::vector<std::string>> seen;
  for (auto& key : keys)
    CHECK(seen.insert(key_to_path(key)).second);
}

TEST_CASE("non-canonical names are not keys") {
  CHECK_FALSE(path_to_key({"order", "a"}));             // no .val
  CHECK_FALSE(path_to_key({"order", "%61.val"}));       // 'a' needs no escape
  CHECK_FALSE(path_to_key({"order", "a%2.val"}));       // broken escape
  CHECK_FALSE(path_to_key({"x.val", "y.val"}));         // dir must be x%2Eval
  CHECK_FALSE(path_to_key({"order", "a+.val"}));        // dangling piece
  CHECK(path_to_key({"order", "a.val"}) == std::string{"order:a"});
}

TEST_CASE("a long segment's last piece is never a dot or two, which would "
          "name another key's directory") {
  // "a"*200 + "..:b" once mapped to {"aaa...+", "..", "b.val"}: key b's
  // file, one level up; "a"*200 + ".:b" to the directory of "a"*200 + "b".
  std::vector<std::string> keys = {"b"};
  for (size_t n = 190; n <= 210; ++n)
    for (std::string tail : {".", "..", "...", "~..", "a."}) {
      auto head = std::string(n, 'a') + tail;
      keys.push_back(head);
      keys.push_back(head + ":b");
      keys.push_back(std::string(n, 'a') + "b");
      keys.push_back(std::string(n, 'a') + "b:b");
    }
  std::set<std::string> distinct(keys.begin(), keys.end());
  std::set<std::vector<std::string>> paths;
  for (auto& key : distinct) {
    INFO(key);
    auto path = key_to_path(key);
    for (auto& c : path)
      CHECK(safe_component(c));
    CHECK(path_to_key(path) == key);
    CHECK(paths.insert(path).second);
  }
  // A leaf's pieces are split as they always were: its value file keeps its
  // path across the upgrade ("..val" was never a dot name).
  CHECK(key_to_path(std::string(200, 'a') + "..")
        == std::vector<std::string>{std::string(200, 'a') + "+", "...val"});
  CHECK(key_to_path(std::string(199, 'a') + "..")
        == std::vector<std::string>{std::string(199, 'a') + ".+", "..val"});
  // A directory's last piece moves back off the dots.
  CHECK(key_to_path(std::string(200, 'a') + "..:b")
        == std::vector<std::string>{std::string(199, 'a') + "+", "a..",
                                    "b.val"});
}
