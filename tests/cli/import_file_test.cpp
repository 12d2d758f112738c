// The client's import file handling without a service: the line rules, the
// whole-file check that runs before anything is sent, and the cutting into
// bodies of whole lines.

#include <cerrno>
#include <cstring>
#include <sstream>
#include <streambuf>
#include <string>
#include <system_error>

#include <catch2/catch.hpp>

#include "cli/import_file.hpp"

using namespace solver_state::cli;

namespace {

std::string line_of(const std::string& key, const std::string& value_b64,
                    const std::string& expires = "null") {
  return R"({"key":")" + key + R"(","value":")" + value_b64
         + R"(","expires_at_ms":)" + expires + "}";
}

/// Gives `text`, then fails the way libstdc++'s filebuf does when read()
/// fails (an I/O error half-way through a file): it throws.
class failing_buf : public std::streambuf {
public:
  explicit failing_buf(std::string text) : text_(std::move(text)) {
    setg(text_.data(), text_.data(), text_.data() + text_.size());
  }

protected:
  int_type underflow() override {
    throw std::ios_base::failure{"read error",
                                 std::error_code{EIO, std::system_category()}};
  }

private:
  std::string text_;
};

} // namespace

TEST_CASE("import_line_problem accepts what the service accepts") {
  CHECK(import_line_problem(line_of("order:eip7683:0x1", "AAF6ev4=")).empty());
  CHECK(import_line_problem(line_of("k", "", "1718031234567")).empty());
  // The service's own rules: "expires_at_ms" may be left out (never), and
  // a key that is not UTF-8 comes as "key_base64" ("/w==" is one 0xFF).
  CHECK(import_line_problem(R"({"key":"k","value":"YQ=="})").empty());
  CHECK(import_line_problem(
          R"({"key_base64":"azr/","value":"YQ==","expires_at_ms":null})")
          .empty());
  // A line ending in \r (a file edited on Windows) is still one object.
  CHECK(import_line_problem(line_of("k", "YQ==") + "\r").empty());
  // A value of exactly the bound is fine ("YWJj": 3 bytes).
  CHECK(import_line_problem(line_of("k", "YWJj"), 3).empty());
}

TEST_CASE("import_line_problem refuses what the service refuses") {
  CHECK(import_line_problem("") == "empty line");
  CHECK(import_line_problem("\r") == "empty line");
  CHECK(import_line_problem("{").find("malformed JSON") == 0);
  CHECK(import_line_problem("[1,2]") == "not a JSON object");
  CHECK(import_line_problem(R"({"value":"YQ==","expires_at_ms":null})")
        == "needs exactly one of \"key\" and \"key_base64\"");
  CHECK(import_line_problem(
          R"({"key":"k","key_base64":"aw==","value":"YQ=="})")
        == "needs exactly one of \"key\" and \"key_base64\"");
  CHECK(import_line_problem(R"({"key":1,"value":"YQ==","expires_at_ms":null})")
        == "\"key\" must be a string");
  CHECK(import_line_problem(R"({"key_base64":"a!","value":"YQ=="})")
        == "\"key_base64\" is not valid base64");
  CHECK(import_line_problem(line_of("", "YQ==")).find("invalid key") == 0);
  CHECK(import_line_problem(line_of("a\\u0001b", "YQ=="))
          .find("control byte")
        != std::string::npos);
  CHECK(import_line_problem(line_of(std::string(1025, 'k'), "YQ=="))
          .find("1025 bytes")
        != std::string::npos);
  // A misspelt member would silently drop a TTL: refused, not ignored.
  CHECK(import_line_problem(
          R"({"key":"k","value":"YQ==","expires_at":1718031234567})")
        == "unknown member \"expires_at\"");
  CHECK(import_line_problem(R"({"key":"k","expires_at_ms":null})")
        == "\"value\" must be a base64 string");
  for (auto bad : {"YQ=", "YQ-_"})
    CHECK(import_line_problem(line_of("k", bad))
          == "\"value\" is not valid base64 (standard alphabet, padded)");
  CHECK(import_line_problem(line_of("k", "YWJj"), 2)
        == "value of 3 bytes; state.max_value_bytes is 2");
  for (auto bad : {"0", "-1", "1.5", "\"1\"", "true", "[]",
                   "9223372036854775808"})
    CHECK(import_line_problem(line_of("k", "YQ==", bad)).find(
            "\"expires_at_ms\" must be null or a positive whole number")
          == 0);
}

TEST_CASE("check_import checks every line and names the first bad one") {
  auto good = line_of("a", "YQ==") + "\n" + line_of("b", "Yg==") + "\n";
  {
    std::istringstream in{good};
    auto r = check_import(in, 1024);
    CHECK(r.ok());
    CHECK(r.lines == 2);
  }
  {
    // The bad line is the last: a check that stopped early, or sent as it
    // went, would miss it.
    std::istringstream in{good + line_of("c", "Yg==") + "\n"
                          + line_of("d", "not base64!") + "\n"};
    auto r = check_import(in, 1024);
    CHECK_FALSE(r.ok());
    CHECK(r.bad_line == 4);
    CHECK(r.problem
          == "\"value\" is not valid base64 (standard alphabet, padded)");
  }
  {
    // A blank line in the middle is a bad line, not a separator.
    std::istringstream in{line_of("a", "YQ==") + "\n\n" + line_of("b", "Yg==")};
    auto r = check_import(in, 1024);
    CHECK(r.bad_line == 2);
    CHECK(r.problem == "empty line");
  }
  {
    // A line that cannot fit in one body could never be sent.
    auto long_line = line_of("big", std::string(400, 'A'));
    std::istringstream in{line_of("a", "YQ==") + "\n" + long_line + "\n"};
    auto r = check_import(in, long_line.size()); // no room for its newline
    CHECK(r.bad_line == 2);
    CHECK(r.problem.find("--chunk-bytes") != std::string::npos);
    std::istringstream again{line_of("a", "YQ==") + "\n" + long_line + "\n"};
    CHECK(check_import(again, long_line.size() + 1).ok());
  }
  {
    // Empty lines at the end are fine, as for the service ("\r\n" too).
    std::istringstream in{good + "\n\r\n\n"};
    auto r = check_import(in, 1024);
    CHECK(r.ok());
    // The first of a run of empty lines is the bad one when a line follows.
    std::istringstream mid{good + "\n\r\n" + line_of("c", "Yw==") + "\n"};
    auto m = check_import(mid, 1024);
    CHECK(m.bad_line == 3);
    CHECK(m.problem == "empty line");
  }
  {
    // The value bound is the one given (the service's state.max_value_bytes).
    std::istringstream in{good};
    auto r = check_import(in, 1024, 0);
    CHECK(r.bad_line == 1);
    CHECK(r.problem.find("state.max_value_bytes is 0") != std::string::npos);
  }
  {
    std::istringstream in{""};
    auto r = check_import(in, 1024);
    CHECK(r.ok());
    CHECK(r.lines == 0);
  }
}

TEST_CASE("import_chunker cuts whole lines into bodies of at most the size") {
  std::string file;
  std::vector<std::string> lines;
  for (int i = 0; i < 10; ++i) {
    lines.push_back(line_of("key" + std::to_string(i), "YWJj"));
    file += lines.back() + "\n";
  }
  auto line_bytes = lines[0].size() + 1; // all lines are the same size
  auto chunk_bytes = 3 * line_bytes + line_bytes / 2; // three fit, not four
  std::istringstream in{file};
  import_chunker chunker{in, chunk_bytes};
  std::string joined;
  size_t expected_first = 1;
  size_t bodies = 0;
  while (auto chunk = chunker.next()) {
    ++bodies;
    CHECK(chunk->body.size() <= chunk_bytes);
    CHECK(chunk->first_line == expected_first);
    CHECK(chunk->body.back() == '\n');
    CHECK(chunk->lines == (expected_first == 10 ? 1u : 3u));
    expected_first += chunk->lines;
    joined += chunk->body;
  }
  CHECK(bodies == 4);
  CHECK(joined == file); // every line once, in order, whole

  // A body exactly as large as the limit is allowed.
  std::istringstream exact_in{file};
  import_chunker exact{exact_in, 5 * line_bytes};
  auto first = exact.next();
  REQUIRE(first);
  CHECK(first->lines == 5);
  CHECK(first->body.size() == 5 * line_bytes);
}

TEST_CASE("import_chunker gives a last line without a newline one") {
  std::istringstream in{line_of("a", "YQ==") + "\n" + line_of("b", "Yg==")};
  import_chunker chunker{in, 4 << 20};
  auto chunk = chunker.next();
  REQUIRE(chunk);
  CHECK(chunk->lines == 2);
  CHECK(chunk->body
        == line_of("a", "YQ==") + "\n" + line_of("b", "Yg==") + "\n");
  CHECK_FALSE(chunker.next());
}

TEST_CASE("import_chunker does not send the trailing empty lines") {
  std::istringstream in{line_of("a", "YQ==") + "\n\r\n\n"};
  import_chunker chunker{in, 4 << 20};
  auto chunk = chunker.next();
  REQUIRE(chunk);
  CHECK(chunk->lines == 1);
  CHECK(chunk->body == line_of("a", "YQ==") + "\n");
  CHECK_FALSE(chunker.next());
}

TEST_CASE("the chunker counts the lines it read, so an input that changed "
          "after its check (shorter, or with a longer line) is told from "
          "one sent whole") {
  auto a = line_of("a", "YQ=="), b = line_of("b", "Yg==");
  auto file = a + "\n" + b + "\n\n";
  std::istringstream checked_in{file};
  auto checked = check_import(checked_in, 4 << 20);
  REQUIRE(checked.ok());
  CHECK(checked.lines == 3);
  CHECK(checked.keys == 2);

  auto read_all = [](import_chunker& chunker) {
    while (chunker.next()) {
    }
    return chunker.lines_read();
  };
  std::istringstream same{file};
  import_chunker whole{same, 4 << 20};
  CHECK(read_all(whole) == checked.lines);
  // Cut short after the check: one line fewer.
  std::istringstream shorter{a + "\n"};
  import_chunker cut{shorter, 4 << 20};
  CHECK(read_all(cut) == 1);
  // A line rewritten longer than a body: the chunker stops before it.
  std::istringstream longer{a + "\n" + std::string(200, 'x') + "\n\n"};
  import_chunker stopped{longer, 100};
  CHECK(read_all(stopped) == 1);
}

TEST_CASE("a read error half-way is reported by the check and by the "
          "chunker, with the lines read before it, instead of thrown") {
  auto a = line_of("a", "YQ=="), b = line_of("b", "Yg==");
  failing_buf check_buf{a + "\n" + b + "\n"};
  std::istream check_in{&check_buf};
  import_check checked;
  REQUIRE_NOTHROW(checked = check_import(check_in, 4 << 20));
  CHECK_FALSE(checked.ok());
  CHECK(checked.bad_line == 0); // no line is bad: the input is
  CHECK(checked.lines == 2);
  CHECK(checked.read_error == std::strerror(EIO));

  // Read whole at the check, failing at the sending: the lines before the
  // error go, then the chunker stops and says why.
  failing_buf send_buf{a + "\n" + b + "\n"};
  std::istream send_in{&send_buf};
  import_chunker chunker{send_in, 4 << 20};
  std::optional<import_chunk> chunk;
  REQUIRE_NOTHROW(chunk = chunker.next());
  REQUIRE(chunk);
  CHECK(chunk->body == a + "\n" + b + "\n");
  REQUIRE_NOTHROW(chunk = chunker.next());
  CHECK_FALSE(chunk);
  CHECK(chunker.lines_read() == 2);
  CHECK(chunker.read_error() == std::strerror(EIO));
  CHECK(send_in.bad());
}
