#pragma once

// solver-state-cli as a child process, for the end-to-end tests of the
// client (tests/cli/state_cli_*_test.cpp): arguments, stdin, stdout, stderr
// and exit code of the real build/solver-state-cli, against the real
// build/solver-state of tests/support/http_test_support.hpp.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"

extern char** environ;

namespace solver_state::testing::cli_process {

using env_list = std::vector<std::pair<std::string, std::string>>;

struct cli_run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the client with `args`, `input` on its stdin, and the test's
/// environment without any SOLVER_STATE_* variable plus `env`. With
/// `stdout_path` its stdout is that file ("/dev/full" to make writes fail)
/// instead of a pipe, and cli_run::out stays empty.
inline cli_run run_cli(const std::vector<std::string>& args,
                const std::string& input = "", const env_list& env = {},
                const std::string& stdout_path = "") {
  std::vector<std::string> argv_s{SOLVER_STATE_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_s;
  for (char** e = environ; *e; ++e)
    if (std::string{*e}.rfind("SOLVER_STATE_", 0) != 0)
      env_s.emplace_back(*e);
  for (auto& [k, v] : env)
    env_s.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_s)
    envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  REQUIRE(pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(pipe2(err, O_CLOEXEC) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(in[0], 0);
    if (stdout_path.empty()) {
      dup2(out[1], 1);
    } else {
      int fd = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      if (fd < 0)
        _exit(127);
      dup2(fd, 1);
    }
    dup2(err[1], 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  // Feed stdin and drain both outputs together: a child blocked writing a
  // full pipe while we block writing its stdin would never finish.
  cli_run r;
  size_t fed = 0;
  int to_child = in[1];
  if (input.empty()) {
    close(to_child);
    to_child = -1;
  }
  bool out_open = true, err_open = true;
  signal(SIGPIPE, SIG_IGN);
  while (out_open || err_open) {
    std::vector<pollfd> fds;
    if (to_child >= 0)
      fds.push_back({to_child, POLLOUT, 0});
    if (out_open)
      fds.push_back({out[0], POLLIN, 0});
    if (err_open)
      fds.push_back({err[0], POLLIN, 0});
    REQUIRE(poll(fds.data(), fds.size(), -1) > 0);
    for (auto& p : fds) {
      if (!p.revents)
        continue;
      if (p.fd == to_child) {
        auto n = write(to_child, input.data() + fed, input.size() - fed);
        if (n > 0)
          fed += static_cast<size_t>(n);
        if (n < 0 || fed == input.size()) {
          close(to_child);
          to_child = -1;
        }
        continue;
      }
      char buf[65536];
      auto n = read(p.fd, buf, sizeof buf);
      auto& sink = p.fd == out[0] ? r.out : r.err;
      if (n > 0) {
        sink.append(buf, static_cast<size_t>(n));
      } else {
        (p.fd == out[0] ? out_open : err_open) = false;
      }
    }
  }
  if (to_child >= 0)
    close(to_child);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code
    = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline std::string url_of(const service_process& s) {
  return "http://127.0.0.1:" + std::to_string(s.port());
}

/// Runs the client against `s` (its URL by --url).
inline cli_run cli(const service_process& s, std::vector<std::string> args,
            const std::string& input = "", const env_list& env = {}) {
  args.insert(args.begin(), {"--url", url_of(s)});
  return run_cli(args, input, env);
}

/// Parses the client's --json output; keys may be invalid UTF-8, written
/// into the JSON as they are.
inline boost::json::object json_of(const std::string& text) {
  boost::json::error_code ec;
  boost::json::parse_options options;
  options.allow_invalid_utf8 = true;
  auto doc = boost::json::parse(text, ec, {}, options);
  INFO(text);
  REQUIRE_FALSE(ec);
  REQUIRE(doc.is_object());
  return doc.as_object();
}

inline std::string str(const boost::json::value& v) {
  return std::string{v.as_string().c_str(), v.as_string().size()};
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  size_t begin = 0;
  while (begin < text.size()) {
    auto nl = text.find('\n', begin);
    out.push_back(text.substr(begin, nl - begin));
    begin = nl == std::string::npos ? text.size() : nl + 1;
  }
  return out;
}

/// A file in a fresh temp dir, removed with it.
struct temp_dir {
  std::string path;
  temp_dir() {
    char tmpl[] = "/tmp/solver-state-cli-test-XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    path = tmpl;
  }
  ~temp_dir() {
    std::string out;
    run_command("rm -rf '" + path + "'", out);
  }
  std::string write(const std::string& name, const std::string& bytes) const {
    auto p = path + "/" + name;
    std::ofstream{p, std::ios::binary} << bytes;
    return p;
  }
};

/// The bytes of the file at `path`; "" when there is none.
inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

/// A port nothing listens on: a service's, after it stopped.
inline uint16_t dead_port() {
  service_process s;
  auto port = s.port();
  s.stop(SIGTERM);
  return port;
}

inline const std::string binary_value{"\0head\xff\xfe\n\0tail\r\n\0", 17};

} // namespace solver_state::testing::cli_process
