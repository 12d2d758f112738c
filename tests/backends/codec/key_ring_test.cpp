// Key files: what is accepted, what is refused and how the refusal reads
// (never with the key's bytes in it).

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <future>

#include "backends/codec/key_ring.hpp"
#include "backends/plugin.hpp"
#include "messages/errors.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;

namespace {

encryption_config one_key(const std::string& file) {
  encryption_config cfg;
  cfg.keys = {{"k1", file}};
  cfg.primary = "k1";
  return cfg;
}

std::string refusal(const encryption_config& cfg) {
  auto ring = key_ring::load(cfg);
  REQUIRE_FALSE(ring);
  return message_of(ring.error());
}

} // namespace

TEST_CASE("a key file of 32 raw bytes or 64 hex digits is accepted") {
  testing::key_files files;
  std::string raw(32, '\0');
  for (int i = 0; i < 32; ++i)
    raw[i] = static_cast<char>(i * 7);
  auto a = key_ring::load(one_key(files.write("raw.key", raw)));
  REQUIRE(a);
  CHECK(std::string(reinterpret_cast<const char*>(
                      (*a)->primary().material.data()),
                    32)
        == raw);
  auto b = key_ring::load(one_key(
    files.write("hex.key", "00070e151c232a31383f464d545b626970777e858c939aa1"
                           "a8afb6bdc4cbd2d9\n")));
  REQUIRE(b);
  CHECK((*b)->primary().material == (*a)->primary().material);
  CHECK((*b)->primary().id == "k1");
}

TEST_CASE("a key file group or others may access is refused") {
  testing::key_files files;
  auto world = files.write("world.key", std::string(64, 'a'), 0644);
  CHECK_THAT(refusal(one_key(world)),
             Catch::Contains("state.encryption.keys[0].file")
               && Catch::Contains("mode 0644") && Catch::Contains("chmod 600"));
  auto group = files.write("group.key", std::string(64, 'a'), 0640);
  CHECK_THAT(refusal(one_key(group)), Catch::Contains("mode 0640"));
  // And --check-config says the same.
  state_config cfg;
  cfg.type = "memory";
  cfg.encryption = one_key(world);
  auto problems = check_state_config(plugin_registry::builtin(), cfg);
  REQUIRE(problems.size() == 1);
  CHECK_THAT(problems.front(), Catch::Contains("mode 0644"));
}

TEST_CASE("a private key file another user owns is refused") {
  if (::geteuid() != 0) {
    WARN("skipped: only root can give a file to another user");
    return;
  }
  testing::key_files files;
  auto theirs = files.write("theirs.key", std::string(64, 'a'), 0600);
  REQUIRE(::chown(theirs.c_str(), 65534, 65534) == 0); // nobody
  CHECK_THAT(refusal(one_key(theirs)),
             Catch::Contains("state.encryption.keys[0].file")
               && Catch::Contains("owned by uid 65534")
               && Catch::Contains("chown"));
  // Root's own file is the service's usual case when it runs as root.
  auto ours = files.write("ours.key", std::string(64, 'a'), 0600);
  CHECK(key_ring::load(one_key(ours)));
}

TEST_CASE("a key file of the wrong size or with non-hex digits is refused "
          "without quoting it") {
  testing::key_files files;
  auto why = refusal(one_key(files.write("short.key", "SECRETSECRET")));
  CHECK_THAT(why, Catch::Contains("holds 12 bytes")
                    && Catch::Contains("32 raw bytes or 64 hex digits"));
  CHECK(why.find("SECRET") == std::string::npos);
  auto not_hex = std::string(63, 'a') + "z";
  why = refusal(one_key(files.write("nothex.key", not_hex)));
  CHECK(why.find(not_hex) == std::string::npos);
  CHECK_THAT(refusal(one_key(files.dir() + "/absent.key")),
             Catch::Contains("cannot open"));
}

TEST_CASE("a key file of 32 hex digits is refused: 128 bits, not raw key "
          "bytes") {
  // openssl rand -hex 16: 32 bytes, which were taken for a raw 256-bit key.
  testing::key_files files;
  auto digits = std::string{"00070e151c232a31383f464d545b6269"};
  for (auto& text : {digits, digits + "\n", digits + " \r\n"}) {
    INFO(text.size());
    auto why = refusal(one_key(files.write("short-hex.key", text)));
    CHECK_THAT(why, Catch::Contains("state.encryption.keys[0].file")
                      && Catch::Contains("holds 32 hex digits: 128 bits; "
                                         "write 64 hex digits (openssl rand "
                                         "-hex 32) or 32 raw bytes"));
    CHECK(why.find(digits) == std::string::npos);
  }
}

TEST_CASE("the primary must be a listed key, and ids are plain names") {
  testing::key_files files;
  auto cfg = one_key(files.hex_key("k1").file);
  cfg.primary = "k9";
  CHECK_THAT(refusal(cfg), Catch::Contains("state.encryption.primary")
                             && Catch::Contains("'k9'"));
  cfg = one_key(files.hex_key("k1").file);
  cfg.keys[0].id = cfg.primary = "bad id";
  CHECK_THAT(refusal(cfg), Catch::Contains("state.encryption.keys[0].id"));
  CHECK(key_id_problem("k-2024.01_a").empty());
  CHECK_FALSE(key_id_problem(std::string(65, 'a')).empty());
  CHECK_FALSE(key_id_problem("").empty());
}

TEST_CASE("a FIFO or a symbolic link as the key file is refused at once") {
  testing::key_files files;
  auto fifo = files.dir() + "/fifo.key";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // Opened for reading, a FIFO with no writer would hold the start until
  // one came.
  auto refused = std::async(std::launch::async,
                            [&] { return refusal(one_key(fifo)); });
  bool at_once = refused.wait_for(std::chrono::seconds{5})
                 == std::future_status::ready;
  if (!at_once) { // a writer releases it: the test fails, it does not hang
    int w = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    if (w >= 0)
      ::close(w);
  }
  CHECK(at_once);
  CHECK_THAT(refused.get(), Catch::Contains("not a regular file"));
  auto target = files.write("target.key", std::string(64, 'a'));
  auto link = files.dir() + "/link.key";
  REQUIRE(::symlink(target.c_str(), link.c_str()) == 0);
  CHECK_THAT(refusal(one_key(link)),
             Catch::Contains("is a symbolic link")
               && Catch::Contains("the file itself"));
}
