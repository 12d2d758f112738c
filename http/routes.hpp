#pragma once

// The route table of HTTP API v1 (docs/api.md): which path is which route,
// which methods each accepts, and the route labels used in metrics.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/percent.hpp"

namespace solver_state::gateway {

enum class route_id : uint8_t {
  healthz,
  readyz,
  metrics,
  state_list,       // GET /v1/state?prefix=&limit=&cursor=, DELETE ?prefix=
  state_batch_get,  // POST /v1/state/batch-get
  state_transaction, // POST /v1/state/transaction
  state_key,        // GET|PUT|DELETE /v1/state/{key}
  orders_list,      // GET /v1/orders/{order_type}
  order,            // GET|PUT|DELETE /v1/orders/{order_type}/{order_id}
  fills_list,       // GET /v1/fills/{order_id}
  fill,             // GET|PUT /v1/fills/{order_id}/{tx_hash}
  settlements_list, // GET /v1/settlements/{order_id}
  settlement,       // GET|PUT /v1/settlements/{order_id}/{claim_hash}
  export_keys,      // GET /v1/export?prefix=
  import_keys,      // POST /v1/import
  watch,            // GET /v1/watch?prefix=
  query,            // POST /v1/query
  unknown,          // no such path: 404
  unparsed,         // the request itself was malformed (no route known)
  count_
};

constexpr size_t route_count = static_cast<size_t>(route_id::count_);

/// HEAD is served as GET (api::serve), its body dropped when the answer is
/// written (session::send).
enum class method_id : uint8_t { get, put, del, post, head, other, count_ };

constexpr size_t method_count = static_cast<size_t>(method_id::count_);

/// The label of a route in metrics and access logs ("/v1/state/{key}").
const char* label_of(route_id route);

const char* label_of(method_id method);

method_id method_of(std::string_view verb);

/// True when `route` accepts `method`.
bool allows(route_id route, method_id method);

/// What a probe may ask without the token (http.auth_token): GET and HEAD
/// /healthz, nothing else (a POST /healthz is not a way to make the server
/// read a body unauthenticated).
inline bool open_without_token(route_id route, method_id method) {
  return route == route_id::healthz
         && (method == method_id::get || method == method_id::head);
}

/// The Allow header of a route ("GET, PUT, DELETE").
const char* allow_header(route_id route);

/// A request target resolved to a route. `params` are the decoded path
/// parameters in the order of the route's pattern ({key}; {order_type},
/// {order_id}; ...). `problem` is non-empty when the target is malformed (a
/// bad escape): answer 400.
struct route_match {
  route_id route = route_id::unknown;
  std::vector<std::string> params;
  std::vector<query_param> query;
  std::string problem;
};

/// The name of the first query parameter `query` holds more than once, or
/// "". Such a query is refused (400), never read as one of its values: with
/// the last one winning, "?prefix=a:&prefix=" would reach a handler as
/// another request than the client's code meant to send.
std::string repeated_query_parameter(const std::vector<query_param>& query);

/// True for the routes that ignore the query (/healthz, /readyz, /metrics).
inline bool ignores_query(route_id route) {
  return route == route_id::healthz || route == route_id::readyz
         || route == route_id::metrics;
}

/// Resolves "path?query". Segments are split on '/' before decoding, so
/// "%2F" inside a typed segment stays inside it; for /v1/state/{key} the
/// whole rest of the path is the key ("/v1/state/a/b" is key "a/b").
/// "/v1/state/batch-get" names the batch route only for POST; with other
/// methods it is the key "batch-get".
route_match match_route(std::string_view target, method_id method);

} // namespace solver_state::gateway
