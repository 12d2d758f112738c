#pragma once

// A memory store whose values can be made unreadable, key by key (as a
// damaged file or a value sealed under a key that is not configured), or
// all at once (a backend that is down): what a walk over a shard's keys
// must go past, or stop at.

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backends/key_budget.hpp"
#include "backends/memory/store.hpp"
#include "messages/errors.hpp"

namespace solver_state::testing {

/// A memory store whose values of `damaged` keys cannot be read, as a
/// damaged file or a value sealed under a key that is not configured: a get
/// of one answers a value error (make_value_error), and so does a batch_get
/// naming one (as every backend's does). `down`: every read answers backend_unavailable.
class damaged_store : public state_store {
public:
  std::set<std::string> damaged;
  bool down = false;
  /// Every read answers a backend_error of the backend (a refused
  /// statement), not of a value.
  bool refusing = false;
  /// Says it pipelines, as a network backend does: a shard then reads a
  /// batch's keys in chunks of batch_get instead of one get each.
  bool pipelined = false;
  size_t batch_reads = 0;

  /// `pending` keys q:1000, q:1001, ... holding {"status":"pending"}.
  explicit damaged_store(size_t pending = 0) {
    for (size_t i = 0; i < pending; ++i)
      put("q:" + std::to_string(1000 + i), R"({"status":"pending"})");
  }

  void put(const std::string& key, std::string value) {
    REQUIRE(inner_.set(set_request{key, std::move(value), 0, {}}, 0, 1));
  }

  std::string_view backend_name() const override { return "memory"; }
  bool pipelines() const override { return pipelined; }
  caf::expected<entry> get(const std::string& key, unix_ms now) override {
    if (auto err = problem(key))
      return err;
    return inner_.get(key, now);
  }
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override {
    return inner_.set(std::move(req), expires_at, now);
  }
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override {
    return inner_.erase(req, now);
  }
  caf::expected<key_page> list(const list_request& req, unix_ms now) override {
    return inner_.list(req, now);
  }
  caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now) override {
    ++batch_reads;
    for (auto& key : keys)
      if (auto err = problem(key))
        return err;
    return inner_.batch_get(keys, now);
  }

private:
  caf::error problem(const std::string& key) const {
    if (down)
      return make_state_error(state_errc::backend_unavailable, "down");
    if (refusing)
      return make_state_error(state_errc::backend_error,
                              "permission denied for table state");
    if (damaged.count(key))
      return make_value_error("key " + key + ": damaged");
    return {};
  }

  std::shared_ptr<key_budget> budget_ = std::make_shared<key_budget>(0);
  memory_store inner_{budget_, eviction_policy::reject, 0};
};

} // namespace solver_state::testing
