// solver-state-cli export and import end to end: the real client as a child
// process (tests/cli/cli_process.hpp) against real services. What one
// service exports, another imports byte for byte; the client's own check of
// an import file refuses exactly what the service refuses.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/cli/cli_process.hpp"
#include "tests/support/fake_http_server.hpp"
#include "tests/support/http_test_support.hpp"
#include "tests/support/key_files.hpp"
#include "util/base64.hpp"

using namespace solver_state;
using namespace solver_state::testing;
using namespace solver_state::testing::cli_process;

namespace {

std::string line_of(const std::string& key, const std::string& value,
                    const std::string& expires = "null") {
  return R"({"key":")" + key + R"(","value":")" + base64_encode(value)
         + R"(","expires_at_ms":)" + expires + "}";
}

/// `n` good lines, keys PREFIX0000...
std::string good_lines(const std::string& prefix, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    auto k = std::to_string(10000 + i).substr(1);
    out += line_of(prefix + k, k) + "\n";
  }
  return out;
}

/// The line of `lines` that holds `needle`, or "".
std::string line_with(const std::vector<std::string>& lines,
                      const std::string& needle) {
  for (auto& l : lines)
    if (l.find(needle) != std::string::npos)
      return l;
  return {};
}

/// A proxy on loopback for one exchange that drops the trailer fields of a
/// chunked answer, as some proxies do: it passes the request on to
/// `upstream`, reads the answer chunk by chunk to its last chunk, and sends
/// it on with an empty trailer, then closes.
class trailer_dropping_proxy {
public:
  explicit trailer_dropping_proxy(uint16_t upstream) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr),
                   sizeof addr) == 0);
    REQUIRE(::listen(listener_, 1) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    worker_ = std::thread{[this, upstream] { serve(upstream); }};
  }

  ~trailer_dropping_proxy() {
    ::shutdown(listener_, SHUT_RDWR);
    if (worker_.joinable())
      worker_.join();
    ::close(listener_);
  }

  uint16_t port() const { return port_; }

  /// The trailer fields it dropped, once its exchange is over.
  std::string dropped() {
    if (worker_.joinable())
      worker_.join();
    return dropped_;
  }

private:
  void serve(uint16_t upstream) {
    int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0)
      return;
    int server = connect_loopback(upstream);
    std::string request, answer;
    if (read_until(client, request, [](const std::string& r) {
             return r.find("\r\n\r\n") != std::string::npos;
           })
        && send_all(server, request)
        && read_until(server, answer, [](const std::string& a) {
             return end_of_last_chunk(a) != std::string::npos;
           })) {
      auto last = end_of_last_chunk(answer);
      dropped_ = answer.substr(last, answer.size() - last - 2);
      send_all(client, answer.substr(0, last) + "\r\n");
    }
    ::close(server);
    ::close(client);
  }

  /// Where the trailer of a whole chunked answer starts (just past its
  /// last chunk's "0\r\n"), or npos while it is not whole.
  static size_t end_of_last_chunk(const std::string& a) {
    auto at = a.find("\r\n\r\n");
    if (at == std::string::npos)
      return std::string::npos;
    at += 4;
    for (;;) {
      auto eol = a.find("\r\n", at);
      if (eol == std::string::npos)
        return std::string::npos;
      auto size = std::stoul(a.substr(at, eol - at), nullptr, 16);
      at = eol + 2;
      if (size == 0)
        return a.find("\r\n\r\n", at - 2) == std::string::npos
                 ? std::string::npos
                 : at;
      at += size + 2;
      if (at > a.size())
        return std::string::npos;
    }
  }

  template <class Done>
  static bool read_until(int fd, std::string& into, Done done) {
    char buf[65536];
    while (!done(into)) {
      auto n = ::read(fd, buf, sizeof buf);
      if (n <= 0)
        return false;
      into.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  int listener_ = -1;
  uint16_t port_ = 0;
  std::string dropped_;
  std::thread worker_;
};

} // namespace

TEST_CASE("export and import carry every key byte for byte to another "
          "service") {
  service_process from;
  temp_dir dir;
  auto bin = dir.write("bin", binary_value);
  // Keys are bytes: one that is not UTF-8 travels as "key_base64".
  const std::string odd_key{"bk:\xff\xfe\x80"};
  REQUIRE(cli(from, {"put", "bk:bin", bin}).exit_code == 0);
  REQUIRE(cli(from, {"put", odd_key, bin}).exit_code == 0);
  REQUIRE(cli(from, {"put", "bk:ttl", bin, "--ttl", "3600"}).exit_code == 0);
  REQUIRE(cli(from, {"put", "other:k", "-"}, "plain").exit_code == 0);

  auto all = cli(from, {"export"});
  INFO(all.err);
  REQUIRE(all.exit_code == 0);
  auto lines = lines_of(all.out);
  REQUIRE(lines.size() == 4);
  CHECK(all.out.back() == '\n');
  CHECK(line_with(lines, "\"key_base64\":\"" + base64_encode(odd_key) + "\"")
        != "");
  CHECK(line_with(lines, "\"key\":\"bk:bin\"").find("\"expires_at_ms\":null")
        != std::string::npos);
  auto ttl_line = line_with(lines, "\"key\":\"bk:ttl\"");
  REQUIRE(ttl_line != "");
  CHECK(ttl_line.find("\"expires_at_ms\":null") == std::string::npos);
  auto ttl_doc = boost::json::parse(ttl_line).as_object();
  CHECK(ttl_doc.at("expires_at_ms").as_int64() > 0);

  // A prefix: only its keys, the same lines.
  auto some = cli(from, {"export", "bk:"});
  REQUIRE(some.exit_code == 0);
  auto some_lines = lines_of(some.out);
  CHECK(some_lines.size() == 3);
  for (auto& l : some_lines)
    CHECK(all.out.find(l + "\n") != std::string::npos);
  CHECK(some.out.find("other:k") == std::string::npos);

  // -o FILE: the same bytes as stdout, and the count.
  auto file = dir.path + "/all.ndjson";
  auto to_file = cli(from, {"export", "-o", file});
  REQUIRE(to_file.exit_code == 0);
  CHECK(to_file.out == "exported 4 keys to " + file + "\n");
  CHECK(read_file(file) == all.out);
  auto some_file = dir.path + "/bk.ndjson";
  auto json = cli(from, {"export", "bk:", "-o", some_file, "--json"});
  REQUIRE(json.exit_code == 0);
  CHECK(json_of(json.out).at("exported").as_int64() == 3);
  CHECK(read_file(some_file) == some.out);

  // Into an empty service: its export is the same, byte for byte, with the
  // same absolute expiry.
  service_process into;
  auto imported = cli(into, {"import", file});
  INFO(imported.err);
  REQUIRE(imported.exit_code == 0);
  CHECK(imported.out == "imported 4 keys, skipped 0 already expired\n");
  CHECK(cli(into, {"export"}).out == all.out);
  CHECK(cli(into, {"get", "bk:bin"}).out == binary_value);
  CHECK(cli(into, {"get", odd_key}).out == binary_value);

  // From stdin, with --json.
  service_process third;
  auto piped = cli(third, {"import", "-", "--json"}, some.out);
  REQUIRE(piped.exit_code == 0);
  auto counts = json_of(piped.out);
  CHECK(counts.at("imported").as_int64() == 3);
  CHECK(counts.at("expired").as_int64() == 0);
  CHECK(cli(third, {"export"}).out == some.out);
}

TEST_CASE("an import larger than one body goes in several, all of it "
          "arrives") {
  // The service takes bodies of at most 2 KiB: the file (about 30 KiB)
  // arrives only if the client cut it into at least 15 requests.
  service_process s{"http:\n  max_import_bytes: 2048\n"};
  temp_dir dir;
  auto lines = good_lines("chunk:", 500);
  REQUIRE(lines.size() > 14 * 2048);
  auto file = dir.write("big.ndjson", lines);
  auto whole = cli(s, {"import", file, "--chunk-bytes", "1000000"});
  CHECK(whole.exit_code == 5);
  CHECK(whole.err.find("HTTP 413") != std::string::npos);
  CHECK(cli(s, {"export"}).out.empty());

  auto r = cli(s, {"import", file, "--chunk-bytes", "2048", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(json_of(r.out).at("imported").as_int64() == 500);
  auto exported = cli(s, {"export"});
  CHECK(exported.out == lines); // every line, once, in key order
}

TEST_CASE("the client refuses an import file exactly when the service "
          "does") {
  // The service's limit on values is given to the client too.
  service_process s{"state:\n  max_value_bytes: 8\n"};
  http_client http{s.port()};
  temp_dir dir;
  auto head = good_lines("a:", 40);
  auto tail = good_lines("z:", 40);
  struct bad_case {
    std::string line;
    std::string problem;
  };
  std::vector<bad_case> bad{
    {R"({"key":"m","value":"YQ==","expires_at":1718031234567})",
     "unknown member \"expires_at\""},
    {R"({"key":"m","value":"YQ==","expires_at_ms":0})", "expires_at_ms"},
    {R"({"key":"m","value":"YQ==","expires_at_ms":-5})", "expires_at_ms"},
    {R"({"key":"m","key_base64":"bQ==","value":"YQ=="})", "exactly one"},
    {R"({"key":"m","value":"YQ"})", "base64"},
    {line_of("m", "nine bytes"), "state.max_value_bytes is 8"},
    {"", "empty line"},
    {"not json", "malformed JSON"},
  };
  for (auto& b : bad) {
    INFO(b.line);
    auto body = head + b.line + "\n" + tail;
    // The service refuses it, naming line 41, and writes nothing...
    auto direct = http.request("POST", "/v1/import", body);
    CHECK(direct.status == 400);
    CHECK(direct.body.find("line 41: ") != std::string::npos);
    // ...and so does the client, before sending any of it, although its
    // bodies of 600 bytes would have carried the first lines already.
    auto file = dir.write("bad.ndjson", body);
    auto r = cli(s, {"import", file, "--chunk-bytes", "600",
                     "--max-value-bytes", "8"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(file + ":41: ") != std::string::npos);
    CHECK(r.err.find(b.problem) != std::string::npos);
    CHECK(r.err.find("nothing was imported") != std::string::npos);
    CHECK(cli(s, {"export"}).out.empty());
  }

  // Lines the service takes are not refused: no "expires_at_ms" at all,
  // "key_base64", "\r\n" ends, a value of exactly the limit, blank lines at
  // the end.
  std::vector<std::string> good{
    R"({"key":"g:1","value":"YQ=="})",
    R"({"key_base64":")" + base64_encode("g:\xff") + R"(","value":"YQ=="})",
    line_of("g:3", "v") + "\r",
    line_of("g:4", "8 bytes!"),
  };
  std::string body;
  for (auto& l : good)
    body += l + "\n";
  body += "\n\r\n";
  auto direct = http.request("POST", "/v1/import", body);
  CHECK(direct.status == 200);
  CHECK(direct.body == R"({"imported":4,"expired":0})");
  auto direct_export = cli(s, {"export"}).out;
  REQUIRE(lines_of(direct_export).size() == 4);
  service_process again{"state:\n  max_value_bytes: 8\n"};
  auto r = cli(again, {"import", dir.write("good.ndjson", body),
                       "--chunk-bytes", "100", "--max-value-bytes", "8"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out == "imported 4 keys, skipped 0 already expired\n");
  CHECK(cli(again, {"export"}).out == direct_export);
}

TEST_CASE("an expired line is counted as expired and not written") {
  service_process s;
  // 1000 ms after the epoch: long past. 4102444800000: the year 2100.
  auto body = line_of("exp:old", "gone", "1000") + "\n"
              + line_of("exp:new", "kept", "4102444800000") + "\n"
              + line_of("exp:never", "kept") + "\n";
  auto r = cli(s, {"import", "-", "--json", "--chunk-bytes", "100"}, body);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto counts = json_of(r.out);
  CHECK(counts.at("imported").as_int64() == 2);
  CHECK(counts.at("expired").as_int64() == 1);
  auto human = cli(s, {"import", "-"}, body);
  CHECK(human.out == "imported 2 keys, skipped 1 already expired\n");
  auto exported = cli(s, {"export"}).out;
  CHECK(exported.find("exp:old") == std::string::npos);
  CHECK(exported.find(R"("expires_at_ms":4102444800000)")
        != std::string::npos);
  CHECK(cli(s, {"get", "exp:old"}).exit_code == 1);
}

TEST_CASE("export and import of a service that is not there exit 4") {
  auto url = "http://127.0.0.1:" + std::to_string(dead_port());
  temp_dir dir;
  auto file = dir.write("one.ndjson", line_of("k", "v") + "\n");
  for (auto args : std::vector<std::vector<std::string>>{
         {"export"}, {"export", "p:", "-o", dir.path + "/out.ndjson"},
         {"import", file}}) {
    args.insert(args.begin(), {"--url", url});
    auto r = run_cli(args);
    INFO(args[2]);
    CHECK(r.exit_code == 4);
    CHECK(r.err.find("Connection refused") != std::string::npos);
  }
  // A failed export to a file leaves no file that looks complete.
  CHECK(read_file(dir.path + "/out.ndjson").empty());
}

TEST_CASE("an import file that cannot be read exits 2 and imports "
          "nothing") {
  service_process s;
  temp_dir dir;
  // Both open like files; reading fails (EISDIR, EIO).
  for (auto& path : {dir.path, std::string{"/proc/self/mem"}}) {
    auto r = cli(s, {"import", path, "--json"});
    INFO(path << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::StartsWith("solver-state-cli: cannot read "
                                        + path + ": "));
    if (r.exit_code == 2)
      CHECK(str(json_of(r.out).at("error").at("code")) == "bad_import_file");
  }
  // One that does not open at all is a bad import file too.
  auto missing = dir.path + "/no-such-file.ndjson";
  auto r = cli(s, {"import", missing, "--json"});
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.err, Catch::StartsWith("solver-state-cli: cannot open "
                                      + missing + ": "));
  if (r.exit_code == 2)
    CHECK(str(json_of(r.out).at("error").at("code")) == "bad_import_file");
  CHECK(cli(s, {"ls"}).out.empty());
}

TEST_CASE("an export whose end cannot be told from a broken connection "
          "fails with 4, one whole by its framing that ends mid-line with "
          "5, and neither leaves a file") {
  auto line = line_of("k", "v") + "\n";
  auto cut = line + line.substr(0, 10);
  // 200 with Connection: close and neither Content-Length nor chunked: the
  // body ends where the connection does, here in the middle of a line.
  auto unframed = "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n"
                  "Connection: close\r\n\r\n"
                  + cut;
  // Whole by its Content-Length, but not a whole export.
  auto mid_line = fake_http_server::answer("200 OK", cut,
                                           "application/x-ndjson");
  for (bool whole : {false, true}) {
    auto bytes = whole ? mid_line : unframed;
    fake_http_server server{[&](const std::string&, size_t) {
      return fake_http_server::reply{bytes, true};
    }};
    temp_dir dir;
    auto file = dir.path + "/backup.ndjson";
    auto r = run_cli({"--url", server.url(), "export", "-o", file});
    INFO(bytes << "\n" << r.err);
    // Whole but cut: a bad answer (5); unframed: maybe a broken
    // connection (4).
    int expected = whole ? 5 : 4;
    CHECK(r.exit_code == expected);
    CHECK(r.out.empty());
    CHECK(std::filesystem::is_empty(dir.path)); // nor a partial one
    auto to_stdout = run_cli({"--url", server.url(), "export"});
    CHECK(to_stdout.exit_code == expected);
    if (whole)
      CHECK_THAT(to_stdout.err, Catch::Contains("ends in the middle of a "
                                                "line"));
  }
}

TEST_CASE("an import of an empty stdin is refused: it is what a failed "
          "export piped in leaves, and the pipeline's status is import's") {
  service_process s;
  for (auto& input : {std::string{}, std::string{"\n\n"}}) {
    auto r = cli(s, {"import", "-"}, input);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("stdin is empty: nothing was imported") != std::string::npos);
  }
  // An empty file is an export of no key: imported, as nothing.
  temp_dir dir;
  auto file = dir.write("empty.ndjson", "");
  auto r = cli(s, {"import", file});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "imported 0 keys, skipped 0 already expired\n");
}

TEST_CASE("export and batch-get --skip-unreadable give every value the "
          "service can read and exit 5 saying how many they left out") {
  key_files keys;
  keys.hex_key("k1");
  keys.hex_key("k2");
  temp_dir dir;
  auto config = [&](const std::string& id) {
    return "state:\n  type: file\n  file: {base_path: \"" + dir.path
           + "/state\"}\n  encryption: {primary: " + id + ", keys: [{id: "
           + id + ", file: \"" + keys.dir() + "/" + id + ".key\"}]}\n";
  };
  {
    service_process svc{config("k1")};
    REQUIRE(cli(svc, {"put", "bk:a", "-"}, "under k1").exit_code == 0);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  service_process svc{config("k2")}; // k1 is gone: bk:a cannot be read
  REQUIRE(cli(svc, {"put", "bk:b", "-"}, "under k2").exit_code == 0);
  auto file = dir.path + "/backup.ndjson";
  auto refused = cli(svc, {"export", "-o", file});
  CHECK(refused.exit_code == 5);
  CHECK_THAT(refused.err, Catch::Contains("bk:a"));
  CHECK_FALSE(std::filesystem::exists(file)); // not a whole backup
  auto skipped = cli(svc, {"export", "-o", file, "--skip-unreadable"});
  CHECK(skipped.exit_code == 5);
  CHECK(skipped.out == "exported 1 keys to " + file + "\n");
  CHECK_THAT(skipped.err, Catch::Contains("1 values the service cannot "
                                          "read were left out"));
  CHECK(read_file(file) == line_of("bk:b", "under k2") + "\n");
  auto json = cli(svc, {"export", "-o", file, "--skip-unreadable", "--json"});
  CHECK(json.exit_code == 5);
  CHECK(json_of(json.out).at("exported").as_int64() == 1);
  CHECK(json_of(json.out).at("skipped_unreadable").as_int64() == 1);
  // Behind a proxy that drops trailer fields the count does not come
  // through: the file is kept (the transfer was whole) and the exit says
  // that it cannot tell.
  std::filesystem::remove(file);
  {
    trailer_dropping_proxy proxy{svc.port()};
    auto blind = run_cli({"--url", "http://127.0.0.1:"
                                     + std::to_string(proxy.port()),
                          "export", "-o", file, "--skip-unreadable"});
    CHECK(blind.exit_code == 5);
    CHECK_THAT(blind.err, Catch::Contains("did not say whether it left out"));
    CHECK(read_file(file) == line_of("bk:b", "under k2") + "\n");
    CHECK_THAT(proxy.dropped(), Catch::Contains("X-Unreadable-Skipped: 1"));
  }
  // Nothing unreadable: exit 0, as without the option.
  auto clean = cli(svc, {"export", "bk:b", "--skip-unreadable"});
  CHECK(clean.exit_code == 0);
  CHECK(clean.out == line_of("bk:b", "under k2") + "\n");

  // batch-get: the unreadable value fails the batch by default; with the
  // option the others are printed and that one named, with why.
  auto batch_refused = cli(svc, {"batch-get", "bk:b", "bk:a"});
  CHECK(batch_refused.exit_code == 5);
  CHECK(batch_refused.out.empty());
  auto batch =
    cli(svc, {"batch-get", "bk:b", "bk:a", "bk:none", "--skip-unreadable"});
  CHECK(batch.exit_code == 5);
  CHECK_THAT(batch.out, Catch::StartsWith("bk:b\tunder k2\nbk:a\t(unreadable: ")
                          && Catch::Contains("bk:a")
                          && Catch::EndsWith(")\nbk:none\t(not found)\n"));
  CHECK_THAT(batch.err, Catch::Contains("cannot read 1 of the 3 values"));
  auto batch_json =
    cli(svc, {"batch-get", "bk:a", "bk:b", "--skip-unreadable", "--json"});
  CHECK(batch_json.exit_code == 5);
  auto doc = json_of(batch_json.out);
  auto& items = doc.at("items").as_array();
  REQUIRE(items.size() == 2);
  CHECK(items[0].at("value").is_null());
  CHECK(items[0].at("error").at("code").as_string() == "backend_error");
  CHECK_FALSE(items[1].as_object().contains("error"));
  CHECK(doc.at("error").at("code").as_string() == "unreadable_values");
  CHECK(cli(svc, {"batch-get", "bk:b", "--skip-unreadable"}).exit_code == 0);
}
