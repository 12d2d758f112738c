#pragma once

// A thread that takes the service's signals (blocked in every thread, see
// main.cpp) while the main thread is busy with something that may take
// long: opening the store at start, draining and syncing at the stop.
// Without it a signal sent then stays pending, unread and unlogged.

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace solver_state {

class signal_watch {
public:
  /// Hands every signal of `signals` to `on_signal` (on the watch's own
  /// thread) until finish(), or until `on_signal` returns false.
  signal_watch(const sigset_t& signals, std::function<bool(int)> on_signal);
  ~signal_watch();

  signal_watch(const signal_watch&) = delete;
  signal_watch& operator=(const signal_watch&) = delete;

  /// Stops watching (within 50 ms): from now on the signals stay pending
  /// for whoever waits for them next.
  void finish();

private:
  void watch();

  sigset_t signals_;
  std::function<bool(int)> on_signal_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

} // namespace solver_state
