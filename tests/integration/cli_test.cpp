// The solver-state binary's options, run as a process: --print-config,
// --version, --help, --check-config, --recover-truncate-log.

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "backends/file/recovery.hpp"
#include "backends/file/wal.hpp"
#include "config/config.hpp"
#include "config/print.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;

namespace {

struct run_result {
  int status = -1;
  std::string out;
};

/// Runs build/solver-state with `args` (a shell fragment) under the
/// environment assignments `env`, stdout captured.
run_result run_binary(const std::string& args, const std::string& env = {}) {
  std::string cmd = env + " " SOLVER_STATE_BINARY_DIR "/solver-state " + args
                    + (args.find("2>&1") == std::string::npos
                         ? " 2>/dev/null" : "");
  run_result r;
  auto* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
    r.out.append(buf.data(), n);
  r.status = pclose(p);
  return r;
}

/// Runs build/solver-state with `args`, stdout and stderr together.
run_result run_both(const std::string& args) {
  return run_binary(args + " 2>&1");
}

/// The exit code of a run (pclose gives a wait status).
int exit_code(const run_result& r) {
  return WIFEXITED(r.status) ? WEXITSTATUS(r.status) : -1;
}

/// The files write_config wrote, removed when the test program ends.
struct written_files {
  std::vector<std::string> paths;
  ~written_files() {
    for (auto& p : paths)
      std::remove(p.c_str());
  }
};

/// Writes `yaml` to a fresh file under the build directory; its path.
std::string write_config(const std::string& yaml) {
  static int n = 0;
  static written_files written;
  auto path = std::string{SOLVER_STATE_BINARY_DIR} + "/cli_test_"
              + std::to_string(::getpid()) + "_" + std::to_string(++n)
              + ".yaml";
  std::ofstream{path} << yaml;
  written.paths.push_back(path);
  return path;
}

} // namespace

TEST_CASE("print-config prints the built-in defaults, as the shipped file does") {
  auto r = run_binary("--print-config");
  REQUIRE(r.status == 0);
  CHECK(r.out == to_yaml(parse_config("").config));
  auto shipped = run_binary("--config " SOLVER_STATE_SOURCE_DIR
                            "/config/solver-state.yaml --print-config");
  REQUIRE(shipped.status == 0);
  CHECK(shipped.out == r.out);
}

TEST_CASE("print-config shows max_items 0 for the file default and 10000 "
          "for memory") {
  auto dflt = run_binary("--print-config");
  REQUIRE(dflt.status == 0);
  CHECK(dflt.out.find("  max_items: 0\n") != std::string::npos);
  auto memory = run_binary("--config " + write_config("state: {type: memory}\n")
                           + " --print-config");
  REQUIRE(memory.status == 0);
  CHECK(memory.out.find("  max_items: 10000\n") != std::string::npos);
}

TEST_CASE("print-config shows overrides and hides the token and a backend "
          "URL's password") {
  auto r = run_binary("--listen 127.0.0.1:1 --print-config",
                      "SOLVER_STATE_AUTH_TOKEN=s3cret");
  REQUIRE(r.status == 0);
  CHECK(r.out.find("  listen: 127.0.0.1:1\n") != std::string::npos);
  CHECK(r.out.find("  auth_token: \"<set>\"\n") != std::string::npos);
  CHECK(r.out.find("s3cret") == std::string::npos);
  auto url = run_binary(
    "--config "
    + write_config("state: {type: \"redis://:hunter2@127.0.0.1:6390/0\"}\n")
    + " --print-config");
  REQUIRE(url.status == 0);
  CHECK(url.out.find("  type: redis://:***@127.0.0.1:6390/0\n")
        != std::string::npos);
  CHECK(url.out.find("hunter2") == std::string::npos);
}

TEST_CASE("version and help answer and exit 0") {
  auto v = run_binary("--version");
  CHECK(v.status == 0);
  CHECK(v.out.rfind("solver-state ", 0) == 0);
  // The malloc this build links (jemalloc unless built with
  // SOLVER_STATE_ALLOCATOR=system or a sanitizer), as the process sees it.
  CHECK(v.out.find("\nallocator: " SOLVER_STATE_EXPECTED_ALLOCATOR)
        != std::string::npos);
  auto h = run_binary("--help");
  CHECK(h.status == 0);
  CHECK(h.out.find("--print-config") != std::string::npos);
}

TEST_CASE("check-config and start-up refuse the same bad configs with exit 2") {
  struct bad_config {
    std::string yaml;
    std::string message;
    /// Also right: a build without the Redis backend knows no redis://.
    std::string or_message = message;
  };
  for (auto& bad : std::vector<bad_config>{
         {"state: {type: sqlite}\n", "state.type: unknown backend 'sqlite'"},
         {"state: {type: \"redis://h:0/0\"}\n", "state.type: malformed URL",
          "state.type: unknown backend 'redis://h:0/0'"},
         {"state: {type: file, eviction: lru}\n",
          "state.eviction: lru works only with type: memory"},
         {"state: {type: \"dynamodb://127.0.0.1:1/tbl\", max_items: 5}\n",
          "state.max_items: the dynamodb backend cannot enforce"},
         {"state: {type: \"dynamodb://127.0.0.1:1/\", max_items: 0}\n",
          "state.type 'dynamodb://127.0.0.1:1/': table name must be",
          "state.type: unknown backend 'dynamodb://127.0.0.1:1/'"},
         {"log: {format: xml}\n",
          "log.format: must be one of json, text, got 'xml'"},
         {"http: {access_log: sometimes}\n",
          "http.access_log: must be one of false, true, got 'sometimes'"},
         // Members on one Redis deleted each other's keys in the handoff.
         {"state: {type: \"redis://127.0.0.1:1/0\"}\n"
          "node: {listen: \"127.0.0.1:7001\", members: [\"127.0.0.1:7001\", "
          "\"127.0.0.1:7002\"]}\n",
          "node.members: a partitioned cluster keeps each key on one node",
          "state.type: unknown backend 'redis://127.0.0.1:1/0'"}}) {
    INFO(bad.yaml);
    auto path = write_config(bad.yaml);
    auto check = run_both("--config " + path + " --check-config");
    CHECK(exit_code(check) == 2);
    auto names = [&](const std::string& out, const std::string& prefix) {
      return out.find(prefix + bad.message) != std::string::npos
             || out.find(prefix + bad.or_message) != std::string::npos;
    };
    CHECK(names(check.out, "solver-state: config: "));
    auto start = run_both("--config " + path + " --listen 127.0.0.1:0");
    CHECK(exit_code(start) == 2);
    CHECK(names(start.out, ""));
  }
}

TEST_CASE("print-config, check-config and start-up refuse a config of two "
          "documents and a file with no settings") {
  auto two = write_config("---\n---\nhttp: {auth_token: s3cret}\n");
  auto none = write_config("# nothing but a comment\n");
  for (auto& [path, message] : std::vector<std::pair<std::string, std::string>>{
         {two, "solver-state: config: yaml: 2 documents"},
         {none, "solver-state: config: " + none + ": holds no settings"}}) {
    INFO(path);
    for (auto& mode : {"--print-config", "--check-config",
                       "--listen 127.0.0.1:0"}) {
      INFO(mode);
      // Bounded: a start that accepted the file would serve until stopped.
      auto r = run_binary("--config " + path + " " + mode + " 2>&1",
                          "timeout 20");
      CHECK(exit_code(r) == 2);
      CHECK(r.out.find(message) != std::string::npos);
      CHECK(r.out.find("auth_token") == std::string::npos);
    }
  }
}

TEST_CASE("check-config and start-up refuse a SOLVER_STATE_AUTH_TOKEN no "
          "client could present") {
  // A trailing newline, as a secret file ends: the token never matched.
  for (auto& mode : {"--check-config", "--print-config",
                     "--listen 127.0.0.1:0"}) {
    INFO(mode);
    auto r = run_binary(std::string{mode} + " 2>&1",
                        "SOLVER_STATE_AUTH_TOKEN=\"s3cret\n\" timeout 20");
    CHECK(exit_code(r) == 2);
    CHECK(r.out.find("solver-state: config: SOLVER_STATE_AUTH_TOKEN: holds "
                     "a newline (byte 7 of 7; the end of a secret file?)")
          != std::string::npos);
    CHECK(r.out.find("s3cret") == std::string::npos);
  }
}

TEST_CASE("check-config and start-up refuse unusable encryption keys, "
          "naming the field and never the key") {
  testing::key_files files;
  auto good = files.hex_key("k1").file;
  auto world = files.write("world.key", std::string(64, 'c'), 0644);
  auto yaml = [](const std::string& keys, const std::string& primary) {
    return "state: {type: memory, encryption: {primary: " + primary
           + ", keys: [" + keys + "]}}\n";
  };
  for (auto& [config, message] :
       std::vector<std::pair<std::string, std::string>>{
         {yaml("{id: k1, file: \"" + world + "\"}", "k1"),
          "state.encryption.keys[0].file: " + world
            + " may be accessed by group or others (mode 0644)"},
         {yaml("{id: k1, file: \"" + good + "\"}", "k9"),
          "state.encryption.primary: 'k9' is not the id of a listed key"},
         {yaml("{id: k1, file: \"" + files.dir() + "/none.key\"}", "k1"),
          "state.encryption.keys[0].file: cannot open " + files.dir()
            + "/none.key"},
         {yaml("{id: k1, key: \"" + std::string(64, 'c') + "\"}", "k1"),
          "state.encryption.keys[0].key: unknown field"}}) {
    INFO(config);
    auto path = write_config(config);
    auto check = run_both("--config " + path + " --check-config");
    CHECK(exit_code(check) == 2);
    CHECK(check.out.find(message) != std::string::npos);
    CHECK(check.out.find(std::string(64, 'c')) == std::string::npos);
    auto start = run_both("--config " + path + " --listen 127.0.0.1:0");
    CHECK(exit_code(start) == 2);
    CHECK(start.out.find(message) != std::string::npos);
  }
}

TEST_CASE("check-config and start-up want state.file.base_path to be a "
          "writable directory, and name that field") {
  auto a_file = write_config("# not a directory\n");
  auto sub = a_file + "/sub";
  for (auto& [base, message] : std::vector<std::pair<std::string, std::string>>{
         {a_file, "state.file.base_path: " + a_file + " is not a directory"},
         {sub, "state.file.base_path: cannot create " + sub + ": " + a_file
                 + " is not a directory"},
         // Permission bits say yes to root here: the check tries mkdir.
         {"/proc/solver", "state.file.base_path: cannot create /proc/solver: "
                          "No such file or directory"}}) {
    INFO(base);
    auto path = write_config("state: {type: file, file: {base_path: \"" + base
                             + "\"}}\n");
    auto check = run_both("--config " + path + " --check-config");
    CHECK(exit_code(check) == 2);
    CHECK(check.out.find("solver-state: config: " + message) != std::string::npos);
    auto start = run_both("--config " + path + " --listen 127.0.0.1:0");
    CHECK(exit_code(start) == 2);
    CHECK(start.out.find(message) != std::string::npos);
  }

  // A directory the checks accept but the store cannot open (another
  // process holds its lock): the start-up error names the field too.
  auto dir = std::string{SOLVER_STATE_BINARY_DIR} + "/cli_test_locked_"
             + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  int lock = ::open((dir + "/~lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(lock >= 0);
  REQUIRE(::flock(lock, LOCK_EX | LOCK_NB) == 0);
  auto path = write_config("state: {type: file, file: {base_path: \"" + dir
                           + "\"}}\n");
  auto start = run_both("--config " + path + " --listen 127.0.0.1:0");
  ::close(lock);
  std::filesystem::remove_all(dir);
  CHECK(exit_code(start) == 1);
  INFO(start.out);
  CHECK(start.out.find("cannot start the store: state.file.base_path: ")
        != std::string::npos);
  CHECK(start.out.find("in use by another process") != std::string::npos);
}

// Found by review: a member restarted with a list that dropped a node it
// had handed off with, without node.leaving, served that node's keys as
// absent and took new writes of them; added back, the dropped node skipped
// its handoff and its old copies shadowed those writes for good.
TEST_CASE("check-config and start-up refuse a member list that drops a node "
          "the last handoff ran with, unless it is leaving") {
  auto dir = std::string{SOLVER_STATE_BINARY_DIR} + "/cli_test_dropped_"
             + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  auto marker = dir + "/~cluster-handoff";
  std::ofstream{marker} << "00000000000000ab\nmember 127.0.0.1:7101\n"
                           "member 127.0.0.1:7102\n";
  auto config = [&](const std::string& node) {
    return write_config("state: {type: file, file: {base_path: \"" + dir
                        + "\"}}\nnode: {listen: 127.0.0.1:7101, " + node
                        + "}\n");
  };
  auto dropped = config("members: [\"127.0.0.1:7101\"]");
  auto message = "node.members: 127.0.0.1:7102 held keys under the member "
                 "list of this node's last handoff (" + marker + ")";
  auto check = run_both("--config " + dropped + " --check-config");
  CHECK(exit_code(check) == 2);
  CHECK(check.out.find("solver-state: config: " + message) != std::string::npos);
  auto start = run_both("--config " + dropped + " --listen 127.0.0.1:0");
  CHECK(exit_code(start) == 2);
  CHECK(start.out.find(message) != std::string::npos);
  // Leaving, it is drained first: accepted.
  auto leaving = config("members: [\"127.0.0.1:7101\"], "
                        "leaving: [\"127.0.0.1:7102\"]");
  CHECK(exit_code(run_both("--config " + leaving + " --check-config")) == 0);
  // A marker of the builds before names no members: nothing to judge by.
  std::ofstream{marker} << "00000000000000ab\n";
  CHECK(exit_code(run_both("--config " + dropped + " --check-config")) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("check-config wants node.tls files and a log file it can open") {
  auto tls = run_both("--config "
                      + write_config("node: {listen: 127.0.0.1:0, tls: "
                                     "{certificate: /nonexistent/c.pem, key: "
                                     "/nonexistent/k.pem, ca_file: "
                                     "/nonexistent/ca.pem}}\n")
                      + " --check-config");
  CHECK(exit_code(tls) == 2);
  CHECK(tls.out.find("node.tls.certificate: no such file") != std::string::npos);
  auto log = run_both("--config "
                      + write_config("log: {file: /nonexistent/dir/x.log}\n")
                      + " --check-config");
  CHECK(exit_code(log) == 2);
  CHECK(log.out.find("log.file: directory '/nonexistent/dir' does not exist")
        != std::string::npos);
  // The directory exists, the file does not open for appending (as root
  // too): the check said ok while the start exited 2 "cannot open".
  auto unopenable = write_config("log: {file: /proc/version}\n");
  for (auto& mode : {"--check-config", "--listen 127.0.0.1:0"}) {
    INFO(mode);
    auto r = run_binary("--config " + unopenable + " " + mode + " 2>&1",
                        "timeout 20");
    CHECK(exit_code(r) == 2);
    CHECK(r.out.find("solver-state: config: log.file: cannot open "
                     "'/proc/version' for appending: ")
          != std::string::npos);
  }
  auto dynamo = run_both("--config "
                         + write_config("state: {type: \"dynamodb://h:1/tbl\"}\n")
                         + " --check-config");
  CHECK(exit_code(dynamo) == 0);
}

TEST_CASE("check-config warns about open listeners on stderr and still "
          "exits 0") {
  auto r = run_both("--config "
                    + write_config("node: {listen: 0.0.0.0:0, insecure: true}\n")
                    + " --listen 0.0.0.0:0 --check-config");
  CHECK(exit_code(r) == 0);
  CHECK(r.out.find("solver-state: warning: http.listen: 0.0.0.0:0 is "
                   "reachable beyond this machine and http.auth_token is "
                   "empty") != std::string::npos);
  CHECK(r.out.find("solver-state: warning: node.listen: 0.0.0.0:0 is "
                   "reachable beyond this machine without node.tls")
        != std::string::npos);
  CHECK(r.out.find("configuration ok") != std::string::npos);
  auto quiet = run_both("--check-config");
  CHECK(exit_code(quiet) == 0);
  CHECK(quiet.out.find("warning") == std::string::npos);
}

TEST_CASE("--help lists the config keys with their defaults") {
  auto h = run_binary("--help");
  CHECK(exit_code(h) == 0);
  CHECK(h.out.find("configuration keys and their defaults") != std::string::npos);
  CHECK(h.out.find("\n  state:\n    type: file\n") != std::string::npos);
  CHECK(h.out.find("\n    auth_token: \"\"\n") != std::string::npos);
  CHECK(h.out.find("\n  scheduler_threads: 0\n") != std::string::npos);
}

TEST_CASE("start-up logs the open-listener warning and still serves") {
  // SIGTERM once it listens stops it cleanly (exit 0); the log is printed
  // after, whatever happened.
  auto log = write_config("") + ".log";
  auto r = run_binary("--config " + write_config("state: {type: memory}\n")
                      + " --listen 0.0.0.0:0 >" + log + " 2>&1 & pid=$!;"
                        " for i in $(seq 400); do grep -q 'listening on' "
                      + log + " && break; sleep 0.05; done;"
                        " kill $pid; wait $pid; s=$?; cat " + log
                      + "; rm -f " + log + "; exit $s");
  CHECK(exit_code(r) == 0);
  CHECK(r.out.find("listening on") != std::string::npos);
  CHECK(r.out.find("[warning] config: http.listen: 0.0.0.0:0 is reachable "
                   "beyond this machine and http.auth_token is empty")
        != std::string::npos);
}

TEST_CASE("a log damaged inside its synced part: the start refuses naming "
          "--recover-truncate-log, which cuts it, lists what it drops, and "
          "starts") {
  using namespace solver_state::testing;
  temp_dir dir;
  auto base = dir.sub("data");
  {
    // Ten synced writes, and a crash (the copy) before any checkpoint.
    temp_dir live;
    auto store = open_store(
      file_config_for(live.path, 1, fsync_policy::always));
    REQUIRE(store);
    for (int i = 0; i < 10; ++i)
      REQUIRE(store->put("order:k" + std::to_string(i), std::string(100, 'v')));
    crash_image(live.path, base);
  }
  auto log = base + "/" + wal_name(0, 0);
  auto record_bytes = (log_records_end(log) - wal_header_bytes) / 10;
  auto cut_at = wal_header_bytes + 5 * record_bytes;
  overwrite(log, cut_at + record_bytes / 2, "X"); // inside record 5
  auto path = write_config("state: {type: file, file: {base_path: \"" + base
                           + "\"}}\n");
  auto refused = run_both("--config " + path + " --listen 127.0.0.1:0");
  INFO(refused.out);
  CHECK(exit_code(refused) == 1);
  CHECK(refused.out.find("state.file.base_path: corrupt log " + log)
        != std::string::npos);
  CHECK(refused.out.find("start with --recover-truncate-log to cut the log at "
                         "offset " + std::to_string(cut_at))
        != std::string::npos);

  // With the option it starts (and stops cleanly on SIGTERM), naming every
  // record it dropped: 6..9, after the damaged 5.
  auto cut = run_both("--config " + path
                      + " --listen 127.0.0.1:0 --recover-truncate-log & "
                        "sleep 2; kill -TERM $!; wait $!");
  INFO(cut.out);
  CHECK(exit_code(cut) == 0);
  for (int i = 6; i < 10; ++i)
    CHECK(cut.out.find("dropped: put key order:k" + std::to_string(i)
                       + " version")
          != std::string::npos);
  CHECK(cut.out.find("dropped: put key order:k5") == std::string::npos);
  CHECK(cut.out.find("1 damaged logs cut dropping 4 records")
        != std::string::npos);
  CHECK(cut.out.find("with 5 keys") != std::string::npos);
}
