// GET /v1/export at scale, against the real service: a million keys stream
// out in key order while the service's resident memory stays within 64 MB of
// what it was, and a reader that pauses does not make the service buffer
// the store.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;

namespace {

constexpr size_t allowed_growth = 64u << 20;

/// The service's resident memory now (VmRSS), in bytes.
size_t rss_bytes(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6)) * 1024; // "VmRSS:  1234 kB"
  return 0;
}

std::string key_of(size_t i) {
  char key[32];
  std::snprintf(key, sizeof key, "state:k:%07zu", i);
  return key;
}

/// Loads keys [0, n) with values of `value_base64`, in imports of `per`
/// lines each.
void load(uint16_t port, size_t n, size_t per,
          const std::string& value_base64) {
  http_client c{port};
  for (size_t first = 0; first < n; first += per) {
    std::string body;
    for (size_t i = first; i < std::min(n, first + per); ++i)
      body += "{\"key\":\"" + key_of(i) + "\",\"value\":\"" + value_base64
              + "\",\"expires_at_ms\":null}\n";
    auto r = c.request("POST", "/v1/import", body);
    REQUIRE(r.status == 200);
  }
}

/// Reads an export line by line: counts the lines and checks that their
/// keys come in strictly increasing order, keeping nothing but the last key.
struct line_checker {
  size_t lines = 0;
  size_t bytes = 0;
  bool ordered = true;
  std::string partial;
  std::string last_key;

  void feed(std::string_view piece) {
    bytes += piece.size();
    partial.append(piece);
    size_t pos = 0;
    for (auto end = partial.find('\n'); end != std::string::npos;
         end = partial.find('\n', pos)) {
      check(std::string_view{partial}.substr(pos, end - pos));
      pos = end + 1;
    }
    partial.erase(0, pos);
  }

  void check(std::string_view line) {
    constexpr std::string_view open = "{\"key\":\"";
    auto close = line.find("\",\"value\"");
    if (line.substr(0, open.size()) != open || close == std::string::npos) {
      ordered = false;
      return;
    }
    auto key = line.substr(open.size(), close - open.size());
    if (lines > 0 && !(last_key < key))
      ordered = false;
    last_key.assign(key);
    ++lines;
  }
};

} // namespace

TEST_CASE("an export of 1,000,000 keys streams in key order within 64 MB "
          "of the service's memory") {
  service_process svc{"state:\n  type: memory\n  shards: 4\n  max_items: 0\n"};
  constexpr size_t n = 1'000'000;
  load(svc.port(), n, 50'000, "dmFsdWU="); // "value"
  auto before = rss_bytes(svc.pid());
  size_t peak = before;
  line_checker lines;
  size_t pieces = 0;
  auto started = std::chrono::steady_clock::now();
  auto r = stream_get(svc.port(), "/v1/export", [&](std::string_view piece) {
    lines.feed(piece);
    if (++pieces % 16 == 0)
      peak = std::max(peak, rss_bytes(svc.pid()));
    return true;
  });
  std::chrono::duration<double> took = std::chrono::steady_clock::now()
                                       - started;
  peak = std::max(peak, rss_bytes(svc.pid()));
  REQUIRE(r.status == 200);
  CHECK(r.complete);
  CHECK(lines.partial.empty());
  CHECK(lines.lines == n);
  CHECK(lines.ordered);
  CHECK(lines.last_key == key_of(n - 1));
  std::cout << "export of " << lines.lines << " keys, " << lines.bytes
            << " bytes in " << took.count() << " s: "
            << static_cast<size_t>(lines.lines / took.count()) << " keys/s, "
            << lines.bytes / took.count() / 1e6 << " MB/s; service RSS "
            << before / 1'000'000 << " MB before, at most " << peak / 1'000'000
            << " MB during" << std::endl;
  CHECK(peak - before <= allowed_growth);
  CHECK(svc.stop(SIGTERM) == 0);
}

TEST_CASE("a reader that stops reading does not make the service buffer "
          "the export") {
  // 150,000 values of 1 KB: an export of about 210 MB, far more than the
  // allowed growth, were the service to read ahead of the reader.
  service_process svc{"state:\n  type: memory\n  shards: 4\n  max_items: 0\n"};
  constexpr size_t n = 150'000;
  load(svc.port(), n, 10'000, std::string(1'368, 'A')); // 1,026 bytes
  auto before = rss_bytes(svc.pid());
  size_t during_pause = 0;
  line_checker lines;
  bool paused = false;
  auto r = stream_get(svc.port(), "/v1/export", [&](std::string_view piece) {
    lines.feed(piece);
    if (!paused && lines.bytes > (4u << 20)) {
      paused = true;
      // Long enough for the store to be read through several times over.
      std::this_thread::sleep_for(std::chrono::seconds{4});
      during_pause = rss_bytes(svc.pid());
    }
    return true;
  });
  REQUIRE(r.status == 200);
  CHECK(r.complete);
  CHECK(paused);
  CHECK(lines.lines == n);
  CHECK(lines.ordered);
  std::cout << "paused reader: service RSS " << before / 1'000'000
            << " MB before, " << during_pause / 1'000'000
            << " MB after a 4 s pause" << std::endl;
  // As a sum: the service may hold less than before (its allocator gives
  // freed pages back), and an unsigned difference would wrap.
  CHECK(during_pause <= before + allowed_growth);
  CHECK(svc.stop(SIGTERM) == 0);
}
