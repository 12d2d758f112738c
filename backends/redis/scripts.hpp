#pragma once

// The Lua scripts that make the Redis store's writes atomic. Each value is
// one Redis string "<version>:<expires_at_ms>:<bytes>" (a packed string, so
// get is GET and batch_get is one MGET), versions come from one INCR counter
// (never repeated for a key; seeded from the clock so a wiped Redis does not
// hand out old ETags again), and a sorted set of all keys (score 0) is the
// listing index, kept in step with the values by the same scripts.
// Scripts run with EVALSHA; NOSCRIPT (a restarted or flushed server) falls
// back to EVAL, which also loads them again.

#include <string>

#include <caf/expected.hpp>

#include "backends/redis/connection.hpp"

namespace solver_state {

// Change messages. Every write publishes what it changed on the store's
// channel (redis_options::change_channel) inside the same script or
// MULTI .. EXEC, so the change and its message are one atomic unit and every
// subscriber (every node's change feed) gets them in the server's order:
//   a put:    "p<version>:<expires_at_ms>:<key bytes>:<key><stored value>"
//   a delete: "d<key>" (only when a live value was removed)
// Keys that Redis expires by itself publish nothing: readers time them.

struct redis_script {
  const char* text;
  std::string sha; // learned from SCRIPT LOAD on first use
};

/// KEYS: value, index, counter (unused), expiry (sorted set of keys with a
/// TTL, scored by expires_at). ARGV: condition kind, expected version, now,
/// expires_at, value, key, new version, max_items (0 = unlimited), change
/// channel. Returns
/// the new version (string), or -1 (exists), -2 (absent), -3 (version
/// differs), -4 (a new key, and max_items live keys exist).
extern const char* const redis_set_script;

/// A whole transaction in one script, so no client of this Redis sees part
/// of it. KEYS: index, expiry, then the value key of each op. ARGV: now,
/// max_items (0 = unlimited), then seven per op: kind ('0' set, '1' erase),
/// condition kind, expected version, expires_at, value, key, new version
/// (unused by an erase), and last the change channel. Every condition is
/// checked before
/// anything is written. Returns {0, outcome per op} (a set: the version,
/// prefixed with 'c' when it created the key; an erase: 1 if a live value
/// was removed, else 0), or {code, op index (1-based), live version or ''}
/// with code -1/-2/-3 as the set script's, or {-4} when the creations would
/// take the live keys past max_items.
extern const char* const redis_transaction_script;

/// KEYS: counter. ARGV: the last version this client drew (0: none), block
/// size. Reserves a block of versions above both that and the server's
/// clock in microseconds: returns its last one.
extern const char* const redis_version_block_script;

/// KEYS: value, index, expiry. ARGV: condition kind, expected version, now,
/// key, change channel.
/// Returns 1 (a live value removed), 0 (nothing live), or -1/-2/-3.
extern const char* const redis_erase_script;

/// KEYS: index, expiry. ARGV: min, max (ZRANGEBYLEX bounds), count, now, value-key
/// prefix. Returns {scanned, last scanned member, live members}; drops index
/// members whose value is gone (expired by Redis).
extern const char* const redis_list_script;

/// KEYS: index, expiry. ARGV: min, count, value-key prefix. Drops up to `count`
/// stale index members from `min` on; returns {removed, last member}.
extern const char* const redis_prune_script;

/// KEYS: value keys. ARGV: byte budget. The stored strings of the first keys
/// (false for a key that holds none) until their bytes pass the budget, the
/// first always: a batch read as of one moment, its size bounded.
extern const char* const redis_batch_within_script;

/// True for a NOSCRIPT error reply (the server's script cache lost it).
bool is_noscript(const redisReply* r);

/// A script error reply becomes backend_error; other replies pass.
caf::expected<redis_reply> checked(caf::expected<redis_reply> r);

/// SCRIPT LOAD: (re)loads `script` and learns its sha.
caf::error load_script(redis_connection& conn, redis_script& script);

/// Runs `script` with EVALSHA, falling back to EVAL on NOSCRIPT. A Redis
/// error reply becomes backend_error.
caf::expected<redis_reply> run_script(redis_connection& conn,
                                      redis_script& script,
                                      const redis_args& keys,
                                      const redis_args& args);

} // namespace solver_state
