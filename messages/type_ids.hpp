#pragma once

// The one type-ID block of solver-state: every type that crosses an actor
// boundary, and the atoms that name operations. Registering the block
// (register_message_types in protocol.hpp) is required before any remote use.

#include <caf/type_id.hpp>

#include "messages/domain.hpp"
#include "messages/errors.hpp"
#include "messages/handoff.hpp"
#include "messages/health.hpp"
#include "messages/metrics.hpp"
#include "messages/query.hpp"
#include "messages/transaction.hpp"
#include "messages/values.hpp"
#include "messages/watch.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(solver_state, caf::first_custom_type_id)

  // -- key-value protocol ----------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::entry))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::condition))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::set_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::write_result))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::delete_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::list_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::key_page))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::batch_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::batch_reply))

  // -- typed domain records --------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::order))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::order_ref))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::orders_of))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::fill))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::fill_ref))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::fills_of))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::settlement))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::settlement_ref))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::settlements_of))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::component_state))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::component_key))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::id_list))

  // -- metrics -----------------------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::shard_report))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::http_count))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::http_report))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::peer_stats))

  // -- atoms (at most 10 characters) -------------------------------------------
  CAF_ADD_ATOM(solver_state, solver_state, get_atom, "ss_get")
  CAF_ADD_ATOM(solver_state, solver_state, put_atom, "ss_put")
  CAF_ADD_ATOM(solver_state, solver_state, delete_atom, "ss_delete")
  CAF_ADD_ATOM(solver_state, solver_state, list_atom, "ss_list")
  CAF_ADD_ATOM(solver_state, solver_state, batch_get_atom, "ss_batch")
  CAF_ADD_ATOM(solver_state, solver_state, health_atom, "ss_health")
  CAF_ADD_ATOM(solver_state, solver_state, tick_atom, "ss_tick")
  CAF_ADD_ATOM(solver_state, solver_state, commit_atom, "ss_commit")
  CAF_ADD_ATOM(solver_state, solver_state, checkpoint_atom, "ss_ckpt")
  CAF_ADD_ATOM(solver_state, solver_state, report_atom, "ss_report")
  CAF_ADD_ATOM(solver_state, solver_state, render_atom, "ss_render")

  // -- cluster: a node's messages to its own peer and connector actors -------
  CAF_ADD_ATOM(solver_state, solver_state, peer_up_atom, "peer_up")
  CAF_ADD_ATOM(solver_state, solver_state, peer_failed_atom, "peer_fail")
  CAF_ADD_ATOM(solver_state, solver_state, peer_retry_atom, "peer_retry")
  CAF_ADD_ATOM(solver_state, solver_state, peer_stats_atom, "peer_stats")
  CAF_ADD_ATOM(solver_state, solver_state, peer_flush_atom, "peer_flush")
  CAF_ADD_ATOM(solver_state, solver_state, peer_dial_atom, "peer_dial")

  // -- transactions ----------------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::txn_op))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::transaction_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::transaction_reply))
  CAF_ADD_ATOM(solver_state, solver_state, transact_atom, "ss_txn")
  CAF_ADD_ATOM(solver_state, solver_state, txn_lock_atom, "ss_txlock")
  CAF_ADD_ATOM(solver_state, solver_state, txn_locked_atom, "ss_txlckd")
  CAF_ADD_ATOM(solver_state, solver_state, txn_applied_atom, "ss_txappl")
  /// To a shard: count a coordinated transaction's outcome in its metrics.
  CAF_ADD_ATOM(solver_state, solver_state, txn_done_atom, "ss_txdone")
  // -- delete by prefix ----------------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::delete_prefix_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::delete_prefix_result))
  /// A shard's message to itself: run the next chunk of a prefix deletion.
  CAF_ADD_ATOM(solver_state, solver_state, delete_step_atom, "ss_delstep")
  // -- watches -----------------------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::change_event))
  CAF_ADD_TYPE_ID(solver_state, (std::vector<solver_state::change_event>))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::change_batch))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::watch_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::watch_started))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::watch_report))
  CAF_ADD_ATOM(solver_state, solver_state, watch_atom, "ss_watch")
  CAF_ADD_ATOM(solver_state, solver_state, unwatch_atom, "ss_unwatch")
  CAF_ADD_ATOM(solver_state, solver_state, changes_atom, "ss_changes")
  CAF_ADD_ATOM(solver_state, solver_state, resync_atom, "ss_resync")
  /// The hub's message to itself: hand the waiting watchers their batches.
  CAF_ADD_ATOM(solver_state, solver_state, deliver_atom, "ss_deliver")
  // -- health ------------------------------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::health_report))
  // -- background work ---------------------------------------------------------
  /// A shard's message to itself: run the next chunk of its backend's
  /// background work (state_store::background_step).
  CAF_ADD_ATOM(solver_state, solver_state, background_step_atom, "ss_bgstep")
  // -- queries over declared indexes -------------------------------------------
  CAF_ADD_TYPE_ID(solver_state, (solver_state::index_value))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::query_condition))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::query_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::query_item))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::query_page))
  CAF_ADD_ATOM(solver_state, solver_state, query_atom, "ss_query")
  /// To a shard: a page of a query as its indexes hold it, not yet
  /// confirmed by the backend (a collector confirms only the merged page).
  CAF_ADD_ATOM(solver_state, solver_state, query_find_atom, "ss_qfind")
  /// To a shard: confirm the items of a query_find page by the backend.
  CAF_ADD_ATOM(solver_state, solver_state, query_confirm_atom, "ss_qconf")
  /// A shard's message to itself: index the next chunk of its keys (the
  /// build of its indexes at start).
  CAF_ADD_ATOM(solver_state, solver_state, index_build_atom, "ss_ixbuild")
  /// To a shard: read these keys again into its indexes (a transaction
  /// another shard applied on a shared backend changed them).
  CAF_ADD_ATOM(solver_state, solver_state, reindex_atom, "ss_reindex")
  // -- watches on a shared engine ----------------------------------------------
  /// To the watch hub: the engine's change feed reads (true) or was lost.
  CAF_ADD_ATOM(solver_state, solver_state, feed_atom, "ss_feed")

  // -- cluster: moving keys to their new owner after a membership change -----
  CAF_ADD_TYPE_ID(solver_state, (solver_state::handoff_scan_request))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::handoff_scan_page))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::handoff_keys))
  CAF_ADD_TYPE_ID(solver_state, (solver_state::handoff_stats))
  CAF_ADD_ATOM(solver_state, solver_state, handoff_scan_atom, "ho_scan")
  CAF_ADD_ATOM(solver_state, solver_state, handoff_fetch_atom, "ho_fetch")
  CAF_ADD_ATOM(solver_state, solver_state, handoff_drop_atom, "ho_drop")
  /// A member guard's message to itself: pull the next step from a source.
  CAF_ADD_ATOM(solver_state, solver_state, handoff_step_atom, "ho_step")
  CAF_ADD_ATOM(solver_state, solver_state, handoff_stats_atom, "ho_stats")
CAF_END_TYPE_ID_BLOCK(solver_state)
