// The gateway's pure parts: entity tags, auth, the error->status mapping,
// the route table and the JSON codec.

#include <catch2/catch.hpp>

#include <set>

#include "http/auth.hpp"
#include "http/backup_line.hpp"
#include "http/batch_texts.hpp"
#include "http/etag.hpp"
#include "http/http_date.hpp"
#include "http/json_codec.hpp"
#include "messages/query_bounds.hpp"
#include "http/query_codec.hpp"
#include "http/request_id.hpp"
#include "http/responses.hpp"
#include "http/routes.hpp"
#include "http/status.hpp"
#include "http/transaction_codec.hpp"
#include "util/base64.hpp"

using namespace solver_state;
using namespace solver_state::gateway;

TEST_CASE("entity tags are quoted decimal versions") {
  CHECK(format_etag(42) == "\"42\"");
  CHECK(parse_etag("\"42\"") == std::optional<version_t>{42});
  CHECK(parse_etag(" \"18446744073709551615\" ")
        == std::optional<version_t>{18446744073709551615ULL});
  CHECK_FALSE(parse_etag("42"));
  CHECK_FALSE(parse_etag("W/\"42\""));
  CHECK_FALSE(parse_etag("\"4a\""));
  CHECK_FALSE(parse_etag("\"18446744073709551616\""));
  CHECK_FALSE(parse_etag("\"1\", \"2\""));
}

TEST_CASE("write preconditions follow If-Match and If-None-Match") {
  std::string_view tag = "\"7\"", star = "*", bad = "7";
  auto p = write_precondition(&tag, nullptr);
  CHECK(p.problem.empty());
  CHECK(p.cond.kind == condition::if_version);
  CHECK(p.cond.version == 7);
  CHECK(write_precondition(nullptr, &star).cond.kind == condition::if_absent);
  CHECK(write_precondition(nullptr, nullptr).cond.kind == condition::none);
  CHECK_FALSE(write_precondition(&bad, nullptr).problem.empty());
  CHECK_FALSE(write_precondition(&tag, &star).problem.empty());
  CHECK_FALSE(write_precondition(nullptr, &tag).problem.empty());
  CHECK_FALSE(delete_precondition(nullptr, &star).problem.empty());
  CHECK(delete_precondition(&tag, nullptr).cond.version == 7);
}

TEST_CASE("If-Match and If-None-Match take * or lists of entity tags") {
  auto star = parse_tag_condition(" * ");
  REQUIRE(star);
  CHECK(star->any);
  CHECK(star->strong_match(5));
  auto list = parse_tag_condition(R"("1", W/"2" ,, "abc","3")");
  REQUIRE(list);
  REQUIRE(list->tags.size() == 4);
  CHECK(list->tags[1].weak);
  CHECK_FALSE(list->tags[2].version); // well-formed, never ours
  CHECK(list->strong_versions() == std::vector<version_t>{1, 3});
  CHECK(list->strong_match(3));
  CHECK_FALSE(list->strong_match(2)); // weak never matches strongly
  CHECK(list->weak_match(2));
  CHECK_FALSE(list->weak_match(4));
  // Strong comparison is byte for byte.
  CHECK_FALSE(parse_tag_condition("\"007\"")->strong_match(7));
  CHECK_FALSE(parse_tag_condition(""));
  CHECK_FALSE(parse_tag_condition(" , "));
  CHECK_FALSE(parse_tag_condition("7"));
  CHECK_FALSE(parse_tag_condition("\"1\" \"2\"")); // no comma
  CHECK_FALSE(parse_tag_condition("*, \"1\""));
  CHECK_FALSE(parse_tag_condition("\"1"));
  CHECK_FALSE(parse_tag_condition("w/\"1\"")); // W/ is case-sensitive
  CHECK_FALSE(parse_tag_condition("\"a b\""));
}

TEST_CASE("If-Match on writes: one candidate tag goes to the store, the "
          "rest is checked first") {
  std::string_view one = "\"7\"", star = "*", several = "\"7\", \"8\"",
                   weak_and_one = "W/\"6\", \"7\"", all_weak = "W/\"7\"";
  auto p = write_precondition(&one, nullptr);
  CHECK(p.cond.kind == condition::if_version);
  CHECK_FALSE(p.check_first);
  p = write_precondition(&weak_and_one, nullptr);
  CHECK(p.cond.kind == condition::if_version);
  CHECK(p.cond.version == 7);
  for (auto* text : {&star, &several, &all_weak}) {
    p = write_precondition(text, nullptr);
    CHECK(p.problem.empty());
    CHECK(p.check_first);
    CHECK(p.cond.kind == condition::none);
  }
  auto d = delete_precondition(&star, nullptr);
  REQUIRE(d.check_first);
  CHECK(d.check_first->any);
}

TEST_CASE("Date is IMF-fixdate, formatted once per second") {
  // RFC 9110 5.6.7's example.
  CHECK(format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT");
  CHECK(format_http_date(0) == "Thu, 01 Jan 1970 00:00:00 GMT");
  CHECK(format_http_date(4102444799) == "Thu, 31 Dec 2099 23:59:59 GMT");
  http_date_cache cache;
  auto first = cache.at(784111777);
  auto again = cache.at(784111777);
  CHECK(first.data() == again.data());
  CHECK(cache.formats() == 1);
  CHECK(cache.at(784111778) == "Sun, 06 Nov 1994 08:49:38 GMT");
  CHECK(cache.formats() == 2);
}

TEST_CASE("X-Request-Id: usable client ids are kept, others replaced") {
  CHECK(acceptable_request_id("abc-123_x.Y/z"));
  CHECK(acceptable_request_id(std::string(128, '~')));
  CHECK_FALSE(acceptable_request_id(std::string(129, 'a')));
  CHECK_FALSE(acceptable_request_id(""));
  CHECK_FALSE(acceptable_request_id("a b"));
  CHECK_FALSE(acceptable_request_id("a\tb"));
  CHECK_FALSE(acceptable_request_id("caf\xc3\xa9"));
  std::string_view mine = "req-1";
  CHECK(request_id_for(&mine) == "req-1");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = generate_request_id();
    REQUIRE(id.size() == 16);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
  std::string_view spaced = "a b";
  CHECK(request_id_for(&spaced).size() == 16);
  CHECK(request_id_for(nullptr).size() == 16);
}

TEST_CASE("bearer tokens compare exactly") {
  CHECK(constant_time_equal("secret", "secret"));
  CHECK_FALSE(constant_time_equal("secret", "secreT"));
  CHECK_FALSE(constant_time_equal("secre", "secret"));
  CHECK_FALSE(constant_time_equal("secrets", "secret"));
  CHECK_FALSE(constant_time_equal("", "secret"));
  CHECK(bearer_matches("Bearer secret", "secret"));
  CHECK(bearer_matches("bearer  secret ", "secret"));
  CHECK_FALSE(bearer_matches("Basic secret", "secret"));
  CHECK_FALSE(bearer_matches("Bearer", "secret"));
  CHECK_FALSE(bearer_matches("Bearer other", "secret"));
}

TEST_CASE("every error code maps to the status of docs/api.md") {
  CHECK(http_status_of(state_errc::not_found) == 404);
  CHECK(http_status_of(state_errc::invalid_key) == 400);
  CHECK(http_status_of(state_errc::bad_request) == 400);
  CHECK(http_status_of(state_errc::version_mismatch) == 412);
  CHECK(http_status_of(state_errc::unauthorized) == 401);
  CHECK(http_status_of(state_errc::method_not_allowed) == 405);
  CHECK(http_status_of(state_errc::backend_error) == 500);
  CHECK(http_status_of(state_errc::io_error) == 500);
  CHECK(http_status_of(state_errc::serialization_error) == 500);
  CHECK(http_status_of(state_errc::capacity_exceeded) == 507);
  CHECK(http_status_of(state_errc::payload_too_large) == 413);
  CHECK(http_status_of(state_errc::backend_unavailable) == 503);
  CHECK(http_status_of(state_errc::timeout) == 504);
}

TEST_CASE("the route table resolves every path of API v1") {
  auto get = method_id::get;
  CHECK(match_route("/healthz", get).route == route_id::healthz);
  CHECK(match_route("/readyz", get).route == route_id::readyz);
  CHECK(match_route("/metrics", get).route == route_id::metrics);
  CHECK(match_route("/v1/state?prefix=a", get).route == route_id::state_list);
  CHECK(match_route("/v1/state/batch-get", method_id::post).route
        == route_id::state_batch_get);
  auto k = match_route("/v1/state/a%3Ab/c%2Fd%20e?ttl_seconds=5", get);
  CHECK(k.route == route_id::state_key);
  REQUIRE(k.params.size() == 1);
  CHECK(k.params[0] == "a:b/c/d e");
  REQUIRE(k.query.size() == 1);
  CHECK(k.query[0].value == "5");
  auto o = match_route("/v1/orders/eip7683/0x%2Fab", get);
  CHECK(o.route == route_id::order);
  REQUIRE(o.params.size() == 2);
  CHECK(o.params[1] == "0x/ab");
  CHECK(match_route("/v1/orders/eip7683", get).route == route_id::orders_list);
  CHECK(match_route("/v1/fills/o1/tx", get).route == route_id::fill);
  CHECK(match_route("/v1/fills/o1", get).route == route_id::fills_list);
  CHECK(match_route("/v1/settlements/o1/c", get).route == route_id::settlement);
  CHECK(match_route("/v1/settlements/o1", get).route
        == route_id::settlements_list);
  CHECK(match_route("/v1/export?prefix=a", get).route
        == route_id::export_keys);
  CHECK(match_route("/v1/import", method_id::post).route
        == route_id::import_keys);
  CHECK(std::string{label_of(route_id::export_keys)} == "/v1/export");
  CHECK(std::string{allow_header(route_id::import_keys)} == "POST");
  CHECK_FALSE(allows(route_id::import_keys, method_id::put));
  CHECK(match_route("/v1/orders/a/b/c", get).route == route_id::unknown);
  CHECK(match_route("/v2/state/x", get).route == route_id::unknown);
  CHECK(match_route("/", get).route == route_id::unknown);
  CHECK(match_route("http://x/v1/state", get).route == route_id::unknown);
  CHECK_FALSE(match_route("/v1/state/%zz", get).problem.empty());
  CHECK(allows(route_id::state_key, method_id::del));
  CHECK(allows(route_id::state_list, method_id::del));
  CHECK(std::string{allow_header(route_id::state_list)} == "GET, HEAD, DELETE");
  CHECK_FALSE(allows(route_id::fill, method_id::del));
  CHECK_FALSE(allows(route_id::healthz, method_id::post));
  // HEAD wherever GET, and nowhere else, but on a stream of events (a
  // watch has no headers to preview).
  for (size_t r = 0; r < route_count; ++r) {
    auto route = static_cast<route_id>(r);
    if (route == route_id::watch)
      continue;
    CHECK(allows(route, method_id::head) == allows(route, method_id::get));
  }
  CHECK(match_route("/v1/watch?prefix=a", get).route == route_id::watch);
  CHECK(allows(route_id::watch, method_id::get));
  CHECK_FALSE(allows(route_id::watch, method_id::head));
  CHECK(std::string{allow_header(route_id::watch)} == "GET");
  CHECK(method_of("HEAD") == method_id::head);
  CHECK(std::string{allow_header(route_id::fill)} == "GET, HEAD, PUT");
}

// Boost.JSON keeps the last of two members of one name: an import line
// {"expires_at_ms":1,"expires_at_ms":null} stored a key without its expiry
// and answered 200 (found by review). Which one the sender meant cannot be
// known: refused, naming the member.
TEST_CASE("request bodies and import lines naming a member twice are refused") {
  std::string problem;
  CHECK_FALSE(parse_backup_line(
    R"({"key":"e1","value":"YQ==","expires_at_ms":1,"expires_at_ms":null})",
    16, problem));
  CHECK(problem == "member \"expires_at_ms\" appears twice in one object");
  CHECK_FALSE(parse_batch_keys(R"({"keys":["a"],"keys":["b"]})", problem, 10));
  CHECK(problem == "member \"keys\" appears twice in one object");
  CHECK_FALSE(parse_transaction(
    R"({"operations":[{"op":"set","key":"a","value":"x","key":"b"}]})",
    problem, 10));
  CHECK(problem == "member \"key\" appears twice in one object");
  CHECK_FALSE(parse_query(R"({"prefix":"o:","limit":1,"limit":2})", problem));
  CHECK(problem == "member \"limit\" appears twice in one object");
  // One name in sibling or nested objects is no repetition.
  auto siblings = parse_transaction(
    R"({"operations":[{"op":"set","key":"a","value":"eA=="},)"
    R"({"op":"set","key":"b","value":"eQ=="}]})",
    problem, 10);
  INFO(problem);
  CHECK(siblings);
  CHECK(parse_backup_line(R"({"key":"e1","value":"YQ==","expires_at_ms":null})",
                          16, problem));
  CHECK_FALSE(parse_backup_line("{\"key\":", 16, problem));
  CHECK(problem.rfind("malformed JSON: ", 0) == 0);
}

TEST_CASE("the JSON codec reads batch bodies and writes the documented shapes") {
  std::string problem;
  auto keys = parse_batch_keys(R"({"keys":["a","b\u0041"]})", problem, 10);
  REQUIRE(keys);
  CHECK(*keys == std::vector<std::string>{"a", "bA"});
  CHECK_FALSE(parse_batch_keys("{\"keys\":[1]}", problem, 10));
  CHECK_FALSE(parse_batch_keys("{\"keys\":", problem, 10));
  CHECK_FALSE(parse_batch_keys("[]", problem, 10));
  // More keys than the store takes: refused before any is copied, in the
  // store's words.
  CHECK_FALSE(parse_batch_keys(R"({"keys":["a","b","c"]})", problem, 2));
  CHECK(problem == "a batch of 3 keys; http.max_batch_keys is 2");
  CHECK(error_body(state_errc::not_found, "no \"x\"")
        == R"({"error":{"code":"not_found","message":"no \"x\""}})");
  batch_reply reply;
  reply.entries.resize(2);
  reply.entries[0] = entry{"hi", 5, 0};
  reply.unprocessed = {"c"};
  CHECK(batch_items_body({"a", "b", "c"}, reply)
        == R"({"items":[{"key":"a","value":"aGk=","etag":"\"5\""},)"
           R"({"key":"b","value":null,"etag":null}],"unprocessed_keys":["c"]})");
  key_page page{{"a", "b"}, true};
  CHECK(key_page_body(page, std::string{"Yg"})
        == R"({"keys":["a","b"],"next_cursor":"Yg"})");
  CHECK(key_page_body(page, std::nullopt)
        == R"({"keys":["a","b"],"next_cursor":null})");
  CHECK(id_list_body("ids", id_list{{"1", "2"}, true}, std::string{"Mg"})
        == R"({"ids":["1","2"],"next_cursor":"Mg"})");
  CHECK(id_list_body("ids", id_list{{"1"}, false}, std::nullopt)
        == R"({"ids":["1"],"next_cursor":null})");
}

TEST_CASE("a backup line holds key, base64 value and absolute expiry") {
  std::string out;
  append_backup_line(out, "state:a\"b", entry{std::string("\0x", 2), 7, 0});
  append_backup_line(out, "state:t", entry{"v", 8, 1700000000123});
  CHECK(out
        == "{\"key\":\"state:a\\\"b\",\"value\":\"AHg=\","
           "\"expires_at_ms\":null}\n"
           "{\"key\":\"state:t\",\"value\":\"dg==\",\"expires_at_ms\":"
           "1700000000123}\n");
  std::string problem;
  auto first = parse_backup_line(out.substr(0, out.find('\n')), 16, problem);
  REQUIRE(first);
  CHECK(first->key == "state:a\"b");
  CHECK(first->value == std::string("\0x", 2));
  CHECK(first->expires_at_ms == 0);
  auto second = parse_backup_line(
    "{\"key\":\"state:t\",\"value\":\"dg==\",\"expires_at_ms\":1700000000123}",
    16, problem);
  REQUIRE(second);
  CHECK(second->expires_at_ms == 1700000000123);
  SECTION("a key that is not UTF-8 travels as key_base64") {
    std::string raw;
    append_backup_line(raw, "state:\xff", entry{"v", 1, 0});
    CHECK(raw.rfind("{\"key_base64\":\"c3RhdGU6/w==\"", 0) == 0);
    auto back = parse_backup_line(raw.substr(0, raw.size() - 1), 16, problem);
    REQUIRE(back);
    CHECK(back->key == "state:\xff");
  }
  SECTION("a value over the limit is refused") {
    CHECK_FALSE(parse_backup_line("{\"key\":\"k\",\"value\":\"YWJj\"}", 2,
                                  problem));
    CHECK(problem == "value of 3 bytes; state.max_value_bytes is 2");
  }
}

TEST_CASE("UTF-8 is checked strictly") {
  CHECK(is_utf8("plain"));
  CHECK(is_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
  CHECK_FALSE(is_utf8("\xff"));
  CHECK_FALSE(is_utf8("\xc0\xaf"));         // overlong '/'
  CHECK_FALSE(is_utf8("\xed\xa0\x80"));     // a surrogate
  CHECK_FALSE(is_utf8("\xe2\x82"));         // cut short
  CHECK_FALSE(is_utf8("\xf4\x90\x80\x80")); // past U+10FFFF
}

TEST_CASE("transaction and query bodies past the store's bounds are refused "
          "before their elements are read") {
  std::string problem;
  // Not objects: a parse that read them first would name operations[0].
  CHECK_FALSE(parse_transaction(R"({"operations":[0,0,0]})", problem, 2));
  CHECK(problem == "a transaction of 3 operations; http.max_batch_keys is 2");
  auto ok = parse_transaction(
    R"({"operations":[{"op":"delete","key":"a"}]})", problem, 2);
  REQUIRE(ok);
  CHECK(ok->ops.size() == 1);
  std::string in_list;
  for (uint32_t i = 0; i <= max_query_page; ++i)
    in_list += (i ? ",[]" : "[]"); // not values: only the count is looked at
  auto too_long = R"({"where":[{"index":"s","op":"in","value":[)" + in_list
                  + "]}]}";
  CHECK_FALSE(parse_query(too_long, problem));
  CHECK(problem == "where[0]: in takes 1 to 1000 values");
  std::string conditions;
  for (size_t i = 0; i <= max_query_conditions; ++i)
    conditions += (i ? ",0" : "0");
  CHECK_FALSE(parse_query(R"({"where":[)" + conditions + "]}", problem));
  CHECK(problem == "at most 16 conditions, got 17");
}

// No write has version 0: a bare "0" was refused, a quoted one taken for a
// condition that can never hold (412 instead of 400).
TEST_CASE("a transaction's if_match refuses version 0 and leading zeros in "
          "either form") {
  std::string problem;
  // Nor leading zeros: "\"007\"" was taken for version 7, where an
  // If-Match header with that tag never matches.
  for (auto v : {R"("0")", R"("\"0\"")", R"("\"000\"")", R"("\"007\"")",
                 R"("007")"}) {
    INFO(v);
    CHECK_FALSE(parse_transaction(
      std::string{R"({"operations":[{"op":"delete","key":"a","if_match":)"} + v
        + "}]}",
      problem, 10));
    CHECK_THAT(problem, Catch::Contains("\"if_match\" must be a version"));
  }
  auto ok = parse_transaction(
    R"({"operations":[{"op":"delete","key":"a","if_match":"\"7\""}]})",
    problem, 10);
  REQUIRE(ok);
}

// A repeated parameter was read as its last value, after the others had
// been checked: "?ttl_seconds=abc&ttl_seconds=5" was 400 naming 'abc',
// "?ttl_seconds=5&ttl_seconds=0" a value that never expires.
TEST_CASE("a repeated query parameter is named, and the probes ignore the query") {
  auto get = method_id::get;
  CHECK(repeated_query_parameter(
          match_route("/v1/state?prefix=a&limit=2", get).query)
        == "");
  CHECK(repeated_query_parameter(
          match_route("/v1/state/k?ttl_seconds=abc&ttl_seconds=5", get).query)
        == "ttl_seconds");
  // Decoded before compared: p%72efix is prefix.
  CHECK(repeated_query_parameter(
          match_route("/v1/state?limit=1&prefix=a&p%72efix=b", get).query)
        == "prefix");
  CHECK(ignores_query(route_id::healthz));
  CHECK_FALSE(ignores_query(route_id::state_list));
}

// A delete with "if_none_match" was told it had two conditions.
TEST_CASE("a transaction's delete refuses if_none_match by name") {
  std::string problem;
  for (auto op : {R"({"op":"delete","key":"a","if_none_match":"*"})",
                  R"({"op":"delete","key":"a","if_match":"1","if_none_match":"*"})",
                  R"({"op":"delete","if_none_match":"*","key":"a"})"}) {
    INFO(op);
    CHECK_FALSE(parse_transaction(std::string{R"({"operations":[)"} + op
                                    + "]}",
                                  problem, 10));
    CHECK(problem == "operations[0]: \"if_none_match\" is not allowed on a "
                     "delete (a delete takes \"if_match\" only)");
  }
  // A set with both is still told it has two.
  CHECK_FALSE(parse_transaction(
    R"({"operations":[{"op":"set","key":"a","value":"","if_match":"1","if_none_match":"*"}]})",
    problem, 10));
  CHECK(problem == "operations[0]: at most one of \"if_match\" and "
                   "\"if_none_match\"");
}

// The op was read up to its first NUL: "eq\u0000junk" was taken for eq.
TEST_CASE("a query condition's op is read whole") {
  std::string problem;
  CHECK_FALSE(parse_query(
    R"({"where":[{"index":"s","op":"eq\u0000junk","value":"a"}]})", problem));
  CHECK_THAT(problem, Catch::Contains("\"op\" must be one of"));
  CHECK(parse_query(R"({"where":[{"index":"s","op":"eq","value":"a"}]})",
                    problem));
}

// Only the shed-load 503s carried Retry-After; an import's, or a backend's,
// did not, though the API promises it on every 503.
TEST_CASE("every 503 says when to come back") {
  auto res = error_response(state_errc::backend_unavailable, "x");
  CHECK(res.result_int() == 503);
  CHECK(res[bhttp::field::retry_after] == "1");
  CHECK(error_response(state_errc::timeout, "x")
          .count(bhttp::field::retry_after)
        == 0);
}

TEST_CASE("bodies name a key that is not UTF-8 by its base64") {
  std::string odd{"order:t:\xff\x01"};
  query_page page;
  page.items.push_back(query_item{});
  page.items.back().key = odd;
  page.items.back().version = 7;
  page.items.push_back(query_item{});
  page.items.back().key = "order:t:a";
  page.items.back().version = 8;
  auto body = query_page_body(page, false);
  CHECK(body.find(R"({"key_base64":")" + base64_encode(odd) + "\"")
        != std::string::npos);
  CHECK(body.find(R"({"key":"order:t:a")") != std::string::npos);
  transaction_request req;
  req.ops = {txn_op::put(odd, "x"), txn_op::put("k", "y")};
  transaction_reply reply;
  reply.versions = {3, 4};
  CHECK(transaction_reply_body(req, reply)
        == R"({"etags":{"k":"\"4\""},"etags_base64":{")" + base64_encode(odd)
             + R"(":"\"3\""}})");
  CHECK(error_body(state_errc::not_found, "no key " + odd)
        == R"({"error":{"code":"not_found","message":"no key order:t:\\xFF\u0001"}})");
}

TEST_CASE("a watch batch's text is shared while streams hold it, and not "
          "kept after") {
  batch_texts texts;
  change_batch batch;
  batch.stream = 7;
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    change_event ev;
    ev.seq = seq;
    ev.key = "order:" + std::to_string(seq);
    ev.version = seq;
    ev.value = std::string(1000, 'v');
    batch.events.push_back(std::move(ev));
  }
  auto first = texts.text_of(batch);
  auto second = texts.text_of(batch); // a stream in step: the same text
  CHECK(first == second);
  CHECK(first->find("id: 7-3\n") != std::string::npos);
  std::weak_ptr<const std::string> held = first;
  first.reset();
  second.reset();
  // Every stream wrote it: the cache does not keep it alive (it held up
  // to 8 batches of up to 23 MiB each).
  CHECK(held.expired());
  auto again = texts.text_of(batch);
  CHECK(again->find("id: 7-1\n") != std::string::npos);
}
