#include "util/json_pointer.hpp"

namespace solver_state {

std::string json_pointer_problem(std::string_view pointer) {
  if (pointer.empty())
    return "is empty: name a field, e.g. /status";
  if (pointer.front() != '/')
    return "must start with '/' (a JSON pointer, e.g. /status)";
  for (size_t i = 0; i < pointer.size(); ++i)
    if (pointer[i] == '~'
        && (i + 1 == pointer.size()
            || (pointer[i + 1] != '0' && pointer[i + 1] != '1')))
      return "has a '~' not followed by 0 or 1 (write ~0 for '~' and ~1 "
             "for '/')";
  return {};
}

} // namespace solver_state
