// The gateway's bounds, over loopback against the real service: batch-get
// size, duplicates and reply bytes (unprocessed_keys), typed list pages and
// the value size, answers held for clients that do not read them, with the
// service's peak memory measured where a bound is what keeps it small.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/sse_client.hpp"

using namespace solver_state::testing;
namespace json = boost::json;

namespace {

/// The service's peak resident memory (VmHWM), in bytes.
size_t peak_rss_bytes(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024; // "VmHWM:  1234 kB"
  return 0;
}

constexpr size_t rss_limit = 600u << 20;

/// solver_state_http_pending_reply_bytes, read on a connection of its own
/// (closed after: its buffer is not held).
double pending_reply_bytes(uint16_t port) {
  http_client m{port};
  auto text = m.get("/metrics").body;
  auto name = std::string{"\nsolver_state_http_pending_reply_bytes "};
  auto at = text.find(name);
  REQUIRE(at != std::string::npos);
  return std::stod(text.substr(at + name.size()));
}

/// Polls `done` until it holds or 10 s pass.
bool until(const std::function<bool()>& done) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (!done() && std::chrono::steady_clock::now() < end)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  return done();
}

std::string keys_body(const std::vector<std::string>& keys) {
  json::array arr;
  for (auto& k : keys)
    arr.emplace_back(json::string{k});
  json::object o;
  o["keys"] = std::move(arr);
  return json::serialize(o);
}

std::vector<std::string> strings_of(const json::value& v) {
  std::vector<std::string> out;
  for (auto& x : v.as_array())
    out.emplace_back(x.as_string().c_str());
  return out;
}

std::string code_of(const http_response& r) {
  return json::value_to<std::string>(
    json::parse(r.body).at("error").at("code"));
}

/// A connection whose receive buffer is 4 KiB: the service's write of a
/// large answer to it cannot complete until it reads.
class slow_reader {
public:
  explicit slow_reader(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    int small = 4096;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
            == 0);
  }
  ~slow_reader() { close(); }
  slow_reader(const slow_reader&) = delete;
  slow_reader& operator=(const slow_reader&) = delete;

  void ask(const std::string& target) {
    REQUIRE(send_all(fd_, "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"));
  }

  /// Reads one whole answer (Content-Length framed): its status and body.
  std::pair<int, std::string> read_answer() {
    std::string in;
    char buf[65536];
    size_t head_end = std::string::npos;
    size_t length = 0;
    while (head_end == std::string::npos
           || in.size() < head_end + 4 + length) {
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0)
        return {0, in};
      in.append(buf, static_cast<size_t>(n));
      if (head_end == std::string::npos
          && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        auto at = in.find("Content-Length: ");
        REQUIRE(at < head_end);
        length = std::stoull(in.substr(at + 16));
      }
    }
    return {std::stoi(in.substr(9, 3)), in.substr(head_end + 4, length)};
  }

  void close() {
    if (fd_ >= 0)
      ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_;
};

/// Readers `a` and `b` each ask for `target`, an answer of `bytes`, and
/// read nothing: returns once the service counts both as held.
void hold_two_answers(uint16_t port, slow_reader& a, slow_reader& b,
                      const std::string& target, size_t bytes) {
  a.ask(target);
  REQUIRE(until([&] { return pending_reply_bytes(port) >= 1.0 * bytes; }));
  b.ask(target);
  REQUIRE(until([&] { return pending_reply_bytes(port) >= 2.0 * bytes; }));
}

} // namespace

TEST_CASE("answers held for clients that do not read them stay within "
          "http.max_pending_reply_bytes, and the service stays up") {
  service_process svc{"state:\n  type: memory\n"
                      "http:\n  max_body_bytes: 16777216\n"
                      "  max_reply_bytes: 1048576\n"
                      "  max_pending_reply_bytes: 25165824\n"};
  http_client c{svc.port()};
  // Two answers of this fill the budget to within 64 KiB (so no stream
  // starts), with room left for the small buffers of other connections.
  // 12 MiB each: more than a socket takes from a reader that reads nothing
  // (its send buffer grows with a window the reader does not open).
  const std::string big(12u * 1024 * 1024 - 24 * 1024, 'v');
  REQUIRE(c.put("/v1/state/state:big", big).status == 201);
  REQUIRE(c.put("/v1/state/state:small", "s").status == 201);
  auto held = [&] { return pending_reply_bytes(svc.port()); };

  slow_reader a{svc.port()};
  slow_reader b{svc.port()};
  hold_two_answers(svc.port(), a, b, "/v1/state/state:big",
                   big.size());

  // A third large answer would pass the budget: 503, nothing held for it.
  auto refused = c.get("/v1/state/state:big");
  CHECK(refused.status == 503);
  CHECK(code_of(refused) == "backend_unavailable");
  CHECK(refused.body.find("http.max_pending_reply_bytes=25165824")
        != std::string::npos);
  CHECK(refused.header("retry-after") == "1");
  // A stream cannot be refused once started: it does not start.
  auto exported = c.get("/v1/export");
  CHECK(exported.status == 503);
  CHECK(exported.body.find("a stream does not start") != std::string::npos);
  // Small answers are never refused.
  CHECK(c.get("/v1/state/state:small").status == 200);
  CHECK(c.put("/v1/state/state:other", "o").status == 201);

  // Once a reader takes its answer, its bytes are free again, also while
  // its connection stays open: the next large answer goes through.
  auto [status, body] = a.read_answer();
  CHECK(status == 200);
  CHECK(body == big);
  CHECK(until([&] { return held() < 1.1 * big.size(); }));
  auto later = c.get("/v1/state/state:big");
  CHECK(later.status == 200);
  CHECK(later.body == big);
  // A reader that leaves without reading frees its answer too.
  b.close();
  CHECK(until([&] { return held() < 1024 * 1024; }));
  CHECK(c.get("/v1/export").status == 200);

  // A stream that has started cannot be refused: its chunks are written and
  // counted, and it makes its next one only once there is room.
  sse_client watch{svc.port(), "/v1/watch?prefix=state:w"};
  REQUIRE(watch.wait_subscribed());
  slow_reader d{svc.port()};
  slow_reader e{svc.port()};
  hold_two_answers(svc.port(), d, e, "/v1/state/state:big",
                   big.size());
  REQUIRE(c.put("/v1/state/state:w1", "1").status == 201);
  CHECK(watch.wait_events(1)); // made before the budget was looked at
  REQUIRE(c.put("/v1/state/state:w2", "2").status == 201);
  CHECK_FALSE(watch.wait_events(2, std::chrono::milliseconds{700}));
  auto [d_status, d_body] = d.read_answer();
  CHECK(d_status == 200);
  CHECK(watch.wait_events(2));
  CHECK(watch.events().at(1).data.find("state:w2") != std::string::npos);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("an export asks the store nothing while it cannot start, and "
          "HEAD /v1/export asks it nothing at all") {
  // An export made its first chunk (a batch-get's values in base64) before
  // the budget was looked at, and a HEAD ran the whole export to throw its
  // chunks away. Found by review.
  service_process svc{"state:\n  type: memory\n  sweep_interval: 100ms\n"
                      "http:\n  max_body_bytes: 16777216\n"
                      "  max_reply_bytes: 1048576\n"
                      "  max_pending_reply_bytes: 25165824\n"};
  http_client c{svc.port()};
  const std::string big(12u * 1024 * 1024 - 24 * 1024, 'v');
  REQUIRE(c.put("/v1/state/state:big", big).status == 201);
  // The store's operations of a type, as the shards last reported them.
  auto ops = [&](const std::string& op) {
    http_client m{svc.port()};
    auto text = m.get("/metrics").body;
    auto name = "\nstate_operations_total{op=\"" + op + "\",";
    double sum = 0;
    for (auto at = text.find(name); at != std::string::npos;
         at = text.find(name, at + 1))
      sum += std::stod(text.substr(text.find("} ", at) + 2));
    return sum;
  };
  // The shards report every sweep_interval: a few of them.
  auto reported = [] {
    std::this_thread::sleep_for(std::chrono::milliseconds{600});
  };
  auto held = [&] { return pending_reply_bytes(svc.port()); };

  // A GET is counted: the check below can see an export's reads.
  REQUIRE(c.get("/v1/export").status == 200);
  REQUIRE(until([&] { return ops("batch_get") > 0 && ops("list") > 0; }));
  reported();
  auto batches = ops("batch_get");
  auto lists = ops("list");

  for (int i = 0; i < 3; ++i) {
    auto head = c.request("HEAD", "/v1/export");
    CHECK(head.status == 200);
    CHECK(head.header("content-type") == "application/x-ndjson");
    CHECK(head.header("transfer-encoding") == "chunked");
    CHECK(head.body.empty());
  }
  auto head = c.request("HEAD", "/v1/export?skip_unreadable=true");
  CHECK(head.status == 200);
  CHECK(head.header("trailer") == "X-Unreadable-Skipped");
  reported();
  CHECK(ops("batch_get") == batches);
  CHECK(ops("list") == lists);

  // Two readers that read nothing hold the budget: an export is refused
  // before it lists or reads anything.
  slow_reader a{svc.port()};
  slow_reader b{svc.port()};
  hold_two_answers(svc.port(), a, b, "/v1/state/state:big",
                   big.size());
  reported();
  batches = ops("batch_get");
  lists = ops("list");
  for (int i = 0; i < 3; ++i) {
    auto refused = c.get("/v1/export");
    CHECK(refused.status == 503);
    CHECK(code_of(refused) == "backend_unavailable");
    CHECK(refused.body.find("a stream does not start") != std::string::npos);
    CHECK(refused.body.find("http.max_pending_reply_bytes=25165824")
          != std::string::npos);
    CHECK(refused.header("retry-after") == "1");
  }
  // HEAD answers what a GET would start with.
  CHECK(c.request("HEAD", "/v1/export").status == 503);
  reported();
  CHECK(ops("batch_get") == batches);
  CHECK(ops("list") == lists);

  // With room again, the export runs.
  a.close();
  b.close();
  CHECK(until([&] { return held() < 1024 * 1024; }));
  auto exported = c.get("/v1/export");
  CHECK(exported.status == 200);
  CHECK(exported.body.find("\"key\":\"state:big\"") != std::string::npos);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("one 1 MB key named 300 times in a batch-get is refused, and "
          "the service stays small") {
  service_process svc{"state:\n  type: memory\n"};
  http_client c{svc.port()};
  REQUIRE(c.put("/v1/state/state:big", std::string(1'000'000, 'x')).status
          == 201);
  std::vector<std::string> keys(300, "state:big");
  auto r = c.request("POST", "/v1/state/batch-get", keys_body(keys));
  CHECK(r.status == 400);
  CHECK(code_of(r) == "bad_request");
  CHECK(r.body.find("named twice") != std::string::npos);
  CHECK(peak_rss_bytes(svc.pid()) < rss_limit);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a 27 MB batch-get comes back in replies of at most "
          "max_reply_bytes, with unprocessed_keys to ask again") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  std::vector<std::string> keys;
  for (int i = 0; i < 30; ++i) {
    keys.push_back("state:v:" + std::to_string(i));
    REQUIRE(c.put("/v1/state/" + keys.back(),
                  std::string(900'000, static_cast<char>('a' + i % 26)))
              .status
            == 201);
  }
  std::vector<std::string> asked = keys;
  std::vector<std::string> answered;
  int replies = 0;
  while (!asked.empty()) {
    REQUIRE(++replies <= 30);
    auto r = c.request("POST", "/v1/state/batch-get", keys_body(asked));
    REQUIRE(r.status == 200);
    auto body = json::parse(r.body).as_object();
    size_t value_bytes = 0;
    auto& items = body.at("items").as_array();
    REQUIRE_FALSE(items.empty());
    for (auto& item : items) {
      answered.emplace_back(item.at("key").as_string().c_str());
      value_bytes += item.at("value").as_string().size() / 4 * 3;
    }
    CHECK(value_bytes <= (16u << 20) + 3);
    auto rest = strings_of(body.at("unprocessed_keys"));
    CHECK(rest == std::vector<std::string>(asked.begin() + items.size(),
                                           asked.end()));
    asked = rest;
  }
  CHECK(answered == keys);
  CHECK(replies == 2); // 18 values of 900 KB fit 16 MiB, then the other 12
  CHECK(peak_rss_bytes(svc.pid()) < rss_limit);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("batch-get: more keys than http.max_batch_keys is 400") {
  service_process svc{"state:\n  type: memory\nhttp:\n  max_batch_keys: 3\n"};
  http_client c{svc.port()};
  auto r = c.request("POST", "/v1/state/batch-get",
                     keys_body({"state:a", "state:b", "state:c", "state:d"}));
  CHECK(r.status == 400);
  CHECK(r.body.find("a batch of 4 keys; http.max_batch_keys is 3")
        != std::string::npos);
  CHECK(c.request("POST", "/v1/state/batch-get",
                  keys_body({"state:a", "state:b", "state:c"}))
          .status
        == 200);
}

TEST_CASE("a value over state.max_value_bytes is 413 payload_too_large") {
  service_process svc{"state:\n  type: memory\n  max_value_bytes: 1000\n"};
  http_client c{svc.port()};
  CHECK(c.put("/v1/state/state:k", std::string(1000, 'v')).status == 201);
  auto r = c.put("/v1/state/state:k", std::string(1001, 'v'));
  CHECK(r.status == 413);
  CHECK(code_of(r) == "payload_too_large");
  CHECK(c.get("/v1/state/state:k").body.size() == 1000);
  CHECK(c.put("/v1/orders/t/o1", std::string(1001, 'v')).status == 413);
}

TEST_CASE("typed lists page with limit and cursor") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n"};
  http_client c{svc.port()};
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    ids.push_back("0x" + std::to_string(100 + i));
    REQUIRE(c.put("/v1/orders/eip7683/" + ids.back(), "o").status == 201);
    REQUIRE(c.put("/v1/fills/0xo/" + ids.back(), "f").status == 201);
  }
  auto walk = [&](const std::string& path, const std::string& field) {
    std::vector<std::string> seen;
    std::string target = path + "?limit=3";
    for (int pages = 0; pages < 10; ++pages) {
      auto r = c.get(target);
      REQUIRE(r.status == 200);
      auto body = json::parse(r.body).as_object();
      auto page = strings_of(body.at(field));
      CHECK(page.size() <= 3);
      seen.insert(seen.end(), page.begin(), page.end());
      if (body.at("next_cursor").is_null())
        break;
      target = path + "?limit=3&cursor="
               + std::string{body.at("next_cursor").as_string().c_str()};
    }
    return seen;
  };
  CHECK(walk("/v1/orders/eip7683", "ids") == ids);
  CHECK(walk("/v1/fills/0xo", "tx_hashes") == ids);
  CHECK(c.get("/v1/orders/eip7683?limit=0").status == 400);
  CHECK(c.get("/v1/orders/eip7683?cursor=%%%").status == 400);
  CHECK(c.get("/v1/orders/eip7683?colour=red").status == 400);
}
