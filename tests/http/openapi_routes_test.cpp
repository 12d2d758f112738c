// docs/openapi.yaml against the server's own tables: the route table of
// http/routes.cpp (paths and methods, both ways) and the error codes of
// messages/errors.hpp with their statuses from http/status.cpp.
//
// The rule that maps one to the other: a route's label is its OpenAPI path
// template, character for character ("/v1/state/{key}"), and an OpenAPI
// operation name is the route table's method_of() of its upper-case form
// ("delete" -> DELETE; options, patch and trace -> other).

#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <yaml-cpp/yaml.h>

#include "http/routes.hpp"
#include "http/status.hpp"
#include "messages/errors.hpp"

using namespace solver_state;
using namespace solver_state::gateway;

namespace {

const char* const operation_names[] = {"get",     "put",  "post",  "delete",
                                       "options", "head", "patch", "trace"};

/// The other fields a path item may have (OpenAPI 3.1, 4.8.9).
const std::set<std::string> path_item_fields{"$ref",    "summary",
                                             "description", "servers",
                                             "parameters"};

YAML::Node load_spec() {
  return YAML::LoadFile(SOLVER_STATE_SOURCE_DIR "/docs/openapi.yaml");
}

std::string upper(std::string s) {
  for (auto& c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool is_operation(const std::string& name) {
  for (auto* op : operation_names)
    if (name == op)
      return true;
  return false;
}

/// The routes that have a path (not unknown, unparsed).
std::vector<route_id> routes_with_paths() {
  std::vector<route_id> out;
  for (size_t i = 0; i < route_count; ++i) {
    auto r = static_cast<route_id>(i);
    if (r != route_id::unknown && r != route_id::unparsed)
      out.push_back(r);
  }
  return out;
}

/// The OpenAPI operation names of a path item, in spec order.
std::vector<std::string> operations_of(const YAML::Node& item) {
  std::vector<std::string> out;
  for (auto it = item.begin(); it != item.end(); ++it)
    if (auto name = it->first.as<std::string>(); is_operation(name))
      out.push_back(name);
  return out;
}

/// A request target for a path template: each {param} becomes "p".
std::string target_of(const std::string& templ) {
  std::string out;
  bool in_param = false;
  for (char c : templ) {
    if (c == '{') {
      in_param = true;
      out += 'p';
    } else if (c == '}') {
      in_param = false;
    } else if (!in_param) {
      out += c;
    }
  }
  return out;
}

/// node[keys[0]][keys[1]]...; an undefined node when one is missing
/// (yaml-cpp throws when indexing past a missing key). The steps are kept
/// in a vector because assigning to a YAML::Node writes into the tree.
YAML::Node find(const YAML::Node& node, const std::vector<std::string>& keys) {
  std::vector<YAML::Node> at{node};
  for (auto& key : keys) {
    const YAML::Node& parent = at.back();
    if (!parent.IsMap() || !parent[key])
      return YAML::Node{YAML::NodeType::Undefined};
    at.push_back(parent[key]);
  }
  return at.back();
}

/// The object a local reference ("#/components/responses/X") names; the
/// references of this spec need no ~ escapes.
YAML::Node deref(const YAML::Node& root, const YAML::Node& node) {
  if (!node.IsMap() || !node["$ref"])
    return node;
  auto ref = node["$ref"].as<std::string>();
  INFO("reference " << ref);
  REQUIRE(ref.rfind("#/", 0) == 0);
  std::vector<std::string> parts;
  for (size_t pos = 2; pos <= ref.size();) {
    auto slash = std::min(ref.find('/', pos), ref.size());
    parts.push_back(ref.substr(pos, slash - pos));
    pos = slash + 1;
  }
  auto target = find(root, parts);
  REQUIRE(target.IsDefined());
  return deref(root, target);
}

} // namespace

TEST_CASE("every route of the table is a path of docs/openapi.yaml with "
          "exactly the methods it accepts") {
  const auto spec = load_spec();
  const auto paths = spec["paths"];
  REQUIRE(paths.IsMap());
  size_t problems = 0;
  for (auto r : routes_with_paths()) {
    std::string path = label_of(r);
    const auto item = paths[path];
    if (!item) {
      FAIL_CHECK("route " << path << " is not a path of docs/openapi.yaml");
      ++problems;
      continue;
    }
    std::set<method_id> in_spec;
    for (auto& op : operations_of(item))
      in_spec.insert(method_of(upper(op)));
    for (size_t i = 0; i < method_count; ++i) {
      auto m = static_cast<method_id>(i);
      bool accepted = allows(r, m);
      bool listed = in_spec.count(m) > 0;
      if (accepted && !listed) {
        FAIL_CHECK("route " << path << " accepts " << label_of(m)
                            << ", docs/openapi.yaml does not list it");
        ++problems;
      } else if (!accepted && listed) {
        FAIL_CHECK("docs/openapi.yaml lists " << label_of(m) << " " << path
                                              << ", the route does not "
                                                 "accept it");
        ++problems;
      }
    }
  }
  CHECK(problems == 0);
}

TEST_CASE("every path and method of docs/openapi.yaml is a route that "
          "accepts it") {
  const auto spec = load_spec();
  const auto paths = spec["paths"];
  REQUIRE(paths.IsMap());
  size_t problems = 0;
  for (auto it = paths.begin(); it != paths.end(); ++it) {
    auto path = it->first.as<std::string>();
    const auto item = it->second;
    for (auto f = item.begin(); f != item.end(); ++f) {
      auto field = f->first.as<std::string>();
      if (!is_operation(field) && path_item_fields.count(field) == 0
          && field.rfind("x-", 0) != 0) {
        FAIL_CHECK("path " << path << " has a field '" << field
                           << "' that is no operation of OpenAPI 3.1");
        ++problems;
      }
    }
    auto target = target_of(path);
    for (auto& op : operations_of(item)) {
      auto method = method_of(upper(op));
      // The router itself must resolve the path to the route of that label,
      // not only the label table agree.
      auto m = match_route(target, method);
      if (m.route == route_id::unknown || m.route == route_id::unparsed) {
        FAIL_CHECK("docs/openapi.yaml has " << upper(op) << " " << path
                                            << ", the route table has no "
                                               "such route");
        ++problems;
      } else if (path != label_of(m.route)) {
        FAIL_CHECK("docs/openapi.yaml has " << upper(op) << " " << path
                                            << ", the router sends "
                                            << target << " to "
                                            << label_of(m.route));
        ++problems;
      } else if (!allows(m.route, method)) {
        FAIL_CHECK("docs/openapi.yaml has " << upper(op) << " " << path
                                            << ", the route does not "
                                               "accept it");
        ++problems;
      }
    }
  }
  CHECK(problems == 0);
}

TEST_CASE("docs/openapi.yaml has every error code, each under the status of "
          "http/status.cpp") {
  const auto spec = load_spec();
  std::set<std::string> in_spec;
  for (const auto& code : spec["components"]["schemas"]["ErrorCode"]["enum"])
    in_spec.insert(code.as<std::string>());
  std::map<std::string, state_errc> codes;
  for (size_t i = 1; i < state_errc_count; ++i) // 0 is none: no error
    codes.emplace(to_string(static_cast<state_errc>(i)),
                  static_cast<state_errc>(i));
  for (auto& [name, code] : codes)
    if (!in_spec.count(name))
      FAIL_CHECK("error code " << name << " is not in ErrorCode of "
                                          "docs/openapi.yaml");
  for (auto& name : in_spec)
    if (!codes.count(name))
      FAIL_CHECK("ErrorCode of docs/openapi.yaml has " << name
                                                       << ", which the "
                                                          "server never "
                                                          "sends");
  // Which codes each documented status says it carries: the operations'
  // responses, and the answers to unlisted paths (404) and methods (405).
  std::map<std::string, std::set<unsigned>> statuses_of;
  auto collect = [&](unsigned status, const YAML::Node& ref) {
    auto response = deref(spec, ref);
    const auto all_of
      = find(response, {"content", "application/json", "schema", "allOf"});
    if (!all_of.IsSequence())
      return;
    for (const auto& part : all_of)
      for (const auto& c :
           find(part, {"properties", "error", "properties", "code", "enum"}))
        statuses_of[c.as<std::string>()].insert(status);
  };
  collect(404, spec["x-unknown-path"]);
  collect(405, spec["x-method-not-allowed"]);
  const auto paths = spec["paths"];
  for (auto p = paths.begin(); p != paths.end(); ++p) {
    for (auto& op : operations_of(p->second)) {
      const auto responses = p->second[op]["responses"];
      for (auto r = responses.begin(); r != responses.end(); ++r)
        collect(r->first.as<unsigned>(), r->second);
    }
  }
  for (auto& [name, code] : codes) {
    auto own = http_status_of(code);
    auto& documented = statuses_of[name];
    if (!documented.count(own))
      FAIL_CHECK("error code " << name << " is answered with " << own
                               << ", docs/openapi.yaml documents it under "
                                  "no such status");
    for (auto status : documented) {
      // 414 and 431 carry bad_request (http/responses.hpp).
      bool oversized = code == state_errc::bad_request
                       && (status == 414 || status == 431);
      if (status != own && !oversized)
        FAIL_CHECK("docs/openapi.yaml documents " << name << " under "
                                                  << status << ", the server "
                                                               "answers it "
                                                               "with "
                                                  << own);
    }
  }
}
