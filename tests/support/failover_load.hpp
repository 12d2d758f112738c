#pragma once

// A steady write load through several stores ("nodes": each its own actor
// system, shards and connections, as a solver-state process has) on one
// replicated engine, for failover tests: every writer puts distinct keys
// and remembers which were acknowledged and when, so a test can count the
// acknowledged writes that survived a failover and time how long writes
// stopped.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <caf/scoped_actor.hpp>

#include "messages/errors.hpp"
#include "messages/interfaces.hpp"
#include "tests/support/running_store.hpp"
#include "tests/support/server_process.hpp"

namespace solver_state::testing {

class failover_load {
public:
  using clock = std::chrono::steady_clock;

  /// Starts `writers` writers per node at once.
  failover_load(std::vector<running_store*> nodes, size_t writers) {
    for (size_t n = 0; n < nodes.size(); ++n)
      for (size_t w = 0; w < writers; ++w)
        writers_.push_back(std::make_unique<writer>(*nodes[n], n, w));
    for (auto& w : writers_)
      w->thread = std::thread{[this, &w = *w] { run(w); }};
  }

  ~failover_load() { stop(); }

  void stop() {
    stopping_ = true;
    for (auto& w : writers_)
      if (w->thread.joinable())
        w->thread.join();
  }

  /// Every acknowledged key (after stop()).
  std::vector<std::string> acknowledged() const {
    std::vector<std::string> out;
    for (auto& w : writers_)
      for (auto& a : w->acks)
        out.push_back(a.key);
    return out;
  }

  size_t failures() const {
    size_t n = 0;
    for (auto& w : writers_)
      n += w->failures;
    return n;
  }

  /// The last failure's message, for the log of a failing test.
  std::string last_failure() const {
    for (auto& w : writers_)
      if (!w->last_error.empty())
        return w->last_error;
    return {};
  }

  /// How long after `t` every node had acknowledged a write again (after
  /// stop()); negative when some node never did.
  std::chrono::milliseconds resumed_after(clock::time_point t) const {
    std::vector<clock::time_point> first_per_node;
    for (auto& w : writers_) {
      if (first_per_node.size() <= w->node)
        first_per_node.resize(w->node + 1, clock::time_point::max());
      for (auto& a : w->acks)
        if (a.at > t) {
          first_per_node[w->node] = std::min(first_per_node[w->node], a.at);
          break;
        }
    }
    auto last = t;
    for (auto first : first_per_node) {
      if (first == clock::time_point::max())
        return std::chrono::milliseconds{-1};
      last = std::max(last, first);
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(last - t);
  }

  /// Acknowledged writes so far (while running: a rough progress figure).
  size_t acknowledged_count() const { return acked_.load(); }

private:
  struct ack {
    std::string key;
    clock::time_point at;
  };
  struct writer {
    writer(running_store& s, size_t n, size_t w) : store(s), node(n), id(w) {}
    running_store& store;
    size_t node;
    size_t id;
    std::vector<ack> acks;
    size_t failures = 0;
    std::string last_error;
    std::thread thread;
  };

  void run(writer& w) {
    caf::scoped_actor self{*w.store.sys};
    for (size_t seq = 0; !stopping_; ++seq) {
      auto key = "state:{fo}:" + std::to_string(w.node) + ":"
                 + std::to_string(w.id) + ":" + std::to_string(seq);
      bool ok = false;
      self
        ->request(w.store.handles.router, std::chrono::seconds{10},
                  put_atom_v,
                  set_request{key, "v" + key, 0, condition::always()})
        .receive([&](const write_result&) { ok = true; },
                 [&](caf::error& err) { w.last_error = message_of(err); });
      if (ok) {
        w.acks.push_back({std::move(key), clock::now()});
        ++acked_;
      } else {
        ++w.failures;
        // A down engine answers at once: do not spin.
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{1});
    }
  }

  std::vector<std::unique_ptr<writer>> writers_;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> acked_{0};
};

/// How many of `keys` `store` cannot read back (asked 500 at a time).
inline size_t missing_keys(running_store& store,
                           const std::vector<std::string>& keys) {
  size_t missing = 0;
  for (size_t i = 0; i < keys.size(); i += 500) {
    batch_request req;
    req.keys.assign(keys.begin() + static_cast<std::ptrdiff_t>(i),
                    keys.begin()
                      + static_cast<std::ptrdiff_t>(
                        std::min(keys.size(), i + 500)));
    while (!req.keys.empty()) {
      auto reply = store.ask<batch_reply>(batch_get_atom_v, req);
      REQUIRE(reply);
      for (auto& e : reply->entries)
        if (e.version == 0)
          ++missing;
      req.keys = std::move(reply->unprocessed);
    }
  }
  return missing;
}

/// What one failover cost, as the failover tests report it.
struct failover_figures {
  size_t acknowledged = 0;
  size_t missing = 0;
  size_t failed_writes = 0;
  /// From the primary's death until both nodes acknowledged a write again.
  std::chrono::milliseconds resumed{0};
};

/// Writes through two nodes on `url` (2 shards, 2 writers each); once 400
/// writes are acknowledged calls `fail_over`, which kills the primary and
/// returns when it died (it may go on to wait for or trigger the
/// promotion); waits until 400 more writes are acknowledged; then counts
/// the acknowledged writes a fresh node on `url` cannot read.
inline failover_figures
measure_failover(const std::string& url,
                 const std::function<failover_load::clock::time_point()>&
                   fail_over) {
  using namespace std::chrono_literals;
  running_store a{url, 2};
  running_store b{url, 2};
  failover_load load{{&a, &b}, 2};
  REQUIRE(wait_until([&] { return load.acknowledged_count() >= 400; }, 20s));
  auto died_at = fail_over();
  auto before = load.acknowledged_count();
  CHECK(wait_until([&] { return load.acknowledged_count() >= before + 400; },
                   30s));
  load.stop();
  failover_figures out;
  out.resumed = load.resumed_after(died_at);
  out.failed_writes = load.failures();
  INFO("last failure: " << load.last_failure());
  REQUIRE(out.resumed.count() >= 0);
  auto acked = load.acknowledged();
  out.acknowledged = acked.size();
  running_store reader{url, 1};
  out.missing = missing_keys(reader, acked);
  return out;
}

/// One line with the figures, for the test log and bench/README.md.
inline void report_failover(const std::string& what,
                            const failover_figures& f) {
  std::printf("%s: writes resumed on both nodes %lld ms after the primary "
              "died; %zu acknowledged, %zu missing afterwards, %zu writes "
              "failed meanwhile\n",
              what.c_str(), static_cast<long long>(f.resumed.count()),
              f.acknowledged, f.missing, f.failed_writes);
}

} // namespace solver_state::testing
