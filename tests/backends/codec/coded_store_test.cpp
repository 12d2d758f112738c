// coded_store over the file backend, across restarts with new key
// configurations: rotation to the primary key in background chunks, its
// resumption after a restart, the gauges, and values under keys that are
// gone.

#include <filesystem>
#include <functional>
#include <fstream>
#include <iterator>
#include <map>
#include <random>

#include <catch2/catch.hpp>

#include "backends/codec/coded_store.hpp"
#include "backends/file/index_file.hpp"
#include "backends/file/value.hpp"
#include "backends/memory/store.hpp"
#include "backends/readable_batch.hpp"
#include "backends/plugin.hpp"
#include "messages/errors.hpp"
#include "tests/support/captured_log.hpp"
#include "tests/support/eip7683_order.hpp"
#include "tests/support/file_test_support.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;
using namespace solver_state::testing;

namespace {

constexpr unix_ms now = 1'000'000;
constexpr int key_count = 1000;

std::string key_of(int i) {
  return "order:rot:" + std::to_string(10'000 + i);
}

std::string value_of(int i) {
  return R"({"status":"pending","n":)" + std::to_string(i) + "}";
}

/// One shard over `base` with the codec of `keys` (ids; the first is the
/// primary; none: no encryption).
struct coded {
  std::unique_ptr<state_store> store;

  coded(const std::string& base, const key_files& files,
        std::vector<std::string> ids,
        std::shared_ptr<file_env> env = default_file_env(),
        const std::function<void(state_config&)>& tweak = {}) {
    auto cfg = file_config_for(base, 1);
    if (tweak)
      tweak(cfg);
    for (auto& id : ids)
      cfg.encryption.keys.push_back({id, files.dir() + "/" + id + ".key"});
    if (!ids.empty())
      cfg.encryption.primary = ids.front();
    auto stores = open_file_stores(cfg, std::move(env));
    REQUIRE(stores);
    auto err = wrap_in_codecs(*stores, cfg);
    INFO(message_of(err));
    REQUIRE_FALSE(err);
    store = std::move(stores->front());
  }

  ~coded() { store->close(); }

  void put(const std::string& key, std::string value, unix_ms expires = 0) {
    REQUIRE(store->set(set_request{key, std::move(value), 0,
                                   condition::always()},
                       expires, now));
  }

  /// Runs background steps to the end of a walk; how many it took.
  int rotate() {
    int steps = 1;
    while (store->background_step(now))
      ++steps;
    REQUIRE_FALSE(store->commit());
    return steps;
  }
};

/// A zstd dictionary trained on orders, in the key files' directory (which
/// only its owner may read: with encryption on, the service refuses a
/// dictionary others may read).
std::string order_dictionary_file(const key_files& files) {
  auto dict = order_dictionary(3, 500);
  REQUIRE_FALSE(dict.empty());
  auto path = files.dir() + "/orders.dict";
  std::ofstream{path, std::ios::binary} << dict;
  std::filesystem::permissions(path, std::filesystem::perms::owner_read
                                       | std::filesystem::perms::owner_write);
  return path;
}

/// A tweak: zstd, with `dictionary` listed (none when empty).
std::function<void(state_config&)>
compressed_with(const std::string& dictionary) {
  return [dictionary](state_config& cfg) {
    cfg.compression.type = compression_type::zstd;
    if (!dictionary.empty())
      cfg.compression.dictionaries = {dictionary};
  };
}

/// The key ids of the stored values of `keys` (file backend, no codec).
std::map<std::string, int> key_ids_at_rest(const std::string& base) {
  auto cfg = file_config_for(base, 1);
  auto stores = open_file_stores(cfg, default_file_env());
  REQUIRE(stores);
  auto& raw = *stores->front();
  std::map<std::string, int> out;
  for (int i = 0; i < key_count; ++i) {
    auto e = raw.get(key_of(i), now);
    REQUIRE(e);
    auto form = inspect_stored(e->value);
    ++out[form.encrypted ? std::string{form.key_id} : "(plain)"];
  }
  raw.close();
  return out;
}

/// key_count values under `base`, encrypted under key `id` alone.
void write_all_under(const std::string& base, const key_files& files,
                     const std::string& id) {
  coded old{base, files, {id}};
  for (int i = 0; i < key_count; ++i)
    old.put(key_of(i), value_of(i));
  REQUIRE_FALSE(old.store->commit());
}

/// Keys k1 and k2, and key_count values under k1 in `base`: where a
/// rotation to k2 starts.
struct before_rotation {
  temp_dir dir;
  key_files files;
  std::string base = dir.sub("state");

  before_rotation() {
    files.hex_key("k1");
    files.hex_key("k2");
    write_all_under(base, files, "k1");
  }
};

} // namespace

TEST_CASE("a lower state.max_value_bytes after a restart still serves the "
          "compressed and packed values stored under the higher one") {
  temp_dir dir;
  key_files files;
  auto compress = [](state_config& cfg) {
    cfg.compression.type = compression_type::zstd;
    cfg.compression.min_bytes = 32;
    cfg.compression.level = 3;
  };
  std::string text;
  while (text.size() < 1200)
    text += R"({"status":"pending","amount":"1000000000000000000"},)";
  std::string digits;
  for (int i = 0; i < 1200; ++i)
    digits.push_back("0123456789abcdef"[(i * 7919) % 16]);
  std::map<std::string, std::string> values{
    {"order:small", text.substr(0, 950)},
    {"order:large", text.substr(0, 1200)},
    {"order:hex", digits}};
  {
    coded before{dir.path, files, {}, default_file_env(), compress};
    for (auto& [key, value] : values)
      before.put(key, value);
    REQUIRE_FALSE(before.store->commit());
  }
  coded after{dir.path, files, {}, default_file_env(),
              [&](state_config& cfg) {
                compress(cfg);
                cfg.max_value_bytes = 600;
              }};
  for (auto& [key, value] : values) {
    auto e = after.store->get(key, now);
    INFO(key << ": " << (e ? std::string{} : message_of(e.error())));
    REQUIRE(e);
    CHECK(e->value == value);
  }
}

TEST_CASE("rotation: values move to the primary key in chunks, and the old "
          "key can then be removed") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  std::map<std::string, version_t> versions;
  {
    coded plain{base, files, {}}; // written before encryption was on
    for (int i = 0; i < 10; ++i)
      plain.put(key_of(i), value_of(i));
  }
  {
    coded old{base, files, {"k1"}};
    for (int i = 10; i < key_count; ++i)
      old.put(key_of(i), value_of(i), i == 10 ? now + 3'600'000 : 0);
    REQUIRE_FALSE(old.store->commit());
    CHECK(old.rotate() > 1); // the plain ten
    CHECK(old.store->stats().reencrypt_pending == 0);
    for (int i = 0; i < key_count; ++i)
      versions[key_of(i)] = old.store->get(key_of(i), now)->version;
  }
  CHECK(key_ids_at_rest(base) == std::map<std::string, int>{{"k1", key_count}});
  {
    coded rotating{base, files, {"k2", "k1"}};
    // Nothing is known before the walk: the gauge does not say 0.
    CHECK(rotating.store->stats().reencrypt_pending >= 1);
    // Three chunks, then a restart: the next start walks again.
    for (int step = 0; step < 3; ++step)
      REQUIRE(rotating.store->background_step(now));
    REQUIRE_FALSE(rotating.store->commit());
  }
  auto halfway = key_ids_at_rest(base);
  CHECK(halfway["k2"] == 3 * static_cast<int>(rotation_chunk));
  CHECK(halfway["k1"] == key_count - 3 * static_cast<int>(rotation_chunk));
  {
    coded rotating{base, files, {"k2", "k1"}};
    CHECK(rotating.rotate()
          == (key_count + static_cast<int>(rotation_chunk) - 1)
               / static_cast<int>(rotation_chunk));
    auto stats = rotating.store->stats();
    CHECK(stats.reencrypt_pending == 0);
    CHECK(stats.undecryptable == 0);
    // A finished walk does not start again.
    CHECK_FALSE(rotating.store->background_step(now + 1'000'000));
    // Rewritten: same value and expiry, a new version.
    auto e = rotating.store->get(key_of(10), now);
    REQUIRE(e);
    CHECK(e->value == value_of(10));
    CHECK(e->expires_at_ms == now + 3'600'000);
    CHECK(e->version != versions[key_of(10)]);
  }
  CHECK(key_ids_at_rest(base) == std::map<std::string, int>{{"k2", key_count}});
  coded after{base, files, {"k2"}}; // k1 removed from the config
  for (int i = 0; i < key_count; ++i) {
    auto e = after.store->get(key_of(i), now);
    REQUIRE(e);
    CHECK(e->value == value_of(i));
  }
  CHECK(after.rotate() == (key_count + 127) / 128);
  CHECK(after.store->stats().reencrypt_pending == 0);
}

TEST_CASE("rotation: values a walk could not read keep the gauge above 0 "
          "until a later walk rewrites them") {
  before_rotation start;
  auto& files = start.files;
  auto& base = start.base;
  {
    // Folded into the tree: the walk reads each value from its file.
    auto raw = open_store(file_config_for(base, 1));
    REQUIRE(raw);
    REQUIRE_FALSE(raw->checkpoint_all());
    for (auto& s : raw->stores)
      REQUIRE_FALSE(s->close());
  }
  {
    auto disk = std::make_shared<failing_env>();
    coded rotating{base, files, {"k2", "k1"}, disk};
    disk->fail_reads = true; // a disk error, a backend that dropped us
    rotating.rotate();
    // Nothing was rewritten, and the gauge must not tell the operator that
    // k1 may go.
    CHECK(rotating.store->stats().reencrypt_pending >= 1);
    disk->fail_reads = false;
    // The next walk, after the retry interval, reads and rewrites them.
    auto later = now + rotation_retry_ms;
    while (rotating.store->background_step(later)) {
    }
    REQUIRE_FALSE(rotating.store->commit());
    CHECK(rotating.store->stats().reencrypt_pending == 0);
  }
  CHECK(key_ids_at_rest(base) == std::map<std::string, int>{{"k2", key_count}});
}

TEST_CASE("values under a key that is no longer configured are counted, answer "
          "an error, and the others are served") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k3");
  auto base = dir.sub("state");
  {
    coded old{base, files, {"k1"}};
    for (int i = 0; i < 300; ++i)
      old.put(key_of(i), value_of(i));
  }
  coded now_k3{base, files, {"k3"}};
  now_k3.put("order:rot:fresh", "new");
  now_k3.rotate();
  auto stats = now_k3.store->stats();
  CHECK(stats.undecryptable == 300);
  CHECK(stats.reencrypt_pending == 0);
  auto e = now_k3.store->get(key_of(7), now);
  REQUIRE_FALSE(e);
  CHECK(code_of(e.error()) == state_errc::backend_error);
  CHECK_THAT(message_of(e.error()),
             Catch::Contains(key_of(7)) && Catch::Contains("'k1'"));
  REQUIRE(now_k3.store->get("order:rot:fresh", now));
  // Written again, a key is readable: the next walk counts one less.
  now_k3.put(key_of(7), "rewritten");
  CHECK(now_k3.store->get(key_of(7), now)->value == "rewritten");
  CHECK_FALSE(now_k3.store->background_step(now)); // waits before recounting
  now_k3.store->background_step(now + 10 * rotation_retry_ms);
  while (now_k3.store->background_step(now + 10 * rotation_retry_ms)) {
  }
  CHECK(now_k3.store->stats().undecryptable == 299);
}

namespace {

/// Changes the stored bytes of `key` at rest (the file store under the
/// codec, opened without it), as damage or tampering would.
void alter_at_rest(const std::string& base, const std::string& key,
                   const std::function<void(std::string&)>& change) {
  auto raw = open_store(file_config_for(base, 1));
  REQUIRE(raw);
  auto& store = *raw->stores.front();
  auto e = store.get(key, now);
  REQUIRE(e);
  change(e->value);
  REQUIRE(store.set(set_request{key, e->value, 0, condition::always()}, 0,
                    now));
  for (auto& s : raw->stores)
    REQUIRE_FALSE(s->close());
}

} // namespace

TEST_CASE("rotation: values under the old key that fail to decode (altered) "
          "are counted as undecryptable, not as waiting for it") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  constexpr int written = 300;
  {
    coded old{base, files, {"k1"}};
    for (int i = 0; i < written; ++i)
      old.put(key_of(i), value_of(i));
  }
  // Two values altered at rest: a byte of the ciphertext, and the key id
  // in the frame turned into one no config can name.
  alter_at_rest(base, key_of(5), [](std::string& v) { v.back() ^= 0x01; });
  alter_at_rest(base, key_of(6), [](std::string& v) {
    auto at = v.find("k1");
    REQUIRE(at != std::string::npos);
    REQUIRE(at < 8);
    v[at + 1] = '\x01';
  });
  coded rotating{base, files, {"k2", "k1"}};
  rotating.rotate();
  auto stats = rotating.store->stats();
  // Nothing waits for k1: it may go. No key reads the two.
  CHECK(stats.reencrypt_pending == 0);
  CHECK(stats.undecryptable == 2);
  for (int i = 0; i < written; ++i) {
    auto e = rotating.store->get(key_of(i), now);
    INFO(key_of(i));
    if (i == 5 || i == 6) {
      REQUIRE_FALSE(e);
      CHECK(code_of(e.error()) == state_errc::backend_error);
    } else {
      REQUIRE(e);
      CHECK(e->value == value_of(i));
    }
  }
}

// Quarantined keys are listed (so that exports and deletes by prefix meet
// them), and the walk then read one, could not, and counted it as left:
// state_reencrypt_pending never reached 0 and the old key could never go,
// for a value no key will ever read.
TEST_CASE("rotation: a value in quarantine (file backend) holds no key back "
          "and is not counted again as undecryptable") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  constexpr int written = 50;
  {
    coded old{base, files, {"k1"}};
    for (int i = 0; i < written; ++i)
      old.put(key_of(i), value_of(i));
  }
  {
    // Folded into the tree: the walk reads each value from its file.
    auto raw = open_store(file_config_for(base, 1));
    REQUIRE(raw);
    REQUIRE_FALSE(raw->checkpoint_all());
    for (auto& s : raw->stores)
      REQUIRE_FALSE(s->close());
  }
  auto file = base + "/order/rot/10007.val";
  REQUIRE(std::filesystem::exists(file));
  overwrite(file, value_header_bytes + 1, "\x7f"); // fails its checksum
  coded rotating{base, files, {"k2", "k1"}};
  SECTION("quarantined by an earlier read") {
    REQUIRE_FALSE(rotating.store->get(key_of(7), now));
    REQUIRE(rotating.store->stats().quarantined == 1);
  }
  SECTION("quarantined by the walk's own read") {
  }
  rotating.rotate();
  // Said through the codec too, for the shard's index build.
  CHECK(rotating.store->damaged_for_good(key_of(7)));
  CHECK_FALSE(rotating.store->damaged_for_good(key_of(8)));
  auto stats = rotating.store->stats();
  CHECK(stats.quarantined == 1);
  // Nothing waits for k1: it may go. The quarantine gauge counts the one.
  CHECK(stats.reencrypt_pending == 0);
  CHECK(stats.undecryptable == 0);
  for (int i = 0; i < written; ++i) {
    auto e = rotating.store->get(key_of(i), now);
    INFO(key_of(i));
    if (i == 7) {
      REQUIRE_FALSE(e);
      CHECK(code_of(e.error()) == state_errc::backend_error);
    } else {
      REQUIRE(e);
      CHECK(e->value == value_of(i));
    }
  }
}

TEST_CASE("require_encrypted: a value planted without encryption is "
          "refused and counted, never re-encrypted by the walk") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  auto base = dir.sub("state");
  constexpr int written = key_count;
  {
    coded old{base, files, {"k1"}};
    for (int i = 0; i < written; ++i)
      old.put(key_of(i), value_of(i));
  }
  {
    coded planter{base, files, {}}; // a writer without the key
    planter.put(key_of(7), R"({"status":"filled","n":7})");
  }
  auto strict = [](state_config& cfg) {
    cfg.encryption.require_encrypted = true;
  };
  {
    coded store{base, files, {"k1"}, default_file_env(), strict};
    store.rotate();
    auto stats = store.store->stats();
    CHECK(stats.reencrypt_pending == 0); // nothing the walk may move
    CHECK(stats.undecryptable == 1);
    auto planted = store.store->get(key_of(7), now);
    REQUIRE_FALSE(planted);
    CHECK(code_of(planted.error()) == state_errc::backend_error);
    CHECK_THAT(message_of(planted.error()),
               Catch::Contains(key_of(7))
                 && Catch::Contains("require_encrypted"));
    for (int i = 0; i < written; ++i)
      if (i != 7) {
        auto e = store.store->get(key_of(i), now);
        REQUIRE(e);
        CHECK(e->value == value_of(i));
      }
  }
  // The walk did not launder it: still in plaintext at rest.
  auto ids = key_ids_at_rest(base);
  CHECK(ids["(plain)"] == 1);
  // A client's write replaces it, encrypted.
  coded store{base, files, {"k1"}, default_file_env(), strict};
  store.put(key_of(7), value_of(7));
  auto e = store.store->get(key_of(7), now);
  REQUIRE(e);
  CHECK(e->value == value_of(7));
}

TEST_CASE("without require_encrypted, the walk encrypts a value stored "
          "without encryption") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  auto base = dir.sub("state");
  {
    coded planter{base, files, {}};
    planter.put(key_of(7), value_of(7));
  }
  {
    coded store{base, files, {"k1"}};
    store.rotate();
    CHECK(store.store->stats().undecryptable == 0);
    REQUIRE(store.store->get(key_of(7), now));
  }
  auto cfg = file_config_for(base, 1);
  auto raw = open_file_stores(cfg, default_file_env());
  REQUIRE(raw);
  auto e = (*raw)[0]->get(key_of(7), now);
  REQUIRE(e);
  CHECK(inspect_stored(e->value).encrypted);
  (*raw)[0]->close();
}

TEST_CASE("a value under the primary key altered at rest is counted as "
          "undecryptable by the start's walk") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  auto base = dir.sub("state");
  constexpr int written = 50;
  {
    coded first{base, files, {"k1"}};
    for (int i = 0; i < written; ++i)
      first.put(key_of(i), value_of(i));
  }
  alter_at_rest(base, key_of(7),
                [](std::string& v) { v.back() ^= 0x01; }); // a byte of the tag
  coded again{base, files, {"k1"}};
  again.rotate();
  auto stats = again.store->stats();
  CHECK(stats.reencrypt_pending == 0);
  CHECK(stats.undecryptable == 1);
  auto e = again.store->get(key_of(7), now);
  REQUIRE_FALSE(e);
  CHECK(code_of(e.error()) == state_errc::backend_error);
}

namespace {

/// Closes `c` and keeps `bytes` as its snapshot, as a clean stop does.
void keep_snapshot(coded& c, const std::string& bytes) {
  REQUIRE_FALSE(c.store->close());
  REQUIRE(c.store->keeps_snapshots());
  REQUIRE_FALSE(c.store->keep_snapshot(bytes));
}

/// The snapshot the next open hands over, or why it refused it.
std::string take_snapshot(coded& c) {
  auto kept = c.store->take_snapshot();
  if (!kept)
    return "refused: " + message_of(kept.error());
  return *kept ? **kept : "none";
}

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

} // namespace

TEST_CASE("with encryption on, the snapshot of the indexes is kept sealed "
          "under the primary key, and one that does not unseal is refused") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  const std::string snapshot = "indexes: order:1 status=pending "
                               "recipient=0xa11ce";
  auto on_disk = base + "/" + snapshot_file_name(0);
  {
    coded c{base, files, {"k1"}};
    keep_snapshot(c, snapshot);
  }
  auto sealed = file_bytes(on_disk);
  CHECK(sealed.find("pending") == std::string::npos);
  CHECK(sealed.find("a11ce") == std::string::npos);
  SECTION("opened under a ring that holds its key, once") {
    coded c{base, files, {"k2", "k1"}};
    CHECK(take_snapshot(c) == snapshot);
    CHECK(take_snapshot(c) == "none");
  }
  SECTION("its key no longer configured") {
    coded c{base, files, {"k2"}};
    CHECK_THAT(take_snapshot(c), Catch::StartsWith("refused")
                                   && Catch::Contains("'k1'"));
  }
  SECTION("encryption turned off") {
    coded c{base, files, {}};
    CHECK_THAT(take_snapshot(c), Catch::Contains("encryption is off"));
  }
  SECTION("an altered byte") {
    sealed[sealed.size() / 2] ^= 0x01;
    std::ofstream{on_disk, std::ios::binary | std::ios::trunc} << sealed;
    coded c{base, files, {"k1"}};
    CHECK_THAT(take_snapshot(c), Catch::StartsWith("refused"));
  }
  SECTION("a client's value written under the name it was once bound to, "
          "copied in: refused") {
    // A client chooses the plaintext of its values: sealed snapshots are
    // bound to a name no key can be, or a value's file copied over the
    // snapshot would open as one.
    const std::string name = "(the snapshot of the indexes)";
    const std::string forged = "indexes: order:9 status=pending";
    {
      coded c{base, files, {"k1"}};
      REQUIRE(take_snapshot(c) == snapshot);
      c.put(name, forged);
    }
    {
      auto raw = open_store(file_config_for(base, 1));
      REQUIRE(raw);
      auto& store = *raw->stores.front();
      auto stored = store.get(name, now);
      REQUIRE(stored);
      REQUIRE(stored->value.find("status") == std::string::npos);
      REQUIRE_FALSE(store.close());
      REQUIRE_FALSE(store.keep_snapshot(stored->value));
    }
    coded c{base, files, {"k1"}};
    CHECK_THAT(take_snapshot(c), Catch::StartsWith("refused")
                                   && Catch::Contains("does not authenticate"));
  }
  SECTION("kept before encryption was turned on: plaintext, refused") {
    {
      coded c{base, files, {"k1"}};
      REQUIRE(take_snapshot(c) == snapshot);
    }
    {
      coded plain{base, files, {}};
      keep_snapshot(plain, snapshot);
    }
    REQUIRE(file_bytes(on_disk).find("pending") != std::string::npos);
    coded c{base, files, {"k1"}};
    CHECK_THAT(take_snapshot(c), Catch::Contains("not sealed"));
  }
}

TEST_CASE("rotation: a step reads about its byte budget of values, not a "
          "chunk of keys: large values are rewritten a few at a time") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  constexpr int count = 40;
  std::string big(256 << 10, 'v');
  {
    coded old{base, files, {"k1"}};
    for (int i = 0; i < count; ++i)
      old.put(key_of(i), big + std::to_string(i));
  }
  coded rotating{base, files, {"k2", "k1"}};
  // 40 keys fit one chunk of keys; at 256 KiB each, 1 MiB a step takes
  // four or five.
  CHECK(rotating.rotate() >= count / 5);
  CHECK(rotating.store->stats().reencrypt_pending == 0);
  for (int i = 0; i < count; ++i) {
    auto e = rotating.store->get(key_of(i), now);
    REQUIRE(e);
    CHECK(e->value == big + std::to_string(i));
  }
}

TEST_CASE("rotation: a sound value this configuration cannot restore (its "
          "zstd dictionary no longer listed) keeps the old key held back") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  auto with_dictionary = compressed_with(order_dictionary_file(files));
  std::mt19937_64 rng{4};
  const auto order = eip7683_order(rng);
  {
    coded old{base, files, {"k1"}, default_file_env(), with_dictionary};
    old.put(key_of(0), order);
  }
  {
    coded without{base, files, {"k2", "k1"}, default_file_env(),
                  compressed_with("")};
    without.rotate();
    auto stats = without.store->stats();
    // k1 still protects it and another configuration reads it: k1 must not
    // be reported free to go.
    CHECK(stats.reencrypt_pending == 1);
    CHECK(stats.undecryptable == 0);
  }
  coded restored{base, files, {"k2", "k1"}, default_file_env(),
                 with_dictionary};
  restored.rotate();
  CHECK(restored.store->stats().reencrypt_pending == 0);
  CHECK(restored.store->get(key_of(0), now)->value == order);
}

TEST_CASE("rotation: rewrites a failed commit took back keep the gauge above "
          "0 and the walk runs again") {
  before_rotation start;
  auto& files = start.files;
  auto& base = start.base;
  {
    auto disk = std::make_shared<failing_env>();
    coded rotating{base, files, {"k2", "k1"}, disk};
    disk->fail_writes = true; // the log cannot take the rewrites
    while (rotating.store->background_step(now)) {
    }
    // The file backend takes the batch back when its commit fails.
    REQUIRE(rotating.store->commit());
    REQUIRE_FALSE(rotating.store->failed_commit_keeps_writes());
    CHECK(rotating.store->stats().reencrypt_pending >= 1);
    disk->fail_writes = false;
    // Not at once: the walk retries after the retry interval.
    CHECK_FALSE(rotating.store->background_step(now + 1));
    auto later = now + rotation_retry_ms;
    while (rotating.store->background_step(later)) {
    }
    REQUIRE_FALSE(rotating.store->commit());
    CHECK(rotating.store->stats().reencrypt_pending == 0);
  }
  CHECK(key_ids_at_rest(base) == std::map<std::string, int>{{"k2", key_count}});
}

namespace {

/// A memory store in which some keys read back at version 0 with the bytes
/// planted for them, as a row or an item another writer of a shared
/// PostgreSQL, Redis or DynamoDB put there would (a version this service
/// never writes).
class versionless_store : public state_store {
public:
  std::map<std::string, std::string> planted;
  /// Listings past this key fail, as a damaged RocksDB block fails every
  /// page that crosses it (empty: none fails).
  std::string listing_fails_after;
  size_t listings = 0;

  std::string_view backend_name() const override { return "memory"; }
  caf::expected<entry> get(const std::string& key, unix_ms t) override {
    if (auto it = planted.find(key); it != planted.end())
      return entry{it->second, 0, 0};
    return inner_.get(key, t);
  }
  caf::expected<write_result> set(set_request&& req, unix_ms expires_at,
                                  unix_ms t) override {
    planted.erase(req.key);
    return inner_.set(std::move(req), expires_at, t);
  }
  caf::expected<bool> erase(const delete_request& req, unix_ms t) override {
    planted.erase(req.key);
    return inner_.erase(req, t);
  }
  caf::expected<key_page> list(const list_request& req, unix_ms t) override {
    ++listings;
    if (!listing_fails_after.empty() && req.after >= listing_fails_after)
      return make_state_error(state_errc::backend_error,
                              "rocksdb: listing '': Corruption: block "
                              "checksum mismatch");
    return inner_.list(req, t); // planted keys are listed: plant() writes them
  }

  /// Lists `key`, and makes its reads answer `bytes` at version 0.
  void plant(const std::string& key, std::string bytes) {
    REQUIRE(inner_.set(set_request{key, "x", 0, condition::always()}, 0, 1));
    planted[key] = std::move(bytes);
  }

private:
  std::shared_ptr<key_budget> budget_ = std::make_shared<key_budget>(0);
  memory_store inner_{budget_, eviction_policy::reject, 0};
};

} // namespace

namespace {

/// zstd from 16 bytes on and AES-GCM under "k1", a key written into `files`.
state_config zstd_and_aes_config(const key_files& files) {
  files.hex_key("k1");
  auto cfg = file_config_for("/nonexistent", 1);
  cfg.compression.type = compression_type::zstd;
  cfg.compression.min_bytes = 16;
  cfg.encryption.keys.push_back({"k1", files.dir() + "/k1.key"});
  cfg.encryption.primary = "k1";
  return cfg;
}

} // namespace

TEST_CASE("a value a backend holds at version 0 is never served as it is "
          "stored, and the walk counts it as damaged") {
  key_files files;
  auto cfg = zstd_and_aes_config(files);
  cfg.encryption.require_encrypted = true;
  // A frame that is only compressed, as a writer without the key makes.
  value_codec compressing{cfg.compression, nullptr, cfg.max_value_bytes};
  const std::string long_value(2000, 'z');
  auto frame = compressing.encode("order:z", long_value);
  REQUIRE(frame);
  REQUIRE(inspect_stored(*frame).compressed);
  auto raw = std::make_unique<versionless_store>();
  auto& backend = *raw;
  store_list stores;
  stores.push_back(std::move(raw));
  REQUIRE_FALSE(wrap_in_codecs(stores, cfg));
  auto& store = *stores.front();
  REQUIRE(store.set(set_request{"order:a", value_of(1), 0,
                                condition::always()},
                    0, now));
  backend.plant("order:p", R"({"secret":"planted in plaintext"})");
  backend.plant("order:z", *frame);
  for (auto* key : {"order:p", "order:z"}) {
    INFO(key);
    auto got = store.get(key, now);
    REQUIRE_FALSE(got);
    CHECK(is_value_error(got.error()));
    CHECK_THAT(message_of(got.error()),
               Catch::Contains(key) && Catch::Contains("version 0"));
    // As a pipelining shard reads (apply), and as a walk does (batch_get).
    std::vector<pending_op> ops(1);
    ops[0].kind = pending_op::get;
    ops[0].key = key;
    store.apply(ops, now);
    REQUIRE_FALSE(ops[0].got);
    CHECK(is_value_error(ops[0].got.error()));
    auto batch = store.batch_get({"order:a", key}, now);
    REQUIRE_FALSE(batch);
    CHECK(is_value_error(batch.error()));
  }
  // A walk over them goes past each, with its reason; the others are read.
  auto read = read_readable(store, {"order:a", "order:p", "order:z", "no"},
                            now);
  REQUIRE(read);
  CHECK(read->unreadable == std::vector<size_t>{1, 2});
  CHECK(read->entries[0].value == value_of(1));
  CHECK_FALSE(read->entries[3].found());
  // No key will read them: they hold none back, and are counted.
  while (store.background_step(now)) {
  }
  auto stats = store.stats();
  CHECK(stats.reencrypt_pending == 0);
  CHECK(stats.undecryptable == 2);
  // A client's write replaces one.
  REQUIRE(store.set(set_request{"order:p", value_of(2), 0,
                                condition::always()},
                    0, now));
  CHECK(store.get("order:p", now)->value == value_of(2));
}

TEST_CASE("rotation: a value left behind is named in the log, once per change "
          "or hour, not at every retry") {
  temp_dir dir;
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto base = dir.sub("state");
  std::mt19937_64 rng{4};
  {
    coded old{base, files, {"k1"}, default_file_env(),
              compressed_with(order_dictionary_file(files))};
    old.put(key_of(0), eip7683_order(rng));
    old.put(key_of(1), value_of(1));
  }
  captured_log log;
  coded lowered{base, files, {"k2", "k1"}, default_file_env(),
                compressed_with("")};
  auto walk_at = [&](unix_ms t) {
    while (lowered.store->background_step(t)) {
    }
  };
  walk_at(now);
  CHECK(lowered.store->stats().reencrypt_pending == 1);
  const std::string warning = "1 values could not be re-encrypted";
  REQUIRE(log.count(warning) == 1);
  CHECK_THAT(log.text(), Catch::Contains("(the first: key '" + key_of(0) + "'")
                           && Catch::Contains("state.compression.dictionaries"));
  // The retries a minute apart find the same value: not a warning each.
  for (unix_ms t = now + rotation_retry_ms; t < now + 10 * rotation_retry_ms;
       t += rotation_retry_ms)
    walk_at(t);
  CHECK(log.count("warning " + std::string{"file store: "} + warning) == 1);
  // An hour on, it is said again.
  walk_at(now + left_warning_interval_ms + rotation_retry_ms);
  CHECK(log.count("warning file store: " + warning) == 2);
}

TEST_CASE("rotation: a frame without encryption whose zstd body is damaged "
          "holds no key back, and one under an unlisted dictionary does") {
  key_files files;
  auto cfg = zstd_and_aes_config(files);
  // Frames that are only compressed, as written before encryption was on.
  value_codec compressing{cfg.compression, nullptr, cfg.max_value_bytes};
  auto frame = compressing.encode("order:d", std::string(2000, 'd'));
  REQUIRE(frame);
  auto damaged = *frame;
  damaged[5] ^= 0x5a; // the zstd frame's magic, after the frame header
  REQUIRE_FALSE(compressing.decode("order:d", damaged));
  store_list stores;
  stores.push_back(std::make_unique<versionless_store>());
  REQUIRE_FALSE(wrap_in_codecs(stores, cfg));
  auto& store = static_cast<coded_store&>(*stores.front());
  REQUIRE(store.inner().set(set_request{"order:d", damaged, 0,
                                        condition::always()},
                            0, now));
  REQUIRE(store.inner().set(set_request{"order:s", *frame, 0,
                                        condition::always()},
                            0, now));
  while (store.background_step(now)) {
  }
  auto stats = store.stats();
  // The sound one is encrypted, the damaged one is counted as such.
  CHECK(stats.reencrypt_pending == 0);
  CHECK(stats.undecryptable == 1);
  CHECK(store.get("order:s", now)->value == std::string(2000, 'd'));
  CHECK_FALSE(store.get("order:d", now));
}

TEST_CASE("rotation: a walk that cannot list its next keys says where and "
          "why, and retries less and less often") {
  key_files files;
  files.hex_key("k1");
  auto cfg = file_config_for("/nonexistent", 1);
  cfg.encryption.keys.push_back({"k1", files.dir() + "/k1.key"});
  cfg.encryption.primary = "k1";
  auto raw = std::make_unique<versionless_store>();
  auto& backend = *raw;
  store_list stores;
  stores.push_back(std::move(raw));
  REQUIRE_FALSE(wrap_in_codecs(stores, cfg));
  auto& store = static_cast<coded_store&>(*stores.front());
  // Written before encryption was on: each waits for the walk.
  constexpr int written = 2 * rotation_chunk;
  for (int i = 0; i < written; ++i)
    REQUIRE(store.inner().set(set_request{key_of(i), value_of(i), 0,
                                          condition::always()},
                              0, now));
  captured_log log;
  REQUIRE(store.background_step(now)); // the first page
  auto cursor = key_of(rotation_chunk - 1);
  backend.listing_fails_after = cursor;
  backend.listings = 0;
  // Ten minutes of shard ticks, one a second.
  constexpr unix_ms ten_minutes = 10 * rotation_retry_ms;
  for (unix_ms t = now; t < now + ten_minutes; t += 1'000)
    CHECK_FALSE(store.background_step(t));
  // Not every second: 1, 2, 4, ... 32 s apart, then once a minute.
  CHECK(backend.listings >= 10);
  CHECK(backend.listings <= 20);
  const std::string warning = "warning memory store: the key rotation walk "
                              "cannot list the keys after key '"
                              + cursor + "'";
  CHECK(log.count(warning) == 1);
  CHECK(log.count("block checksum mismatch") == 1);
  CHECK(store.stats().reencrypt_pending >= 1);
  // Restored: the walk goes on from where it stopped, and ends.
  backend.listing_fails_after.clear();
  auto later = now + ten_minutes + rotation_retry_ms;
  while (store.background_step(later)) {
  }
  CHECK(log.count("walk lists its keys after key '" + cursor + "' again")
        == 1);
  CHECK(store.stats().reencrypt_pending == 0);
  CHECK(store.get(key_of(written - 1), now)->value == value_of(written - 1));
}
