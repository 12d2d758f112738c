#pragma once

// The service configuration as typed, validated structs. Configuration flows
// one way: YAML (config/load.cpp) -> these structs -> CAF, Beast and backends.
// Defaults are what an operator gets with no config file at all.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace solver_state {

using std::chrono::milliseconds;

enum class eviction_policy { reject, lru };

/// When a file-backend write reaches the disk (like Redis' appendfsync).
enum class fsync_policy { always, interval, never };

struct file_config {
  std::string base_path = "./var/state";
  milliseconds sync_interval{30'000};
  fsync_policy fsync = fsync_policy::always;
  size_t cache_items = 10'000;
  /// Log bytes not yet folded into the tree, per shard, past which
  /// acknowledgements wait for the fold (backpressure; a little from half of
  /// it on): the shard holds at most about twice this in memory for values
  /// not yet folded, whatever the load.
  size_t max_unfolded_bytes = 256u << 20;
  /// --recover-truncate-log (command line only): cut a log damaged inside
  /// its synced part at the damage, report what it drops, and start.
  bool recover_truncate_log = false;
};

/// The "rocksdb" backend (state.type: rocksdb): one RocksDB database under
/// base_path, a column family per shard, one write-ahead log for all of them.
struct rocksdb_config {
  std::string base_path = "./var/rocksdb";
  /// always: the log is synced before a write is acknowledged, once per
  /// group of writes; interval: every sync_interval; never: by the OS.
  fsync_policy fsync = fsync_policy::always;
  milliseconds sync_interval{1'000};
  /// Memory for the block cache and the memtables together (the memtables
  /// are charged to the cache): what RocksDB holds stays within it.
  size_t cache_bytes = 64u << 20;
};

/// Shards of the file backend when the configuration names none: one log,
/// so a group commit takes every writer in one fdatasync (bench/README.md,
/// "File backend": 8 logs made groups of ~3 and 8 fdatasyncs per round).
constexpr size_t file_default_shards = 1;

/// Shards of the pipelined network backends (redis://, postgresql://) when
/// the configuration names none. Each shard is a connection and a thread,
/// and its batches grow with the requests waiting for it: on the 2-core
/// bench machine 2 shards served about 1.2x (Redis) and 1.8x (PostgreSQL)
/// what 8 did through the gateway (bench/README.md), while a second one
/// still keeps a slow operation from holding up every key.
constexpr size_t pipelined_default_shards = 2;

/// state.max_items of the memory backend when the configuration names none:
/// RAM is the one store that falls over when it grows without bound. The
/// durable and network engines (file, redis, postgresql, dynamodb) hold what
/// their disk or server holds, so for them a missing max_items means 0 (no
/// cap) instead of a surprise capacity_exceeded at the 10001st key.
constexpr size_t memory_default_max_items = 10'000;

/// How values are compressed before they are stored (state.compression).
enum class compression_type { none, zstd };

struct compression_config {
  compression_type type = compression_type::none;
  /// Values shorter than this are stored as they are: zstd's frame costs
  /// more than it saves on small values.
  size_t min_bytes = 512;
  /// zstd's level: 1 .. 19 (smallest), or -1 .. -50 (fast; with a dictionary,
  /// -5 stores 3% more than 1 in half the time: docs/encryption.md).
  int level = 1;
  /// zstd dictionary files (solver-state-cli train-dictionary): the first
  /// compresses new values, every one listed decompresses the values that
  /// name it. Small JSON values share most of their bytes with each other,
  /// which a value compressed alone cannot use.
  std::vector<std::string> dictionaries;
};

/// One encryption key: its id (named in every value it protects) and the
/// file holding its 32 bytes. The key itself never appears in the YAML.
struct encryption_key_config {
  std::string id;
  std::string file;
};

/// AES-256-GCM at rest (state.encryption): off when no keys are listed.
struct encryption_config {
  /// The key new writes use; must be one of `keys`.
  std::string primary;
  /// Every key that may still protect stored values (rotation: list the
  /// new key as primary and keep the old ones until state_reencrypt_pending
  /// reads 0).
  std::vector<encryption_key_config> keys;
  /// Refuse a stored value that is not encrypted (one written before
  /// encryption was on, or by something other than this service with
  /// access to the backend): its key answers an error instead of serving
  /// bytes no key authenticated, and the walk does not re-encrypt it. Off
  /// while a store that held plaintext is being migrated; on once
  /// state_reencrypt_pending reads 0.
  bool require_encrypted = false;

  bool enabled() const { return !keys.empty(); }
};

/// One declared index (state.indexes): for every key under `prefix` whose
/// value is a JSON object, the string or number at the JSON pointer `path`
/// (RFC 6901, e.g. /status or /deadline/unix). Queries name it by `name`.
struct index_config {
  std::string name;
  std::string prefix;
  std::string path;
};

/// The most indexes a store declares: each costs every write under its
/// prefix a parse and an entry.
constexpr size_t max_indexes = 16;

/// Watches (state.watch): the bounds of the hub's history and of its
/// subscribers.
struct watch_config {
  /// Changes the history holds for resuming and for slow watchers; a
  /// watcher further behind is told to resync and dropped.
  size_t history_events = 100'000;
  size_t history_bytes = 64u << 20;
  /// Subscriptions at once, in process and over HTTP together.
  size_t max_watchers = 1'000;
  /// An idle HTTP watch stream sends a comment this often, so proxies keep
  /// it open and a client that left is noticed.
  milliseconds heartbeat{10'000};
};

struct state_config {
  /// memory | file | rocksdb | redis://... | postgresql://... | dynamodb://... | dynamodbs://... (HTTPS)
  /// The default keeps state across restarts (file.base_path).
  std::string type = "file";
  /// 8; with no state.shards in the YAML, file_default_shards for type:
  /// file and pipelined_default_shards for redis:// and postgresql://.
  size_t shards = 8;
  /// Keys in the whole store; 0 = unlimited. With no state.max_items in the
  /// YAML: memory_default_max_items for type: memory, 0 for the others.
  size_t max_items = memory_default_max_items;
  eviction_policy eviction = eviction_policy::reject;
  /// Default TTL of writes that name none; 0 = never expire.
  int64_t ttl_seconds = 0;
  /// How often shards drop expired keys and report metrics.
  milliseconds sweep_interval{1'000};
  /// Largest value a write may carry, from any sender (HTTP 413
  /// payload_too_large, the same error to CAF senders).
  size_t max_value_bytes = 16u << 20;
  file_config file;
  rocksdb_config rocksdb;
  watch_config watch;
  compression_config compression;
  encryption_config encryption;
  /// Declared indexes, for queries (POST /v1/query, query_atom).
  std::vector<index_config> indexes;
};

struct http_config {
  std::string listen = "127.0.0.1:8080";
  std::string auth_token;
  size_t max_body_bytes = 1'048'576;
  /// Body of one POST /v1/import (a backup is larger than any other body).
  size_t max_import_bytes = 64u << 20;
  /// Requests being served at once, all connections together; beyond it the
  /// gateway answers 503 instead of queueing.
  size_t max_in_flight = 4'096;
  milliseconds read_timeout{30'000};
  /// How long a new connection may stay silent before the first byte of
  /// its first request (capped by read_timeout): past it, it is closed.
  milliseconds first_byte_timeout{5'000};
  /// How long one request may wait for the store before 504.
  milliseconds request_timeout{5'000};
  /// Open connections; past it a new one gets 503 (see app/descriptors.hpp).
  size_t max_connections = 10'000;
  /// Keys in one POST /v1/state/batch-get (and operations in one batch).
  size_t max_batch_keys = 1'000;
  /// Value bytes in one batch-get reply; keys past it come back in
  /// unprocessed_keys to ask again.
  size_t max_reply_bytes = 16u << 20;
  /// Bytes of answers the gateway holds until their clients have read
  /// them, all connections together; past it a large answer gets 503, a
  /// stream does not start and a started stream's chunk waits. At least the
  /// largest answer plus 1 MiB (checked).
  size_t max_pending_reply_bytes = 256u << 20;
  /// Bytes of request bodies the gateway holds, all connections together,
  /// from a request's header until its answer (an import's whole body);
  /// past it a body over 64 KiB gets 503 before more of it is read. At
  /// least the largest body (http.max_import_bytes, http.max_body_bytes;
  /// checked).
  size_t max_pending_body_bytes = 256u << 20;
  size_t threads = 1;
  /// One info line per request (client address, method, route, status,
  /// bytes, duration, request id); off: those lines are debug.
  bool access_log = false;
  /// Not a key of the http section: the binary copies state.max_value_bytes
  /// here, so POST /v1/import can refuse an oversized value before it
  /// writes any line.
  size_t max_value_bytes = 16u << 20;
};

struct tls_config {
  std::string certificate;
  std::string key;
  std::string ca_file;
  bool enabled() const { return !certificate.empty(); }
};

struct node_config {
  std::string listen;
  /// Store nodes to spread keys over (host:port each); this node is one of
  /// them when its listen address is listed.
  std::vector<std::string> peers;
  /// The symmetric form: every member's host:port, the same list on every
  /// node, this node's listen among them (checked); any node serves any
  /// key. Set members or peers, not both.
  std::vector<std::string> members;
  /// Nodes being removed (host:port each, not members): they own no key
  /// but still hold keys, which the members pull from them. The same list
  /// on every node, the leaving nodes included; a leaving node runs until
  /// it holds no key, then leaves this list.
  std::vector<std::string> leaving;
  /// A directory where a member on state.type memory records its finished
  /// handoff (the file and rocksdb backends record it beside their data),
  /// so that a restart with the same members skips the handoff and does
  /// not need every other member up. Empty: every start of it pulls.
  std::string state_dir;
  milliseconds request_timeout{2'000};
  milliseconds heartbeat_interval{1'000};
  tls_config tls;
  /// Accepts node.listen beyond loopback without node.tls: any machine that
  /// connects is a peer, in plain text. Refused unless set; logged as a
  /// warning at every start when set.
  bool insecure = false;

  /// The nodes keys are spread over: members when set, else peers.
  const std::vector<std::string>& store_nodes() const {
    return members.empty() ? peers : members;
  }
};

/// How log lines are written: text for people, json (one object per line)
/// for log shippers.
enum class log_format : uint8_t { text, json };

struct log_config {
  std::string level = "info";
  log_format format = log_format::text;
  /// Log to this file instead of stderr; SIGHUP reopens it (logrotate).
  std::string file;
};

struct service_config {
  state_config state;
  http_config http;
  node_config node;
  log_config log;
  /// CAF scheduler worker threads; 0 = one per core left after the HTTP io
  /// threads, at least two (app/main.cpp).
  size_t scheduler_threads = 0;
};

/// A loaded configuration, or every problem found, each naming its field path
/// ("state.shards: must be between 1 and 1024").
struct config_result {
  service_config config;
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

/// Parses YAML text. Unknown fields are problems too (they are usually
/// typos), and so is a second YAML document. "" gives the built-in defaults.
config_result parse_config(const std::string& yaml_text);

/// Reads and parses a YAML file; one with no settings at all (empty, only
/// comments) is a problem: write {} for the defaults.
config_result load_config_file(const std::string& path);

/// Applies environment overrides (SOLVER_STATE_AUTH_TOKEN).
void apply_environment(service_config& cfg);

/// Checks cross-field rules of an already parsed config; appends problems.
void validate(const service_config& cfg, std::vector<std::string>& problems);

/// Checks the files a config names against the filesystem; appends
/// problems: node.tls files that must exist (when node.listen or node.peers
/// uses them), and log.file, which must open for appending as the logger
/// opens it (created and removed again when it did not exist). Apart from
/// validate() because the answer depends on the machine it runs on, not on
/// the text.
void check_files(const service_config& cfg,
                 std::vector<std::string>& problems);

/// What a config allows that is legal but probably unmeant, one line each:
/// http.listen beyond loopback without http.auth_token, node.listen beyond
/// loopback without node.tls under node.insecure (without it, validate()
/// refuses). Start-up logs them, --check-config prints them; neither
/// fails.
std::vector<std::string> config_warnings(const service_config& cfg);

/// True for 127.0.0.0/8, ::1 and localhost: addresses only this machine
/// reaches.
bool is_loopback(const std::string& host);

/// Splits "host:port" ("[::1]:80" too); false if malformed.
bool split_host_port(const std::string& text, std::string& host,
                     uint16_t& port);

/// Parses "30s", "500ms", "2m", "1h" or a plain number of seconds.
bool parse_duration(const std::string& text, milliseconds& out);

const char* to_string(eviction_policy x);
const char* to_string(fsync_policy x);

} // namespace solver_state
