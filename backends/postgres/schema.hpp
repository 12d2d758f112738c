#pragma once

// The PostgreSQL store's schema: its table, the expiry index, the version
// sequence, the change trigger (every node's feed) and, with max_items, the
// counting triggers; and how a new connection makes sure they are there.
//
// Why the catalog is read first and DDL runs only for what is missing:
// every new connection checks the schema (a shard's reconnect after any
// failure included), and DDL on the table takes table locks, CREATE INDEX
// a ShareLock and CREATE TRIGGER a ShareRowExclusiveLock, which wait for
// every transaction writing the table. PostgreSQL queues each later writer
// of the table, from every session and node, behind such a waiting lock
// request. So one row held by a slow transaction made a shard's reconnect
// stop every writer of every key until that transaction ended; and as
// PostgreSQL goes on waiting after our side gave up, each further timeout
// and reconnect queued one more. The catalog check takes no lock on the
// table. When something is missing (a new table, a new version of a
// trigger function), the DDL waits at most schema_lock_wait for its locks;
// if it cannot have them and the table and sequence exist (and, with
// max_items, the counting triggers), the store serves with the schema as
// it is, says so, and tries again on its next connection. Without the
// counting triggers max_items would not hold: that connection fails.

#include <chrono>

#include <caf/error.hpp>

#include "backends/postgres/connection.hpp"

namespace solver_state {

/// How long the DDL of a new connection waits for a lock on the table.
inline constexpr std::chrono::milliseconds schema_lock_wait{500};

/// How long the DDL of a new connection may run once it holds its locks
/// (instead of the session's statement_timeout). With max_items it counts
/// the table's rows, once per table ever, while writers of the table wait:
/// a sequential scan that takes seconds for millions of rows and minutes
/// for a table of hundreds of millions read from disk. A start waits for
/// it (the first shard connects at start); a table that cannot be counted
/// in this time fails the connection with the reason rather than running
/// without the limit.
inline constexpr std::chrono::milliseconds schema_ddl_wait{
  std::chrono::minutes{10}};

/// Creates (or brings to this version) what the catalog lacks of the
/// schema of conn.options().table; empty when every part is there.
caf::error complete_postgres_schema(postgres_connection& conn);

} // namespace solver_state
