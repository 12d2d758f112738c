#pragma once

// One hiredis connection with bounded waits and self-healing: every command
// either completes within the command timeout or fails with
// backend_unavailable and drops the connection; the next command after a
// backoff pause reconnects (connect timeout bounded too). Blocking: used only
// from a detached shard actor's thread.
//
// With Sentinels (redis-sentinel://) every connect first asks them which
// server is the master and checks with ROLE that it still is; a READONLY
// reply (the master was demoted by a failover while we were connected)
// makes the next command reconnect, so writes follow a failover by
// themselves.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/connection_health.hpp"
#include "backends/redis/batch.hpp"
#include "backends/redis/replies.hpp"
#include "backends/redis/options.hpp"

struct redisContext;

namespace solver_state {

/// The arguments of one command; views must outlive the call.
using redis_args = std::vector<std::string_view>;

class redis_connection {
public:
  explicit redis_connection(redis_options opts);
  ~redis_connection();

  redis_connection(const redis_connection&) = delete;
  redis_connection& operator=(const redis_connection&) = delete;

  /// Sends one command and reads its reply. An error *reply* (e.g. NOSCRIPT)
  /// is returned as a reply; only transport failures are errors. Replies
  /// are valid until the next command() or pipeline().
  caf::expected<redis_reply> command(const redis_args& args);

  /// Sends every command of `batch`, then reads all replies (one round
  /// trip).
  caf::expected<std::vector<redis_reply>> pipeline(const redis_batch& batch);

  /// Connects now if the backoff allows it; empty when connected.
  caf::error ensure_connected();

  /// For a subscriber (after SUBSCRIBE through command()): the next reply
  /// the server pushes, waiting up to `wait` for it; a null reply when none
  /// came in time. Valid until the next call. An error means the
  /// connection is lost (and dropped): a new one must subscribe again.
  caf::expected<redis_reply> next_pushed(std::chrono::milliseconds wait);

  /// For a subscriber: sends PING, written out at once; the server's
  /// "pong" comes through next_pushed.
  caf::error push_ping();

  /// Drops the connection as failed (the next use connects again): for a
  /// subscriber whose server answers nothing.
  caf::error abandon(const std::string& why) { return drop(why); }

  const redis_options& options() const { return opts_; }

  /// Counts successful connects: a new value means a new server session
  /// (e.g. a restarted server whose script cache is empty).
  uint64_t generation() const { return generation_; }

  /// True after a READONLY reply, until the next command reconnects.
  bool demoted() const { return demoted_; }

  /// host:port of the server of the current (or last) connection.
  const std::string& server() const { return server_; }

  /// The first error reply read since the last command or pipeline was
  /// sent; empty when none. EXEC's EXECABORT does not say why a queued
  /// write was refused: this does (e.g. OOM at maxmemory).
  const std::string& first_refusal() const { return refusal_; }

private:
  caf::error connect();
  /// The master's address from the Sentinels, or host:port without them.
  caf::expected<std::pair<std::string, uint16_t>> locate_server();
  caf::expected<std::pair<std::string, uint16_t>>
  ask_sentinel(const std::string& host, uint16_t port);
  /// Fails unless the connected server says it is a master.
  caf::error check_master_role();
  /// Asks the server for its memory settings: proves it answers (a frozen
  /// server's kernel still accepts connections) and warns when its
  /// maxmemory-policy may evict this store's keys.
  caf::error check_answers();
  /// Why the last read or write failed, for the log and the caller.
  std::string transport_failure() const;
  /// Closes the connection without counting a failure (reconnects at once).
  void close();
  caf::error drop(const std::string& why);
  /// Hands `batch` to hiredis (connecting first if needed).
  caf::error send(const redis_batch& batch);
  /// Reads the next reply (sending what is buffered first).
  caf::expected<redis_reply> read_reply();

  redis_options opts_;
  redisContext* ctx_ = nullptr;
  connection_health health_;
  uint64_t generation_ = 0;
  std::string server_;
  size_t next_sentinel_ = 0; // the Sentinel asked first: the last that knew
  bool demoted_ = false;     // a READONLY reply: the master is a replica now
  std::string refusal_;      // first error reply since the last send
  redis_batch one_; // command()'s buffer, reused
  redis_reply_arena replies_;
};

} // namespace solver_state
