// The signal watch: sigtimedwait in a loop, so that finish() is seen within
// one tick.

#include "app/signal_watch.hpp"

#include <ctime>
#include <utility>

namespace solver_state {

signal_watch::signal_watch(const sigset_t& signals,
                           std::function<bool(int)> on_signal)
  : signals_(signals),
    on_signal_(std::move(on_signal)),
    thread_([this] { watch(); }) {
}

signal_watch::~signal_watch() {
  finish();
}

void signal_watch::finish() {
  if (!thread_.joinable())
    return;
  done_ = true;
  thread_.join();
}

void signal_watch::watch() {
  timespec tick{0, 50'000'000};
  while (!done_) {
    int sig = sigtimedwait(&signals_, nullptr, &tick);
    if (sig > 0 && !on_signal_(sig))
      return;
  }
}

} // namespace solver_state
