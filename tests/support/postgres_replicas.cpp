// Test fixture: a PostgreSQL primary and a streaming standby made with
// pg_basebackup; crash the primary, promote the standby.

#include "tests/support/postgres_replicas.hpp"

#include <fstream>
#include <stdexcept>

#include "tests/support/postgres_server.hpp"

namespace solver_state::testing {

using namespace std::chrono_literals;

namespace {

const std::string& bin = postgres_bin;

} // namespace

int postgres_replicas::as_postgres(std::vector<std::string> argv) const {
  return run_as_postgres(std::move(argv), dir_.path() + "/commands.log");
}

std::string postgres_replicas::data(const char* which) const {
  return dir_.path() + "/" + which;
}

std::string postgres_replicas::sql(uint16_t port,
                                   const std::string& statement) const {
  auto out = dir_.path() + "/sql.out";
  std::remove(out.c_str());
  run_command({bin + "psql", "-h", "127.0.0.1", "-p", std::to_string(port),
               "-U", "postgres", "-d", "postgres", "-qAt", "-c", statement},
              out);
  return read_text(out);
}

void postgres_replicas::start(const std::string& data, uint16_t port,
                              const std::string& extra) {
  auto options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port)
                 + " -k " + dir_.path()
                 + " -c fsync=off -c wal_level=replica -c max_wal_senders=4"
                   " -c hot_standby=on -c max_connections=100 " + extra;
  if (as_postgres({bin + "pg_ctl", "-D", data, "-l", data + ".log", "-w",
                   "-t", "30", "-o", options, "start"})
      != 0)
    throw std::runtime_error("postgres did not start: "
                             + read_text(data + ".log"));
}

postgres_replicas::postgres_replicas(bool synchronous) {
  hand_to_postgres(dir_.path());
  auto as_owner = as_postgres_prefix();
  cleanup_after_exit("for d in " + data("primary") + " " + data("standby")
                     + "; do " + as_owner + bin
                     + "pg_ctl -D $d -m immediate -w stop >/dev/null 2>&1;"
                       " done; rm -rf " + dir_.path());
  if (as_postgres({bin + "initdb", "-D", data("primary"), "-U", "postgres",
                   "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                   "--no-instructions"})
      != 0)
    throw std::runtime_error("initdb failed: "
                             + read_text(dir_.path() + "/commands.log"));
  primary_port_ = free_loopback_port();
  standby_port_ = free_loopback_port();
  start(data("primary"), primary_port_,
        synchronous ? "-c synchronous_standby_names=standby1" : "");
  primary_running_ = true;
  if (as_postgres({bin + "pg_basebackup", "-h", "127.0.0.1", "-p",
                   std::to_string(primary_port_), "-U", "postgres", "-D",
                   data("standby"), "-X", "stream", "-c", "fast", "-R"})
      != 0)
    throw std::runtime_error("pg_basebackup failed: "
                             + read_text(dir_.path() + "/commands.log"));
  // The standby names itself, so synchronous_standby_names can pick it.
  std::ofstream{data("standby") + "/postgresql.auto.conf", std::ios::app}
    << "primary_conninfo = 'host=127.0.0.1 port=" << primary_port_
    << " user=postgres application_name=standby1'\n";
  start(data("standby"), standby_port_, "");
  standby_running_ = true;
  auto wanted = synchronous ? "streaming|sync" : "streaming|async";
  if (!wait_until(
        [&] {
          return sql(primary_port_,
                     "SELECT state, sync_state FROM pg_stat_replication "
                     "WHERE application_name = 'standby1'")
                   .find(wanted)
                 != std::string::npos;
        },
        30s))
    throw std::runtime_error("the standby did not start streaming: "
                             + read_text(data("standby") + ".log"));
}

postgres_replicas::~postgres_replicas() {
  if (primary_running_)
    kill_primary();
  if (standby_running_)
    as_postgres({bin + "pg_ctl", "-D", data("standby"), "-m", "immediate",
                 "-w", "stop"});
}

std::string postgres_replicas::url(const std::string& query) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(primary_port_)
         + ",127.0.0.1:" + std::to_string(standby_port_) + "/postgres"
         + query;
}

void postgres_replicas::detach_standby() {
  auto nowhere = std::to_string(free_loopback_port());
  // The last setting of the file wins; a reload restarts the walreceiver.
  std::ofstream{data("standby") + "/postgresql.auto.conf", std::ios::app}
    << "primary_conninfo = 'host=127.0.0.1 port=" << nowhere
    << " user=postgres application_name=standby1'\n";
  if (as_postgres({bin + "pg_ctl", "-D", data("standby"), "reload"}) != 0)
    throw std::runtime_error("cannot reload the standby");
  if (!wait_until(
        [&] {
          return sql(primary_port_, "SELECT count(*) FROM pg_stat_replication")
                 == "0\n";
        },
        10s))
    throw std::runtime_error("the standby is still streaming");
}

void postgres_replicas::wait_standby_caught_up() {
  auto written = sql(primary_port_, "SELECT pg_current_wal_lsn()");
  while (!written.empty() && written.back() == '\n')
    written.pop_back();
  if (written.empty())
    throw std::runtime_error("no WAL position from the primary");
  if (!wait_until(
        [&] {
          return sql(standby_port_, "SELECT pg_last_wal_replay_lsn() >= '"
                                      + written + "'::pg_lsn")
                 == "t\n";
        },
        10s))
    throw std::runtime_error("the standby did not catch up with "
                             + written);
}

void postgres_replicas::kill_primary() {
  as_postgres({bin + "pg_ctl", "-D", data("primary"), "-m", "immediate", "-w",
               "stop"});
  primary_running_ = false;
}

void postgres_replicas::promote_standby() {
  if (as_postgres({bin + "pg_ctl", "-D", data("standby"), "-w", "-t", "30",
                   "promote"})
      != 0)
    throw std::runtime_error("promotion failed: "
                             + read_text(dir_.path() + "/commands.log"));
}

} // namespace solver_state::testing
