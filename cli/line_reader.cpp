// Bounded line reads.

#include "cli/line_reader.hpp"

#include <cerrno>
#include <system_error>

namespace solver_state::cli {

namespace {

/// The next byte of `in`, or eof; `failed` when reading threw, as
/// libstdc++'s filebuf does when read() fails (EISDIR on a directory, EIO):
/// the exception would otherwise end the program, and the end of what was
/// read must not pass for the end of the file.
std::char_traits<char>::int_type next_byte(std::istream& in, bool& failed) {
  try {
    return in.rdbuf()->sbumpc();
  } catch (const std::ios_base::failure& e) {
    failed = true;
    auto& category = e.code().category();
    bool os_error = category == std::system_category()
                    || category == std::generic_category();
    in.setstate(std::ios::badbit);
    errno = os_error && e.code().value() != 0 ? e.code().value() : EIO;
    return std::char_traits<char>::eof();
  }
}

} // namespace

line_read read_line(std::istream& in, std::string& line, size_t max_bytes) {
  line.clear();
  bool any = false;
  bool failed = false;
  for (;;) {
    auto c = next_byte(in, failed);
    if (failed)
      return line_read::error;
    if (c == std::char_traits<char>::eof()) {
      in.setstate(std::ios::eofbit);
      return any ? line_read::line : line_read::end;
    }
    any = true;
    if (c == '\n')
      return line_read::line;
    if (line.size() == max_bytes)
      return line_read::too_long;
    line += static_cast<char>(c);
  }
}

} // namespace solver_state::cli
