#pragma once

// The Redis store's change feed (backends/change_feed.hpp): one connection
// SUBSCRIBEd to the store's change channel, where every write of every
// node publishes its change inside the write itself (scripts.hpp, "Change
// messages"). Redis pushes the messages in the order it ran the writes.
// Keys that Redis expires by itself publish nothing: the reader times them.

#include <memory>
#include <string_view>

#include "backends/change_feed.hpp"
#include "backends/redis/options.hpp"

namespace solver_state {

std::unique_ptr<change_feed> make_redis_change_feed(redis_options opts);

/// Parses one change message ("p<version>:<expires>:<key size>:<key><value>"
/// or "d<key>") into `out`; false when it is not one.
bool parse_redis_change(std::string_view message, change_event& out);

} // namespace solver_state
