// Import files: line rules, streaming line reads, checking and chunking.

#include "cli/import_file.hpp"

#include <cerrno>
#include <cstring>

#include "http/backup_line.hpp"

namespace solver_state::cli {

namespace {

/// A line as the service reads it: a "\r" before the "\n" is dropped.
std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return line;
}

} // namespace

std::string import_line_problem(std::string_view line,
                                size_t max_value_bytes) {
  line = without_cr(line);
  if (line.empty())
    return "empty line";
  std::string problem;
  if (!gateway::parse_backup_line(line, max_value_bytes, problem))
    return problem;
  return {};
}

import_check check_import(std::istream& in, size_t chunk_bytes,
                          size_t max_value_bytes) {
  import_check out;
  std::string line;
  auto max_line = chunk_bytes > 0 ? chunk_bytes - 1 : 0;
  // The first of a run of empty lines: bad only if a line follows the run.
  size_t first_blank = 0;
  for (;;) {
    auto r = read_line(in, line, max_line);
    if (r == line_read::end)
      return out;
    if (r == line_read::error) {
      out.read_error = std::strerror(errno);
      return out;
    }
    ++out.lines;
    if (r == line_read::too_long) {
      out.bad_line = out.lines;
      out.problem = "longer than one request body of "
                    + std::to_string(chunk_bytes)
                    + " bytes (raise --chunk-bytes)";
      return out;
    }
    if (without_cr(line).empty()) {
      if (first_blank == 0)
        first_blank = out.lines;
      continue;
    }
    if (first_blank != 0) {
      out.bad_line = first_blank;
      out.problem = "empty line";
      return out;
    }
    if (auto p = import_line_problem(line, max_value_bytes); !p.empty()) {
      out.bad_line = out.lines;
      out.problem = std::move(p);
      return out;
    }
    ++out.keys;
  }
}

import_chunker::import_chunker(std::istream& in, size_t chunk_bytes)
  : in_(in), chunk_bytes_(chunk_bytes) {
}

std::optional<import_chunk> import_chunker::next() {
  import_chunk out;
  out.first_line = next_line_;
  auto take = [&](const std::string& line) {
    out.body.append(line).push_back('\n');
    ++out.lines;
    ++next_line_;
  };
  if (carried_) {
    take(*carried_);
    carried_.reset();
  }
  std::string line;
  auto max_line = chunk_bytes_ > 0 ? chunk_bytes_ - 1 : 0;
  // After a read error, where the input stands is unknown: read no more.
  while (read_error_.empty()) {
    auto r = read_line(in_, line, max_line);
    if (r == line_read::error)
      read_error_ = std::strerror(errno);
    if (r != line_read::line)
      break;
    if (without_cr(line).empty()) {
      ++next_line_; // only trailing empty lines passed the check
      continue;
    }
    if (out.body.size() + line.size() + 1 > chunk_bytes_) {
      carried_ = std::move(line);
      break;
    }
    take(line);
  }
  if (out.lines == 0)
    return std::nullopt;
  return out;
}

} // namespace solver_state::cli
