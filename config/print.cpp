// Writes a service_config back as YAML (--print-config).

#include "config/print.hpp"

#include <yaml-cpp/yaml.h>

#include "backends/connection_url.hpp"

namespace solver_state {

std::string format_duration(milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0)
    return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0)
    return std::to_string(ms / 60'000) + "m";
  if (ms % 1'000 == 0)
    return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

namespace {

void emit_state(YAML::Emitter& out, const state_config& st,
                bool with_secrets) {
  out << YAML::Key << "state" << YAML::Value << YAML::BeginMap;
  // A backend URL's password as the logs show it (***): --print-config
  // output lands in tickets and chat.
  out << YAML::Key << "type" << YAML::Value
      << (with_secrets ? st.type : redact_password(st.type));
  out << YAML::Key << "shards" << YAML::Value << st.shards;
  out << YAML::Key << "max_items" << YAML::Value << st.max_items;
  out << YAML::Key << "eviction" << YAML::Value << to_string(st.eviction);
  out << YAML::Key << "ttl_seconds" << YAML::Value << st.ttl_seconds;
  out << YAML::Key << "sweep_interval" << YAML::Value
      << format_duration(st.sweep_interval);
  out << YAML::Key << "max_value_bytes" << YAML::Value << st.max_value_bytes;
  out << YAML::Key << "file" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "base_path" << YAML::Value << st.file.base_path;
  out << YAML::Key << "sync_interval" << YAML::Value
      << format_duration(st.file.sync_interval);
  out << YAML::Key << "fsync" << YAML::Value << to_string(st.file.fsync);
  out << YAML::Key << "cache_items" << YAML::Value << st.file.cache_items;
  out << YAML::Key << "max_unfolded_bytes" << YAML::Value
      << st.file.max_unfolded_bytes;
  out << YAML::EndMap;
  out << YAML::Key << "rocksdb" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "base_path" << YAML::Value << st.rocksdb.base_path;
  out << YAML::Key << "fsync" << YAML::Value << to_string(st.rocksdb.fsync);
  out << YAML::Key << "sync_interval" << YAML::Value
      << format_duration(st.rocksdb.sync_interval);
  out << YAML::Key << "cache_bytes" << YAML::Value << st.rocksdb.cache_bytes;
  out << YAML::EndMap;
  out << YAML::Key << "watch" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "history_events" << YAML::Value
      << st.watch.history_events;
  out << YAML::Key << "history_bytes" << YAML::Value << st.watch.history_bytes;
  out << YAML::Key << "max_watchers" << YAML::Value << st.watch.max_watchers;
  out << YAML::Key << "heartbeat" << YAML::Value
      << format_duration(st.watch.heartbeat);
  out << YAML::EndMap;
  out << YAML::Key << "compression" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "type" << YAML::Value
      << (st.compression.type == compression_type::zstd ? "zstd" : "none");
  out << YAML::Key << "min_bytes" << YAML::Value << st.compression.min_bytes;
  out << YAML::Key << "level" << YAML::Value << st.compression.level;
  out << YAML::Key << "dictionaries" << YAML::Value << YAML::Flow
      << st.compression.dictionaries;
  out << YAML::EndMap;
  // Key ids and files only: the keys themselves are never in the config.
  out << YAML::Key << "encryption" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "primary" << YAML::Value << YAML::DoubleQuoted
      << st.encryption.primary;
  out << YAML::Key << "require_encrypted" << YAML::Value
      << st.encryption.require_encrypted;
  out << YAML::Key << "keys" << YAML::Value << YAML::BeginSeq;
  for (auto& k : st.encryption.keys)
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "id" << YAML::Value
        << k.id << YAML::Key << "file" << YAML::Value << k.file
        << YAML::EndMap;
  out << YAML::EndSeq << YAML::EndMap;
  out << YAML::Key << "indexes" << YAML::Value << YAML::BeginSeq;
  for (auto& index : st.indexes)
    out << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value
        << index.name << YAML::Key << "prefix" << YAML::Value
        << YAML::DoubleQuoted << index.prefix << YAML::Key << "path"
        << YAML::Value << index.path << YAML::EndMap;
  out << YAML::EndSeq;
  out << YAML::EndMap;
}

void emit_http(YAML::Emitter& out, const http_config& h, bool with_secrets) {
  out << YAML::Key << "http" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << h.listen;
  out << YAML::Key << "auth_token" << YAML::Value << YAML::DoubleQuoted
      << (h.auth_token.empty() || with_secrets ? h.auth_token : "<set>");
  out << YAML::Key << "max_body_bytes" << YAML::Value << h.max_body_bytes;
  out << YAML::Key << "max_import_bytes" << YAML::Value
      << h.max_import_bytes;
  out << YAML::Key << "max_in_flight" << YAML::Value << h.max_in_flight;
  out << YAML::Key << "read_timeout" << YAML::Value
      << format_duration(h.read_timeout);
  out << YAML::Key << "first_byte_timeout" << YAML::Value
      << format_duration(h.first_byte_timeout);
  out << YAML::Key << "request_timeout" << YAML::Value
      << format_duration(h.request_timeout);
  out << YAML::Key << "max_connections" << YAML::Value << h.max_connections;
  out << YAML::Key << "max_batch_keys" << YAML::Value << h.max_batch_keys;
  out << YAML::Key << "max_reply_bytes" << YAML::Value << h.max_reply_bytes;
  out << YAML::Key << "max_pending_reply_bytes" << YAML::Value
      << h.max_pending_reply_bytes;
  out << YAML::Key << "max_pending_body_bytes" << YAML::Value
      << h.max_pending_body_bytes;
  out << YAML::Key << "threads" << YAML::Value << h.threads;
  out << YAML::Key << "access_log" << YAML::Value << YAML::TrueFalseBool
      << h.access_log;
  out << YAML::EndMap;
}

void emit_node(YAML::Emitter& out, const node_config& n) {
  out << YAML::Key << "node" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "listen" << YAML::Value << YAML::DoubleQuoted
      << n.listen;
  out << YAML::Key << "peers" << YAML::Value << YAML::Flow << n.peers;
  out << YAML::Key << "members" << YAML::Value << YAML::Flow << n.members;
  out << YAML::Key << "leaving" << YAML::Value << YAML::Flow << n.leaving;
  out << YAML::Key << "state_dir" << YAML::Value << YAML::DoubleQuoted
      << n.state_dir;
  out << YAML::Key << "request_timeout" << YAML::Value
      << format_duration(n.request_timeout);
  out << YAML::Key << "heartbeat_interval" << YAML::Value
      << format_duration(n.heartbeat_interval);
  out << YAML::Key << "tls" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "certificate" << YAML::Value << YAML::DoubleQuoted
      << n.tls.certificate;
  out << YAML::Key << "key" << YAML::Value << YAML::DoubleQuoted << n.tls.key;
  out << YAML::Key << "ca_file" << YAML::Value << YAML::DoubleQuoted
      << n.tls.ca_file;
  out << YAML::EndMap;
  out << YAML::Key << "insecure" << YAML::Value << YAML::TrueFalseBool
      << n.insecure;
  out << YAML::EndMap;
}

} // namespace

std::string to_yaml(const service_config& cfg, bool with_secrets) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  emit_state(out, cfg.state, with_secrets);
  emit_http(out, cfg.http, with_secrets);
  emit_node(out, cfg.node);
  out << YAML::Key << "log" << YAML::Value << YAML::BeginMap;
  out << YAML::Key << "level" << YAML::Value << cfg.log.level;
  out << YAML::Key << "format" << YAML::Value
      << (cfg.log.format == log_format::json ? "json" : "text");
  out << YAML::Key << "file" << YAML::Value << YAML::DoubleQuoted
      << cfg.log.file;
  out << YAML::EndMap;
  out << YAML::Key << "scheduler_threads" << YAML::Value
      << cfg.scheduler_threads;
  out << YAML::EndMap;
  return std::string{out.c_str()} + "\n";
}

} // namespace solver_state
