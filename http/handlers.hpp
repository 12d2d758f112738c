#pragma once

// The route handlers. Each validates what it can synchronously (answering
// 400 at once), then asks the store through the bridge and answers from the
// callback. When the bridge is full the answer is 503 backend_unavailable.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/key_router.hpp"
#include "http/message.hpp"
#include "http/routes.hpp"
#include "messages/interfaces.hpp"

namespace solver_state::gateway {

class store_bridge;
class watch_links;

/// The store's bounds a handler must know before it asks: how many keys one
/// batch-get may name, how large a value may be, how many value bytes one
/// batch-get reply carries (what an export's chunk may take).
struct handler_limits {
  size_t max_batch_keys = 1'000;
  size_t max_value_bytes = 16u << 20;
  size_t max_reply_bytes = 16u << 20;
};

/// What GET /v1/watch needs: the actor system its stream actors run in,
/// the node's hub (invalid: 503), the server's registry of streams, the
/// heartbeat of an idle stream and how long a write may hang.
struct watch_env {
  caf::actor_system* sys = nullptr;
  watch_hub_actor hub;
  watch_links* links = nullptr;
  std::chrono::milliseconds heartbeat{10'000};
  std::chrono::milliseconds write_limit{60'000};
};

struct handler_env {
  store_bridge& bridge;
  state_actor store;
  /// The shards behind `store` when it is a local router: a single-key
  /// request then goes straight to its shard, one actor hop fewer (the
  /// router would only forward it). Null in front of a cluster.
  ownership_ptr<state_actor> owners;
  metrics_actor metrics;
  handler_limits limits;
  watch_env watch;
  /// On a member of a cluster: its own store, whose keys it serves whatever
  /// its peers' state (GET /readyz?scope=local asks it). Null elsewhere:
  /// the node's share is `store` itself, or (a pure front) nothing.
  state_actor own_share;
};

// -- key-value (handlers_kv.cpp) -------------------------------------------------

void get_value(const handler_env& env, request_t& req, const route_match& m,
               std::string key, const sink_ptr& sink);
void put_value(const handler_env& env, request_t& req, const route_match& m,
               std::string key, const sink_ptr& sink);
void delete_value(const handler_env& env, request_t& req,
                  const route_match& m, std::string key, const sink_ptr& sink);
void list_keys(const handler_env& env, request_t& req, const route_match& m,
               const sink_ptr& sink);
void batch_get(const handler_env& env, request_t& req, const route_match& m,
               const sink_ptr& sink);

// -- transactions (handlers_transaction.cpp) ----------------------------------------

/// POST /v1/state/transaction: every operation applied, or none.
void transaction(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink);
/// DELETE /v1/state?prefix=P: removes every live key under P, answers
/// {"deleted":N} (handlers_delete_prefix.cpp).
void delete_prefix(const handler_env& env, request_t& req,
                   const route_match& m, const sink_ptr& sink);

// -- watches (handlers_watch.cpp) -----------------------------------------------------

/// GET /v1/watch?prefix=P: every committed change under P as Server-Sent
/// Events, resuming after Last-Event-ID while the history holds it.
void watch_changes(const handler_env& env, request_t& req,
                   const route_match& m, const sink_ptr& sink);

// -- backup (handlers_export.cpp, handlers_import.cpp) --------------------------------

/// GET /v1/export?prefix=P: every key under P with its value and expiry, as
/// NDJSON in key order, streamed page by page.
void export_keys(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink);

/// POST /v1/import: checks every NDJSON line, then writes them all.
void import_keys(const handler_env& env, request_t& req, const route_match& m,
                 const sink_ptr& sink);

// -- queries (handlers_query.cpp) ----------------------------------------------------

/// POST /v1/query: one page of the keys whose indexed fields meet the
/// body's conditions.
void query(const handler_env& env, request_t& req, const route_match& m,
           const sink_ptr& sink);

// -- typed records (handlers_typed.cpp) ---------------------------------------------

/// GET/PUT/DELETE of /v1/orders|fills|settlements/{a}/{b}: the key of the
/// naming convention, then the key-value handler.
void typed_item(const handler_env& env, request_t& req, const route_match& m,
                method_id method, const sink_ptr& sink);

/// GET /v1/orders/{order_type}, /v1/fills/{order_id},
/// /v1/settlements/{order_id}.
void typed_list(const handler_env& env, request_t& req, const route_match& m,
                const sink_ptr& sink);

// -- operations (handlers_ops.cpp) ---------------------------------------------------

void healthz(const sink_ptr& sink);
/// GET /readyz: the health of every store the node serves from;
/// ?scope=local that of its own share alone (handler_env::own_share).
void readyz(const handler_env& env, const route_match& m,
            const sink_ptr& sink);
void metrics(const handler_env& env, const sink_ptr& sink);

// -- shared helpers (handlers_ops.cpp) ------------------------------------------------

/// 503 backend_unavailable: max_in_flight reached.
response_t overloaded(const handler_env& env);

/// Where a single-key request goes: the owning shard, or the store.
const state_actor& owner_of(const handler_env& env, std::string_view key);

/// 400 bad_request unless the route got no query parameters.
bool reject_query(const route_match& m, const sink_ptr& sink);

/// The value of ?prefix= (empty when absent), for a route that takes no
/// other parameter; nullopt, having answered 400 bad_request, when the
/// query names another.
std::optional<std::string> prefix_param(const route_match& m,
                                        const sink_ptr& sink);

/// Reads `q` into `skip` when it is skip_unreadable (true), setting
/// `problem` unless its value is true or false; false for any other name.
bool read_skip_unreadable(const query_param& q, bool& skip,
                          std::string& problem);

// -- paging (handlers_kv.cpp) ----------------------------------------------------------

/// Where a page starts and how long it is: ?limit=N&cursor=C.
struct page_params {
  uint32_t limit = 1'000;
  std::string after; // decoded cursor; empty: from the start
};

/// Reads `q` into `page` when it is limit or cursor (true), setting
/// `problem` when its value is not valid; false for any other name.
bool read_page_param(const query_param& q, page_params& page,
                     std::string& problem);

/// The cursor of the page after `items` (base64url of the last one), or
/// none when it was the last page.
std::optional<std::string> next_cursor(bool more,
                                       const std::vector<std::string>& items);

} // namespace solver_state::gateway
