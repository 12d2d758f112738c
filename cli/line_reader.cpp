// Bounded line reads.

#include "cli/line_reader.hpp"

namespace solver_state::cli {

line_read read_line(std::istream& in, std::string& line, size_t max_bytes) {
  line.clear();
  auto* buf = in.rdbuf();
  bool any = false;
  for (;;) {
    auto c = buf->sbumpc();
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
