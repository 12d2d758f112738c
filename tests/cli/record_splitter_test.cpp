// Records out of pieces: whole records whatever the cut, a delimiter cut
// in two, the search linear in the input, the bound on one record.

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli/record_splitter.hpp"

using solver_state::cli::record_splitter;
using status = record_splitter::status;

namespace {

/// Feeds `input` in pieces of `piece` bytes; the records seen.
std::vector<std::string> split(record_splitter& s, const std::string& input,
                               size_t piece) {
  std::vector<std::string> out;
  for (size_t at = 0; at < input.size(); at += piece)
    s.feed(std::string_view{input}.substr(at, piece), [&](std::string_view r) {
      out.emplace_back(r);
      return true;
    });
  return out;
}

} // namespace

TEST_CASE("record_splitter: the same records whatever the pieces") {
  const std::string events = "id: 1\ndata: a\n\n: heartbeat\n\nid: 2\n\n";
  for (size_t piece : {1, 2, 3, 7, 100}) {
    record_splitter s{"\n\n"};
    INFO("pieces of " << piece);
    CHECK(split(s, events, piece)
          == std::vector<std::string>{"id: 1\ndata: a", ": heartbeat",
                                      "id: 2"});
  }
}

TEST_CASE("record_splitter: a record stops the rest when asked") {
  record_splitter s{"\n"};
  int seen = 0;
  CHECK(s.feed("a\nb\nc\n", [&](std::string_view) { return ++seen < 2; })
        == status::stopped);
  CHECK(seen == 2);
  CHECK(s.feed("d", [](std::string_view) { return true; }) == status::more);
}

// Found by review: the watch command searched its partial event from its
// start on every piece; a 16 MB value's event in 64 KiB pieces took 25 s
// to print (curl took 0.95 s), the train-dictionary's lines the same.
TEST_CASE("record_splitter: a long record in small pieces is searched once") {
  const std::string record(4 << 20, 'x');
  record_splitter s{"\n\n"};
  auto got = split(s, record + "\n\n", 4096);
  REQUIRE(got.size() == 1);
  CHECK(got[0].size() == record.size());
  // Searched from the start on each of its 1,024 pieces: ~2 GB compared.
  CHECK(s.bytes_searched() <= 2 * (record.size() + 2));
}

TEST_CASE("record_splitter: a record past the bound is refused, not held") {
  record_splitter s{"\n", 10};
  CHECK(s.feed("0123456789", [](std::string_view) { return true; })
        == status::more);
  CHECK(s.feed("A", [](std::string_view) { return true; })
        == status::too_long);
  // A record that ends within the bound is whole.
  record_splitter t{"\n", 10};
  std::string seen;
  CHECK(t.feed("0123456789\nab", [&](std::string_view r) {
    seen = r;
    return true;
  }) == status::more);
  CHECK(seen == "0123456789");
}
