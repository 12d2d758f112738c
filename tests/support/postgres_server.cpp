// Test fixture that runs a throwaway PostgreSQL cluster (initdb in a temp
// dir, free loopback port, as user postgres when root), kill and restart.

#include "tests/support/postgres_server.hpp"

#include <pwd.h>
#include <unistd.h>

#include <stdexcept>

namespace solver_state::testing {

const std::string postgres_bin = "/usr/lib/postgresql/15/bin/";

namespace {

const std::string& bin = postgres_bin;

} // namespace

int run_as_postgres(std::vector<std::string> argv, const std::string& log) {
  if (geteuid() == 0)
    argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  return run_command(argv, log);
}

void hand_to_postgres(const std::string& dir) {
  if (geteuid() != 0)
    return;
  auto* pw = getpwnam("postgres");
  if (!pw)
    throw std::runtime_error("no postgres system user (install postgresql)");
  if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0)
    throw std::runtime_error("cannot chown " + dir);
}

std::string as_postgres_prefix() {
  return geteuid() == 0 ? "runuser -u postgres -- " : "";
}

int postgres_server::as_postgres(std::vector<std::string> argv) const {
  return run_as_postgres(std::move(argv), dir_.path() + "/commands.log");
}

postgres_server::postgres_server() {
  hand_to_postgres(dir_.path());
  cleanup_after_exit(as_postgres_prefix() + bin + "pg_ctl -D " + dir_.path()
                     + "/data -m immediate -w stop >/dev/null 2>&1;"
                       " rm -rf " + dir_.path());
  if (as_postgres({bin + "initdb", "-D", dir_.path() + "/data", "-U",
                   "postgres", "-A", "trust", "-E", "UTF8", "--locale=C",
                   "--no-sync", "--no-instructions"})
      != 0)
    throw std::runtime_error("initdb failed: "
                             + read_text(dir_.path() + "/commands.log"));
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_loopback_port();
    if (start())
      return;
  }
  throw std::runtime_error("postgres did not start: "
                           + read_text(dir_.path() + "/server.log"));
}

postgres_server::~postgres_server() {
  if (running_)
    kill();
}

bool postgres_server::start() {
  auto options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_)
                 + " -k " + dir_.path()
                 + " -c fsync=off -c full_page_writes=off"
                   " -c max_connections=200";
  auto rc = as_postgres({bin + "pg_ctl", "-D", dir_.path() + "/data", "-l",
                         dir_.path() + "/server.log", "-w", "-t", "30", "-o",
                         options, "start"});
  running_ = rc == 0;
  return running_;
}

std::string postgres_server::url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_)
         + "/postgres";
}

void postgres_server::kill() {
  as_postgres({bin + "pg_ctl", "-D", dir_.path() + "/data", "-m",
               "immediate", "-w", "stop"});
  running_ = false;
}

void postgres_server::restart() {
  if (!start())
    throw std::runtime_error("postgres did not restart: "
                             + read_text(dir_.path() + "/server.log"));
}

int postgres_server::sql(const std::string& statement) const {
  return run_command({bin + "psql", "-h", "127.0.0.1", "-p",
                      std::to_string(port_), "-U", "postgres", "-d",
                      "postgres", "-qAt", "-v", "ON_ERROR_STOP=1", "-c",
                      statement},
                     dir_.path() + "/commands.log");
}

void postgres_server::truncate(const std::string& table) const {
  auto rc = sql("DO $$ BEGIN IF to_regclass('" + table
                + "') IS NOT NULL THEN TRUNCATE " + table
                + "; END IF; END $$");
  if (rc != 0)
    throw std::runtime_error("cannot truncate " + table + ": "
                             + read_text(dir_.path() + "/commands.log"));
}

postgres_server& shared_postgres() {
  static postgres_server server;
  return server;
}

} // namespace solver_state::testing
