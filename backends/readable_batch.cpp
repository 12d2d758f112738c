#include "backends/readable_batch.hpp"

#include "messages/errors.hpp"

namespace solver_state {

bool is_value_problem(const caf::error& err) {
  auto code = code_of(err);
  return code == state_errc::backend_error || code == state_errc::io_error;
}

caf::expected<readable_batch>
read_readable(state_store& store, const std::vector<std::string>& keys,
              unix_ms now) {
  readable_batch out;
  auto got = store.batch_get(keys, now);
  if (got) {
    out.entries = std::move(*got);
    out.entries.resize(keys.size());
    return out;
  }
  if (!is_value_problem(got.error()))
    return std::move(got.error());
  out.entries.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto e = store.get(keys[i], now);
    if (e) {
      out.entries[i] = std::move(*e);
    } else if (code_of(e.error()) == state_errc::not_found) {
      continue;
    } else if (is_value_problem(e.error())) {
      out.unreadable.push_back(i);
      if (!out.first_problem)
        out.first_problem = std::move(e.error());
    } else {
      return std::move(e.error());
    }
  }
  return out;
}

} // namespace solver_state
