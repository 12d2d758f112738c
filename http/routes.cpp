// The route table of HTTP API v1: resolves a target to a route with decoded
// path parameters and query, and gives allowed methods and metric labels.

#include "http/routes.hpp"

#include <algorithm>
#include <array>

namespace solver_state::gateway {

namespace {

using methods = std::array<bool, method_count>;

// Columns: GET, PUT, DELETE, POST, HEAD, other. HEAD goes wherever GET
// does, and Allow lists it (RFC 9110 9.3.2, 10.2.1).
constexpr methods get_only{true, false, false, false, true, false};
constexpr methods post_only{false, false, false, true, false, false};
constexpr methods get_put_delete{true, true, true, false, true, false};
constexpr methods get_delete{true, false, true, false, true, false};
constexpr methods get_put{true, true, false, false, true, false};
/// A stream of events has no HEAD: there are no headers to describe it.
constexpr methods get_no_head{true, false, false, false, false, false};
constexpr methods none{false, false, false, false, false, false};

struct route_info {
  const char* label;
  methods accepted;
  const char* allow;
};

constexpr std::array<route_info, route_count> routes{{
  {"/healthz", get_only, "GET, HEAD"},
  {"/readyz", get_only, "GET, HEAD"},
  {"/metrics", get_only, "GET, HEAD"},
  {"/v1/state", get_delete, "GET, HEAD, DELETE"},
  {"/v1/state/batch-get", post_only, "POST"},
  {"/v1/state/transaction", post_only, "POST"},
  {"/v1/state/{key}", get_put_delete, "GET, HEAD, PUT, DELETE"},
  {"/v1/orders/{order_type}", get_only, "GET, HEAD"},
  {"/v1/orders/{order_type}/{order_id}", get_put_delete,
   "GET, HEAD, PUT, DELETE"},
  {"/v1/fills/{order_id}", get_only, "GET, HEAD"},
  {"/v1/fills/{order_id}/{tx_hash}", get_put, "GET, HEAD, PUT"},
  {"/v1/settlements/{order_id}", get_only, "GET, HEAD"},
  {"/v1/settlements/{order_id}/{claim_hash}", get_put, "GET, HEAD, PUT"},
  {"/v1/export", get_only, "GET, HEAD"},
  {"/v1/import", post_only, "POST"},
  {"/v1/watch", get_no_head, "GET"},
  {"/v1/query", post_only, "POST"},
  {"unknown", none, ""},
  {"unparsed", none, ""},
}};

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  path.remove_prefix(1); // the leading '/'
  while (true) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

/// Decodes `raw` segments into params; false (and a problem) on bad escapes.
bool decode_into(route_match& m, std::initializer_list<std::string_view> raw) {
  for (auto r : raw) {
    auto decoded = percent_decode(r);
    if (!decoded) {
      m.problem = "malformed percent-encoding in path";
      return false;
    }
    m.params.push_back(std::move(*decoded));
  }
  return true;
}

/// Routes /v1/{orders|fills|settlements}/A[/B].
void match_typed(route_match& m, const std::vector<std::string_view>& seg,
                 route_id list, route_id item) {
  if (seg.size() == 3) {
    m.route = list;
    decode_into(m, {seg[2]});
  } else if (seg.size() == 4) {
    m.route = item;
    decode_into(m, {seg[2], seg[3]});
  }
}

} // namespace

const char* label_of(route_id route) {
  return routes[static_cast<size_t>(route)].label;
}

const char* label_of(method_id method) {
  constexpr const char* names[] = {"GET",  "PUT",  "DELETE",
                                   "POST", "HEAD", "other"};
  return names[static_cast<size_t>(method)];
}

method_id method_of(std::string_view verb) {
  if (verb == "GET")
    return method_id::get;
  if (verb == "PUT")
    return method_id::put;
  if (verb == "DELETE")
    return method_id::del;
  if (verb == "POST")
    return method_id::post;
  if (verb == "HEAD")
    return method_id::head;
  return method_id::other;
}

bool allows(route_id route, method_id method) {
  return routes[static_cast<size_t>(route)]
    .accepted[static_cast<size_t>(method)];
}

const char* allow_header(route_id route) {
  return routes[static_cast<size_t>(route)].allow;
}

std::string repeated_query_parameter(const std::vector<query_param>& query) {
  if (query.size() < 2)
    return {};
  // Sorted, not compared pairwise: a target of thousands of "a&" must not
  // cost millions of comparisons.
  std::vector<std::string_view> names;
  names.reserve(query.size());
  for (auto& q : query)
    names.emplace_back(q.name);
  std::sort(names.begin(), names.end());
  auto twice = std::adjacent_find(names.begin(), names.end());
  return twice == names.end() ? std::string{} : std::string{*twice};
}

route_match match_route(std::string_view target, method_id method) {
  route_match m;
  auto qmark = target.find('?');
  auto path = target.substr(0, qmark);
  // The path names the route, whatever the query holds: a malformed
  // percent-escape is that route's 400 (GET /healthz?%zz is not refused
  // for want of a token first).
  if (qmark != std::string_view::npos) {
    auto query = parse_query(target.substr(qmark + 1));
    if (query)
      m.query = std::move(*query);
    else
      m.problem = "malformed percent-encoding in query";
  }
  if (path.empty() || path.front() != '/')
    return m; // absolute-form or '*': no such path here
  if (path == "/healthz")
    m.route = route_id::healthz;
  else if (path == "/readyz")
    m.route = route_id::readyz;
  else if (path == "/metrics")
    m.route = route_id::metrics;
  else if (path == "/v1/state")
    m.route = route_id::state_list;
  else if (path == "/v1/export")
    m.route = route_id::export_keys;
  else if (path == "/v1/watch")
    m.route = route_id::watch;
  else if (path == "/v1/import")
    m.route = route_id::import_keys;
  else if (path == "/v1/query")
    m.route = route_id::query;
  else if (path == "/v1/state/batch-get" && method == method_id::post)
    m.route = route_id::state_batch_get;
  else if (path == "/v1/state/transaction" && method == method_id::post)
    m.route = route_id::state_transaction;
  else if (path.substr(0, 10) == "/v1/state/") {
    m.route = route_id::state_key;
    decode_into(m, {path.substr(10)});
  } else {
    auto seg = split_path(path);
    if (seg.size() >= 3 && seg[0] == "v1") {
      if (seg[1] == "orders")
        match_typed(m, seg, route_id::orders_list, route_id::order);
      else if (seg[1] == "fills")
        match_typed(m, seg, route_id::fills_list, route_id::fill);
      else if (seg[1] == "settlements")
        match_typed(m, seg, route_id::settlements_list, route_id::settlement);
    }
  }
  return m;
}

} // namespace solver_state::gateway
