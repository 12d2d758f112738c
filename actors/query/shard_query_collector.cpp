#include "actors/query/shard_query_collector.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/gather.hpp"
#include "actors/query/query_merge.hpp"

namespace solver_state {

namespace {

using steady = std::chrono::steady_clock;

/// One query on its way through the two halves.
struct query_run {
  query_request req;
  ownership_ptr<shard_actor> map;
  caf::typed_response_promise<query_page> rp;
  steady::time_point deadline = steady::time_point::max();
  std::vector<query_page> pages; // per owner: its confirmation
  size_t missing = 0;
  bool failed = false;
  query_page merged;
  std::vector<uint32_t> owner_of; // per merged item

  /// What is left of the request's timeout; infinite when it has none.
  caf::duration remaining() const {
    if (deadline == steady::time_point::max())
      return caf::infinite;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(
      deadline - steady::now());
    return caf::duration{std::max(left, std::chrono::microseconds{1000})};
  }
};

using run_ptr = std::shared_ptr<query_run>;
using collector_ptr = query_collector::pointer;

/// The second half: each owner of a kept item confirms its items.
void confirm(collector_ptr self, run_ptr run, std::vector<query_page>& found) {
  auto& map = *run->map;
  run->merged = merge_query_pages(found, run->req);
  std::vector<query_page> parts(map.owners.size());
  for (auto& item : run->merged.items) {
    auto owner = static_cast<uint32_t>(map.owner_of_key(item.key));
    run->owner_of.push_back(owner);
    parts[owner].items.push_back(item);
  }
  run->pages.assign(map.owners.size(), query_page{});
  run->missing = 0;
  for (auto& part : parts)
    run->missing += part.items.empty() ? 0 : 1;
  if (run->missing == 0) {
    run->rp.deliver(std::move(run->merged)); // nothing found: no read
    self->quit();
    return;
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].items.empty())
      continue;
    self->request(map.owners[i], run->remaining(), query_confirm_atom_v,
                  run->req, std::move(parts[i]))
      .then(
        [=](query_page& page) {
          run->pages[i] = std::move(page);
          if (--run->missing > 0 || run->failed)
            return;
          run->rp.deliver(assemble_confirmed(std::move(run->merged),
                                             run->owner_of, run->pages,
                                             run->req,
                                             run->map->max_reply_bytes));
          self->quit();
        },
        [=](caf::error& err) {
          if (!run->failed) {
            run->failed = true;
            run->rp.deliver(std::move(err));
          }
          self->quit();
        });
  }
}

query_collector::behavior_type
shard_query_collector(collector_ptr self, ownership_ptr<shard_actor> map) {
  return {
    [=](query_atom, query_request& req) -> caf::result<query_page> {
      auto run = std::make_shared<query_run>();
      run->req = std::move(req);
      run->map = map;
      run->rp = self->make_response_promise<query_page>();
      if (map->timeout.valid()) {
        run->deadline = steady::now();
        run->deadline += map->timeout;
      }
      // The first half: every owner finds its page.
      gather<query_page>(
        self, *map,
        [=](const caf::error& err, std::vector<query_page>& found) {
          if (!err) {
            confirm(self, run, found);
            return;
          }
          run->rp.deliver(err);
          self->quit();
        },
        query_find_atom_v, run->req);
      return run->rp;
    },
  };
}

} // namespace

query_collector spawn_shard_query_collector(caf::actor_system& sys,
                                            ownership_ptr<shard_actor> map) {
  return sys.spawn(shard_query_collector, std::move(map));
}

} // namespace solver_state
