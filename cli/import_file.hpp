#pragma once

// An import file (NDJSON, as GET /v1/export writes it) checked and cut into
// request bodies without ever holding more than one line, or one body.
// The service writes nothing of a body with a bad line, but a file sent in
// several bodies would be half imported if a later body had one: so the
// whole file is checked here first, with the service's rules.

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>

#include "cli/line_reader.hpp"

namespace solver_state::cli {

/// The service's default state.max_value_bytes (config/config.hpp).
constexpr size_t default_max_value_bytes = size_t{16} << 20;

/// Why `line` (without its newline; a trailing "\r" is dropped) cannot be
/// a line of an import; empty when it can. The rules are the service's own
/// (gateway::parse_backup_line, compiled in): a JSON object of exactly one
/// of "key" (a string obeying the key rules) and "key_base64" (the key's
/// bytes in padded standard base64, for keys that are not UTF-8), "value"
/// (padded standard base64 of at most `max_value_bytes` bytes) and
/// optionally "expires_at_ms" (null or a positive whole number); any other
/// member is refused. An empty line is refused here; check_import allows
/// empty lines at the end of the file, as the service does.
std::string import_line_problem(std::string_view line,
                                size_t max_value_bytes
                                = default_max_value_bytes);

struct import_check {
  /// Lines checked (all of them when the file is good).
  size_t lines = 0;
  /// Of those, the lines of a key (not empty).
  size_t keys = 0;
  /// The first bad line, from 1; 0 when every line is good.
  size_t bad_line = 0;
  std::string problem;
  /// Why reading the input failed after `lines` lines (a directory, an I/O
  /// error); empty when it was read to its end.
  std::string read_error;

  bool ok() const {
    return bad_line == 0 && read_error.empty();
  }
};

/// Checks every line of `in`. A line that does not fit in one body of
/// `chunk_bytes` (with its newline) is bad too: it could never be sent.
/// Empty lines are fine only when nothing but empty lines follows them
/// (the first of them is the bad line otherwise), as for the service.
import_check check_import(std::istream& in, size_t chunk_bytes,
                          size_t max_value_bytes = default_max_value_bytes);

struct import_chunk {
  /// Whole lines, each with its newline; at most chunk_bytes.
  std::string body;
  /// The number of its first line in the file, from 1.
  size_t first_line = 0;
  size_t lines = 0;
};

/// Cuts a checked input into bodies: as many whole lines as fit in
/// `chunk_bytes`, in file order. Empty lines (only the trailing ones pass
/// the check) are not sent.
class import_chunker {
public:
  import_chunker(std::istream& in, size_t chunk_bytes);

  /// The next body; nullopt when the input is used up, or stops giving
  /// whole lines (a read error, a line longer than a body).
  std::optional<import_chunk> next();

  /// Lines read so far, empty ones included: at the end, the count the
  /// check found, unless the input changed or failed in between.
  size_t lines_read() const { return next_line_ - 1; }

  /// Why reading the input failed; empty when it did not.
  const std::string& read_error() const { return read_error_; }

private:
  std::istream& in_;
  size_t chunk_bytes_;
  size_t next_line_ = 1;
  /// A line read that did not fit the previous body.
  std::optional<std::string> carried_;
  std::string read_error_;
};

} // namespace solver_state::cli
