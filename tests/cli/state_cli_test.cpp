// solver-state-cli end to end: the real build/solver-state-cli run as a
// child process (arguments, stdin, stdout, stderr, exit code) against the
// real build/solver-state on a loopback port. Every command and every exit
// code of docs/cli.md.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "backends/codec/zstd_dictionaries.hpp"
#include "messages/errors.hpp"
#include "tests/cli/cli_process.hpp"
#include "tests/support/eip7683_order.hpp"
#include "tests/support/fake_http_server.hpp"
#include "tests/support/http_test_support.hpp"
#include "util/base64.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace solver_state::testing::cli_process;

TEST_CASE("put from a file and get return the value byte for byte") {
  service_process s;
  temp_dir dir;
  auto file = dir.write("value.bin", binary_value);
  auto put = cli(s, {"put", "state:cli:bin", file});
  INFO(put.err);
  REQUIRE(put.exit_code == 0);
  auto etag = put.out.substr(0, put.out.size() - 1);
  CHECK(put.out.back() == '\n');
  CHECK(etag.front() == '"');
  auto get = cli(s, {"get", "state:cli:bin"});
  REQUIRE(get.exit_code == 0);
  CHECK(get.out == binary_value); // no newline added to a pipe
  CHECK(get.err.empty());
  // The same key through the service's own API: the client wrote it as is.
  http_client http{s.port()};
  auto direct = http.get("/v1/state/state:cli:bin");
  CHECK(direct.body == binary_value);
  CHECK(direct.header("etag") == etag);

  auto as_json = cli(s, {"get", "state:cli:bin", "--json"});
  REQUIRE(as_json.exit_code == 0);
  auto doc = json_of(as_json.out);
  CHECK(str(doc.at("key")) == "state:cli:bin");
  CHECK(base64_decode(str(doc.at("value"))) == binary_value);
  CHECK(str(doc.at("etag")) == etag);
}

TEST_CASE("put reads stdin for - and when no file is named") {
  service_process s;
  REQUIRE(cli(s, {"put", "a", "-"}, binary_value).exit_code == 0);
  CHECK(cli(s, {"get", "a"}).out == binary_value);
  auto big = std::string(300'000, 'x') + binary_value; // more than a pipe holds
  REQUIRE(cli(s, {"put", "b"}, big).exit_code == 0);
  CHECK(cli(s, {"get", "b"}).out == big);
  // Keys travel percent-encoded: slashes, spaces, ':' and '+' stay themselves.
  REQUIRE(cli(s, {"put", "state:c:a b/c+d", "-"}, "v").exit_code == 0);
  http_client http{s.port()};
  CHECK(http.get("/v1/state/state%3Ac%3Aa%20b%2Fc%2Bd").body == "v");
  auto json = cli(s, {"--json", "put", "c", "-"}, "v");
  REQUIRE(json.exit_code == 0);
  auto doc = json_of(json.out);
  CHECK(str(doc.at("key")) == "c");
  CHECK(str(doc.at("etag")) == http.get("/v1/state/c").header("etag"));
}

TEST_CASE("put --ttl: the key is readable, then gone after it expires") {
  service_process s;
  auto put = cli(s, {"put", "short", "--ttl", "1"}, "v");
  REQUIRE(put.exit_code == 0);
  CHECK(put.out.front() == '"'); // written: it has a version
  REQUIRE(cli(s, {"put", "forever", "--ttl=0"}, "v").exit_code == 0);
  // Expiry is the service's clock; wait for it by asking, never by a blind
  // sleep, and give up only far beyond the TTL.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
  cli_run r;
  do {
    r = cli(s, {"get", "short"});
    if (r.exit_code == 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  } while (std::chrono::steady_clock::now() < deadline);
  REQUIRE(r.exit_code == 1);
  CHECK(r.err == "solver-state-cli: short: not found\n");
  CHECK(cli(s, {"get", "forever"}).exit_code == 0);
  // The TTL reached the service: it has an expiry the other key lacks.
  CHECK(cli(s, {"ls"}).out == "forever\n");
}

TEST_CASE("conditional writes: 3 on a conflict, 1 on a missing key") {
  service_process s;
  auto created = cli(s, {"put", "k", "--if-none-match"}, "v1");
  REQUIRE(created.exit_code == 0);
  auto etag = created.out.substr(0, created.out.size() - 1);

  SECTION("--if-none-match over an existing key is a conflict") {
    auto r = cli(s, {"put", "k", "--if-none-match"}, "v2");
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("already exists") != std::string::npos);
    CHECK(cli(s, {"get", "k"}).out == "v1");
  }
  SECTION("--if-match with another version is a conflict, nothing written") {
    auto r = cli(s, {"put", "k", "--if-match", "\"12345\""}, "v2");
    CHECK(r.exit_code == 3);
    CHECK(r.err.find("version_mismatch") != std::string::npos);
    CHECK(cli(s, {"get", "k"}).out == "v1");
    auto json = cli(s, {"put", "k", "--if-match", "12345", "--json"}, "v2");
    CHECK(json.exit_code == 3);
    CHECK(str(json_of(json.out).at("error").at("code")) == "version_mismatch");
  }
  SECTION("--if-match with the current version writes, quoted or bare") {
    auto r = cli(s, {"put", "k", "--if-match", etag}, "v2");
    REQUIRE(r.exit_code == 0);
    auto bare = r.out.substr(1, r.out.size() - 3); // without quotes, newline
    auto again = cli(s, {"put", "k", "--if-match", bare}, "v3");
    CHECK(again.exit_code == 0);
    CHECK(cli(s, {"get", "k"}).out == "v3");
    // The old version no longer matches.
    CHECK(cli(s, {"put", "k", "--if-match", etag}, "v4").exit_code == 3);
  }
  SECTION("--if-match on a missing key is not found") {
    auto r = cli(s, {"put", "absent", "--if-match", etag}, "v");
    CHECK(r.exit_code == 1);
    CHECK(r.err == "solver-state-cli: absent: not found\n");
    CHECK(cli(s, {"get", "absent"}).exit_code == 1);
  }
  SECTION("del: plain, with a wrong version, on a missing key") {
    CHECK(cli(s, {"del", "k", "--if-match", "1"}).exit_code == 3);
    CHECK(cli(s, {"get", "k"}).exit_code == 0);
    CHECK(cli(s, {"del", "absent", "--if-match", "*"}).exit_code == 1);
    auto del = cli(s, {"del", "k", "--if-match", etag, "--json"});
    CHECK(del.exit_code == 0);
    CHECK(json_of(del.out).at("deleted").as_bool());
    CHECK(cli(s, {"get", "k"}).exit_code == 1);
    // Deleting what is not there succeeds without a condition.
    CHECK(cli(s, {"del", "k"}).exit_code == 0);
  }
}

TEST_CASE("del --prefix deletes every key under the prefix and prints "
          "how many") {
  service_process s;
  http_client http{s.port()};
  for (auto key : {"sess:a:1", "sess:a:2", "sess:a:3", "sess:a", "sess:b:1"})
    REQUIRE(http.put(std::string{"/v1/state/"} + key, "v").status == 201);
  auto r = cli(s, {"del", "--prefix", "sess:a:"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "3\n");
  CHECK(lines_of(cli(s, {"ls", "sess:"}).out)
        == std::vector<std::string>{"sess:a", "sess:b:1"});
  auto json = cli(s, {"del", "--prefix", "sess:", "--json"});
  CHECK(json.exit_code == 0);
  CHECK(str(json_of(json.out).at("prefix")) == "sess:");
  CHECK(json_of(json.out).at("deleted").as_int64() == 2);
  // Refused before anything is sent: an empty prefix, a key beside it.
  CHECK(http.put("/v1/state/sess:c", "v").status == 201);
  CHECK(cli(s, {"del", "--prefix", ""}).exit_code == 2);
  CHECK(cli(s, {"del", "k", "--prefix", "sess:"}).exit_code == 2);
  CHECK(cli(s, {"del", "--prefix", "sess:", "--if-match", "1"}).exit_code
        == 2);
  CHECK(cli(s, {"get", "sess:c"}).exit_code == 0);
}

TEST_CASE("get of a missing key exits 1, with a JSON error under --json") {
  service_process s;
  auto r = cli(s, {"get", "nope"});
  CHECK(r.exit_code == 1);
  CHECK(r.out.empty());
  CHECK(r.err == "solver-state-cli: nope: not found\n");
  auto json = cli(s, {"--json", "get", "nope"});
  CHECK(json.exit_code == 1);
  CHECK(str(json_of(json.out).at("error").at("code")) == "not_found");
}

TEST_CASE("a 404 that is not the service's absent key exits 5: a wrong URL "
          "or another server is no missing key") {
  service_process s;
  // The service under a base path it does not serve answers "no such path".
  auto wrong = run_cli({"--url", url_of(s) + "/wrong", "get", "k"});
  CHECK(wrong.exit_code == 5);
  CHECK(wrong.err.find("not_found: no such path (HTTP 404") != std::string::npos);
  CHECK(wrong.err.find("not a solver-state API at this URL: check --url or "
                       "SOLVER_STATE_URL")
        != std::string::npos);
  auto json = run_cli({"--url", url_of(s) + "/wrong", "--json", "get", "k"});
  CHECK(json.exit_code == 5);
  CHECK(str(json_of(json.out).at("error").at("code")) == "bad_answer");
  CHECK(run_cli({"--url", url_of(s) + "/wrong", "ls"}).exit_code == 5);
  CHECK(run_cli({"--url", url_of(s) + "/wrong", "put", "k", "-"}, "v")
          .exit_code
        == 5);
  // Another server's 404 page.
  fake_http_server other{[](const std::string&, size_t) {
    return fake_http_server::reply{fake_http_server::answer(
      "404 Not Found", "<html>Not Found</html>")};
  }};
  auto html = run_cli({"--url", other.url(), "get", "k"});
  CHECK(html.exit_code == 5);
  CHECK(html.err.find("http_404 (HTTP 404)") != std::string::npos);
  // The service's own answer for an absent key, from any server, is one.
  fake_http_server absent{[](const std::string&, size_t) {
    return fake_http_server::reply{fake_http_server::answer(
      "404 Not Found",
      R"({"error":{"code":"not_found","message":"no value for key"}})")};
  }};
  CHECK(run_cli({"--url", absent.url(), "get", "k"}).exit_code == 1);
}

TEST_CASE("ls follows next_cursor over every page") {
  service_process s;
  http_client http{s.port()};
  std::vector<std::string> keys;
  for (int i = 0; i < 25; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "p:%02d", i);
    keys.emplace_back(name);
    REQUIRE(http.put("/v1/state/" + keys.back(), "v").status == 201);
  }
  REQUIRE(http.put("/v1/state/q:other", "v").status == 201);
  // A page of 10: 25 keys need three requests, so they come only if the
  // client follows the cursor.
  auto all = cli(s, {"ls", "p:", "--page-size", "10"});
  REQUIRE(all.exit_code == 0);
  CHECK(lines_of(all.out) == keys);
  auto capped = cli(s, {"ls", "p:", "--page-size", "10", "--limit", "15"});
  REQUIRE(capped.exit_code == 0);
  CHECK(lines_of(capped.out)
        == std::vector<std::string>(keys.begin(), keys.begin() + 15));
  auto json = cli(s, {"ls", "--page-size", "7", "--json"});
  REQUIRE(json.exit_code == 0);
  auto listed = json_of(json.out).at("keys").as_array();
  REQUIRE(listed.size() == 26);
  CHECK(str(listed[0]) == "p:00");
  CHECK(str(listed[25]) == "q:other");
  CHECK(cli(s, {"ls", "none:"}).out.empty());

  // Keys are bytes, not text: one that is not UTF-8 is listed as it is,
  // and in JSON by its base64, as the service writes it.
  std::string odd_key{"u:\xff\xfe"};
  REQUIRE(cli(s, {"put", odd_key, "-"}, "odd").exit_code == 0);
  CHECK(cli(s, {"ls", "u:"}).out == odd_key + "\n");
  auto odd_json = cli(s, {"ls", "u:", "--json"});
  REQUIRE(odd_json.exit_code == 0);
  CHECK(str(json_of(odd_json.out).at("keys").at(0).at("key_base64"))
        == base64_encode(odd_key));
  CHECK(cli(s, {"get", odd_key}).out == "odd");
}

TEST_CASE("batch-get asks again for unprocessed keys until all are answered") {
  // Replies of at most 1000 value bytes: each 600-byte value needs its own.
  service_process s{"http:\n  max_reply_bytes: 1000\n"};
  http_client http{s.port()};
  std::vector<std::string> values;
  for (int i = 0; i < 5; ++i) {
    values.push_back(std::string(599, static_cast<char>('a' + i)) + '\0');
    REQUIRE(http.put("/v1/state/big" + std::to_string(i), values.back())
              .status
            == 201);
  }
  // The service really leaves keys unprocessed at this size.
  auto direct = http.request("POST", "/v1/state/batch-get",
                             R"({"keys":["big0","big1","big2"]})");
  REQUIRE(direct.status == 200);
  REQUIRE(direct.body.find(R"("unprocessed_keys":["big1","big2"])")
          != std::string::npos);

  auto r = cli(s, {"batch-get", "--json", "big0", "big1", "missing", "big2",
                   "big3", "big4"});
  REQUIRE(r.exit_code == 0);
  auto items = json_of(r.out).at("items").as_array();
  REQUIRE(items.size() == 6);
  std::vector<std::string> order{"big0", "big1", "missing", "big2", "big3",
                                 "big4"};
  for (size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i].as_object();
    CHECK(str(item.at("key")) == order[i]);
    if (order[i] == "missing") {
      CHECK(item.at("value").is_null());
      continue;
    }
    auto n = static_cast<size_t>(order[i][3] - '0');
    CHECK(base64_decode(str(item.at("value"))) == values[n]);
  }
  auto human = cli(s, {"batch-get", "missing", "big0"});
  REQUIRE(human.exit_code == 0);
  CHECK(human.out
        == "missing\t(not found)\nbig0\tbase64:" + base64_encode(values[0])
             + "\n");
}

TEST_CASE("batch-get splits more than 1000 keys over several requests") {
  service_process s;
  http_client http{s.port()};
  REQUIRE(http.put("/v1/state/k0000", "first").status == 201);
  REQUIRE(http.put("/v1/state/k1200", "last").status == 201);
  std::string key_lines;
  for (int i = 0; i <= 1200; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "k%04d", i);
    key_lines += std::string{name} + "\n";
  }
  // One request with all of them is refused; the client must split.
  boost::json::array all_keys;
  for (auto& k : lines_of(key_lines))
    all_keys.emplace_back(k);
  auto all_in_one = boost::json::serialize(boost::json::object{
    {"keys", std::move(all_keys)}});
  REQUIRE(http.request("POST", "/v1/state/batch-get", all_in_one).status
          == 400);

  auto r = cli(s, {"batch-get", "--keys-from", "-", "--json"}, key_lines);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto items = json_of(r.out).at("items").as_array();
  REQUIRE(items.size() == 1201);
  CHECK(str(items[0].at("key")) == "k0000");
  CHECK(base64_decode(str(items[0].at("value"))) == std::string{"first"});
  CHECK(items[600].at("value").is_null());
  CHECK(str(items[1200].at("key")) == "k1200");
  CHECK(base64_decode(str(items[1200].at("value"))) == std::string{"last"});
}

TEST_CASE("a token-protected service: 5 without the token, 0 with it") {
  service_process s{"http:\n  auth_token: s3cret-token\n"};
  temp_dir dir;
  auto without = cli(s, {"put", "k", "-"}, "v");
  CHECK(without.exit_code == 5);
  CHECK(without.err.find("unauthorized") != std::string::npos);
  auto wrong = cli(s, {"get", "k"}, "", {{"SOLVER_STATE_AUTH_TOKEN", "nope"}});
  CHECK(wrong.exit_code == 5);
  CHECK(wrong.err.find("unauthorized") != std::string::npos);
  env_list token{{"SOLVER_STATE_AUTH_TOKEN", "s3cret-token"}};
  REQUIRE(cli(s, {"put", "k", "-"}, "v", token).exit_code == 0);
  CHECK(cli(s, {"get", "k"}, "", token).out == "v");
  CHECK(cli(s, {"health"}, "", token).exit_code == 0);
  auto file = dir.write("token", "s3cret-token\n");
  CHECK(cli(s, {"get", "k", "--token-file", file}).out == "v");
  // The readiness check needs the token too: without it, 5, not 4.
  CHECK(cli(s, {"health"}).exit_code == 5);
  // A token no service accepts is refused before anything is sent.
  auto newline = cli(s, {"get", "k"}, "",
                     {{"SOLVER_STATE_AUTH_TOKEN", "s3cret-token\n"}});
  CHECK(newline.exit_code == 2);
  CHECK(newline.err.find("SOLVER_STATE_AUTH_TOKEN: the token holds a newline")
        != std::string::npos);
  auto spaced = dir.write("spaced", " s3cret-token\n");
  auto leading = cli(s, {"get", "k", "--token-file", spaced});
  CHECK(leading.exit_code == 2);
  CHECK(leading.err.find(": the token begins or ends with a space")
        != std::string::npos);
  CHECK(leading.err.find("s3cret") == std::string::npos);
}

TEST_CASE("other error answers exit 5 with the service's code and message") {
  service_process s{"http:\n  max_body_bytes: 1000\n"};
  auto r = cli(s, {"put", "k", "-"}, std::string(5000, 'x'));
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("payload_too_large") != std::string::npos);
  CHECK(r.err.find("HTTP 413") != std::string::npos);
  auto json = cli(s, {"put", "k", "-", "--json"}, std::string(5000, 'x'));
  CHECK(str(json_of(json.out).at("error").at("code")) == "payload_too_large");
}

TEST_CASE("a service that is not there, or does not answer, exits 4") {
  auto url = "http://127.0.0.1:" + std::to_string(dead_port());
  for (auto args : std::vector<std::vector<std::string>>{
         {"get", "k"}, {"ls"}, {"health"}, {"metrics"}, {"del", "k"}}) {
    args.insert(args.begin(), {"--url", url});
    auto r = run_cli(args);
    INFO(args[2]);
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("Connection refused") != std::string::npos);
  }
  auto by_env = run_cli({"put", "k", "-"}, "v", {{"SOLVER_STATE_URL", url}});
  CHECK(by_env.exit_code == 4);
  auto health = run_cli({"health", "--json", "--url", url});
  CHECK(health.exit_code == 4);
  CHECK(str(json_of(health.out).at("error").at("code")) == "unreachable");

  // A stopped service accepts the connection (the kernel does) but never
  // answers: the client gives up after --timeout-ms.
  service_process s;
  s.signal(SIGSTOP);
  auto r = cli(s, {"get", "k", "--timeout-ms", "300"});
  s.signal(SIGCONT);
  CHECK(r.exit_code == 4);
  CHECK(r.err.find("no answer within 300 ms") != std::string::npos);
}

TEST_CASE("a service whose backend is down: not ready and 503, exit 4") {
#ifdef SOLVER_STATE_CLI_TEST_REDIS
  // A Redis backend on a port where nothing listens: the service starts,
  // reconnects in the background, and answers 503 meanwhile.
  service_process s{"state:\n  type: redis://127.0.0.1:1/0\n"};
  auto health = cli(s, {"health"});
  CHECK(health.exit_code == 4);
  CHECK(health.out.find("healthz: ok\nreadyz: not ready") == 0);
  auto json = cli(s, {"health", "--json"});
  CHECK(json.exit_code == 4);
  auto doc = json_of(json.out);
  CHECK(str(doc.at("readyz")) == "not_ready");
  CHECK(str(doc.at("message")).find("redis") != std::string::npos);
  auto get = cli(s, {"get", "k"});
  CHECK(get.exit_code == 4);
  CHECK(get.err.find("backend_unavailable") != std::string::npos);
  CHECK(get.err.find("HTTP 503") != std::string::npos);
#else
  WARN("built without the Redis backend: no backend to take down");
#endif
}

TEST_CASE("bad usage exits 2 and sends nothing") {
  service_process s;
  std::vector<std::vector<std::string>> bad{
    {},
    {"frobnicate"},
    {"get"},
    {"get", "a", "b"},
    {"get", "k", "--bogus"},
    {"--bogus", "get", "k"},
    {"put", "k", "-", "--if-match", "1", "--if-none-match"},
    {"put", "k", "-", "--ttl", "soon"},
    {"put", "k", "-", "--ttl", "315360001"},
    {"put", "k", "-", "--if-match", "1,2"},
    {"put", "k", "/nonexistent/file"},
    {"put", std::string{"a\x01"}, "-"},
    {"put", std::string(1025, 'k'), "-"},
    {"ls", "--limit", "0"},
    {"ls", "--page-size", "10001"},
    {"batch-get"},
    {"batch-get", "a", "a"},
    {"batch-get", "--keys-from", "/"}, // a directory: it cannot be read
    {"get", "k", "--timeout-ms"},
    {"import"},
    {"txn"},
    {"watch", "a", "b"},
    {"query"},
  };
  for (auto& args : bad) {
    auto r = cli(s, args, "v");
    std::string line;
    for (auto& a : args)
      line += a + " ";
    INFO(line);
    CHECK(r.exit_code == 2);
    CHECK(r.err.rfind("solver-state-cli: ", 0) == 0);
  }
  CHECK(cli(s, {"query"}).err.find("needs --where or --order-by")
        != std::string::npos);
  CHECK(cli(s, {"query", "--where", "status"}).err.find("an index and an "
                                                        "operator")
        != std::string::npos);
  CHECK(cli(s, {"query", "--where", "status eq"}).err.find("needs a value")
        != std::string::npos);
  CHECK(cli(s, {"query", "--where", "a exists", "--desc"}).err.find(
          "--desc needs --order-by")
        != std::string::npos);
  CHECK(cli(s, {"query", "--where", "a exists", "--page-size", "1001"})
          .exit_code
        == 2);
  CHECK(cli(s, {"txn"}, "{\"ops\":[]}").err.find("operations")
        != std::string::npos);
  CHECK(run_cli({"get", "k", "--url", "https://127.0.0.1:1"}).exit_code == 2);
  CHECK(run_cli({"get", "k", "--url", "127.0.0.1:8080"}).exit_code == 2);
  // Nothing reached the store.
  CHECK(cli(s, {"ls"}).out.empty());
}

TEST_CASE("import refuses a file with a bad line before sending any") {
  service_process s;
  temp_dir dir;
  std::string good_line =
    R"({"key":"imp:a","value":"YQ==","expires_at_ms":null})";
  std::string lines
    = good_line + "\n" + good_line + "\n"
      + R"({"key":"imp:b","value":"not base64","expires_at_ms":null})" + "\n"
      + good_line + "\n";
  auto file = dir.write("bad.ndjson", lines);
  // Chunks of one line each: a client that sent as it read would have sent
  // the first two lines before reaching the third.
  auto r = cli(s, {"import", file, "--chunk-bytes", "100"});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(file + ":3:") != std::string::npos);
  CHECK(r.err.find("base64") != std::string::npos);
  auto from_stdin = cli(s, {"import", "-", "--json"}, lines);
  CHECK(from_stdin.exit_code == 2);
  auto err = json_of(from_stdin.out).at("error").as_object();
  CHECK(str(err.at("code")) == "bad_import_file");
  CHECK(str(err.at("message")).rfind("stdin:3:", 0) == 0);
  CHECK(cli(s, {"import", dir.path + "/missing.ndjson"}).exit_code == 2);
  CHECK(cli(s, {"ls"}).out.empty());
}

TEST_CASE("health, metrics, --help and --version") {
  service_process s;
  auto health = cli(s, {"health"});
  CHECK(health.exit_code == 0);
  CHECK(health.out == "healthz: ok\nreadyz: ready\n");
  auto hj = json_of(cli(s, {"health", "--json"}).out);
  CHECK(str(hj.at("readyz")) == "ready");

  REQUIRE(cli(s, {"put", "k", "-"}, "v").exit_code == 0);
  auto metrics = cli(s, {"metrics"});
  CHECK(metrics.exit_code == 0);
  CHECK(metrics.out.find("# TYPE http_requests_total counter")
        != std::string::npos);
  auto only = cli(s, {"metrics", "--grep", "process_start_time_seconds"});
  REQUIRE(only.exit_code == 0);
  for (auto& line : lines_of(only.out))
    CHECK(line.find("process_start_time_seconds") != std::string::npos);
  CHECK(lines_of(only.out).size() == 3); // HELP, TYPE, the sample
  auto mj = json_of(cli(s, {"metrics", "--json", "--grep", "process_"}).out);
  CHECK(str(mj.at("metrics")).find("process_open_fds") != std::string::npos);

  auto help = run_cli({"--help"});
  CHECK(help.exit_code == 0);
  for (auto name : {"get", "put", "del", "ls", "batch-get", "health",
                    "metrics", "export", "import", "txn", "watch", "query"})
    CHECK(help.out.find(std::string{"  "} + name + " ") != std::string::npos);
  auto put_help = run_cli({"put", "--help"});
  CHECK(put_help.exit_code == 0);
  CHECK(put_help.out.find("--if-none-match") != std::string::npos);
  CHECK(run_cli({"help", "put"}).out == put_help.out);
  CHECK(run_cli({"query", "--help"}).out.find("--where")
        != std::string::npos);
  CHECK(run_cli({"watch", "--help"}).out.find("--from") != std::string::npos);
  // After "--", an argument that starts with '-' is a key, not an option.
  REQUIRE(cli(s, {"put", "--", "-dash", "-"}, "d").exit_code == 0);
  CHECK(cli(s, {"get", "--", "-dash"}).out == "d");
  auto version = run_cli({"--version"});
  CHECK(version.exit_code == 0);
  CHECK(version.out == "solver-state-cli " SOLVER_STATE_VERSION "\n");
}

TEST_CASE("txn applies every operation or none and prints the new etags") {
  service_process s;
  temp_dir dir;
  auto b64 = [](const std::string& v) { return solver_state::base64_encode(v); };
  auto body = R"({"operations":[{"op":"set","key":"fill:cli:a","value":")"
              + b64("one") + R"("},{"op":"set","key":"fill:cli:b","value":")"
              + b64("two") + R"(","if_none_match":"*"}]})";
  auto file = dir.write("txn.json", body);
  auto done = cli(s, {"txn", file});
  INFO(done.err);
  REQUIRE(done.exit_code == 0);
  auto lines = lines_of(done.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].rfind("fill:cli:a\t\"", 0) == 0);
  CHECK(lines[1].rfind("fill:cli:b\t\"", 0) == 0);
  CHECK(cli(s, {"get", "fill:cli:a"}).out == "one");
  CHECK(cli(s, {"get", "fill:cli:b"}).out == "two");
  // The same body again: fill:cli:b exists, so nothing is written.
  auto again_body = R"({"operations":[{"op":"set","key":"fill:cli:a","value":")"
                    + b64("changed") + R"("},{"op":"set","key":"fill:cli:b",)"
                    + R"("value":")" + b64("x") + R"(","if_none_match":"*"}]})";
  auto conflict = cli(s, {"txn", "-", "--json"}, again_body);
  CHECK(conflict.exit_code == 3);
  CHECK(str(json_of(conflict.out).at("error").as_object().at("code"))
        == "version_mismatch");
  CHECK(cli(s, {"get", "fill:cli:a"}).out == "one");
  // --json prints the service's answer.
  auto json = cli(s, {"--json", "txn", "-"},
                  R"({"operations":[{"op":"delete","key":"fill:cli:a"}]})");
  REQUIRE(json.exit_code == 0);
  CHECK(json_of(json.out).at("etags").as_object().empty());
  CHECK(cli(s, {"get", "fill:cli:a"}).exit_code == 1);
  // A body the service refuses is exit 5 with its code.
  auto refused = cli(s, {"txn", "-"}, R"({"operations":[]})");
  CHECK(refused.exit_code == 5);
  CHECK(refused.err.find("at least one operation") != std::string::npos);
}

TEST_CASE("query prints every key that matches, page by page, in the order "
          "asked") {
  service_process s{"state:\n  type: memory\n  indexes:\n"
                    "    - {name: status, prefix: \"order:\", path: /status}\n"
                    "    - {name: deadline, prefix: \"order:\", path: "
                    "/deadline}\n"};
  for (int i = 0; i < 12; ++i) {
    auto status = i % 3 == 0 ? "pending" : "filled";
    auto value = std::string{R"({"status":")"} + status + R"(","deadline":)"
                 + std::to_string(100 - i) + "}";
    REQUIRE(cli(s, {"put", "order:swap:o" + std::to_string(i), "-"}, value)
              .exit_code
            == 0);
  }
  // Pending, soonest first, 2 a page: every page followed.
  auto r = cli(s, {"query", "order:swap:", "--where", "status eq pending",
                   "--order-by", "deadline", "--page-size", "2"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].rfind("order:swap:o9\t\"", 0) == 0);
  CHECK(lines[1].rfind("order:swap:o6\t", 0) == 0);
  CHECK(lines[2].rfind("order:swap:o3\t", 0) == 0);
  CHECK(lines[3].rfind("order:swap:o0\t", 0) == 0);
  // The etag printed is the key's.
  auto tag = lines[0].substr(lines[0].find('\t') + 1);
  CHECK(cli(s, {"put", "order:swap:o9", "-", "--if-match", tag},
            R"({"status":"filled","deadline":91})")
          .exit_code
        == 0);
  // Values, --desc, --limit, a JSON value, --json.
  r = cli(s, {"query", "--where", "deadline lt 92", "--where",
              R"(status in ["filled"])", "--order-by", "deadline", "--desc",
              "--values", "--limit", "2"});
  REQUIRE(r.exit_code == 0);
  lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] .find("order:swap:o9\t") == 0);
  CHECK(lines[0].find(R"({"status":"filled","deadline":91})")
        != std::string::npos);
  CHECK(lines[1].find("order:swap:o10\t") == 0);
  auto json = cli(s, {"--json", "query", "--where", "status eq pending"});
  REQUIRE(json.exit_code == 0);
  auto items = json_of(json.out).at("items").as_array();
  REQUIRE(items.size() == 3);
  CHECK(str(items[0].as_object().at("key")) == "order:swap:o0");
  // A raw body, as the API takes it.
  r = cli(s, {"query", "--body", "-"},
          R"({"where":[{"index":"status","op":"eq","value":"pending"}],)"
          R"("limit":1})");
  REQUIRE(r.exit_code == 0);
  CHECK(lines_of(r.out).size() == 3);
  // A decimal is sent as the service reads it from the value: the nearest
  // double to its text (Boost.JSON's own parse rounds this one off).
  REQUIRE(cli(s, {"put", "order:swap:dec", "-"},
              R"({"status":"open","deadline":123.45678901234567})")
            .exit_code
          == 0);
  r = cli(s, {"query", "--where", "deadline eq 123.45678901234567"});
  REQUIRE(r.exit_code == 0);
  CHECK(lines_of(r.out).size() == 1);
  CHECK(r.out.rfind("order:swap:dec\t", 0) == 0);
  // What the service refuses: exit 5 with its reason.
  r = cli(s, {"query", "--where", "colour eq red"});
  CHECK(r.exit_code == 5);
  CHECK(r.err.find("no index named 'colour'") != std::string::npos);
}

TEST_CASE("query stops with bad_answer on an empty page whose next_cursor "
          "is the cursor it was sent, rather than asking again forever") {
  // A broken server: every page empty, its cursor always the same. From
  // the 20th request on it answers 503, so a client that loops still ends.
  fake_http_server server{[](const std::string&, size_t earlier) {
    if (earlier >= 20)
      return fake_http_server::reply{fake_http_server::answer(
        "503 Service Unavailable",
        R"({"error":{"code":"test_gave_up","message":"too many"}})")};
    return fake_http_server::reply{fake_http_server::answer(
      "200 OK", R"({"items":[],"next_cursor":"same"})")};
  }};
  auto r = run_cli({"--url", server.url(), "--json", "query", "--where",
                    "status eq pending"});
  INFO(r.err);
  CHECK(r.exit_code == 5);
  CHECK(str(json_of(r.out).at("error").at("code")) == "bad_answer");
  // The first page's cursor is new; the second names the one sent.
  CHECK(server.requests() == 2);
}

TEST_CASE("watch prints each change under its prefix until the service ends "
          "the stream, and names the id to resume from") {
  service_process s{"state:\n  type: memory\n"};
  http_client c{s.port()};
  cli_run human, json;
  std::thread a([&] { human = cli(s, {"watch", "w:"}); });
  std::thread b([&] { json = cli(s, {"watch", "w:", "--json"}); });
  // Both streams are subscribed once the hub reports two watchers.
  bool subscribed = false;
  for (int i = 0; i < 200 && !subscribed; ++i) {
    subscribed = c.get("/metrics").body.find("\nsolver_state_watchers 2\n")
                 != std::string::npos;
    if (!subscribed)
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  CHECK(subscribed);
  auto first = c.put("/v1/state/w:a", "1");
  REQUIRE(first.status == 201);
  REQUIRE(c.put("/v1/state/other", "x").status == 201);
  REQUIRE(c.del("/v1/state/w:a").status == 204);
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  CHECK(s.stop(SIGTERM) == 0);
  a.join();
  b.join();
  CHECK(human.exit_code == 4);
  CHECK(human.out == "put\tw:a\t" + first.header("etag") + "\ndelete\tw:a\t-\n");
  CHECK(human.err.find("resume with --from ") != std::string::npos);
  CHECK(json.exit_code == 4);
  auto lines = lines_of(json.out);
  REQUIRE(lines.size() == 3); // two events, then the error object
  auto put = json_of(lines[0]);
  CHECK(str(put.at("event")) == "put");
  CHECK(str(put.at("key")) == "w:a");
  CHECK(base64_decode(str(put.at("value"))) == std::string{"1"});
  CHECK(str(json_of(lines[1]).at("event")) == "delete");
  CHECK(str(json_of(lines[2]).at("error").as_object().at("code"))
        == "watch_ended");
}

namespace {

/// Waits (at most 20 s) until the service counts `n` watchers.
bool wait_for_watchers(http_client& c, int n) {
  auto line = "\nsolver_state_watchers " + std::to_string(n) + "\n";
  for (int i = 0; i < 400; ++i) {
    if (c.get("/metrics").body.find(line) != std::string::npos)
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return false;
}

} // namespace

TEST_CASE("watch that cannot write to stdout exits 5 and names an id to "
          "resume from before the change it could not print") {
  service_process s{"state:\n  type: memory\n"};
  http_client c{s.port()};
  cli_run full;
  std::thread a([&] {
    full = run_cli({"--url", url_of(s), "watch", "w:"}, "", {}, "/dev/full");
  });
  CHECK(wait_for_watchers(c, 1));
  auto put = c.put("/v1/state/w:a", "1");
  REQUIRE(put.status == 201);
  a.join(); // the failed write ends the watch
  INFO(full.err);
  // A local write failure, as docs/cli.md says: not the stream's end (4).
  CHECK(full.exit_code == 5);
  CHECK(full.err.find("cannot write to stdout") != std::string::npos);
  auto at = full.err.find("resume with --from ");
  REQUIRE(at != std::string::npos);
  auto id = full.err.substr(at + 19);
  id.erase(id.find_first_of(" \n"));

  // Resuming there prints the change that never reached stdout.
  temp_dir dir;
  auto out = dir.path + "/watch.out";
  cli_run resumed;
  std::thread b([&] {
    resumed = run_cli({"--url", url_of(s), "watch", "w:", "--from", id}, "",
                      {}, out);
  });
  auto expected = "put\tw:a\t" + put.header("etag") + "\n";
  for (int i = 0; i < 200 && read_file(out) != expected; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  CHECK(s.stop(SIGTERM) == 0);
  b.join();
  INFO(resumed.err);
  CHECK(read_file(out) == expected);
  CHECK(resumed.exit_code == 4);
}

TEST_CASE("watch that gets an event it cannot read exits 5 with bad_answer "
          "and names the id of the last event it printed") {
  std::string events
    = "id: 7-0\n\n" // the stream's start
      "id: 7-1\nevent: put\ndata: "
      R"({"key":"w:a","etag":"\"5\"","value":"MQ=="})"
      "\n\nid: 7-2\nevent: put\ndata: not json\n\n";
  char size[16];
  std::snprintf(size, sizeof size, "%zx", events.size());
  fake_http_server server{[&](const std::string&, size_t) {
    // Then silence: the client must end on the bad event, not wait.
    return fake_http_server::reply{
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
      "Transfer-Encoding: chunked\r\n\r\n"
        + std::string{size} + "\r\n" + events + "\r\n",
      false, true};
  }};
  auto r = run_cli({"--url", server.url(), "--json", "watch", "w:"});
  INFO(r.err);
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Catch::Contains("not what this client expects")
                      && Catch::EndsWith("; resume with --from 7-1\n"));
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2); // the good event, then the error object
  CHECK(str(json_of(lines[0]).at("key")) == "w:a");
  CHECK(str(json_of(lines[1]).at("error").at("code")) == "bad_answer");
}

TEST_CASE("train-dictionary trains a zstd dictionary on the values under a "
          "prefix, and the service restarted with it reads old and new "
          "values") {
  temp_dir dir;
  auto state = "state:\n  file:\n    base_path: \"" + dir.path
               + "/data\"\n  compression:\n    type: zstd\n";
  auto dict = dir.path + "/orders.zdict";
  std::mt19937_64 rng{5};
  std::vector<std::string> orders;
  {
    service_process s{state};
    http_client http{s.port()};
    for (int i = 0; i < 600; ++i) {
      orders.push_back(testing::eip7683_order(rng));
      REQUIRE(http.put("/v1/state/order:eip7683:" + std::to_string(i),
                       orders.back())
                .status
              == 201);
    }
    REQUIRE(http.put("/v1/state/other:x", "not an order").status == 201);
    // One left by an interrupted run: its mode does not carry over.
    {
      std::ofstream{dict + ".partial"} << "stale";
      REQUIRE(::chmod((dict + ".partial").c_str(), 0644) == 0);
    }
    auto trained = cli(s, {"train-dictionary", "order:eip7683:", "-o", dict,
                           "--samples", "500"});
    INFO(trained.err);
    REQUIRE(trained.exit_code == 0);
    // It holds fragments of the values: its owner's alone.
    struct stat st {};
    REQUIRE(::stat(dict.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(trained.out.find("trained a ") == 0);
    CHECK(trained.out.find("from 500 values") != std::string::npos);
    // Nothing to train on: an error, and no file.
    auto none = cli(s, {"train-dictionary", "nothing:", "-o",
                        dir.path + "/none.zdict"});
    CHECK(none.exit_code != 0);
    CHECK(none.err.find("cannot train a dictionary from the 0 values")
          != std::string::npos);
    CHECK(read_file(dir.path + "/none.zdict").empty());
    CHECK(cli(s, {"train-dictionary", "order:"}).exit_code == 2); // no -o
    REQUIRE(s.stop(SIGTERM) == 0);
  }
  compression_config c;
  c.type = compression_type::zstd;
  c.dictionaries = {dict};
  auto loaded = zstd_dictionaries::load(c);
  INFO((loaded ? std::string{} : message_of(loaded.error())));
  REQUIRE(loaded);
  service_process s{state + "    dictionaries: [\"" + dict + "\"]\n"};
  http_client http{s.port()};
  for (int i : {0, 17, 599})
    CHECK(http.get("/v1/state/order:eip7683:" + std::to_string(i)).body
          == orders[i]);
  auto fresh = testing::eip7683_order(rng);
  REQUIRE(http.put("/v1/state/order:eip7683:new", fresh).status == 201);
  CHECK(http.get("/v1/state/order:eip7683:new").body == fresh);
}
