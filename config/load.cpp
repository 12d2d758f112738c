// Reads YAML into service_config field by field, reporting every bad or
// unknown field by its path; env overrides, cross-field checks, durations.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "config/auth_token.hpp"
#include "config/config.hpp"
#include "config/limits.hpp"
#include "util/json_pointer.hpp"

namespace solver_state {

namespace {

/// The longest duration any field takes.
constexpr milliseconds max_duration = std::chrono::hours{24};

/// Walks one YAML mapping, reading known fields and reporting unknown ones.
/// Every problem is prefixed with the field's full path.
class section {
public:
  section(const YAML::Node& node, std::string path,
          std::vector<std::string>& problems)
    : node_(node), path_(std::move(path)), problems_(problems) {
    if (node_ && !node_.IsNull() && !node_.IsMap())
      problem(path_, "must be a mapping");
  }

  bool valid() const { return node_ && node_.IsMap(); }

  /// Whether the section sets `field` at all.
  bool sets(const std::string& field) const {
    return valid() && node_[field].IsDefined();
  }

  std::string path_of(const std::string& field) const {
    return path_.empty() ? field : path_ + "." + field;
  }

  void problem(const std::string& path, const std::string& why) {
    problems_.push_back(path + ": " + why);
  }

  /// The child node of `field`, marking it as known.
  YAML::Node child(const std::string& field) {
    known_.push_back(field);
    if (!valid())
      return YAML::Node{};
    return node_[field];
  }

  void text(const std::string& field, std::string& out) {
    auto n = child(field);
    if (!n || n.IsNull())
      return;
    if (!n.IsScalar())
      return problem(path_of(field), "must be a string");
    out = n.Scalar();
  }

  template <class Int>
  void number(const std::string& field, Int& out, long long lo, long long hi) {
    auto n = child(field);
    if (!n || n.IsNull())
      return;
    long long v = 0;
    if (!n.IsScalar() || !parse_int(n.Scalar(), v))
      return problem(path_of(field), "must be a whole number, got '"
                                       + scalar_of(n) + "'");
    if (v < lo || v > hi)
      return problem(path_of(field), "must be between " + std::to_string(lo)
                                       + " and " + std::to_string(hi)
                                       + ", got " + std::to_string(v));
    out = static_cast<Int>(v);
  }

  /// A duration between `lo` and `hi`: past a day, a timeout or an
  /// interval is a typo, and the clock arithmetic of a few million hours
  /// overflows (a deadline already passed, every request timed out).
  void duration(const std::string& field, milliseconds& out,
                milliseconds lo, milliseconds hi = max_duration) {
    auto n = child(field);
    if (!n || n.IsNull())
      return;
    milliseconds v{};
    if (!n.IsScalar() || !parse_duration(n.Scalar(), v))
      return problem(path_of(field),
                     "must be a duration such as 500ms, 30s, 5m, got '"
                       + scalar_of(n) + "'");
    if (v < lo)
      return problem(path_of(field), "must be at least "
                                       + std::to_string(lo.count()) + "ms");
    if (v > hi)
      return problem(path_of(field), "must be at most "
                                       + std::to_string(hi.count()) + "ms, got '"
                                       + scalar_of(n) + "'");
    out = v;
  }

  template <class Enum>
  void choice(const std::string& field, Enum& out,
              const std::map<std::string, Enum>& options) {
    auto n = child(field);
    if (!n || n.IsNull())
      return;
    std::string names;
    for (auto& [name, value] : options)
      names += (names.empty() ? "" : ", ") + name;
    if (!n.IsScalar() || options.count(n.Scalar()) == 0)
      return problem(path_of(field),
                     "must be one of " + names + ", got '" + scalar_of(n)
                       + "'");
    out = options.at(n.Scalar());
  }

  void list(const std::string& field, std::vector<std::string>& out) {
    auto n = child(field);
    if (!n || n.IsNull())
      return;
    if (!n.IsSequence())
      return problem(path_of(field), "must be a list");
    out.clear();
    for (size_t i = 0; i < n.size(); ++i) {
      if (!n[i].IsScalar()) {
        problem(path_of(field) + "[" + std::to_string(i) + "]",
                "must be a string");
        continue;
      }
      out.push_back(n[i].Scalar());
    }
  }

  /// Reports every field this section did not read, and every field given
  /// twice: YAML parsers keep one of the two (yaml-cpp the first) without a
  /// word, so a second `http:` section's auth_token would be dropped while
  /// the operator believes it set.
  void reject_unknown() {
    if (!valid())
      return;
    std::map<std::string, int> first_line;
    for (auto it = node_.begin(); it != node_.end(); ++it) {
      if (it->first.IsScalar()) {
        auto line = it->first.Mark().line + 1;
        auto [seen, fresh] = first_line.emplace(it->first.Scalar(), line);
        if (!fresh)
          problem(path_of(it->first.Scalar()),
                  "given twice (lines " + std::to_string(seen->second)
                    + " and " + std::to_string(line) + ")");
      }
      if (!it->first.IsScalar()) {
        problem(path_.empty() ? "(root)" : path_,
                "a key must be a plain name (line "
                  + std::to_string(it->first.Mark().line + 1) + ")");
        continue;
      }
      auto name = it->first.Scalar();
      if (std::find(known_.begin(), known_.end(), name) == known_.end())
        problem(path_of(name), "unknown field");
    }
  }

private:
  static bool parse_int(const std::string& s, long long& out) {
    if (s.empty())
      return false;
    char* end = nullptr;
    errno = 0;
    out = std::strtoll(s.c_str(), &end, 10);
    return errno == 0 && end == s.c_str() + s.size();
  }

  static std::string scalar_of(const YAML::Node& n) {
    return n.IsScalar() ? n.Scalar() : std::string{"<not a scalar>"};
  }

  YAML::Node node_;
  std::string path_;
  std::vector<std::string>& problems_;
  std::vector<std::string> known_;
};

void read_file_section(section& parent, file_config& f,
                       std::vector<std::string>& problems) {
  section s{parent.child("file"), parent.path_of("file"), problems};
  s.text("base_path", f.base_path);
  s.duration("sync_interval", f.sync_interval, milliseconds{10});
  s.choice<fsync_policy>("fsync", f.fsync,
                         {{"always", fsync_policy::always},
                          {"interval", fsync_policy::interval},
                          {"never", fsync_policy::never}});
  s.number("cache_items", f.cache_items, 0, 1'000'000'000);
  s.number("max_unfolded_bytes", f.max_unfolded_bytes, 1LL << 20, 1LL << 40);
  s.reject_unknown();
}

/// Shards of the rocksdb backend when the configuration names none: one, as
/// for file. The shards share one log but each syncs it for its own group,
/// so under fsync: always 2 shards served 0.8x what 1 did through the
/// gateway (bench/README.md, "Embedded engines over TCP").
constexpr size_t rocksdb_default_shards = 1;

void read_rocksdb_section(section& parent, rocksdb_config& r,
                          std::vector<std::string>& problems) {
  section s{parent.child("rocksdb"), parent.path_of("rocksdb"), problems};
  s.text("base_path", r.base_path);
  s.choice<fsync_policy>("fsync", r.fsync,
                         {{"always", fsync_policy::always},
                          {"interval", fsync_policy::interval},
                          {"never", fsync_policy::never}});
  s.duration("sync_interval", r.sync_interval, milliseconds{10});
  s.number("cache_bytes", r.cache_bytes, 1LL << 20, 1LL << 40);
  s.reject_unknown();
}

/// state.shards when the YAML names none: the file backend's and the
/// pipelined network backends' own defaults.
void apply_default_shards(state_config& st) {
  auto scheme_is = [&](std::string_view scheme) {
    return std::string_view{st.type}.substr(0, scheme.size()) == scheme;
  };
  if (st.type == "file")
    st.shards = file_default_shards;
  else if (st.type == "rocksdb")
    st.shards = rocksdb_default_shards;
  else if (scheme_is("redis://") || scheme_is("redis-sentinel://")
           || scheme_is("postgresql://"))
    st.shards = pipelined_default_shards;
}

/// state.max_items when the YAML names none: a cap for memory only.
void apply_default_max_items(state_config& st) {
  st.max_items = st.type == "memory" ? memory_default_max_items : 0;
}

/// True when `field` of section `s` is absent or null (YAML `field:`), so
/// its per-type default applies.
bool unset(section& s, const std::string& field) {
  auto n = s.child(field);
  return !n || n.IsNull();
}

void read_watch_section(section& parent, watch_config& w,
                        std::vector<std::string>& problems) {
  section s{parent.child("watch"), parent.path_of("watch"), problems};
  s.number("history_events", w.history_events, 1, 100'000'000);
  s.number("history_bytes", w.history_bytes, 1024, 1LL << 40);
  s.number("max_watchers", w.max_watchers, 1, 1'000'000);
  // At most a minute: clients give up on a stream silent for longer (the
  // CLI's watch after 90 s, a proxy's idle timeout often after 60 s).
  s.duration("heartbeat", w.heartbeat, milliseconds{100},
             std::chrono::seconds{60});
  s.reject_unknown();
}

void read_compression_section(section& parent, compression_config& c,
                              std::vector<std::string>& problems) {
  section s{parent.child("compression"), parent.path_of("compression"),
            problems};
  s.choice<compression_type>("type", c.type,
                             {{"none", compression_type::none},
                              {"zstd", compression_type::zstd}});
  s.number("min_bytes", c.min_bytes, 0, 1LL << 30);
  // Negative levels are zstd's fast ones; 0 would silently mean its
  // default, 3.
  s.number("level", c.level, -50, 19);
  s.list("dictionaries", c.dictionaries);
  s.reject_unknown();
  if (c.level == 0)
    problems.push_back(parent.path_of("compression")
                       + ".level: 0 is not a level (zstd would read it as 3; "
                         "levels are -50..-1 fast, 1..19)");
  if (!c.dictionaries.empty() && c.type != compression_type::zstd)
    problems.push_back(parent.path_of("compression")
                       + ".dictionaries: needs type: zstd");
}

/// state.encryption: the keys' ids and files (their contents are read and
/// checked when the store opens, and by --check-config).
void read_encryption_section(section& parent, encryption_config& e,
                             std::vector<std::string>& problems) {
  section s{parent.child("encryption"), parent.path_of("encryption"),
            problems};
  s.text("primary", e.primary);
  s.choice<bool>("require_encrypted", e.require_encrypted,
                 {{"true", true}, {"false", false}});
  auto keys = s.child("keys");
  auto keys_path = s.path_of("keys");
  if (keys && !keys.IsNull() && !keys.IsSequence())
    s.problem(keys_path, "must be a list of {id, file}");
  else if (keys && keys.IsSequence()) {
    e.keys.clear();
    for (size_t i = 0; i < keys.size(); ++i) {
      auto path = keys_path + "[" + std::to_string(i) + "]";
      section k{keys[i], path, problems};
      if (!keys[i].IsMap()) {
        if (!keys[i] || keys[i].IsNull())
          k.problem(path, "must be {id, file}");
        continue; // else the section reported it
      }
      encryption_key_config key;
      k.text("id", key.id);
      k.text("file", key.file);
      k.reject_unknown();
      if (key.id.empty())
        k.problem(path + ".id", "missing: every key needs an id");
      if (key.file.empty())
        k.problem(path + ".file",
                  "missing: the file that holds the key (never the key "
                  "itself in the YAML)");
      for (auto& other : e.keys)
        if (!key.id.empty() && other.id == key.id)
          k.problem(path + ".id", "'" + key.id + "' is listed twice");
      e.keys.push_back(std::move(key));
    }
  }
  if (e.keys.empty() && e.require_encrypted)
    s.problem(s.path_of("require_encrypted"),
              "needs state.encryption.keys: without a key nothing is "
              "encrypted, and every value would be refused");
  if (e.keys.empty() && !e.primary.empty())
    s.problem(s.path_of("primary"),
              "names '" + e.primary + "' but state.encryption.keys is empty");
  if (!e.keys.empty() && e.primary.empty())
    s.problem(s.path_of("primary"),
              "missing: name the key new writes use (one of "
              "state.encryption.keys)");
  if (!e.keys.empty() && !e.primary.empty()) {
    bool listed = false;
    for (auto& k : e.keys)
      listed = listed || k.id == e.primary;
    if (!listed)
      s.problem(s.path_of("primary"),
                "'" + e.primary + "' is not the id of a listed key");
  }
  s.reject_unknown();
}

bool is_index_name(const std::string& name) {
  if (name.empty() || name.size() > 64)
    return false;
  for (unsigned char c : name)
    if (!std::isalnum(c) && c != '_' && c != '.' && c != '-')
      return false;
  return true;
}

/// state.indexes: [{name, prefix, path}], names unique, paths JSON pointers.
void read_indexes(section& parent, std::vector<index_config>& out,
                  std::vector<std::string>& problems) {
  auto list = parent.child("indexes");
  auto list_path = parent.path_of("indexes");
  if (!list || list.IsNull())
    return;
  if (!list.IsSequence())
    return parent.problem(list_path, "must be a list of {name, prefix, path}");
  if (list.size() > max_indexes)
    parent.problem(list_path, "declares " + std::to_string(list.size())
                                + " indexes; at most "
                                + std::to_string(max_indexes));
  out.clear();
  for (size_t i = 0; i < list.size(); ++i) {
    auto path = list_path + "[" + std::to_string(i) + "]";
    section s{list[i], path, problems};
    if (!list[i].IsMap()) {
      if (!list[i] || list[i].IsNull())
        s.problem(path, "must be {name, prefix, path}");
      continue;
    }
    index_config index;
    s.text("name", index.name);
    s.text("prefix", index.prefix);
    s.text("path", index.path);
    s.reject_unknown();
    if (!is_index_name(index.name))
      s.problem(path + ".name",
                index.name.empty()
                  ? "missing: every index needs a name"
                  : "'" + index.name
                      + "' must be 1 to 64 letters, digits, '_', '.' or '-'");
    if (auto why = json_pointer_problem(index.path); !why.empty())
      s.problem(path + ".path", "'" + index.path + "' " + why);
    for (auto& other : out)
      if (!index.name.empty() && other.name == index.name)
        s.problem(path + ".name", "'" + index.name + "' is declared twice");
    out.push_back(std::move(index));
  }
}

void read_state(section& root, state_config& st,
                std::vector<std::string>& problems) {
  section s{root.child("state"), "state", problems};
  s.text("type", st.type);
  if (unset(s, "shards"))
    apply_default_shards(st);
  if (unset(s, "max_items"))
    apply_default_max_items(st);
  s.number("shards", st.shards, 1, 1024);
  s.number("max_items", st.max_items, 0, 4'000'000'000LL);
  s.choice<eviction_policy>("eviction", st.eviction,
                            {{"reject", eviction_policy::reject},
                             {"lru", eviction_policy::lru}});
  s.number("ttl_seconds", st.ttl_seconds, 0, 10LL * 365 * 24 * 3600);
  s.duration("sweep_interval", st.sweep_interval, milliseconds{10});
  s.number("max_value_bytes", st.max_value_bytes, 1,
           static_cast<long long>(max_value_bytes_ceiling));
  read_file_section(s, st.file, problems);
  read_rocksdb_section(s, st.rocksdb, problems);
  read_watch_section(s, st.watch, problems);
  read_compression_section(s, st.compression, problems);
  read_encryption_section(s, st.encryption, problems);
  read_indexes(s, st.indexes, problems);
  s.reject_unknown();
}

void read_http(section& root, http_config& h,
               std::vector<std::string>& problems) {
  section s{root.child("http"), "http", problems};
  s.text("listen", h.listen);
  s.text("auth_token", h.auth_token);
  s.number("max_body_bytes", h.max_body_bytes, 1, 1LL << 30);
  s.number("max_import_bytes", h.max_import_bytes, 1, 1LL << 30);
  s.number("max_in_flight", h.max_in_flight, 1, 1'000'000);
  s.duration("read_timeout", h.read_timeout, milliseconds{100});
  s.duration("first_byte_timeout", h.first_byte_timeout, milliseconds{100});
  s.duration("request_timeout", h.request_timeout, milliseconds{10});
  s.number("max_connections", h.max_connections, 1, 1'000'000);
  s.number("max_batch_keys", h.max_batch_keys, 1, 100'000);
  s.number("max_reply_bytes", h.max_reply_bytes, 1, 1LL << 30);
  s.number("max_pending_reply_bytes", h.max_pending_reply_bytes, 1,
           1LL << 40);
  s.number("max_pending_body_bytes", h.max_pending_body_bytes, 1, 1LL << 40);
  // Unset, it makes room for the largest body: a config that raised
  // max_import_bytes past it before the setting existed still starts.
  if (!s.sets("max_pending_body_bytes"))
    h.max_pending_body_bytes = std::max(
      h.max_pending_body_bytes, std::max(h.max_import_bytes, h.max_body_bytes));
  s.number("threads", h.threads, 1, 64);
  s.choice<bool>("access_log", h.access_log,
                 {{"true", true}, {"false", false}});
  s.reject_unknown();
}

void read_node(section& root, node_config& n,
               std::vector<std::string>& problems) {
  section s{root.child("node"), "node", problems};
  s.text("listen", n.listen);
  s.list("peers", n.peers);
  s.list("members", n.members);
  s.list("leaving", n.leaving);
  s.text("state_dir", n.state_dir);
  s.duration("request_timeout", n.request_timeout, milliseconds{10});
  s.duration("heartbeat_interval", n.heartbeat_interval, milliseconds{10});
  section tls{s.child("tls"), "node.tls", problems};
  tls.text("certificate", n.tls.certificate);
  tls.text("key", n.tls.key);
  tls.text("ca_file", n.tls.ca_file);
  tls.reject_unknown();
  s.choice<bool>("insecure", n.insecure, {{"true", true}, {"false", false}});
  s.reject_unknown();
}

void read_log(section& root, log_config& l,
              std::vector<std::string>& problems) {
  section s{root.child("log"), "log", problems};
  s.choice<std::string>("level", l.level,
                        {{"trace", "trace"},
                         {"debug", "debug"},
                         {"info", "info"},
                         {"warn", "warn"},
                         {"error", "error"},
                         {"off", "off"}});
  s.choice<log_format>("format", l.format,
                       {{"text", log_format::text},
                        {"json", log_format::json}});
  s.text("file", l.file);
  s.reject_unknown();
}

} // namespace

namespace {
void read_document(const YAML::Node& doc, config_result& result);
} // namespace

namespace {

/// The one YAML document of `yaml_text` (a null node when there is none),
/// or nothing with the problem added. More than one document is refused:
/// YAML::Load keeps the first and drops the others without a word, so
/// `---` before the settings (or between two halves of a file) would start
/// the service on defaults, without the auth_token the operator set.
std::optional<YAML::Node> single_document(const std::string& yaml_text,
                                          std::vector<std::string>& problems) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml_text);
  } catch (const YAML::Exception& e) {
    problems.push_back("yaml: line " + std::to_string(e.mark.line + 1) + ": "
                       + e.msg);
    return std::nullopt;
  }
  if (docs.size() > 1) {
    problems.push_back("yaml: " + std::to_string(docs.size())
                       + " documents (separated by '---'); a config is one "
                         "document: remove the extra '---' lines");
    return std::nullopt;
  }
  return docs.empty() ? YAML::Node{} : docs.front();
}

} // namespace

config_result parse_config(const std::string& yaml_text) {
  config_result result;
  auto parsed = single_document(yaml_text, result.problems);
  if (!parsed)
    return result;
  auto& doc = *parsed;
  if (doc.IsNull()) {
    apply_default_shards(result.config.state);
    apply_default_max_items(result.config.state);
    validate(result.config, result.problems);
    return result;
  }
  if (!doc.IsMap()) {
    result.problems.push_back("(root): must be a mapping");
    return result;
  }
  // Every field is read through checked accessors; this catch is the backstop
  // that turns any YAML shape they did not foresee into a problem, never an
  // abort.
  try {
    read_document(doc, result);
  } catch (const YAML::Exception& e) {
    result.problems.push_back("yaml: line " + std::to_string(e.mark.line + 1)
                              + ": " + e.msg);
  }
  return result;
}

namespace {

void read_document(const YAML::Node& doc, config_result& result) {
  section root{doc, "", result.problems};
  read_state(root, result.config.state, result.problems);
  read_http(root, result.config.http, result.problems);
  read_node(root, result.config.node, result.problems);
  read_log(root, result.config.log, result.problems);
  root.number("scheduler_threads", result.config.scheduler_threads, 0, 256);
  root.reject_unknown();
  validate(result.config, result.problems);
}

} // namespace

config_result load_config_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    config_result result;
    result.problems.push_back(path + ": is a directory, not a config file");
    return result;
  }
  std::ifstream in{path};
  if (!in) {
    config_result result;
    result.problems.push_back(path + ": cannot be read");
    return result;
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto text = buf.str();
  // A file with no settings at all is most likely a mistake (truncated, a
  // template that rendered nothing, the wrong file), and would start on
  // the built-in defaults: refused, as --config "" is. `{}` says "the
  // defaults" on purpose.
  std::vector<std::string> problems;
  if (auto doc = single_document(text, problems); doc && doc->IsNull()) {
    config_result result;
    result.problems.push_back(
      path + ": holds no settings (empty, or only comments); write {} to "
             "run on the built-in defaults, or leave out --config");
    return result;
  }
  return parse_config(text);
}

void apply_environment(service_config& cfg) {
  if (auto token = std::getenv("SOLVER_STATE_AUTH_TOKEN"); token && *token)
    cfg.http.auth_token = token;
}

namespace {
bool beyond_loopback(const std::string& listen);

/// node.members: host:port each, no repeats, this node's listen among
/// them, and not beside node.peers.
void validate_members(const node_config& n,
                      std::vector<std::string>& problems) {
  if (n.members.empty())
    return;
  std::string host;
  uint16_t port = 0;
  for (size_t i = 0; i < n.members.size(); ++i) {
    auto& m = n.members[i];
    if (!split_host_port(m, host, port) || port == 0)
      problems.push_back("node.members[" + std::to_string(i)
                         + "]: must be host:port, got '" + m + "'");
    else if (std::find(n.members.begin(), n.members.begin() + i, m)
             != n.members.begin() + i)
      problems.push_back("node.members[" + std::to_string(i) + "]: '" + m
                         + "' is listed twice");
  }
  if (!n.peers.empty())
    problems.push_back("node.members: set node.members (every node, this "
                       "one included) or node.peers, not both");
  if (n.listen.empty())
    problems.push_back("node.members: a member needs node.listen, one of "
                       "the members");
  else if (std::find(n.members.begin(), n.members.end(), n.listen)
             == n.members.end()
           && std::find(n.leaving.begin(), n.leaving.end(), n.listen)
                == n.leaving.end())
    problems.push_back("node.members: must list this node's node.listen '"
                       + n.listen
                       + "' (spelled the same: every node lists every "
                         "member, itself included), unless node.leaving "
                         "lists it");
}

/// node.leaving: host:port each, no repeats, none a member, only beside
/// node.members.
void validate_leaving(const node_config& n,
                      std::vector<std::string>& problems) {
  if (n.leaving.empty())
    return;
  if (n.members.empty())
    problems.push_back("node.leaving: needs node.members (the nodes that "
                       "take the leaving nodes' keys)");
  std::string host;
  uint16_t port = 0;
  for (size_t i = 0; i < n.leaving.size(); ++i) {
    auto& l = n.leaving[i];
    auto field = "node.leaving[" + std::to_string(i) + "]";
    if (!split_host_port(l, host, port) || port == 0)
      problems.push_back(field + ": must be host:port, got '" + l + "'");
    else if (std::find(n.leaving.begin(), n.leaving.begin() + i, l)
             != n.leaving.begin() + i)
      problems.push_back(field + ": '" + l + "' is listed twice");
    else if (std::find(n.members.begin(), n.members.end(), l)
             != n.members.end())
      problems.push_back(field + ": '" + l
                         + "' is also a member: a node either stays (in "
                           "node.members) or leaves");
  }
}

/// Room for the largest answer and then some, or it would hardly ever be
/// sent. The largest is a value (GET), or a batch's values in base64
/// inside JSON (4/3 of http.max_reply_bytes).
void validate_reply_budget(const service_config& cfg,
                           std::vector<std::string>& problems) {
  auto budget = cfg.http.max_pending_reply_bytes;
  auto batch = cfg.http.max_reply_bytes / 3 * 4 + 4;
  auto largest = std::max(batch, cfg.state.max_value_bytes);
  auto needed = largest + 1024 * 1024;
  if (budget < needed)
    problems.push_back(
      "http.max_pending_reply_bytes: " + std::to_string(budget)
      + " leaves no room for the largest answer ("
      + (batch >= cfg.state.max_value_bytes
           ? "http.max_reply_bytes in base64"
           : "state.max_value_bytes")
      + ") and 1 MiB more: set it to " + std::to_string(needed) + " or more");
}

/// Room for the largest body, or it could go through only alone.
void validate_body_budget(const http_config& h,
                          std::vector<std::string>& problems) {
  auto largest = std::max(h.max_import_bytes, h.max_body_bytes);
  if (h.max_pending_body_bytes < largest)
    problems.push_back(
      "http.max_pending_body_bytes: " + std::to_string(h.max_pending_body_bytes)
      + " leaves no room for the largest request body ("
      + (h.max_import_bytes >= h.max_body_bytes ? "http.max_import_bytes"
                                                : "http.max_body_bytes")
      + "=" + std::to_string(largest) + "): set it to "
      + std::to_string(largest) + " or more");
}

} // namespace

void validate(const service_config& cfg, std::vector<std::string>& problems) {
  std::string host;
  uint16_t port = 0;
  if (!split_host_port(cfg.http.listen, host, port))
    problems.push_back("http.listen: must be host:port, got '"
                       + cfg.http.listen + "'");
  if (!cfg.node.listen.empty()
      && !split_host_port(cfg.node.listen, host, port))
    problems.push_back("node.listen: must be host:port, got '"
                       + cfg.node.listen + "'");
  for (size_t i = 0; i < cfg.node.peers.size(); ++i)
    if (!split_host_port(cfg.node.peers[i], host, port) || port == 0)
      problems.push_back("node.peers[" + std::to_string(i)
                         + "]: must be host:port, got '" + cfg.node.peers[i]
                         + "'");
  validate_members(cfg.node, problems);
  validate_leaving(cfg.node, problems);
  if (beyond_loopback(cfg.node.listen) && !cfg.node.tls.enabled()
      && !cfg.node.insecure)
    problems.push_back("node.listen: " + cfg.node.listen
                       + " is reachable beyond this machine without "
                         "node.tls: anyone who connects would be a peer, in "
                         "plain text; set node.tls, or node.insecure: true "
                         "to accept that");
  if (cfg.node.tls.certificate.empty() != cfg.node.tls.key.empty())
    problems.push_back("node.tls: certificate and key go together");
  // A CA alone turns nothing on: the node would run in plain text while
  // its configuration reads as TLS with peers checked against the CA.
  if (!cfg.node.tls.ca_file.empty() && !cfg.node.tls.enabled())
    problems.push_back("node.tls.ca_file: given without certificate and "
                       "key, which turn TLS on");
  validate_reply_budget(cfg, problems);
  validate_body_budget(cfg.http, problems);
  if (auto why = auth_token_problem(cfg.http.auth_token); !why.empty())
    problems.push_back("http.auth_token: " + why);
  if (cfg.state.type.empty())
    problems.push_back("state.type: must not be empty");
  if (cfg.state.type == "file" && cfg.state.file.base_path.empty())
    problems.push_back("state.file.base_path: must not be empty");
  if (cfg.state.type == "rocksdb" && cfg.state.rocksdb.base_path.empty())
    problems.push_back("state.rocksdb.base_path: must not be empty");
  if (!cfg.node.state_dir.empty() && cfg.state.type != "memory")
    problems.push_back("node.state_dir: only for state.type memory (file and "
                       "rocksdb record the handoff beside their data); "
                       "remove it");
}

namespace {

void require_file(const std::string& field, const std::string& path,
                  std::vector<std::string>& problems) {
  std::error_code ec;
  if (path.empty() || std::filesystem::is_regular_file(path, ec))
    return;
  problems.push_back(field + ": no such file '" + path + "'");
}

/// Why the logger could not open `path`, or "": opened as spdlog opens it
/// (fopen "ab", which also seeks to the end: /proc/version opens for
/// writing, even by root, but cannot seek), never truncated. A file that
/// did not exist is removed again, so a check leaves nothing behind.
std::string unappendable(const std::string& path) {
  std::error_code ec;
  bool existed = std::filesystem::exists(std::filesystem::symlink_status(path, ec));
  errno = 0;
  auto* f = std::fopen(path.c_str(), "ab");
  if (f == nullptr)
    return std::strerror(errno != 0 ? errno : EIO);
  std::fclose(f);
  if (!existed)
    std::filesystem::remove(path, ec);
  return {};
}

} // namespace

void check_files(const service_config& cfg,
                 std::vector<std::string>& problems) {
  // The node reads its TLS files only when it listens or dials peers.
  auto& node = cfg.node;
  if (node.tls.enabled()
      && (!node.listen.empty() || !node.store_nodes().empty())) {
    require_file("node.tls.certificate", node.tls.certificate, problems);
    require_file("node.tls.key", node.tls.key, problems);
    require_file("node.tls.ca_file", node.tls.ca_file, problems);
  }
  if (!node.state_dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_directory(node.state_dir, ec))
      problems.push_back("node.state_dir: directory '" + node.state_dir
                         + "' does not exist");
  }
  // spdlog creates the file, not its directory: say so before start-up.
  if (cfg.log.file.empty())
    return;
  auto dir = std::filesystem::path{cfg.log.file}.parent_path();
  std::error_code ec;
  if (!dir.empty() && !std::filesystem::is_directory(dir, ec))
    problems.push_back("log.file: directory '" + dir.string()
                       + "' does not exist");
  else if (auto why = unappendable(cfg.log.file); !why.empty())
    problems.push_back("log.file: cannot open '" + cfg.log.file
                       + "' for appending: " + why);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

namespace {

/// True when `listen` (host:port) is reachable from other machines; an
/// unparsable one is validate()'s problem, not a warning.
bool beyond_loopback(const std::string& listen) {
  std::string host;
  uint16_t port = 0;
  return split_host_port(listen, host, port) && !is_loopback(host);
}

} // namespace

std::vector<std::string> config_warnings(const service_config& cfg) {
  std::vector<std::string> out;
  if (beyond_loopback(cfg.http.listen) && cfg.http.auth_token.empty())
    out.push_back("http.listen: " + cfg.http.listen
                  + " is reachable beyond this machine and http.auth_token is "
                    "empty: anyone who connects may read and write state; "
                    "set http.auth_token or SOLVER_STATE_AUTH_TOKEN");
  if (beyond_loopback(cfg.node.listen) && !cfg.node.tls.enabled())
    out.push_back("node.listen: " + cfg.node.listen
                  + " is reachable beyond this machine without node.tls "
                    "(node.insecure: true): anyone who connects is a peer, "
                    "in plain text; set node.tls");
  if (!cfg.node.members.empty() && cfg.state.type == "memory"
      && cfg.node.state_dir.empty())
    out.push_back("node.members on state.type memory without "
                  "node.state_dir: every restart of this node pulls from "
                  "every other member, and its own keys answer 503 while "
                  "one of them is down; set node.state_dir "
                  "(docs/cluster.md)");
  return out;
}

bool split_host_port(const std::string& text, std::string& host,
                     uint16_t& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    return false;
  host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']')
      return false;
    host = host.substr(1, host.size() - 2);
  }
  auto digits = text.substr(colon + 1);
  if (digits.size() > 5
      || digits.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto value = std::stoul(digits);
  if (value > 65535)
    return false;
  port = static_cast<uint16_t>(value);
  return !host.empty();
}

bool parse_duration(const std::string& text, milliseconds& out) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
    ++digits;
  if (digits == 0 || digits > 12)
    return false;
  auto value = std::stoll(text.substr(0, digits));
  auto unit = text.substr(digits);
  static const std::map<std::string, long long> ms_per_unit{
    {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}};
  auto it = ms_per_unit.find(unit);
  if (it == ms_per_unit.end())
    return false;
  out = milliseconds{value * it->second};
  return true;
}

const char* to_string(eviction_policy x) {
  return x == eviction_policy::lru ? "lru" : "reject";
}

const char* to_string(fsync_policy x) {
  switch (x) {
    case fsync_policy::always:
      return "always";
    case fsync_policy::interval:
      return "interval";
    default:
      return "never";
  }
}

} // namespace solver_state
