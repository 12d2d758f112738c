#include "util/kept_until_exit.hpp"

#include <mutex>
#include <vector>

namespace solver_state {

void keep_until_exit(std::shared_ptr<void> memory) {
  static std::mutex guard;
  // Never destroyed, not even at exit: a static vector's destructor would
  // run the destructors after all.
  static auto* kept = new std::vector<std::shared_ptr<void>>;
  std::lock_guard<std::mutex> lock{guard};
  kept->push_back(std::move(memory));
}

} // namespace solver_state
