// zstd dictionaries (backends/codec/zstd_dictionaries.hpp): a dictionary
// trained on a store's orders shrinks each order past what it compresses to
// alone; values keep reading under every dictionary still listed, and one
// whose dictionary is gone answers an error naming the id.

#include <filesystem>
#include <fstream>
#include <random>

#include <catch2/catch.hpp>

#include <sys/stat.h>

#include "backends/codec/coded_store.hpp"
#include "backends/codec/key_ring.hpp"
#include "backends/codec/value_codec.hpp"
#include "backends/codec/zstd_dictionaries.hpp"
#include "messages/errors.hpp"
#include "tests/support/eip7683_order.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;
namespace fs = std::filesystem;

namespace {

constexpr size_t max_value = 1 << 20;

struct temp_folder {
  fs::path path = fs::temp_directory_path()
                  / ("zstd-dict-test-" + std::to_string(::getpid()));
  temp_folder() { fs::create_directories(path); }
  ~temp_folder() { fs::remove_all(path); }
};

/// Trains a dictionary on `count` orders from `seed` and writes it to `file`.
void train(const std::string& file, unsigned seed, size_t count = 2'000) {
  auto dict = testing::order_dictionary(seed, count);
  REQUIRE_FALSE(dict.empty());
  std::ofstream{file, std::ios::binary} << dict;
}

std::shared_ptr<const zstd_dictionaries>
load(std::vector<std::string> files) {
  compression_config c;
  c.type = compression_type::zstd;
  c.dictionaries = std::move(files);
  auto d = zstd_dictionaries::load(c);
  INFO((d ? std::string{} : message_of(d.error())));
  REQUIRE(d);
  return *d;
}

value_codec codec(std::shared_ptr<const zstd_dictionaries> dicts,
                  std::shared_ptr<const key_ring> keys = {}) {
  compression_config c;
  c.type = compression_type::zstd;
  return value_codec{c, std::move(keys), max_value, std::move(dicts)};
}

std::shared_ptr<const key_ring> one_key(const testing::key_files& files) {
  encryption_config cfg;
  cfg.keys.push_back({"k1", files.dir() + "/k1.key"});
  cfg.primary = "k1";
  auto r = key_ring::load(cfg);
  REQUIRE(r);
  return *r;
}

} // namespace

TEST_CASE("a dictionary trained on orders stores an EIP-7683 order, "
          "compressed and encrypted, in 2.5x fewer bytes") {
  temp_folder dir;
  auto file = (dir.path / "orders.zdict").string();
  train(file, 1);
  testing::key_files files;
  files.hex_key("k1");
  auto keys = one_key(files);
  auto with = codec(load({file}), keys);
  auto without = codec(nullptr, keys);
  // Orders the dictionary never saw.
  std::mt19937_64 rng{99};
  size_t plain = 0, stored_with = 0, stored_without = 0;
  for (int i = 0; i < 50; ++i) {
    auto order = testing::eip7683_order(rng);
    auto key = "order:eip7683:" + std::to_string(i);
    auto a = with.encode(key, order);
    auto b = without.encode(key, order);
    REQUIRE(a);
    REQUIRE(b);
    plain += order.size();
    stored_with += a->size();
    stored_without += b->size();
    auto back = with.decode(key, *a);
    REQUIRE(back);
    CHECK(*back == order);
  }
  INFO(plain << " bytes of orders: " << stored_with << " stored with the "
             << "dictionary, " << stored_without << " without");
  CHECK(double(plain) / double(stored_with) >= 2.5);
  CHECK(stored_with < stored_without);
}

TEST_CASE("values keep reading under every dictionary still listed, and "
          "one whose dictionary is gone names its id") {
  temp_folder dir;
  auto first = (dir.path / "first.zdict").string();
  auto second = (dir.path / "second.zdict").string();
  train(first, 1);
  train(second, 2);
  auto d1 = load({first});
  auto d2 = load({second, first});
  REQUIRE(d1->write_id() != d2->write_id());
  std::mt19937_64 rng{7};
  auto order = testing::eip7683_order(rng);
  auto plain_stored = codec(nullptr).encode("k", order);
  auto old_stored = codec(d1).encode("k", order);
  auto new_stored = codec(d2).encode("k", order);
  REQUIRE(plain_stored);
  REQUIRE(old_stored);
  REQUIRE(new_stored);
  // The second list reads all three, and writes with its first dictionary.
  auto reader = codec(d2);
  for (auto* stored : {&*plain_stored, &*old_stored, &*new_stored}) {
    auto back = reader.decode("k", *stored);
    INFO((back ? std::string{} : message_of(back.error())));
    REQUIRE(back);
    CHECK(*back == order);
  }
  CHECK(*new_stored != *old_stored);
  // Without the first dictionary, its values are an error naming its id.
  auto without_first = codec(load({second}));
  auto lost = without_first.decode("k", *old_stored);
  REQUIRE_FALSE(lost);
  CHECK(code_of(lost.error()) == state_errc::backend_error);
  CHECK(message_of(lost.error()).find(std::to_string(d1->write_id()))
        != std::string::npos);
  CHECK(message_of(lost.error()).find("state.compression.dictionaries")
        != std::string::npos);
  // And a store without dictionaries names the id too.
  auto none = codec(nullptr).decode("k", *new_stored);
  REQUIRE_FALSE(none);
}

TEST_CASE("a file that is no dictionary, a missing file and two "
          "dictionaries with one id are refused, naming the field") {
  temp_folder dir;
  auto dict = (dir.path / "d.zdict").string();
  train(dict, 3, 500);
  auto text = (dir.path / "notes.txt").string();
  std::ofstream{text} << std::string(4'000, 'x');
  auto refused = [](std::vector<std::string> files) {
    compression_config c;
    c.type = compression_type::zstd;
    c.dictionaries = std::move(files);
    auto d = zstd_dictionaries::load(c);
    REQUIRE_FALSE(d);
    return message_of(d.error());
  };
  CHECK(refused({text}).find("state.compression.dictionaries[0]: '" + text
                             + "' is not a zstd dictionary")
        != std::string::npos);
  CHECK(refused({dict, "/nonexistent/x.zdict"})
          .find("dictionaries[1]: '/nonexistent/x.zdict' cannot be read")
        != std::string::npos);
  CHECK(refused({dict, dict}).find("dictionaries[1]") != std::string::npos);
  compression_config none;
  auto empty = zstd_dictionaries::load(none);
  REQUIRE(empty);
  CHECK(*empty == nullptr);
}

TEST_CASE("with encryption on, a dictionary that group or others may read "
          "is refused: it holds fragments of the values in plaintext") {
  temp_folder dir;
  auto dict = (dir.path / "orders.zdict").string();
  train(dict, 4, 500);
  REQUIRE(::chmod(dict.c_str(), 0644) == 0);
  testing::key_files files;
  files.hex_key("k1");
  state_config cfg;
  cfg.compression.type = compression_type::zstd;
  cfg.compression.dictionaries = {dict};
  // Without encryption the values are stored readable anyway.
  CHECK_FALSE(check_codec_config(cfg));
  cfg.encryption.keys.push_back({"k1", files.dir() + "/k1.key"});
  cfg.encryption.primary = "k1";
  auto err = check_codec_config(cfg);
  REQUIRE(err);
  CHECK_THAT(message_of(err),
             Catch::Contains("state.compression.dictionaries[0]: '" + dict)
               && Catch::Contains("group or others (mode 0644)")
               && Catch::Contains("chmod 600"));
  REQUIRE(::chmod(dict.c_str(), 0640) == 0); // group alone is refused too
  CHECK(check_codec_config(cfg));
  REQUIRE(::chmod(dict.c_str(), 0600) == 0);
  err = check_codec_config(cfg);
  INFO(message_of(err));
  CHECK_FALSE(err);
}
