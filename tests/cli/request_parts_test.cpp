// The pieces of a request the client builds from its arguments.

#include <catch2/catch.hpp>

#include "cli/request_parts.hpp"

using namespace solver_state::cli;

TEST_CASE("if_match_header quotes a bare version and keeps tags as given") {
  CHECK(*if_match_header("123") == "\"123\"");
  CHECK(*if_match_header("\"123\"") == "\"123\"");
  CHECK(*if_match_header("W/\"123\"") == "W/\"123\"");
  CHECK(*if_match_header("*") == "*");
  for (auto bad :
       {"", "\"\"", "1,2", "\"1\", \"2\"", "12\"3", "W/123", "a b"}) {
    auto r = if_match_header(bad);
    CHECK_FALSE(r);
    if (!r)
      CHECK(r.error().code == exit_usage);
  }
}

TEST_CASE("targets percent-encode keys, prefixes and cursors") {
  CHECK(state_target("order:eip7683:0x1") == "/v1/state/order%3Aeip7683%3A0x1");
  CHECK(state_target("a/b c") == "/v1/state/a%2Fb%20c");
  CHECK(list_target("p+", 10, std::nullopt)
        == "/v1/state?prefix=p%2B&limit=10");
  CHECK(list_target("", 5, std::string{"a_b-"})
        == "/v1/state?prefix=&limit=5&cursor=a_b-");
}

TEST_CASE("check_key refuses what the service would refuse") {
  CHECK_FALSE(check_key("state:comp:k"));
  CHECK(check_key("")->code == exit_usage);
  CHECK(check_key(std::string(1025, 'k'))->code == exit_usage);
  CHECK(check_key("a\nb")->code == exit_usage);
}
