// TTLs across a step of the system clock (NTP correcting a clock that was
// wrong at boot, an operator's fix, a restored VM): the service started with
// its clock an hour behind, the clock is then set right, and a TTL written
// after that must count from the right time. Before, each shard read the
// wall clock once at start and added its monotonic clock's elapsed time: the
// order below was stored as expired an hour ago and was gone at the next
// restart. The step is played by tests/support/clock_skew.cpp (LD_PRELOAD).
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"

using namespace solver_state::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// The expires_at_ms the export gives `key`, or -1 when it is not there.
int64_t exported_expiry(uint16_t port, const std::string& key) {
  std::string body;
  auto r = stream_get(port, "/v1/export?prefix=" + key,
                      [&](std::string_view piece) {
                        body.append(piece);
                        return true;
                      });
  REQUIRE(r.status == 200);
  auto end = body.find('\n');
  if (end == std::string::npos)
    return -1;
  auto line = json::parse(body.substr(0, end)).as_object();
  if (line.at("expires_at_ms").is_null())
    return 0;
  return line.at("expires_at_ms").as_int64();
}

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/solver-state-clock-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write_skew(const fs::path& file, long long ms) {
  auto tmp = file.string() + ".tmp";
  std::ofstream{tmp} << ms << "\n";
  fs::rename(tmp, file);
}

} // namespace

TEST_CASE("a TTL written after the system clock steps counts from the new "
          "time, and the key survives a restart") {
  temp_dir dir;
  auto skew = dir.path / "skew";
  write_skew(skew, -3'600'000); // an hour behind
  auto yaml = "state:\n  type: file\n  shards: 2\n  file:\n    base_path: "
              + (dir.path / "data").string() + "\n";
  {
    service_process svc{yaml,
                        {{"LD_PRELOAD", SOLVER_STATE_CLOCK_SKEW_LIBRARY},
                         {"CLOCK_SKEW_FILE", skew.string()}}};
    http_client c{svc.port()};
    REQUIRE(c.put("/v1/state/state:warm", "w").status == 201);
    write_skew(skew, 0); // set right
    std::this_thread::sleep_for(100ms);
    REQUIRE(c.put("/v1/orders/eip7683/0x1?ttl_seconds=600", "order").status
            == 201);
    auto expiry = exported_expiry(svc.port(), "order:eip7683:0x1");
    auto expected = now_ms() + 600'000;
    CHECK(expiry > expected - 10'000);
    CHECK(expiry <= expected);
    CHECK(c.get("/v1/orders/eip7683/0x1").status == 200);
    CHECK(svc.log().find("the system clock stepped by") != std::string::npos);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  // Started again without the shim: the order still has ten minutes.
  service_process again{yaml};
  http_client c{again.port()};
  auto got = c.get("/v1/orders/eip7683/0x1");
  CHECK(got.status == 200);
  CHECK(got.body == "order");
}
