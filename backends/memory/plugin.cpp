// The "memory" plugin: one memory_store per shard sharing one max_items
// budget, with versions seeded from the clock so old ETags never match.

#include "backends/clock_versions.hpp"
#include "backends/memory/store.hpp"
#include "backends/memory/plugin.hpp"

namespace solver_state {

namespace {

class memory_plugin final : public state_backend_plugin {
public:
  std::string_view name() const override { return "memory"; }

  bool blocking() const override { return false; }

  caf::expected<store_list> create_stores(const state_config& cfg) override {
    auto budget = std::make_shared<key_budget>(cfg.max_items);
    // Seed versions from the clock so ETags from before a restart never match
    // a value written after it.
    auto seed = clock_micros();
    store_list stores;
    for (size_t i = 0; i < cfg.shards; ++i)
      stores.push_back(
        std::make_unique<memory_store>(budget, cfg.eviction, seed));
    return stores;
  }
};

} // namespace

std::unique_ptr<state_backend_plugin> make_memory_plugin() {
  return std::make_unique<memory_plugin>();
}

} // namespace solver_state
