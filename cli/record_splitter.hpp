#pragma once

// Records out of a stream that arrives in pieces: NDJSON lines of an export,
// server-sent events of a watch.

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "cli/read_input.hpp"

namespace solver_state::cli {

/// The longest record the service can send: a value of the largest
/// http.max_body_bytes in base64, with room for its key and fields.
constexpr size_t max_record_bytes = max_input_bytes / 3 * 4 + (size_t{1} << 20);

/// Splits pieces into records ending in `delimiter` ("\n", "\n\n"). The
/// search for the delimiter resumes where the last one stopped: searched
/// from the record's start on every piece, a 16 MB event arriving in 64 KiB
/// pieces took 25 s to print. A record longer than `max_bytes` is refused
/// rather than held.
class record_splitter {
public:
  enum class status { more, stopped, too_long };

  explicit record_splitter(std::string delimiter,
                           size_t max_bytes = max_record_bytes)
    : delimiter_(std::move(delimiter)), max_bytes_(max_bytes) {
  }

  /// Appends `piece` and hands `on_record` each record it completes,
  /// without its delimiter. `on_record(std::string_view)` returns false to
  /// stop: the records after it are dropped.
  template <class OnRecord>
  status feed(std::string_view piece, OnRecord on_record) {
    buffer_.append(piece);
    size_t start = 0;
    for (auto end = find_from(searched_); end != std::string::npos;
         end = find_from(start)) {
      auto record = std::string_view{buffer_}.substr(start, end - start);
      start = end + delimiter_.size();
      if (!on_record(record)) {
        clear();
        return status::stopped;
      }
    }
    buffer_.erase(0, start);
    // Nothing left holds a whole delimiter; one may end in the next piece.
    searched_ = buffer_.size() - std::min(buffer_.size(),
                                          delimiter_.size() - 1);
    if (buffer_.size() > max_bytes_) {
      clear();
      return status::too_long;
    }
    return status::more;
  }

  /// Bytes compared against the delimiter so far: linear in the input.
  size_t bytes_searched() const { return bytes_searched_; }

private:
  size_t find_from(size_t from) {
    auto end = buffer_.find(delimiter_, from);
    auto stop = end == std::string::npos ? buffer_.size()
                                         : end + delimiter_.size();
    bytes_searched_ += stop - std::min(from, stop);
    return end;
  }

  void clear() {
    buffer_.clear();
    searched_ = 0;
  }

  std::string delimiter_;
  size_t max_bytes_;
  std::string buffer_;
  /// Where the next search starts: what was before it holds no delimiter.
  size_t searched_ = 0;
  size_t bytes_searched_ = 0;
};

} // namespace solver_state::cli
