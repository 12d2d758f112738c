#pragma once

// Lines read with a bound, so a file without newlines (or a huge line) is
// never taken into memory whole.

#include <cstddef>
#include <istream>
#include <string>

namespace solver_state::cli {

enum class line_read { line, end, too_long, error };

/// Reads the next line of `in` into `line`, without its newline, holding at
/// most `max_bytes` of it: too_long when it is longer. A last line without
/// a newline is a line; end when nothing is left. error when reading failed
/// (a directory, an I/O error): `in` is then bad and errno says why.
line_read read_line(std::istream& in, std::string& line, size_t max_bytes);

} // namespace solver_state::cli
