#pragma once

// The DynamoDB backend: one store per shard, each with its own kept-alive
// connection, all sharing one table (see codec.hpp for its layout).
//
// Versions: a write picks max(clock in µs, last version + 1, floor + 1) and
// makes the put conditional on the stored version being lower, so a version
// never repeats for a key even with many writers on many hosts; when the
// condition fails the store reads the current version and tries again above
// it. Expiry is ours, not DynamoDB's TTL (which deletes up to days late):
// reads hide items whose exp has passed at `now`, and sweep() deletes them
// with a Query per partition and a DeleteItem conditional on the version,
// in steps of about sweep_step_time (a DeleteItem is a round trip each):
// the pass goes on in background_step(), between the shard's requests.
// Values above one item's limit are split into chunk items written before
// the main item points at them, so a reader never sees a half-written value.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/codec.hpp"
#include "backends/shard_placement.hpp"
#include "backends/state_store.hpp"

namespace solver_state::dynamodb {

class dynamodb_store final : public state_store {
public:
  /// Values up to this size live in the main item; larger ones are chunked.
  static constexpr size_t inline_limit = 300'000;
  static constexpr size_t chunk_bytes = value_chunk_bytes;

  /// The store of shard `shard` among `shard_count`: all shards share the
  /// table, so list() answers only for the part of the key space the router
  /// expects this shard to hold (see answers_list). `tls`: the shared
  /// context for an HTTPS endpoint (see api_client).
  dynamodb_store(endpoint ep, std::shared_ptr<aws::credential_source> creds,
                 size_t shard, size_t shard_count, tls_context tls = nullptr);

  std::string_view backend_name() const override;
  caf::expected<entry> get(const std::string& key, unix_ms now) override;
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms now) override;
  caf::expected<bool> erase(const delete_request& req, unix_ms now) override;
  caf::expected<key_page> list(const list_request& req, unix_ms now) override;
  /// The table's keys under the prefix that this shard owns, whichever
  /// shard list() leaves them to.
  caf::expected<key_page> list_owned(const list_request& req,
                                     unix_ms now) override;
  caf::expected<std::vector<entry>>
  batch_get(const std::vector<std::string>& keys, unix_ms now) override;
  /// Starts a pass over the table when one is due (shard 0 only: the
  /// table is shared) and does a step of it.
  size_t sweep(unix_ms now,
               std::vector<std::string>* expired = nullptr) override;
  /// The next step of a sweep pass in progress; true while more is left.
  bool background_step(unix_ms now) override;
  caf::error close() override;
  caf::error health_check() override;
  /// Refused with bad_request: DynamoDB applies several items atomically
  /// only through TransactWriteItems, which this backend does not call yet
  /// (dynalite, the server its tests run against, lacks it), and a
  /// transaction that other readers could see half applied is worse than
  /// none.
  caf::error transact(std::vector<pending_op>& ops, unix_ms now) override;

  api_client& api() { return api_; }

private:
  /// The consistent read of `key`'s main item; nullopt when absent.
  caf::expected<std::optional<stored_item>> read_item(const std::string& key);

  /// A live entry from a main item, loading its chunks if it has any.
  caf::expected<entry> to_entry(stored_item&& item);

  /// The version of a write to a key holding `floor` (see above); it
  /// saturates at the top instead of wrapping to 0.
  version_t next_version(version_t floor) const;

  caf::expected<write_result> put(stored_item& item, const condition& cond,
                                  unix_ms now);

  /// True when this shard's store must answer list(prefix): every key under
  /// a grouped prefix (fill:{order_id}:...) belongs to one shard, which
  /// answers alone; other listings go to every shard, and shard 0 answers
  /// for all. So the router's merge sees each key once.
  bool answers_list(const std::string& prefix) const;

  /// The table's keys under the prefix, every shard's.
  caf::expected<key_page> list_table(const list_request& req, unix_ms now);
  caf::expected<key_page> list_partition(key_class cls,
                                         const list_request& req, unix_ms now);

  caf::expected<std::vector<std::optional<stored_item>>>
  batch_read(const std::vector<std::string>& keys);

  /// BatchGetItem of `keys` (100 per call), retrying what DynamoDB leaves
  /// unprocessed with a backoff; `on_item` sees every item returned and may
  /// stop the read with an error. `what` names the reads in the error when
  /// the retries run out.
  caf::error batch_get_items(
    const boost::json::array& keys, const char* what,
    const std::function<caf::error(const boost::json::object&)>& on_item);

  // -- chunks of large values --------------------------------------------------

  caf::error write_chunks(const std::string& key, uint64_t blob,
                          std::string_view value);
  caf::expected<std::string> read_chunks(const stored_item& item);
  void delete_chunks(const std::string& key, uint64_t blob, uint32_t chunks);
  caf::error batch_write(std::vector<boost::json::value> requests);

  api_client api_;
  size_t shard_;
  size_t shard_count_;
  /// The highest version this store wrote (a put that succeeded).
  version_t last_version_ = 0;
  unix_ms last_sweep_ = 0;
  /// An expired item a sweep read and has yet to delete.
  struct due_item {
    std::string key;
    version_t version = 0;
    uint64_t blob = 0;
    uint32_t chunks = 0;
  };
  /// Where the sweep's pass stands between calls.
  struct sweep_position {
    bool running = false;
    size_t cls = 0;             // index into all_classes
    boost::json::value from;    // its ExclusiveStartKey; null: the start
    /// The expired items of the last page read not deleted yet, in order.
    std::vector<due_item> due;
    size_t next_due = 0;
    /// The last step's call failed (an outage, throttling past its
    /// retries): the pass waits for the next tick, not the next step.
    bool stalled = false;
  };
  sweep_position sweep_;
  /// Set while sweep calls fail, so a streak of failures logs once.
  bool sweep_failing_ = false;
  /// A sweep call failed: the pass stalls until the next tick.
  void sweep_failed(const caf::error& err);
  /// One step of a sweep pass: deletes due items and reads pages for about
  /// sweep_step_time, at least one call, at most max_sweep_keys deletes.
  size_t sweep_step(unix_ms now);
  /// Reads the next page of expired items into sweep_.due; false when the
  /// Query failed (the same page again next time).
  bool read_sweep_page(unix_ms now);
  /// The work one sweep step does before the shard serves its requests
  /// again: at 4 ms a round trip, some 25 deletes.
  static constexpr std::chrono::milliseconds sweep_step_time{100};
  std::mt19937_64 rng_;
};

} // namespace solver_state::dynamodb
