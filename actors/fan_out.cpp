// Collector actors for fan-out requests: each sends one list, batch_get or
// health request per owner (shard or store node), merges, answers and quits.

#include "actors/fan_out.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "actors/gather.hpp"
#include "actors/merge.hpp"
#include "actors/query/query_merge.hpp"
#include "actors/query/shard_query_collector.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// A collector for requests answered by merging one reply per owner.
template <class Collector, class Reply, class Atom, class Request,
          class Owner, class Merge>
typename Collector::behavior_type
merging(typename Collector::pointer self, ownership_ptr<Owner> map,
        Merge merge) {
  return {
    [=](Atom atom, const Request& req) -> caf::result<Reply> {
      auto rp = self->template make_response_promise<Reply>();
      gather<Reply>(
        self, *map,
        [=](const caf::error& err, std::vector<Reply>& replies) mutable {
          if (err)
            rp.deliver(err);
          else
            rp.deliver(merge(req, replies));
          self->quit();
        },
        atom, req);
      return rp;
    },
  };
}

template <class Owner>
health_collector::behavior_type health_fan_out(health_collector::pointer self,
                                               ownership_ptr<Owner> map) {
  return {
    [=](health_atom) -> caf::result<health_report> {
      auto rp = self->make_response_promise<health_report>();
      gather<health_report>(
        self, *map,
        [=](const caf::error& err,
            std::vector<health_report>& reports) mutable {
          if (err) {
            rp.deliver(err);
          } else {
            health_report sum;
            for (auto& r : reports)
              sum += r;
            rp.deliver(sum);
          }
          self->quit();
        },
        health_atom_v);
      return rp;
    },
  };
}

/// A batch split by owner, and how to put the owners' answers back together
/// in request order within the reply budget.
struct split_batch {
  /// The request's keys, in order, packed into one buffer: the keys
  /// themselves move into the owners' parts, and a reply cut by the budget
  /// needs the names of the keys it leaves out (one allocation, not one per
  /// key).
  std::string key_bytes;
  std::vector<uint32_t> key_ends;
  std::vector<uint32_t> owner_of;         // per key: which owner's part
  std::vector<uint32_t> position_of;      // per key: its place in that part
  std::vector<batch_reply> replies;       // per owner
  size_t missing = 0;
  bool failed = false;

  /// Why `r` cannot be owner `t`'s answer; empty when it can. An owner that
  /// answers for fewer keys than it was asked must not turn the rest into
  /// "absent".
  std::string short_reply(size_t t, const batch_reply& r,
                          size_t asked) const {
    auto answered = r.entries.size() + r.unprocessed.size();
    if (answered == asked)
      return {};
    return "an owner answered " + std::to_string(answered) + " of the "
           + std::to_string(asked) + " keys asked (owner " + std::to_string(t)
           + ")";
  }

  /// The i-th key of the request.
  std::string_view key(size_t i) const {
    auto begin = i == 0 ? 0 : key_ends[i - 1];
    return std::string_view{key_bytes}.substr(begin, key_ends[i] - begin);
  }

  /// The reply in request order: each key's entry while its owner answered
  /// it and the values fit `budget` (the first key always fits); from the
  /// first key that does not, every key is unprocessed. The owners' lists
  /// of unreadable keys (each in its part's order) are merged in the same
  /// walk, for the keys answered.
  caf::expected<batch_reply> assemble(size_t budget) {
    batch_reply out;
    // A cursor per owner into its names, only when one named any (a
    // batch without unreadable values allocates nothing for them).
    bool named = std::any_of(replies.begin(), replies.end(),
                             [](auto& r) { return !r.unreadable.empty(); });
    std::vector<size_t> next_unreadable(named ? replies.size() : 0, 0);
    size_t bytes = 0;
    size_t i = 0;
    auto n = key_ends.size();
    for (; i < n; ++i) {
      auto& part = replies[owner_of[i]];
      auto pos = position_of[i];
      if (pos >= part.entries.size())
        break;
      auto& e = part.entries[pos];
      if (i > 0 && bytes + e.value.size() > budget)
        break;
      bytes += e.value.size();
      out.entries.push_back(std::move(e));
      if (!named)
        continue;
      auto& at = next_unreadable[owner_of[i]];
      if (at < part.unreadable.size() && part.unreadable[at].key == key(i))
        out.unreadable.push_back(std::move(part.unreadable[at++]));
    }
    if (named)
      if (auto problem = unused_names(next_unreadable, i); !problem.empty())
        return make_state_error(state_errc::backend_error, std::move(problem));
    for (; i < n; ++i)
      out.unprocessed.emplace_back(key(i));
    return out;
  }

  /// Why the owners' names of unreadable keys that assemble left unused
  /// (from `next_unreadable` on) cannot all be of keys past the reply's
  /// end (`cut`, a key position); empty when they can. A name out of
  /// request order would otherwise vanish, and its key pass for absent.
  std::string unused_names(const std::vector<size_t>& next_unreadable,
                           size_t cut) const {
    std::unordered_set<std::string_view> past;
    for (size_t t = 0; t < replies.size(); ++t) {
      auto& names = replies[t].unreadable;
      for (auto at = next_unreadable[t]; at < names.size(); ++at) {
        if (past.empty())
          for (auto k = cut; k < key_ends.size(); ++k)
            past.insert(key(k));
        if (!past.count(names[at].key))
          return "an owner named an unreadable key it was not asked for, or "
                 "out of request order (owner "
                 + std::to_string(t) + ")";
      }
    }
    return {};
  }
};

template <class Owner>
batch_collector::behavior_type batch_fan_out(batch_collector::pointer self,
                                             ownership_ptr<Owner> map) {
  return {
    [=](batch_get_atom, batch_request& req) -> caf::result<batch_reply> {
      if (req.keys.size() > map->max_batch_keys) {
        self->quit();
        return make_state_error(state_errc::bad_request,
                                "a batch of " + std::to_string(req.keys.size())
                                  + " keys; at most "
                                  + std::to_string(map->max_batch_keys));
      }
      auto n = map->owners.size();
      auto p = std::make_shared<split_batch>();
      p->replies.resize(n);
      std::vector<batch_request> parts(n);
      for (auto& part : parts)
        part.skip_unreadable = req.skip_unreadable;
      p->owner_of.reserve(req.keys.size());
      p->position_of.reserve(req.keys.size());
      p->key_ends.reserve(req.keys.size());
      p->key_bytes.reserve(req.keys.size() * 32);
      for (auto& key : req.keys) {
        auto owner = map->owner_of_key(key);
        p->owner_of.push_back(static_cast<uint32_t>(owner));
        p->position_of.push_back(
          static_cast<uint32_t>(parts[owner].keys.size()));
        p->key_bytes += key;
        p->key_ends.push_back(static_cast<uint32_t>(p->key_bytes.size()));
        parts[owner].keys.push_back(std::move(key));
      }
      for (auto& part : parts)
        p->missing += part.keys.empty() ? 0 : 1;
      if (p->missing == 0) {
        self->quit();
        return batch_reply{};
      }
      auto rp = self->make_response_promise<batch_reply>();
      auto fail = [=](caf::error err) mutable {
        if (!p->failed) {
          p->failed = true;
          rp.deliver(std::move(err));
          self->quit();
        }
      };
      for (size_t t = 0; t < n; ++t) {
        if (parts[t].keys.empty())
          continue;
        auto asked = parts[t].keys.size();
        self
          ->request(map->owners[t], map->timeout, batch_get_atom_v,
                    std::move(parts[t]))
          .then(
            [=](batch_reply& r) mutable {
              if (auto problem = p->short_reply(t, r, asked); !problem.empty())
                return fail(make_state_error(state_errc::backend_error,
                                             std::move(problem)));
              p->replies[t] = std::move(r);
              if (--p->missing == 0 && !p->failed) {
                auto reply = p->assemble(map->max_reply_bytes);
                if (reply)
                  rp.deliver(std::move(*reply));
                else
                  rp.deliver(std::move(reply.error()));
                self->quit();
              }
            },
            [=](caf::error& err) mutable { fail(std::move(err)); });
      }
      return rp;
    },
  };
}

} // namespace

template <class Owner>
list_collector spawn_list_collector(caf::actor_system& sys,
                                    ownership_ptr<Owner> map) {
  auto merge = [](const list_request& req, std::vector<key_page>& pages) {
    return merge_pages(pages, req.limit);
  };
  return sys.spawn(
    merging<list_collector, key_page, list_atom, list_request, Owner,
            decltype(merge)>,
    std::move(map), merge);
}

template <class Owner>
query_collector spawn_query_collector(caf::actor_system& sys,
                                      ownership_ptr<Owner> map) {
  if constexpr (std::is_same_v<Owner, shard_actor>) {
    return spawn_shard_query_collector(sys, std::move(map));
  } else {
    auto merge = [budget = map->max_reply_bytes](
                   const query_request& req, std::vector<query_page>& pages) {
      return merge_query_pages(pages, req, budget);
    };
    return sys.spawn(merging<query_collector, query_page, query_atom,
                             query_request, Owner, decltype(merge)>,
                     std::move(map), merge);
  }
}

template <class Owner>
ids_collector spawn_ids_collector(caf::actor_system& sys,
                                  ownership_ptr<Owner> map) {
  auto merge = [](const orders_of& req, std::vector<id_list>& lists) {
    return merge_ids(lists, req.limit);
  };
  return sys.spawn(merging<ids_collector, id_list, list_atom, orders_of, Owner,
                           decltype(merge)>,
                   std::move(map), merge);
}

template <class Owner>
delete_prefix_collector
spawn_delete_prefix_collector(caf::actor_system& sys,
                              ownership_ptr<Owner> map) {
  auto sum = [](const delete_prefix_request&,
                std::vector<delete_prefix_result>& parts) {
    delete_prefix_result total;
    for (auto& part : parts) {
      total.deleted += part.deleted;
      total.more = total.more || part.more;
    }
    return total;
  };
  return sys.spawn(merging<delete_prefix_collector, delete_prefix_result,
                           delete_atom, delete_prefix_request, Owner,
                           decltype(sum)>,
                   std::move(map), sum);
}

template <class Owner>
batch_collector spawn_batch_collector(caf::actor_system& sys,
                                      ownership_ptr<Owner> map) {
  return sys.spawn(batch_fan_out<Owner>, std::move(map));
}

template <class Owner>
health_collector spawn_health_collector(caf::actor_system& sys,
                                        ownership_ptr<Owner> map) {
  return sys.spawn(health_fan_out<Owner>, std::move(map));
}

#define SOLVER_STATE_FAN_OUT_FOR(Owner)                                        \
  template list_collector spawn_list_collector<Owner>(caf::actor_system&,      \
                                                      ownership_ptr<Owner>);   \
  template ids_collector spawn_ids_collector<Owner>(caf::actor_system&,        \
                                                    ownership_ptr<Owner>);     \
  template query_collector spawn_query_collector<Owner>(caf::actor_system&,    \
                                                        ownership_ptr<Owner>); \
  template batch_collector spawn_batch_collector<Owner>(caf::actor_system&,    \
                                                        ownership_ptr<Owner>); \
  template health_collector spawn_health_collector<Owner>(                     \
    caf::actor_system&, ownership_ptr<Owner>);                                 \
  template delete_prefix_collector spawn_delete_prefix_collector<Owner>(       \
    caf::actor_system&, ownership_ptr<Owner>);

SOLVER_STATE_FAN_OUT_FOR(shard_actor)
SOLVER_STATE_FAN_OUT_FOR(state_actor)

#undef SOLVER_STATE_FAN_OUT_FOR

} // namespace solver_state
