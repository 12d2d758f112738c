// One libpq connection with bounded waits: async statements polled to a
// deadline, binary parameters/results, drop and reconnect with backoff.

#include "backends/postgres/connection.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <libpq-fe.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

using steady = std::chrono::steady_clock;

std::string trimmed(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// SQLSTATEs that mean "the server is not there (now)", not "the statement
/// is wrong": connection exceptions (08), shutdown and start-up (57P0x),
/// and a write refused as read-only (25006): the server we are connected to
/// is a standby now, so the connection is dropped and the next one looks
/// for the read-write host of the list again.
bool unavailable_state(const char* state) {
  if (!state)
    return false;
  return std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P", 3) == 0
         || std::strcmp(state, "25006") == 0;
}

/// SQLSTATEs of a statement that could not be served now, on a server that
/// is there and a connection that stays usable: cancelled for waiting
/// longer than statement_timeout (57014) or lock_timeout (55P03) (a row
/// another transaction holds), or no connection slot free (53300). The
/// caller may try again: backend_unavailable (503), not backend_error (500).
bool busy_state(const char* state) {
  if (!state)
    return false;
  return std::strcmp(state, "57014") == 0 || std::strcmp(state, "55P03") == 0
         || std::strcmp(state, "53300") == 0;
}

/// "a,b" of every host's field `f` for libpq's multi-host parameters.
template <class Field>
std::string joined(const std::vector<std::pair<std::string, uint16_t>>& hosts,
                   Field f) {
  std::string out;
  for (auto& h : hosts) {
    if (!out.empty())
      out += ',';
    out += f(h);
  }
  return out;
}

/// The session settings of every connection. PostgreSQL goes on with a
/// statement our side gave up on (it does not notice a closed socket while
/// it waits for a lock), and a transaction whose client froze between two
/// round trips (a stopped process, a paused VM) holds its row locks for as
/// long as the session lives: every writer of those rows, on every node,
/// would wait behind it. So the server itself ends
/// - a statement a little before our command timeout: the caller gets its
///   answer (57014) on a connection that stays usable, and an abandoned
///   statement stops waiting for locks soon after our side gave up;
/// - a session idle inside a transaction for longer than one round trip
///   may take (at least a second): its locks go with it.
std::string session_timeouts(const postgres_options& opts) {
  auto command = opts.command_timeout.count();
  // The margin leaves the answer time to arrive before our own deadline.
  auto margin = std::min<int64_t>(command / 5, 500);
  auto statement = std::max<int64_t>(1, command - margin);
  auto idle = std::max<int64_t>(1'000, command);
  return "SET statement_timeout = " + std::to_string(statement)
         + "; SET idle_in_transaction_session_timeout = "
         + std::to_string(idle);
}

} // namespace

bool waited_too_long(const caf::error& err) {
  return failed_with_state(err, "57014") || failed_with_state(err, "55P03");
}

bool failed_with_state(const caf::error& err, const char* state) {
  auto message = message_of(err);
  auto suffix = std::string{"("} + sqlstate_label + state + ")";
  return message.size() >= suffix.size()
         && message.compare(message.size() - suffix.size(), suffix.size(),
                            suffix)
              == 0;
}

// -- results and parameters --------------------------------------------------------

void pg_result_deleter::operator()(pg_result* r) const {
  PQclear(r);
}

int pg_rows::size() const {
  return PQntuples(res_.get());
}

bool pg_rows::is_null(int row, int col) const {
  return PQgetisnull(res_.get(), row, col) != 0;
}

std::string_view pg_rows::bytes(int row, int col) const {
  return {PQgetvalue(res_.get(), row, col),
          static_cast<size_t>(PQgetlength(res_.get(), row, col))};
}

int64_t pg_rows::int8(int row, int col) const {
  auto b = bytes(row, col);
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < b.size(); ++i)
    v = (v << 8) | static_cast<unsigned char>(b[i]);
  return static_cast<int64_t>(v);
}

bool pg_rows::boolean(int row, int col) const {
  auto b = bytes(row, col);
  return !b.empty() && b[0] != 0;
}

uint64_t pg_rows::affected() const {
  auto text = PQcmdTuples(res_.get());
  return text && *text ? std::strtoull(text, nullptr, 10) : 0;
}

pg_params::pg_params(const pg_params& other)
  : owned_(other.owned_),
    owner_(other.owner_),
    values_(other.values_),
    lengths_(other.lengths_),
    formats_(other.formats_) {
  point_at_owned();
}

pg_params::pg_params(pg_params&& other)
  : owned_(std::move(other.owned_)),
    owner_(std::move(other.owner_)),
    values_(std::move(other.values_)),
    lengths_(std::move(other.lengths_)),
    formats_(std::move(other.formats_)) {
  // A moved deque keeps its elements in place, but a short string's bytes
  // live inside the string object: pointing anew costs little and does
  // not depend on how the library moves them.
  point_at_owned();
}

pg_params& pg_params::operator=(const pg_params& other) {
  if (this != &other)
    *this = pg_params{other};
  return *this;
}

pg_params& pg_params::operator=(pg_params&& other) {
  owned_ = std::move(other.owned_);
  owner_ = std::move(other.owner_);
  values_ = std::move(other.values_);
  lengths_ = std::move(other.lengths_);
  formats_ = std::move(other.formats_);
  point_at_owned();
  return *this;
}

void pg_params::point_at_owned() {
  for (size_t i = 0; i < owner_.size(); ++i)
    if (owner_[i] >= 0)
      values_[i] = owned_[static_cast<size_t>(owner_[i])].c_str();
}

pg_params& pg_params::bytes(std::string_view b) {
  // A null pointer would mean SQL NULL; an empty value is not NULL.
  values_.push_back(b.data() ? b.data() : "");
  owner_.push_back(-1);
  lengths_.push_back(static_cast<int>(b.size()));
  formats_.push_back(1);
  return *this;
}

pg_params& pg_params::int8(int64_t v) {
  std::string be(8, '\0');
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8)
    be[i] = static_cast<char>(u & 0xff);
  owned_.push_back(std::move(be));
  bytes(owned_.back());
  owner_.back() = static_cast<int>(owned_.size() - 1);
  return *this;
}

pg_params& pg_params::text(std::string t) {
  owned_.push_back(std::move(t));
  values_.push_back(owned_.back().c_str());
  owner_.push_back(static_cast<int>(owned_.size() - 1));
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

// -- the connection ----------------------------------------------------------------

postgres_connection::postgres_connection(postgres_options opts,
                                         setup_fn on_connect)
  : opts_(std::move(opts)),
    on_connect_(std::move(on_connect)),
    health_("postgresql " + opts_.server_name()) {
}

postgres_connection::~postgres_connection() {
  if (conn_)
    PQfinish(conn_);
}

caf::error postgres_connection::drop(const std::string& why) {
  if (conn_) {
    PQfinish(conn_);
    conn_ = nullptr;
  }
  return health_.failed(why);
}

caf::error postgres_connection::connect() {
  // libpq counts connect_timeout in whole seconds, at least 2.
  auto connect_s = std::to_string(
    std::max<int64_t>(2, (opts_.connect_timeout.count() + 999) / 1000));
  // libpq tries the hosts in order and keeps the first that offers a
  // session of target_session_attrs (read-write: the primary).
  auto hosts = joined(opts_.hosts, [](auto& h) { return h.first; });
  auto ports = joined(opts_.hosts,
                      [](auto& h) { return std::to_string(h.second); });
  // tcp_user_timeout: unacknowledged writes to a vanished peer fail in this
  // time; keepalives detect an idle connection to a dead host.
  auto user_timeout = std::to_string(opts_.command_timeout.count());
  const char* keys[] = {"host",           "port",          "user",
                        "password",       "dbname",        "connect_timeout",
                        "tcp_user_timeout", "keepalives",  "keepalives_idle",
                        "keepalives_interval", "keepalives_count",
                        "application_name", "target_session_attrs", nullptr};
  const char* values[] = {hosts.c_str(),
                          ports.c_str(),
                          opts_.user.c_str(),
                          opts_.password.empty() ? nullptr
                                                 : opts_.password.c_str(),
                          opts_.dbname.c_str(),
                          connect_s.c_str(),
                          user_timeout.c_str(),
                          "1",
                          "5",
                          "2",
                          "3",
                          opts_.application_name.c_str(),
                          opts_.target_session_attrs.c_str(),
                          nullptr};
  conn_ = PQconnectdbParams(keys, values, 0);
  if (!conn_)
    return drop("cannot allocate a connection");
  if (PQstatus(conn_) != CONNECTION_OK)
    return drop("cannot connect: " + trimmed(PQerrorMessage(conn_)));
  // NOTICEs ("relation already exists, skipping") are not worth a line on
  // stderr per connection.
  PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  if (PQsetnonblocking(conn_, 1) != 0)
    return drop("cannot switch to non-blocking mode");
  if (auto r = exec(session_timeouts(opts_)); !r) {
    if (conn_)
      drop(message_of(r.error()));
    return std::move(r.error());
  }
  if (on_connect_)
    if (auto err = on_connect_(*this)) {
      if (conn_)
        drop(message_of(err));
      return err;
    }
  health_.connected();
  return {};
}

caf::error postgres_connection::ensure_connected() {
  if (conn_)
    return {};
  if (auto err = health_.attempt_allowed())
    return err;
  return connect();
}

caf::error postgres_connection::wait_socket(bool for_write,
                                            wait_limit limit) {
  pollfd pfd{PQsocket(conn_), static_cast<short>(POLLIN | (for_write ? POLLOUT : 0)), 0};
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  limit.deadline - steady::now())
                  .count();
    if (left <= 0)
      return drop("no answer within "
                  + std::to_string(limit.allowed.count()) + " ms");
    auto n = poll(&pfd, 1, static_cast<int>(left));
    if (n > 0)
      return {};
    if (n < 0 && errno != EINTR)
      return drop(std::string{"poll: "} + std::strerror(errno));
  }
}

caf::error postgres_connection::notifications(std::vector<std::string>& out,
                                              size_t max,
                                              std::chrono::milliseconds wait) {
  if (!conn_)
    return health_.unavailable("not connected");
  auto take = [&] {
    size_t taken = 0;
    while (taken < max) {
      auto* n = PQnotifies(conn_);
      if (!n)
        break;
      out.emplace_back(n->extra);
      PQfreemem(n);
      ++taken;
    }
    return taken;
  };
  if (take() > 0)
    return {};
  pollfd pfd{PQsocket(conn_), POLLIN, 0};
  auto n = poll(&pfd, 1, static_cast<int>(wait.count()));
  if (n < 0 && errno != EINTR)
    return drop(std::string{"poll: "} + std::strerror(errno));
  if (n <= 0)
    return {};
  if (!PQconsumeInput(conn_) || PQstatus(conn_) == CONNECTION_BAD)
    return drop(trimmed(PQerrorMessage(conn_)));
  take();
  return {};
}

caf::error postgres_connection::flush_output(wait_limit limit) {
  for (;;) { // send everything (large values may not fit the socket buffer)
    auto f = PQflush(conn_);
    if (f == 0)
      return {};
    if (f < 0)
      return drop(trimmed(PQerrorMessage(conn_)));
    if (auto err = wait_socket(true, limit))
      return err;
    // Read what the server sent meanwhile, or it may stop reading our input.
    if (!PQconsumeInput(conn_))
      return drop(trimmed(PQerrorMessage(conn_)));
  }
}

caf::error postgres_connection::statement_failed(pg_result* r,
                                                 const char* what) {
  auto message = r ? trimmed(PQresultErrorMessage(r))
                   : trimmed(PQerrorMessage(conn_));
  if (PQstatus(conn_) == CONNECTION_BAD
      || (r && unavailable_state(PQresultErrorField(r, PG_DIAG_SQLSTATE))))
    return drop(message);
  auto* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (state && std::strcmp(state, postgres_capacity_state) == 0) {
    // Our own trigger's words alone, without the server's CONTEXT lines
    // (the PL/pgSQL function and line that raised it) a client would get.
    auto* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    return make_state_error(state_errc::capacity_exceeded,
                            "postgresql: "
                              + (primary ? std::string{primary} : message));
  }
  // The SQLSTATE names the failure in any server language (lc_messages):
  // what a caller may act on (a deadlock to retry) is told by it, never by
  // the message's words.
  if (state && *state)
    message += std::string{" ("} + sqlstate_label + state + ")";
  if (busy_state(state))
    return health_.unavailable(std::string{what} + ": " + message);
  return make_state_error(state_errc::backend_error,
                          std::string{"postgresql "} + what + ": " + message);
}

caf::error postgres_connection::await_result(wait_limit limit) {
  while (PQisBusy(conn_)) {
    if (auto err = wait_socket(false, limit))
      return err;
    if (!PQconsumeInput(conn_))
      return drop(trimmed(PQerrorMessage(conn_)));
  }
  return {};
}

postgres_connection::wait_limit
postgres_connection::limit_of(std::chrono::milliseconds timeout) const {
  return {steady::now() + timeout, timeout};
}

caf::expected<pg_rows> postgres_connection::finish(const char* what,
                                                   wait_limit limit) {
  if (auto err = flush_output(limit))
    return err;
  std::unique_ptr<pg_result, pg_result_deleter> last;
  std::unique_ptr<pg_result, pg_result_deleter> failure;
  for (;;) {
    if (auto err = await_result(limit))
      return err;
    auto* r = PQgetResult(conn_);
    if (!r)
      break;
    auto status = PQresultStatus(r);
    if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && !failure)
      failure.reset(r);
    else
      last.reset(r);
  }
  if (failure || !last)
    return statement_failed(failure.get(), what);
  return pg_rows{last.release()};
}

caf::expected<std::vector<pg_rows>>
postgres_connection::read_batch(size_t count, wait_limit limit,
                                size_t* failed_at) {
  std::vector<pg_rows> out;
  out.reserve(count);
  caf::error failure;
  // Results arrive per statement, each followed by a null separator, then
  // the Sync's PGRES_PIPELINE_SYNC; after a failure the rest are
  // PGRES_PIPELINE_ABORTED. Reading on to the Sync leaves the connection
  // idle and reusable either way.
  for (;;) {
    if (auto err = await_result(limit))
      return err;
    std::unique_ptr<pg_result, pg_result_deleter> r{PQgetResult(conn_)};
    if (!r) {
      if (PQstatus(conn_) == CONNECTION_BAD)
        return drop(trimmed(PQerrorMessage(conn_)));
      continue; // the separator after one statement's results
    }
    auto status = PQresultStatus(r.get());
    if (status == PGRES_PIPELINE_SYNC)
      break;
    if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
      out.emplace_back(r.release());
    } else if (status != PGRES_PIPELINE_ABORTED && !failure) {
      failure = statement_failed(r.get(), "batch");
      if (!conn_)
        return failure; // dropped: nothing more to read
      if (failed_at)
        *failed_at = out.size(); // every statement before it gave a result
    }
  }
  if (failure)
    return failure;
  if (out.size() != count) // e.g. the commit failed after every statement
    return make_state_error(state_errc::backend_error,
                            "postgresql batch: "
                              + std::to_string(out.size()) + " results for "
                              + std::to_string(count) + " statements");
  return out;
}

caf::expected<std::vector<pg_rows>>
postgres_connection::run_batch(const std::vector<pg_statement>& statements,
                               size_t* failed_at) {
  if (failed_at)
    *failed_at = statements.size();
  if (auto err = ensure_connected())
    return err;
  if (!PQenterPipelineMode(conn_))
    return drop("cannot enter pipeline mode: "
                + trimmed(PQerrorMessage(conn_)));
  for (auto& s : statements)
    if (!PQsendQueryPrepared(conn_, s.name, s.params.count(),
                             s.params.values(), s.params.lengths(),
                             s.params.formats(), 1))
      return drop(trimmed(PQerrorMessage(conn_)));
  if (!PQpipelineSync(conn_))
    return drop(trimmed(PQerrorMessage(conn_)));
  auto limit = limit_of(opts_.command_timeout);
  if (auto err = flush_output(limit))
    return err;
  auto out = read_batch(statements.size(), limit, failed_at);
  if (!conn_)
    return out; // dropped
  if (!PQexitPipelineMode(conn_))
    return drop("cannot leave pipeline mode: "
                + trimmed(PQerrorMessage(conn_)));
  return out;
}

caf::expected<pg_rows> postgres_connection::exec(const std::string& sql) {
  return exec(sql, opts_.command_timeout);
}

caf::expected<pg_rows>
postgres_connection::exec(const std::string& sql,
                          std::chrono::milliseconds timeout) {
  if (auto err = ensure_connected())
    return err;
  if (!PQsendQuery(conn_, sql.c_str()))
    return drop(trimmed(PQerrorMessage(conn_)));
  return finish("query", limit_of(timeout));
}

caf::error postgres_connection::prepare(const std::string& name,
                                        const std::string& sql) {
  if (auto err = ensure_connected())
    return err;
  if (!PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr))
    return drop(trimmed(PQerrorMessage(conn_)));
  auto r = finish("prepare", limit_of(opts_.command_timeout));
  return r ? caf::error{} : std::move(r.error());
}

caf::expected<pg_rows> postgres_connection::run(const std::string& name,
                                                const pg_params& params) {
  if (auto err = ensure_connected())
    return err;
  if (!PQsendQueryPrepared(conn_, name.c_str(), params.count(),
                           params.values(), params.lengths(), params.formats(),
                           1))
    return drop(trimmed(PQerrorMessage(conn_)));
  return finish(name.c_str(), limit_of(opts_.command_timeout));
}

} // namespace solver_state
