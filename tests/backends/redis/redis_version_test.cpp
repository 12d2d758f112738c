// The Redis backend's versions after its counter went back, as it does when
// Sentinel promotes a replica that never received the INCRBY of a block one
// client still draws from, or when an older snapshot is restored: no version
// is handed out twice for a key, so an ETag never matches another value.

#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "messages/protocol.hpp"
#include "tests/support/running_store.hpp"
#include "tests/support/redis_server.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

caf::expected<write_result> put(running_store& node, const std::string& key,
                                const std::string& value,
                                condition cond = condition::always()) {
  return node.ask<write_result>(put_atom_v,
                                set_request{key, value, 0, std::move(cond)});
}

} // namespace

TEST_CASE("redis: a counter set back to before another instance's block "
          "hands no version of that block out again") {
  redis_server server;
  auto url = server.url("ver:");
  running_store a{url, 1};
  auto lost = put(a, "state:v:1", "x");
  REQUIRE(lost);
  // The failover: the promoted replica saw neither the INCRBY of a's block
  // nor the write (acknowledged on the old master's word, then lost).
  REQUIRE(server.cli({"SET", "ver:version", std::to_string(lost->version - 1)})
          == 0);
  REQUIRE(server.cli({"DEL", "ver:v:state:v:1"}) == 0);
  // A failover takes seconds; a block lasts 4096 µs of the server's clock.
  std::this_thread::sleep_for(50ms);
  running_store b{url, 1};
  auto fresh = put(b, "state:v:1", "y");
  REQUIRE(fresh);
  CHECK(fresh->version != lost->version);

  // A client still holding the lost write's ETag must not overwrite "y".
  auto stale = put(a, "state:v:1", "z", condition::matches(lost->version));
  REQUIRE_FALSE(stale);
  CHECK(code_of(stale.error()) == state_errc::version_mismatch);
  auto now = b.ask<entry>(get_atom_v, std::string{"state:v:1"});
  REQUIRE(now);
  CHECK(now->value == "y");

  // a keeps drawing from its block, b from its own: never the same version.
  std::set<version_t> versions{lost->version, fresh->version};
  for (int i = 0; i < 200; ++i) {
    auto& node = i % 2 == 0 ? a : b;
    auto w = put(node, "state:v:" + std::to_string(i % 7), "v");
    REQUIRE(w);
    CHECK(versions.insert(w->version).second);
  }
}

TEST_CASE("redis: a counter removed altogether starts past every version "
          "handed out before") {
  redis_server server;
  auto url = server.url("ver:");
  running_store a{url, 1};
  auto before = put(a, "state:v:1", "x");
  REQUIRE(before);
  REQUIRE(server.cli({"DEL", "ver:version"}) == 0);
  std::this_thread::sleep_for(50ms);
  running_store b{url, 1};
  auto after = put(b, "state:v:2", "y");
  REQUIRE(after);
  CHECK(after->version > before->version);
}

// A value another client wrote under the store's prefix, not in its
// "<version>:<expires_at>:<bytes>" format: batch_get skipped it, so a
// value that get() refused read as absent in a batch.
TEST_CASE("redis: a value not in the store's format fails a batch as it "
          "fails a get, and skip_unreadable names it") {
  redis_server server;
  auto url = server.url("fmt:");
  REQUIRE(server.cli({"SET", "fmt:v:state:f:bad", "no colons here"}) == 0);
  {
    running_store node{url, 1};
    REQUIRE(put(node, "state:f:good", "g"));
    auto got = node.ask<entry>(get_atom_v, std::string{"state:f:bad"});
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == state_errc::backend_error);
    CHECK_THAT(message_of(got.error()), Catch::Contains("state:f:bad"));
    auto whole = node.ask<batch_reply>(
      batch_get_atom_v, batch_request{{"state:f:good", "state:f:bad"}, false});
    REQUIRE_FALSE(whole);
    CHECK(code_of(whole.error()) == state_errc::backend_error);
    CHECK(message_of(whole.error()) == message_of(got.error()));
    auto skipping = node.ask<batch_reply>(
      batch_get_atom_v, batch_request{{"state:f:good", "state:f:bad"}, true});
    REQUIRE(skipping);
    REQUIRE(skipping->entries.size() == 2);
    CHECK(skipping->entries[0].value == "g");
    CHECK_FALSE(skipping->entries[1].found());
    REQUIRE(skipping->unreadable.size() == 1);
    CHECK(skipping->unreadable[0].key == "state:f:bad");
  }
}
