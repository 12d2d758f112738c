#pragma once

// The prepared single-key statements of the PostgreSQL store and how their
// rows become outcomes: shared by get/set/erase, the pipelined batch, and
// the steps of a transaction (which runs the same conditional statements
// inside one BEGIN .. COMMIT).

#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "backends/postgres/connection.hpp"
#include "messages/values.hpp"

namespace solver_state::postgres_single_key {

pg_statement get_statement(const std::string& key, unix_ms now);
/// The array literal {hex,hex,...} of `keys`: hex digits need no quoting.
std::string hex_array(const std::vector<std::string>& keys);

caf::expected<entry> get_outcome(const pg_rows& rows);

pg_statement set_statement(const set_request& req, unix_ms expires_at,
                           unix_ms now);
/// version_mismatch (no row) when the condition did not hold.
caf::expected<write_result> set_outcome(const condition& cond,
                                        const pg_rows& rows);

pg_statement erase_statement(const delete_request& req, unix_ms now);
/// version_mismatch when the condition did not hold.
caf::expected<bool> erase_outcome(const condition& cond, const pg_rows& rows);

} // namespace solver_state::postgres_single_key
