#pragma once

// The last bound on stopping: once every shard has closed its backend (so
// nothing acknowledged is left unsynced), the process must be gone within
// a few seconds. CAF's actor_system destructor waits for every detached
// actor to be released, and a reference still held after its exit (a reply
// from a shard to a remote node's proxy that the middleman, stopped first,
// never sends) makes it wait forever; systemd or Kubernetes would then
// SIGKILL a service that had in fact stopped cleanly. Armed after the
// shards stopped, this exits the process with the service's own exit code
// if the actor system is not gone in time.

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace solver_state {

class exit_deadline {
public:
  exit_deadline() = default;
  exit_deadline(const exit_deadline&) = delete;
  exit_deadline& operator=(const exit_deadline&) = delete;

  /// From now on, exits with `exit_code` unless destroyed within `limit`.
  void arm(std::chrono::milliseconds limit, int exit_code);

  /// Disarms (the actor system is gone).
  ~exit_deadline();

private:
  std::mutex mutex_;
  std::condition_variable done_;
  bool disarmed_ = false;
  std::thread watcher_;
};

} // namespace solver_state
