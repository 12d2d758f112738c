// Bounded line reads, for import files and --keys-from.

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "cli/line_reader.hpp"

using namespace solver_state::cli;

TEST_CASE("read_line reads lines without newlines and bounds each") {
  std::istringstream in{"ab\n\ncdef\nlast"};
  std::string line;
  REQUIRE(read_line(in, line, 10) == line_read::line);
  CHECK(line == "ab");
  REQUIRE(read_line(in, line, 10) == line_read::line);
  CHECK(line.empty());
  REQUIRE(read_line(in, line, 3) == line_read::too_long);
  CHECK(line.size() == 3); // never more than the bound is held
  std::istringstream rest{"last"};
  REQUIRE(read_line(rest, line, 10) == line_read::line);
  CHECK(line == "last");
  CHECK(read_line(rest, line, 10) == line_read::end);
  std::istringstream empty{""};
  CHECK(read_line(empty, line, 10) == line_read::end);
}

TEST_CASE("read_line reports a read error as one instead of throwing it") {
  // libstdc++'s filebuf throws std::ios_base::failure when read() fails, as
  // it does on a directory (EISDIR), which opens like a file.
  std::ifstream in{std::filesystem::temp_directory_path(), std::ios::binary};
  REQUIRE(in.is_open());
  std::string line;
  auto r = line_read::line;
  REQUIRE_NOTHROW(r = read_line(in, line, 10));
  CHECK(r == line_read::error);
  CHECK(errno == EISDIR);
  CHECK(in.bad());
}
