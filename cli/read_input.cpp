// read_input: a file or stdin, whole, within max_input_bytes.

#include "cli/read_input.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace solver_state::cli {

expected<std::string> read_input(const std::string& source,
                                 const std::string& what) {
  auto* in = source == "-" ? stdin : std::fopen(source.c_str(), "rb");
  if (!in)
    return usage_failure("cannot open " + source + ": "
                         + std::strerror(errno));
  std::string out;
  char buf[65536];
  size_t n = 0;
  while (out.size() <= max_input_bytes
         && (n = std::fread(buf, 1, sizeof buf, in)) > 0)
    out.append(buf, n);
  bool failed = std::ferror(in);
  auto why = std::string{std::strerror(errno)};
  if (in != stdin)
    std::fclose(in);
  auto name = source == "-" ? std::string{"stdin"} : source;
  if (failed)
    return usage_failure("cannot read " + name + ": " + why);
  if (out.size() > max_input_bytes)
    return usage_failure(name + " is over 1 GiB, more than any service "
                         "accepts in one " + what);
  return out;
}

} // namespace solver_state::cli
