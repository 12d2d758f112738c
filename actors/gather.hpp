#pragma once

// The loop under every fan-out collector: one request per owner, the
// replies gathered in owner order, one answer however they end.

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include <caf/error.hpp>

#include "actors/key_router.hpp"

namespace solver_state {

/// Sends `msg...` to every owner (each within the map's timeout) and calls
/// `done` once: with all replies in owner order, or with the first error.
/// For use inside a collector's handler (`self` an event-based actor).
template <class Reply, class Self, class Owner, class Done, class... Ts>
void gather(Self* self, const ownership<Owner>& map, Done done, Ts... msg) {
  struct progress {
    std::vector<Reply> replies;
    size_t missing;
    bool failed = false;
  };
  auto p = std::make_shared<progress>();
  p->replies.resize(map.owners.size());
  p->missing = map.owners.size();
  if (map.owners.empty()) {
    done(caf::error{}, p->replies);
    return;
  }
  for (size_t i = 0; i < map.owners.size(); ++i)
    self->request(map.owners[i], map.timeout, msg...)
      .then(
        [=](Reply& r) mutable {
          p->replies[i] = std::move(r);
          if (--p->missing == 0 && !p->failed)
            done(caf::error{}, p->replies);
        },
        [=](caf::error& err) mutable {
          if (!p->failed) {
            p->failed = true;
            done(err, p->replies);
          }
        });
}

} // namespace solver_state
