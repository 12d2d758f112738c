#pragma once

// The PostgreSQL store's change feed (backends/change_feed.hpp): one
// session that LISTENs on the table's channel, where the table's change
// trigger NOTIFYs every row written or deleted, at COMMIT and in commit
// order (schema.cpp, change_trigger). A value too large for a NOTIFY payload
// is read back by key and version; when that version is already gone (the
// key changed again before the feed read it), the change is skipped and the
// watcher gets the later one, which follows in the feed.

#include <memory>
#include <string_view>

#include "backends/change_feed.hpp"
#include "backends/postgres/options.hpp"

namespace solver_state {

std::unique_ptr<change_feed> make_postgres_change_feed(postgres_options opts);

/// What one NOTIFY payload says: the change (its value undecoded) and
/// whether the value was left out (too large).
struct postgres_change {
  change_event event;
  bool value_left_out = false;
};

/// Parses a payload of the change trigger; false when it is not one.
bool parse_postgres_change(std::string_view payload, postgres_change& out);

} // namespace solver_state
