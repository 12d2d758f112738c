// The handoff marker: what a finished handoff records, what a start reads.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "actors/cluster/handoff_marker.hpp"
#include "actors/cluster/membership.hpp"

using namespace solver_state;
using names = std::vector<std::string>;

namespace {

struct marker_dir {
  std::string dir;
  std::string path;
  marker_dir() {
    char tmpl[] = "/tmp/handoff-marker-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    path = dir + "/~cluster-handoff";
  }
  ~marker_dir() { std::filesystem::remove_all(dir); }
};

} // namespace

TEST_CASE("handoff marker: done under the list it records, with its drained "
          "nodes") {
  marker_dir d;
  membership m{{"b:1", "a:1"}, "a:1", {"c:1"}};
  CHECK_FALSE(marker_says_done(d.path, m));
  write_marker(d.path, m);
  CHECK(marker_says_done(d.path, m));
  // The same members in another order, and c drained then dropped from
  // node.leaving: still done.
  CHECK(marker_says_done(d.path, membership{{"a:1", "b:1"}, "a:1"}));
  // Another list, or a leaving node not drained: not done.
  CHECK_FALSE(marker_says_done(d.path, membership{{"a:1"}, "a:1"}));
  CHECK_FALSE(
    marker_says_done(d.path, membership{{"a:1", "b:1"}, "a:1", {"d:1"}}));
  remove_marker(d.path);
  CHECK_FALSE(std::filesystem::exists(d.path));
}

TEST_CASE("handoff marker: a member dropped without being drained is named") {
  marker_dir d;
  write_marker(d.path, membership{{"a:1", "b:1", "c:1"}, "a:1"});
  CHECK(members_dropped_undrained(d.path, {"a:1", "b:1"}, {}) == names{"c:1"});
  CHECK(members_dropped_undrained(d.path, {"a:1", "b:1"}, {"c:1"}).empty());
  CHECK(members_dropped_undrained(d.path, {"a:1", "b:1", "c:1", "d:1"}, {})
          .empty());
  CHECK(members_dropped_undrained(d.path, {"a:1"}, {})
        == names{"b:1", "c:1"});
  // No marker, or one of the builds that recorded only the list's hash:
  // nothing is known, nothing refused.
  CHECK(members_dropped_undrained(d.dir + "/none", {"a:1"}, {}).empty());
  std::ofstream{d.path} << "00000000000000ab\ndrained c:1\n";
  CHECK(members_dropped_undrained(d.path, {"a:1"}, {}).empty());
}
