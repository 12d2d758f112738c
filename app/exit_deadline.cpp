// The exit deadline: a thread that ends the process if the actor system's
// destruction outlives its bound.

#include "app/exit_deadline.hpp"

#include <cstdlib>

#include <spdlog/spdlog.h>

namespace solver_state {

void exit_deadline::arm(std::chrono::milliseconds limit, int exit_code) {
  watcher_ = std::thread{[this, limit, exit_code] {
    std::unique_lock<std::mutex> lock{mutex_};
    if (done_.wait_for(lock, limit, [this] { return disarmed_; }))
      return;
    spdlog::warn("shutdown: the store is closed, but the actor system did "
                 "not stop within {} ms (an actor still referenced after "
                 "its exit); exiting now",
                 limit.count());
    spdlog::default_logger()->flush();
    std::_Exit(exit_code);
  }};
}

exit_deadline::~exit_deadline() {
  {
    std::lock_guard<std::mutex> lock{mutex_};
    disarmed_ = true;
  }
  done_.notify_all();
  if (watcher_.joinable())
    watcher_.join();
}

} // namespace solver_state
