#pragma once

// The seed's StateStore as a plain C++ interface: get, set, delete,
// list(prefix) and batch_get, plus the hooks a shard needs to drive a backend
// (TTL sweep, group commit, checkpoint, health). Backends know nothing of
// actors: a shard actor owns exactly one store and calls it from one thread,
// so implementations need no locks. Blocking implementations are run by
// detached shard actors (see state_backend_plugin::blocking).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "messages/errors.hpp"
#include "messages/values.hpp"

namespace solver_state {

/// Sizes reported as state_keys_total and state_size_bytes.
struct store_stats {
  uint64_t keys = 0;
  uint64_t bytes = 0; // keys + values, where the backend knows them
};

class state_store {
public:
  virtual ~state_store();

  /// Backend name for metrics labels and logs ("memory", "file", ...).
  virtual std::string_view backend_name() const = 0;

  /// The live value of `key` at `now`; not_found if absent or expired.
  virtual caf::expected<entry> get(const std::string& key, unix_ms now) = 0;

  /// Writes `req.value` if `req.cond` holds at `now`, with the absolute
  /// expiry `expires_at` (0 = never). Returns the new version, which differs
  /// from every earlier version of this key. version_mismatch when the
  /// condition fails; capacity_exceeded when the store is full.
  virtual caf::expected<version_t> set(set_request&& req, unix_ms expires_at,
                                       unix_ms now)
    = 0;

  /// Removes `req.key` if `req.cond` holds; true if a live value was removed.
  virtual caf::expected<bool> erase(const delete_request& req, unix_ms now) = 0;

  /// Live keys starting with `req.prefix` and greater than `req.after`,
  /// sorted, at most `req.limit` (0 = all), `more` if any are left.
  virtual caf::expected<key_page> list(const list_request& req, unix_ms now)
    = 0;

  /// Entries for `keys` in order; absent or expired keys have version 0.
  /// The default calls get() per key.
  virtual caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now);

  /// Drops keys expired at `now`; how many. Backends that expire by
  /// themselves (Redis) return 0.
  virtual size_t sweep(unix_ms now);

  /// True when writes since the last commit() are applied but not yet
  /// durable: the shard holds their acknowledgements until commit() returns
  /// (group commit: every write that arrives during one sync shares the next).
  virtual bool has_pending_commit() const;

  /// Makes pending writes durable.
  virtual caf::error commit();

  /// Periodic maintenance on sync_interval (file backend: fold the log into
  /// the key tree). Called by the shard when the ticker says so.
  virtual caf::error checkpoint();

  /// Flushes everything before shutdown.
  virtual caf::error close();

  /// Empty when the backend can serve requests.
  virtual caf::error health_check();

  virtual store_stats stats() const;
};

} // namespace solver_state
