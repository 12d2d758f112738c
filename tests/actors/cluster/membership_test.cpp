// A node's view of the member list (actors/cluster/membership.hpp).

#include <catch2/catch.hpp>

#include "actors/cluster/membership.hpp"
#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"

using namespace solver_state;

TEST_CASE("every node with the same members has the same list hash and "
          "owners, in whatever order it lists them") {
  membership a{{"a:1", "b:1", "c:1"}, "a:1"};
  membership b{{"c:1", "a:1", "b:1"}, "b:1"};
  membership other{{"a:1", "b:1", "c:1", "d:1"}, "a:1"};
  CHECK(a.hash() == b.hash());
  CHECK(a.hash() != other.hash());
  for (int i = 0; i < 200; ++i) {
    auto key = "state:m:" + std::to_string(i);
    CHECK(a.members()[a.owner(key)] == b.members()[b.owner(key)]);
  }
  CHECK(a.members()[a.self()] == "a:1");
  CHECK(b.members()[b.self()] == "b:1");
}

TEST_CASE("a member's index names the same member on every node, whatever "
          "order each lists them in, as the handoff sends it between nodes") {
  membership a{{"a:1", "b:1", "c:1", "d:1"}, "a:1"};
  membership d{{"d:1", "c:1", "a:1", "b:1"}, "d:1"};
  CHECK(a.members() == d.members());
  // d asks a for d's keys by d's index: a must read it as d.
  CHECK(a.members()[d.self()] == "d:1");
  CHECK(d.members()[a.self()] == "a:1");
  for (int i = 0; i < 200; ++i) {
    auto key = "state:m:" + std::to_string(i);
    CHECK(a.owner(key) == d.owner(key));
  }
}

TEST_CASE("a key of another member is refused as unavailable, naming its "
          "owner, and a leaving node owns nothing") {
  membership m{{"a:1", "b:1"}, "a:1"};
  std::string theirs;
  for (int i = 0; theirs.empty(); ++i) {
    auto key = "state:m:" + std::to_string(i);
    if (!m.owns(key))
      theirs = key;
  }
  auto err = m.misdirected(theirs);
  REQUIRE(err);
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK(message_of(err).find("belongs to node b:1") != std::string::npos);
  membership leaving{{"a:1", "b:1"}, "c:1", {"c:1"}};
  CHECK(leaving.self() == membership::none);
  CHECK(leaving.misdirected("state:m:1"));
  CHECK_FALSE(m.other_list(
    membership{{"b:1", "a:1"}, "b:1"}.hash()));
  CHECK(m.other_list(membership{{"a:1"}, "a:1"}.hash()));
}

TEST_CASE("nodes that disagree on node.leaving refuse each other's handoff "
          "messages, and without leaving nodes the hash is the member list's") {
  // Member b, its node.leaving forgotten, never pulled from the leaving
  // node c and ended its handoff; c's keys stayed on c for good (found by
  // review). Now the others refuse b's pulls until its list matches.
  membership a{{"a:1", "b:1"}, "a:1", {"c:1", "d:1"}};
  membership b_forgot{{"a:1", "b:1"}, "b:1"};
  membership b_right{{"b:1", "a:1"}, "b:1", {"d:1", "c:1"}};
  membership c{{"a:1", "b:1"}, "c:1", {"c:1", "d:1"}};
  CHECK(a.other_list(b_forgot.hash()));
  CHECK(message_of(a.other_list(b_forgot.hash())).find("node.leaving")
        != std::string::npos);
  CHECK_FALSE(a.other_list(b_right.hash()));
  CHECK_FALSE(c.other_list(a.hash()));
  CHECK(c.other_list(b_forgot.hash()));
  CHECK(a.leaving() == std::vector<std::string>{"c:1", "d:1"});
  CHECK(b_right.leaving() == a.leaving());
  // The member list's own hash ignores node.leaving (the handoff marker),
  // and is the whole hash when nobody leaves: nodes of the builds before
  // node.leaving counted still agree with these then.
  CHECK(a.members_hash() == b_forgot.members_hash());
  CHECK(b_forgot.hash() == b_forgot.members_hash());
  CHECK(b_forgot.hash() == stable_hash("a:1\nb:1\n"));
  CHECK(a.hash() != a.members_hash());
}

TEST_CASE("only the owner's deletes are changes of a key: another node's "
          "delete is the drop of a copy handed over") {
  membership m{{"a:1", "b:1"}, "a:1", {"c:1"}};
  std::string of_a;
  for (int i = 0; of_a.empty(); ++i) {
    auto key = "state:m:" + std::to_string(i);
    if (m.owns(key))
      of_a = key;
  }
  change_event del;
  del.cause = static_cast<uint8_t>(change_cause::del);
  del.key = of_a;
  change_event put = del;
  put.cause = static_cast<uint8_t>(change_cause::put);
  change_event expire = del;
  expire.cause = static_cast<uint8_t>(change_cause::expire);
  CHECK(m.is_change(del, 0));
  CHECK_FALSE(m.is_change(del, 1));
  CHECK_FALSE(m.is_change(del, membership::none)); // a leaving node's
  CHECK(m.is_change(put, 1));
  CHECK(m.is_change(expire, 1));
}
