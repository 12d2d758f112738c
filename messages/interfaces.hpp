#pragma once

// Every actor interface of solver-state, one contract line per handler.
// Handlers marked INTERNAL: are sent by the service to itself.

#include <cstdint>
#include <string>

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "messages/type_ids.hpp"

namespace solver_state {

/// The WATCHER interface: what a subscriber of a watch implements (a solver
/// actor, the HTTP gateway's stream of one connection).
using watcher_actor = caf::typed_actor<
  /// The next changes under the watched prefix, every change of a key in
  /// commit order. The hub sends the next batch once this handler returned:
  /// a slow watcher slows its own delivery, nothing else.
  caf::reacts_to<change_batch>,
  /// The watcher cannot get every change: it fell behind the hub's bounded
  /// history (`dropped`: the subscription is over) or its resume position
  /// is gone (it goes on with the changes from now on). Either way it must
  /// read the state again. Carries the reason.
  caf::reacts_to<resync_atom, std::string, bool>>;

/// The STATE actor interface: what solver components, the HTTP gateway and
/// remote nodes talk to. Implemented by the router (local shards), by each
/// shard, and by the cluster router (remote nodes). Failures are caf::error
/// values of category state_errc.
using state_actor = caf::typed_actor<
  // -- key-value ---------------------------------------------------------------
  /// The live value of a key and its version; not_found if absent or expired.
  caf::replies_to<get_atom, std::string>::with<entry>,
  /// Writes a value; the new version and whether it created the key, or
  /// version_mismatch / capacity_exceeded (bad_request for a condition of
  /// unknown kind).
  caf::replies_to<put_atom, set_request>::with<write_result>,
  /// Removes a key; true if a live value was removed. Absent keys succeed
  /// unless the condition requires a version (then version_mismatch;
  /// bad_request for a condition of unknown kind).
  caf::replies_to<delete_atom, delete_request>::with<bool>,
  /// One sorted page of the keys under a prefix.
  caf::replies_to<list_atom, list_request>::with<key_page>,
  /// Values of many keys in request order; absent keys have version 0.
  caf::replies_to<batch_get_atom, batch_request>::with<batch_reply>,
  /// Applies every write of a transaction or none; each key's new version,
  /// or version_mismatch naming the first key whose condition fails.
  caf::replies_to<transact_atom, transaction_request>::with<transaction_reply>,
  /// Removes the live keys under a non-empty prefix, each through the
  /// single-key erase, in bounded chunks; how many, and whether a shard
  /// stopped at the request's limit with keys left (bad_request for an
  /// empty prefix).
  caf::replies_to<delete_atom, delete_prefix_request>::with<
    delete_prefix_result>,
  /// One page of the keys whose indexed fields meet the query's conditions
  /// (messages/query.hpp); bad_request for an undeclared index or a bad
  /// cursor, backend_unavailable while the indexes are being built.
  caf::replies_to<query_atom, query_request>::with<query_page>,
  // -- typed domain records ------------------------------------------------------
  /// Stores an order under order:{type}:{id}; the new version.
  caf::replies_to<put_atom, order>::with<version_t>,
  /// An order with its data and version; not_found if absent.
  caf::replies_to<get_atom, order_ref>::with<order>,
  /// Removes an order; true if it existed.
  caf::replies_to<delete_atom, order_ref>::with<bool>,
  /// The ids of all orders of a type, sorted.
  caf::replies_to<list_atom, orders_of>::with<id_list>,
  /// Records a fill under fill:{order_id}:{tx_hash}; the new version.
  caf::replies_to<put_atom, fill>::with<version_t>,
  /// A fill; not_found if absent.
  caf::replies_to<get_atom, fill_ref>::with<fill>,
  /// The tx hashes of all fills of an order, sorted.
  caf::replies_to<list_atom, fills_of>::with<id_list>,
  /// Records a settlement under settlement:{order_id}:{claim_hash}.
  caf::replies_to<put_atom, settlement>::with<version_t>,
  /// A settlement; not_found if absent.
  caf::replies_to<get_atom, settlement_ref>::with<settlement>,
  /// The claim hashes of all settlements of an order, sorted.
  caf::replies_to<list_atom, settlements_of>::with<id_list>,
  /// Stores a component's state value under state:{component}:{key}.
  caf::replies_to<put_atom, component_state>::with<version_t>,
  /// A component's state value; not_found if absent.
  caf::replies_to<get_atom, component_key>::with<component_state>,
  // -- watches ---------------------------------------------------------------------
  /// Subscribes `watcher` to every committed change under the request's
  /// prefix: the node's watch hub answers (on a store node its own shards'
  /// changes; on a cluster front every store node's). capacity_exceeded
  /// past state.watch.max_watchers.
  caf::replies_to<watch_atom, watch_request, watcher_actor>::with<
    watch_started>,
  // -- operations ------------------------------------------------------------------
  /// A report (quarantined values...) when every backend behind this actor
  /// passes its health check; backend_unavailable saying why otherwise.
  caf::replies_to<health_atom>::with<health_report>>;

/// The TRANSACTION COORDINATOR interface: a short-lived actor that runs one
/// transaction over the shards of a store whose shards hold their own data
/// (memory, file). It locks the shards one by one in index order, so two
/// transactions never wait for each other in a cycle, then lets every shard
/// apply its part, then releases them together: no reader sees part of it.
using transaction_coordinator = caf::typed_actor<
  /// The whole transaction, as the router delegates it.
  caf::replies_to<transact_atom, transaction_request>::with<transaction_reply>,
  /// INTERNAL: shard part `part` checked its conditions and waits, locked,
  /// for the answer: apply (true) or give up (false).
  caf::replies_to<txn_locked_atom, uint32_t>::with<bool>,
  /// INTERNAL: shard part `part` applied its operations (or failed to) and
  /// waits, still locked, for the answer: keep them (true) or put back what
  /// it applied (false), then unlock. With the part's changes for the watch
  /// hub (none when its shard sends the hub nothing): a kept transaction's
  /// changes go to the hub as one message, before any shard is unlocked.
  caf::replies_to<txn_applied_atom, uint32_t, bool,
                  std::vector<change_event>>::with<bool>>;

/// The SHARD actor interface: a state actor owning the keys of one shard and
/// one backend handle.
using shard_actor = state_actor::extend<
  /// INTERNAL: part `part` of a coordinated transaction: check its
  /// conditions, then stay locked through the coordinator's two answers;
  /// the versions of this part once the whole transaction is kept.
  caf::replies_to<txn_lock_atom, uint32_t, transaction_request,
                  transaction_coordinator>::with<transaction_reply>,
  /// INTERNAL: a coordinated transaction whose first part this shard held
  /// ended with the answer its client got (none: applied), after `took`
  /// from the coordinator taking it: counted once here, not by each part.
  caf::reacts_to<txn_done_atom, caf::error, caf::timespan>,
  /// INTERNAL: the first half of a query over several shards: a page as
  /// this shard's indexes hold it (keys, versions, sort values), neither
  /// confirmed by the backend nor with values, so that a collector reads
  /// from the backend only the items of the merged page.
  caf::replies_to<query_find_atom, query_request>::with<query_page>,
  /// INTERNAL: the second half: the items of a query_find page that still
  /// match, confirmed by the backend at their versions, with values when
  /// the query asks; a page cut by the reply budget has a next_cursor.
  caf::replies_to<query_confirm_atom, query_request, query_page>::with<
    query_page>,
  /// INTERNAL: drop expired keys and send a metrics report.
  caf::reacts_to<tick_atom>,
  /// INTERNAL: ask the backend's health (solver_state_backend_up) and send
  /// a metrics report; every 5 s, whatever state.sweep_interval is.
  caf::reacts_to<report_atom>,
  /// INTERNAL: make pending writes durable and acknowledge them (group commit).
  caf::reacts_to<commit_atom>,
  /// INTERNAL: fold the backend's log into its main storage (file sync).
  caf::reacts_to<checkpoint_atom>,
  /// INTERNAL: run the next chunk of the prefix deletion with this id.
  caf::reacts_to<delete_step_atom, uint64_t>,
  /// INTERNAL: run the next chunk of the backend's background work.
  caf::reacts_to<background_step_atom>,
  /// INTERNAL: index the next chunk of this shard's keys (start-up build).
  caf::reacts_to<index_build_atom>,
  /// INTERNAL: read these keys into the indexes again (another shard or node
  /// wrote them: a shared engine); no keys: all of them, in the background.
  caf::reacts_to<reindex_atom, batch_request>,
  /// INTERNAL: a shared engine's changes (keys, causes, versions; no
  /// values): read into the indexes the keys they do not hold as changed.
  caf::reacts_to<reindex_atom, change_batch>>;

// -- watches ---------------------------------------------------------------------

/// The WATCH HUB interface: one per node; numbers the committed changes of
/// every shard in one sequence, keeps a bounded history of them and hands
/// each watcher the ones under its prefix.
using watch_hub_actor = caf::typed_actor<
  /// Subscribes `watcher` (monitored: its exit ends the subscription);
  /// capacity_exceeded past watch.max_watchers.
  caf::replies_to<watch_atom, watch_request, watcher_actor>::with<
    watch_started>,
  /// Ends the subscriptions of `watcher`.
  caf::reacts_to<unwatch_atom, watcher_actor>,
  /// INTERNAL: a shard's committed changes, in its commit order (or a
  /// store node's, relayed to a cluster front).
  caf::reacts_to<changes_atom, std::vector<change_event>>,
  /// INTERNAL: changes were lost upstream (a relayed store node's): tells
  /// every watcher to resync, with this reason; none is dropped.
  caf::reacts_to<resync_atom, std::string, bool>,
  /// INTERNAL: the engine's change feed reads (true) or was lost (false),
  /// for the metrics (actors/watch/engine_feed.hpp).
  caf::reacts_to<feed_atom, bool>,
  /// INTERNAL: hand the waiting watchers their next batches.
  caf::reacts_to<deliver_atom>,
  /// INTERNAL: send a metrics report.
  caf::reacts_to<tick_atom>>;

/// The METRICS actor interface.
using metrics_actor = caf::typed_actor<
  /// Adds a shard's counters and records its sizes.
  caf::reacts_to<report_atom, shard_report>,
  /// Records the watch hub's sizes and adds its counters.
  caf::reacts_to<report_atom, watch_report>,
  /// Adds the HTTP gateway's request counts.
  caf::reacts_to<report_atom, http_report>,
  /// Renders everything in Prometheus text format 0.0.4.
  caf::replies_to<render_atom>::with<std::string>>;

/// The TICKER actor interface: sends tick_atom to shards on a fixed interval
/// (TTL sweep + metrics flush), report_atom on health_interval (health
/// check + metrics flush) and checkpoint_atom on sync_interval.
using ticker_actor = caf::typed_actor<
  /// INTERNAL: one period elapsed.
  caf::reacts_to<tick_atom>,
  /// INTERNAL: health_interval elapsed.
  caf::reacts_to<report_atom>,
  /// INTERNAL: sync_interval elapsed.
  caf::reacts_to<checkpoint_atom>>;

// -- fan-out collectors ------------------------------------------------------------

/// The LIST COLLECTOR interface: a short-lived actor that asks every owner for
/// a page, merges them and quits.
using list_collector = caf::typed_actor<
  /// One merged, sorted page of the keys under a prefix.
  caf::replies_to<list_atom, list_request>::with<key_page>>;

/// The QUERY COLLECTOR interface: asks every owner for a page of a query
/// and merges them in the query's order.
using query_collector = caf::typed_actor<
  /// One merged page, resuming where the least advanced owner would.
  caf::replies_to<query_atom, query_request>::with<query_page>>;

/// The IDS COLLECTOR interface: merges typed id lists from every owner.
using ids_collector = caf::typed_actor<
  /// The merged, sorted ids of a typed list.
  caf::replies_to<list_atom, orders_of>::with<id_list>>;

/// The BATCH COLLECTOR interface: splits a batch by owner and reassembles it.
using batch_collector = caf::typed_actor<
  /// Values in request order; an owner that answers short is an error.
  caf::replies_to<batch_get_atom, batch_request>::with<batch_reply>>;

/// The DELETE-PREFIX COLLECTOR interface: asks every owner to delete under a
/// prefix and sums their counts.
using delete_prefix_collector = caf::typed_actor<
  /// The total removed by every owner; `more` if any owner has keys left.
  caf::replies_to<delete_atom, delete_prefix_request>::with<
    delete_prefix_result>>;

/// The HEALTH COLLECTOR interface: asks every owner's health check.
using health_collector = caf::typed_actor<
  /// Every owner's report added up when all are healthy, else the first
  /// failure.
  caf::replies_to<health_atom>::with<health_report>>;

// -- cluster -------------------------------------------------------------------------

/// The HANDOFF interface: what a member node answers the other nodes of a
/// partitioned cluster while keys move to their new owners after a
/// membership change (messages/handoff.hpp). Each request carries the
/// sender's member list hash: a node with another list answers
/// backend_unavailable.
using handoff_actor = caf::typed_actor<
  /// The keys this node holds that the requester owns, one step of its key
  /// order at a time.
  caf::replies_to<handoff_scan_atom, handoff_scan_request>::with<
    handoff_scan_page>,
  /// The entries of keys this node holds for another owner, in request order
  /// (version 0: not here).
  caf::replies_to<handoff_fetch_atom, handoff_keys>::with<batch_reply>,
  /// Drops the copies of keys their owner now keeps, each only at the
  /// version it fetched; how many were dropped.
  caf::replies_to<handoff_drop_atom, handoff_keys>::with<uint64_t>>;

/// The MEMBER interface: what a member node publishes on node.listen (as a
/// state_actor, so any client connects with the plain interface; its peers
/// cast the handle to send the handoff messages too).
using member_actor = state_actor::extend_with<handoff_actor>;

/// The MEMBER GUARD interface: the member interface plus its own messages.
using member_guard_actor = member_actor::extend<
  /// INTERNAL: pull the next step of keys from source `source`.
  caf::reacts_to<handoff_step_atom, uint32_t>,
  /// Where the handoff stands.
  caf::replies_to<handoff_stats_atom>::with<handoff_stats>>;

/// The PEER actor interface: this node's stand-in for one remote store node.
/// It forwards the member interface within a bounded window and owns the
/// connection.
using peer_actor = member_actor::extend<
  /// INTERNAL: the connector reached the peer; here is its router's proxy.
  caf::reacts_to<peer_up_atom, state_actor>,
  /// INTERNAL: a connection attempt failed, for this reason.
  caf::reacts_to<peer_failed_atom, std::string>,
  /// INTERNAL: the backoff delay elapsed; dial again.
  caf::reacts_to<peer_retry_atom>,
  /// INTERNAL: send the reads collected since the last flush as one batch.
  caf::reacts_to<peer_flush_atom>,
  /// Connection state and counters.
  caf::replies_to<peer_stats_atom>::with<peer_stats>>;

/// The CONNECTOR actor interface: dials one peer off the scheduler threads.
using connector_actor = caf::typed_actor<
  /// Dials the peer once; answers the peer with peer_up or peer_failed.
  caf::reacts_to<peer_dial_atom>>;

} // namespace solver_state
