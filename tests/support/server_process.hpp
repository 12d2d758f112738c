#pragma once

// What the real-server fixtures (redis_server, postgres_server) share: a
// temp dir, a free loopback port, and child processes started with
// posix_spawn (safe in a program that already runs CAF's threads).

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace solver_state::testing {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class temp_dir {
public:
  explicit temp_dir(const std::string& tag);
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }

private:
  std::string path_;
};

/// A loopback TCP port that was free a moment ago (the kernel's pick).
uint16_t free_loopback_port();

/// True when something accepts TCP connections on 127.0.0.1:port.
bool port_accepts(uint16_t port);

/// Polls `done` every 20 ms until it holds or `limit` passes.
bool wait_until(const std::function<bool()>& done,
                std::chrono::milliseconds limit);

/// A program running in the background; output appended to `log_path`.
class child_process {
public:
  child_process() = default;
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// Starts `argv` (argv[0] looked up in PATH); false if it cannot start.
  bool start(const std::vector<std::string>& argv,
             const std::string& log_path);

  /// Sends `sig` and reaps the process.
  void stop(int sig);

  /// Sends `sig` without waiting (SIGSTOP / SIGCONT: a hung server).
  void signal(int sig);

  bool running() const { return pid_ > 0; }

private:
  pid_t pid_ = -1;
};

/// Starts a detached watchdog that runs the shell command `cleanup` once
/// this process has gone, however it ended (a crashed or killed test must not
/// leave its servers running). Harmless after a clean exit.
void cleanup_after_exit(const std::string& cleanup);

/// Runs `argv` to completion; its exit status (-1 if it could not start).
int run_command(const std::vector<std::string>& argv,
                const std::string& log_path = "/dev/null");

/// The whole text of a file ("" if unreadable), for failure messages.
std::string read_text(const std::string& path);

} // namespace solver_state::testing
