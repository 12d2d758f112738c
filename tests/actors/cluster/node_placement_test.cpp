// Rendezvous placement of keys over store nodes (actors/cluster_placement).

#include <catch2/catch.hpp>

#include <map>

#include "actors/cluster/placement.hpp"
#include "backends/shard_placement.hpp"
#include "messages/keys.hpp"

using namespace solver_state;

namespace {

std::vector<std::string> keys(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(order_key("eip7683", "0x" + std::to_string(i * 7919)));
  return out;
}

} // namespace

TEST_CASE("placement is the same for every node with the same peer list") {
  rendezvous_placement a{{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}};
  rendezvous_placement b{{"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"}};
  for (auto& k : keys(1000))
    CHECK(a.owner(k) == b.owner(k));
}

TEST_CASE("placement spreads keys evenly") {
  rendezvous_placement p{{"a:1", "b:1", "c:1", "d:1"}};
  std::vector<int> count(4);
  for (auto& k : keys(20000))
    ++count[p.owner(k)];
  for (auto c : count) {
    CHECK(c > 20000 / 4 * 0.9);
    CHECK(c < 20000 / 4 * 1.1);
  }
}

TEST_CASE("adding a node moves only the keys it now owns") {
  rendezvous_placement three{{"a:1", "b:1", "c:1"}};
  rendezvous_placement four{{"a:1", "b:1", "c:1", "d:1"}};
  int moved = 0;
  auto all = keys(20000);
  for (auto& k : all) {
    auto before = three.owner(k);
    auto after = four.owner(k);
    if (before != after) {
      CHECK(after == 3); // only to the new node, never between old ones
      ++moved;
    }
  }
  // About a quarter of the keys move, not a reshuffle of everything.
  CHECK(moved > 20000 / 4 * 0.9);
  CHECK(moved < 20000 / 4 * 1.1);
}

TEST_CASE("removing a node moves only its own keys") {
  rendezvous_placement three{{"a:1", "b:1", "c:1"}};
  rendezvous_placement two{{"a:1", "c:1"}};
  for (auto& k : keys(5000)) {
    auto before = three.owner(k);
    if (before == 0)
      CHECK(two.owner(k) == 0);
    if (before == 2)
      CHECK(two.owner(k) == 1);
  }
}

TEST_CASE("fills and settlements of one order share an owner") {
  rendezvous_placement p{{"a:1", "b:1", "c:1", "d:1", "e:1"}};
  std::map<size_t, int> owners;
  for (int i = 0; i < 100; ++i) {
    auto tx = "0xtx" + std::to_string(i);
    auto owner = p.owner(fill_key("0xorder", tx));
    ++owners[owner];
    CHECK(owner == p.owner_of_group(shard_group(fills_prefix("0xorder"))));
  }
  CHECK(owners.size() == 1);
  auto s1 = p.owner(settlement_key("0xorder", "0xc1"));
  CHECK(s1 == p.owner(settlement_key("0xorder", "0xc2")));
}

TEST_CASE("a single node owns everything") {
  rendezvous_placement p{{"only:1"}};
  for (auto& k : keys(100))
    CHECK(p.owner(k) == 0);
}
