// The Prometheus text format pieces: label escaping and family headers.

#include <catch2/catch.hpp>

#include "util/prometheus_text.hpp"

using namespace solver_state;

TEST_CASE("label values escape backslash, quote and newline") {
  CHECK(escape_label("plain") == "plain");
  CHECK(escape_label("a\\b") == "a\\\\b");
  CHECK(escape_label("say \"hi\"") == "say \\\"hi\\\"");
  CHECK(escape_label("two\nlines") == "two\\nlines");
}

TEST_CASE("a family header is a HELP line and a TYPE line") {
  std::string out = "x\n";
  append_family_header(out, "state_keys_total", "Keys stored.", "gauge");
  CHECK(out
        == "x\n# HELP state_keys_total Keys stored.\n"
           "# TYPE state_keys_total gauge\n");
}
