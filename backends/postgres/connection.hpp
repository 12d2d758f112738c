#pragma once

// One libpq connection with bounded waits and self-healing, as
// redis_connection: statements run asynchronously (PQsend*) and the thread
// polls the socket until a deadline, so a dead or hung server fails the
// operation with backend_unavailable instead of blocking the shard; the
// connection is then dropped and re-established (schema check and prepared
// statements included, via the on_connect hook) by the first operation after
// a backoff pause. Parameters and results use the binary format.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/postgres/options.hpp"
#include "backends/connection_health.hpp"

struct pg_conn;
struct pg_result;

namespace solver_state {

struct pg_result_deleter {
  void operator()(pg_result* r) const;
};

/// A successful result (tuples or command ok).
class pg_rows {
public:
  explicit pg_rows(pg_result* r) : res_(r) {}

  int size() const;
  bool is_null(int row, int col) const;
  std::string_view bytes(int row, int col) const;
  int64_t int8(int row, int col) const;
  bool boolean(int row, int col) const;
  /// Rows affected by INSERT/UPDATE/DELETE.
  uint64_t affected() const;

private:
  std::unique_ptr<pg_result, pg_result_deleter> res_;
};

/// Parameters of one statement; binary unless added as text. bytes()
/// borrows the caller's memory; int8() and text() keep their own copy,
/// which copies and moves of the parameters take along and point at anew.
class pg_params {
public:
  pg_params() = default;
  pg_params(const pg_params& other);
  pg_params(pg_params&& other);
  pg_params& operator=(const pg_params& other);
  pg_params& operator=(pg_params&& other);
  ~pg_params() = default;

  pg_params& bytes(std::string_view b);
  pg_params& int8(int64_t v);
  pg_params& text(std::string t);

  int count() const { return static_cast<int>(values_.size()); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

private:
  /// Points every owned parameter's value at this object's own copy: a
  /// copy's pointers would otherwise still point into the original (a
  /// temporary, freed at once, in `{"get", pg_params{}.int8(now)}`).
  void point_at_owned();

  std::deque<std::string> owned_; // deque: push_back keeps addresses stable
  /// Per parameter: the index of its value in owned_, or -1 if borrowed.
  std::vector<int> owner_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

/// The SQLSTATE the store's insert trigger raises when max_items is reached
/// (class SS: not used by PostgreSQL); statements failing with it give
/// capacity_exceeded.
inline constexpr const char* postgres_capacity_state = "SS001";

/// A failed statement's message ends with "(SQLSTATE xxxxx)".
inline constexpr const char* sqlstate_label = "SQLSTATE ";

/// Whether `err` is a failed statement's error with SQLSTATE `state` (as
/// its message ends): the state names the failure in any server language.
bool failed_with_state(const caf::error& err, const char* state);

/// Whether `err` is a statement the server cancelled for waiting longer
/// than statement_timeout or lock_timeout (backend_unavailable; the
/// connection stays usable).
bool waited_too_long(const caf::error& err);

/// One statement of a pipelined batch: a prepared statement's name and its
/// parameters.
struct pg_statement {
  const char* name;
  pg_params params;
};

class postgres_connection {
public:
  using setup_fn = std::function<caf::error(postgres_connection&)>;

  /// `on_connect` runs on every new connection (schema, prepared
  /// statements), after the session's timeouts are set (connect()).
  postgres_connection(postgres_options opts, setup_fn on_connect);
  ~postgres_connection();

  postgres_connection(const postgres_connection&) = delete;
  postgres_connection& operator=(const postgres_connection&) = delete;

  /// Runs SQL text (one or more statements); the last result.
  caf::expected<pg_rows> exec(const std::string& sql);

  /// As exec(sql), waiting up to `timeout` for the answer instead of the
  /// command timeout: for a statement known to take longer (the schema's
  /// DDL), which sets its own statement_timeout on the server.
  caf::expected<pg_rows> exec(const std::string& sql,
                              std::chrono::milliseconds timeout);

  /// Prepares `sql` under `name` on the current connection.
  caf::error prepare(const std::string& name, const std::string& sql);

  /// Runs a prepared statement.
  caf::expected<pg_rows> run(const std::string& name, const pg_params& params);

  /// Runs `statements` in pipeline mode as one transaction (one Sync): one
  /// round trip, one commit. All or nothing: when the connection failed
  /// (backend_unavailable, connected() false) the outcome is unknown, as
  /// for run(); when a statement or the commit failed, none of them took
  /// effect, and `failed_at` (if given) is the index of the statement that
  /// failed, or statements.size() for the commit or when not known.
  caf::expected<std::vector<pg_rows>>
  run_batch(const std::vector<pg_statement>& statements,
            size_t* failed_at = nullptr);

  /// Connects now if the backoff allows it; empty when connected.
  caf::error ensure_connected();

  /// True while a session is open: a failed statement left it usable
  /// (false once a failure dropped it).
  bool connected() const { return conn_ != nullptr; }

  /// For a session that LISTENs: appends the payloads of up to `max`
  /// notifications, in the order the server sent them (commit order),
  /// waiting up to `wait` for the first. An error means the connection is
  /// lost (and dropped): notifications sent meanwhile are gone.
  caf::error notifications(std::vector<std::string>& payloads, size_t max,
                           std::chrono::milliseconds wait);

  const postgres_options& options() const { return opts_; }

private:
  /// When waiting for an answer ends, and how long it was allowed (for the
  /// error's message).
  struct wait_limit {
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds allowed;
  };

  wait_limit limit_of(std::chrono::milliseconds timeout) const;
  caf::error connect();
  caf::error drop(const std::string& why);
  caf::expected<pg_rows> finish(const char* what, wait_limit limit);
  caf::error flush_output(wait_limit limit);
  caf::error statement_failed(pg_result* r, const char* what);
  caf::expected<std::vector<pg_rows>>
  read_batch(size_t count, wait_limit limit,
             size_t* failed_at);
  /// Reads input until PQgetResult would not block (or the deadline).
  caf::error await_result(wait_limit limit);
  caf::error wait_socket(bool for_write,
                         wait_limit limit);

  postgres_options opts_;
  setup_fn on_connect_;
  pg_conn* conn_ = nullptr;
  connection_health health_;
};

} // namespace solver_state
