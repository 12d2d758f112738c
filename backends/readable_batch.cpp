#include "backends/readable_batch.hpp"

#include <algorithm>
#include <cstddef>
#include <iterator>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

/// The most keys a first batch sized by an earlier read holds: values as
/// large as the hint said small cost at most this many of them (the growth
/// of later batches is bounded the same way, fourfold).
constexpr size_t max_hinted_batch = 64;

} // namespace

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
  if (!is_value_error(got.error()))
    return std::move(got.error());
  out.entries.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto e = store.get(keys[i], now);
    if (e) {
      out.entries[i] = std::move(*e);
    } else if (code_of(e.error()) == state_errc::not_found) {
      continue;
    } else if (is_value_error(e.error())) {
      out.unreadable.push_back(i);
      out.reasons.push_back(message_of(e.error()));
      if (!out.first_problem)
        out.first_problem = std::move(e.error());
    } else {
      return std::move(e.error());
    }
  }
  return out;
}

caf::expected<readable_batch>
read_readable_within(state_store& store, const std::vector<std::string>& keys,
                     unix_ms now, size_t byte_budget, size_t from,
                     size_t* largest_seen) {
  readable_batch out;
  size_t bytes = 0;
  size_t largest = 0;
  // One key when nothing is known of the sizes yet; else as many as fit at
  // the size the last read met, but at most max_hinted_batch: the keys of
  // this read may hold far larger values (another prefix, another query).
  size_t next = 1;
  if (largest_seen && *largest_seen > 0)
    next = std::clamp<size_t>(byte_budget / *largest_seen, 1,
                              max_hinted_batch);
  while (from + out.entries.size() < keys.size()) {
    auto first = keys.begin() + static_cast<ptrdiff_t>(from + out.entries.size());
    auto count = std::min<size_t>(next, keys.end() - first);
    std::vector<std::string> part(first, first + static_cast<ptrdiff_t>(count));
    auto read = read_readable(store, part, now);
    if (!read)
      return std::move(read.error());
    for (auto at : read->unreadable)
      out.unreadable.push_back(out.entries.size() + at);
    std::move(read->reasons.begin(), read->reasons.end(),
              std::back_inserter(out.reasons));
    if (!out.first_problem && read->first_problem)
      out.first_problem = std::move(read->first_problem);
    for (auto& e : read->entries) {
      bytes += e.value.size();
      largest = std::max(largest, e.value.size());
      out.entries.push_back(std::move(e));
    }
    if (bytes >= byte_budget)
      break;
    // As many as fit at the largest size seen (a key at least), but never
    // more than four times this batch: a run of small or absent values
    // says little of the next.
    auto fit = (byte_budget - bytes) / std::max<size_t>(1, largest);
    next = std::clamp<size_t>(fit, 1, 4 * count);
  }
  // Only present values tell sizes (1 for empty ones: every key fits).
  bool any_present = std::any_of(out.entries.begin(), out.entries.end(),
                                 [](const entry& e) { return e.version != 0; });
  if (largest_seen && any_present)
    *largest_seen = std::max<size_t>(largest, 1);
  return out;
}

} // namespace solver_state
