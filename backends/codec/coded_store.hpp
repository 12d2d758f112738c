#pragma once

// A store that keeps values through a value_codec: it wraps a backend's
// store, encodes every value on its way in (set, apply, transact) and decodes
// it on its way out (get, batch_get, apply), and nothing else changes: keys,
// versions (so ETags and conditions), expiries and listings are the
// backend's own.
//
// Key rotation runs in background_step: each call reads up to
// rotation_chunk keys (or rotation_step_bytes of values) in key order from
// a cursor, and rewrites each value
// that is not encrypted under the primary key (an older key, or written
// before encryption was on) under the primary key, conditional on the
// version it read, so a client's write in between wins. A rewrite is a new
// version of the key, like a write of the same bytes, told to watchers and
// indexes (take_rewritten); one a failed commit takes back counts as left
// again. Every start walks the store once: that is how
// a restart resumes, and how values under keys no longer configured are
// counted (state_undecryptable_values, /readyz).

#include <memory>

#include <caf/expected.hpp>

#include "backends/atomic_batch_read.hpp"
#include "backends/codec/value_codec.hpp"
#include "backends/plugin.hpp"
#include "backends/state_store.hpp"

namespace solver_state {

/// Keys one background_step looks at at most...
constexpr size_t rotation_chunk = 128;
/// ...and value bytes it reads at most (plus one value): large values are
/// rewritten a few at a time.
constexpr size_t rotation_step_bytes = 1u << 20;

/// After a walk that left values it could not rewrite, the next walk starts
/// this much later (ten times later when all it left are values under keys
/// that are not configured: that walk only recounts them).
constexpr unix_ms rotation_retry_ms = 60'000;

/// A walk that leaves the same first value behind walk after walk warns
/// about it this often (between, at debug level).
constexpr unix_ms left_warning_interval_ms = 3'600'000;

/// Wraps each of `stores` in a coded_store when `cfg` compresses or
/// encrypts; leaves them as they are otherwise (values that an earlier
/// configuration compressed or encrypted still decode: every store is
/// wrapped when a codec could be needed to read). Fails when a key file
/// cannot be used (the message names the field).
caf::error wrap_in_codecs(store_list& stores, const state_config& cfg);

/// A codec of `cfg` on its own, for a reader of stored values outside the
/// shards (a change feed); fails as wrap_in_codecs does.
caf::expected<std::unique_ptr<value_codec>>
make_value_codec(const state_config& cfg);

/// What wrap_in_codecs would refuse, without keeping any key: for
/// --check-config.
caf::error check_codec_config(const state_config& cfg);

class coded_store final : public state_store, public atomic_batch_read {
public:
  coded_store(std::unique_ptr<state_store> inner, value_codec codec);
  ~coded_store() override;

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  caf::expected<key_page> list_owned(const list_request& req,
                                     unix_ms now) override;
  caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now) override;
  /// The inner store's, decoded; only when it has one (atomic_reader_of).
  caf::expected<std::vector<entry>>
  batch_get_within(const std::vector<std::string>& keys, unix_ms now,
                   size_t byte_budget) override;
  /// The inner store's. What the codec refuses is not said here: a value
  /// under a key not configured reads once the key is listed again.
  bool damaged_for_good(const std::string& key) const override;
  bool pipelines() const override;
  void apply(std::vector<pending_op>& ops, unix_ms now) override;
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;
  bool shares_data() const override;
  size_t sweep(unix_ms now, std::vector<std::string>* expired) override;
  bool reports_expiries() const override;
  bool has_pending_commit() const override;
  bool failed_commit_keeps_writes() const override;
  caf::error commit() override;
  caf::error checkpoint() override;
  /// The inner store's background work (a DynamoDB sweep pass in steps)
  /// and a step of the key rotation; true while either has more.
  bool background_step(unix_ms now) override;
  std::vector<std::string> take_rewritten() override;
  std::vector<std::string> take_expired_by_writes() override;
  std::vector<std::string> take_evicted() override;
  caf::error close() override;
  /// The inner store's, unless values are encrypted: the key ring's
  /// destructor wipes the key material.
  bool only_frees_after_close() const override;
  /// The inner store's. With encryption on, the snapshot of the indexes
  /// (their fields in plaintext) is sealed under the primary key, and one
  /// that does not unseal (its key gone, a byte altered, sealed before
  /// encryption was turned off, or not sealed at all) is refused: the start
  /// builds the indexes from the values.
  bool keeps_snapshots() const override;
  caf::error keep_snapshot(std::string bytes) override;
  caf::expected<std::optional<std::string>> take_snapshot() override;
  caf::error health_check() override;
  store_stats stats() const override;

  /// The wrapped store.
  state_store& inner() { return *inner_; }

private:
  /// Decodes the entries `got` of `keys` in place, as batch_get does.
  caf::expected<std::vector<entry>>
  decode_batch(const std::vector<std::string>& keys,
               caf::expected<std::vector<entry>> got);

  struct rotation;

  caf::error encode_value(const std::string& key, std::string& value);
  caf::error decode_value(const std::string& key, std::string& value);
  /// Decodes an entry the backend read successfully; a value error for one
  /// at version 0, which no backend writes.
  caf::error decode_read(const std::string& key, entry& e);
  std::vector<entry> read_chunk(const std::vector<std::string>& keys,
                                unix_ms now);
  void rewrite(const std::vector<std::string>& keys, std::vector<entry>& got,
               unix_ms now);
  void finish_pass(unix_ms now);
  /// One step of the key rotation's walk; true while more is left.
  bool rotation_step(unix_ms now);
  /// Logs the values this walk left, naming the first and why.
  void report_left(unix_ms now);
  /// Logs that the walk could not list its next keys, and why.
  void report_list_failure(unix_ms now, const caf::error& why);
  /// Where the walk lists next: "after key 'K'", or "from the first key".
  std::string where_the_walk_is() const;
  /// After a commit: rewrites it failed to keep count as left again.
  void take_back_rewrites(const caf::error& commit_failure);

  std::unique_ptr<state_store> inner_;
  value_codec codec_;
  std::unique_ptr<rotation> rotation_;
};

} // namespace solver_state
