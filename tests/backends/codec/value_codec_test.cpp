// The value codec on its own: round trips in every mode, values written
// under other settings, and every way a stored value can be wrong.

#include <array>
#include <random>

#include <catch2/catch.hpp>
#include <zstd.h>

#include "backends/codec/coded_store.hpp"
#include "backends/codec/key_ring.hpp"
#include "backends/codec/value_codec.hpp"
#include "config/limits.hpp"
#include "messages/errors.hpp"
#include "tests/support/eip7683_order.hpp"
#include "tests/support/key_files.hpp"

using namespace solver_state;

namespace {

constexpr size_t max_value = 1 << 20;

compression_config zstd_from(size_t min_bytes) {
  compression_config c;
  c.type = compression_type::zstd;
  c.min_bytes = min_bytes;
  return c;
}

std::shared_ptr<const key_ring> ring(const testing::key_files& files,
                                     std::vector<std::string> ids,
                                     const std::string& primary,
                                     bool require_encrypted = false) {
  encryption_config cfg;
  cfg.require_encrypted = require_encrypted;
  for (auto& id : ids)
    cfg.keys.push_back({id, files.dir() + "/" + id + ".key"});
  cfg.primary = primary;
  auto r = key_ring::load(cfg);
  INFO((r ? std::string{} : message_of(r.error())));
  REQUIRE(r);
  return *r;
}

/// A JSON order of about 1.5 KiB, as solvers store them.
std::string json_order() {
  std::string out = R"({"orderId":"0x)" + std::string(64, 'a') + R"(","legs":[)";
  for (int i = 0; i < 8; ++i)
    out += R"({"chainId":)" + std::to_string(i + 1)
           + R"(,"token":"0x)" + std::string(40, '1' + i % 9)
           + R"(","amount":"1000000000000000000","recipient":"0x)"
           + std::string(40, 'b') + R"("},)";
  out.back() = ']';
  return out + "}";
}

std::string encode_ok(value_codec& c, const std::string& key,
                      const std::string& value) {
  auto stored = c.encode(key, value);
  REQUIRE(stored);
  return *stored;
}

std::string decode_ok(value_codec& c, const std::string& key,
                      const std::string& stored) {
  auto plain = c.decode(key, stored);
  INFO((plain ? std::string{} : message_of(plain.error())));
  REQUIRE(plain);
  return *plain;
}

std::string decode_error(value_codec& c, const std::string& key,
                         const std::string& stored) {
  auto plain = c.decode(key, stored);
  REQUIRE_FALSE(plain);
  CHECK(code_of(plain.error()) == state_errc::backend_error);
  return message_of(plain.error());
}

} // namespace

TEST_CASE("without compression or encryption values are stored as they are") {
  value_codec c{{}, nullptr, max_value};
  CHECK(c.passthrough());
  CHECK(encode_ok(c, "k", "hello") == "hello");
  CHECK(encode_ok(c, "k", "") == "");
  CHECK(decode_ok(c, "k", "hello") == "hello");
}

TEST_CASE("a value that starts like a frame is escaped, and comes back") {
  value_codec c{{}, nullptr, max_value};
  const std::string tricky = std::string{"\xffSV\x01\x02"} + "rest";
  auto stored = encode_ok(c, "k", tricky);
  CHECK(stored != tricky);
  CHECK(inspect_stored(stored).framed);
  CHECK(decode_ok(c, "k", stored) == tricky);
  // Only the first three bytes make a frame.
  CHECK(encode_ok(c, "k", "\xffS") == "\xffS");
}

TEST_CASE("zstd compresses values from min_bytes on, and only when smaller") {
  value_codec c{zstd_from(512), nullptr, max_value};
  auto order = json_order();
  REQUIRE(order.size() > 1000);
  auto stored = encode_ok(c, "order:t:1", order);
  CHECK(inspect_stored(stored).compressed);
  CHECK(stored.size() * 2 < order.size());
  CHECK(decode_ok(c, "order:t:1", stored) == order);
  std::string small(100, 'a'); // compressible, but under min_bytes
  CHECK(encode_ok(c, "k", small) == small);
  std::mt19937_64 rng{1};
  std::string noise;
  for (int i = 0; i < 2048; ++i)
    noise.push_back(static_cast<char>(rng()));
  auto kept = encode_ok(c, "k", noise);
  CHECK_FALSE(inspect_stored(kept).compressed);
  CHECK(decode_ok(c, "k", kept) == noise);
}


TEST_CASE("zstd's fast negative levels still entropy-code the literals") {
  // Random text of 16 letters has no repeats for the match finder: only
  // Huffman coding of the literals (4 bits a letter) shrinks it, which
  // zstd's negative levels skip unless told otherwise. (Not hex digits:
  // those are packed before zstd sees them.)
  std::mt19937_64 rng{7};
  std::string hex;
  for (int i = 0; i < 4096; ++i)
    hex.push_back("ghijklmnopqrstuv"[rng() % 16]);
  for (int level : {1, -5, -50}) {
    CAPTURE(level);
    auto cfg = zstd_from(512);
    cfg.level = level;
    value_codec c{cfg, nullptr, max_value};
    auto stored = encode_ok(c, "k", hex);
    CHECK(inspect_stored(stored).compressed);
    CHECK(stored.size() < hex.size() * 6 / 10);
    CHECK(decode_ok(c, "k", stored) == hex);
  }
}
TEST_CASE("at a fast level, text with a few hex runs still has its literals "
          "coded, and a value mostly hex comes back either way") {
  // The literals are left raw only when packed digits (random bytes) are
  // half of what zstd sees: a little hex must not cost the text its coding.
  std::mt19937_64 rng{9};
  auto letters = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out.push_back("ghijklmnopqrstuv"[rng() % 16]);
    return out;
  };
  auto digits = [&](size_t n) {
    std::string out;
    for (size_t i = 0; i < n; ++i)
      out.push_back("0123456789abcdef"[rng() % 16]);
    return out;
  };
  auto cfg = zstd_from(512);
  cfg.level = -5;
  value_codec c{cfg, nullptr, max_value};
  auto text = letters(3000) + " 0x" + digits(64) + " " + letters(1000);
  auto stored = encode_ok(c, "k", text);
  CHECK(stored.size() < text.size() * 6 / 10);
  CHECK(decode_ok(c, "k", stored) == text);
  // Mostly hex, then text again: each value gets the mode it needs.
  auto hex = digits(4000) + letters(300);
  CHECK(decode_ok(c, "k", encode_ok(c, "k", hex)) == hex);
  stored = encode_ok(c, "k", text);
  CHECK(stored.size() < text.size() * 6 / 10);
  CHECK(decode_ok(c, "k", stored) == text);
}

TEST_CASE("hex runs are packed before zstd, and kept packed when zstd "
          "cannot shrink them further") {
  value_codec c{zstd_from(512), nullptr, max_value};
  auto order = json_order();
  auto stored = encode_ok(c, "order:t:1", order);
  // What zstd was given: the order with its 64-digit id packed.
  std::string body(ZSTD_getFrameContentSize(stored.data() + 5,
                                            stored.size() - 5),
                   '\0');
  REQUIRE(ZSTD_decompress(body.data(), body.size(), stored.data() + 5,
                          stored.size() - 5)
          == body.size());
  CHECK(body.find('\xF5') != std::string::npos);
  CHECK(body.find(std::string(64, 'a')) == std::string::npos);
  CHECK(decode_ok(c, "order:t:1", stored) == order);
  // Random digits: packed they are random bytes, which zstd cannot shrink.
  std::mt19937_64 rng{3};
  std::string digits;
  for (int i = 0; i < 4096; ++i)
    digits.push_back("0123456789abcdef"[rng() % 16]);
  auto packed = encode_ok(c, "k", digits);
  CHECK(inspect_stored(packed).compressed);
  CHECK(packed.size() == 5 + 3 + 2048);
  CHECK(decode_ok(c, "k", packed) == digits);
}

TEST_CASE("a value that packing would grow (many 0xF5 bytes) is never "
          "stored larger than it came") {
  value_codec c{zstd_from(512), nullptr, max_value};
  std::mt19937_64 rng{5};
  // Random bytes, one in eight the marker (escaped as two), and one run.
  std::string value = std::string(32, 'a');
  while (value.size() < 4096)
    value.push_back(rng() % 8 == 0 ? '\xF5' : static_cast<char>(rng()));
  auto stored = encode_ok(c, "k", value);
  CHECK(stored.size() <= value.size() + 5);
  CHECK(decode_ok(c, "k", stored) == value);
}

TEST_CASE("a frame whose packed hex runs are damaged is an error, and one "
          "written before packing existed still reads") {
  value_codec c{zstd_from(512), nullptr, max_value};
  const std::string packed_frame{"\xffSV\x01\x04", 5};
  CHECK_THAT(decode_error(c, "k", packed_frame + "\xF5\x10" "ab"),
             Catch::Contains("packed hex runs are damaged"));
  CHECK(decode_ok(c, "k", packed_frame + "0x\xF5\x08" + std::string(8, '\x9f'))
        == "0x9f9f9f9f9f9f9f9f");
  value_codec small{zstd_from(512), nullptr, 17};
  CHECK_THAT(decode_error(small, "k", packed_frame + "\xF5\x09"
                                        + std::string(9, '\x11')),
             Catch::Contains("it would unpack to 18 bytes, more than any "
                             "value may have (17)"));
  // A zstd frame of the order itself, as the codec wrote it before it
  // packed hex runs, with the flags of then.
  auto order = json_order();
  std::string frame(ZSTD_compressBound(order.size()), '\0');
  frame.resize(
    ZSTD_compress(frame.data(), frame.size(), order.data(), order.size(), 1));
  CHECK(decode_ok(c, "k", std::string{"\xffSV\x01\x01", 5} + frame) == order);
}

TEST_CASE("AES-256-GCM: round trip, a fresh nonce each time, the key id in "
          "the frame") {
  testing::key_files files;
  files.hex_key("k1");
  value_codec c{{}, ring(files, {"k1"}, "k1"), max_value};
  CHECK(c.encrypts());
  for (std::string value : {std::string{}, std::string{"x"}, json_order(),
                            std::string(100'000, '\0')}) {
    auto stored = encode_ok(c, "order:t:1", value);
    auto form = inspect_stored(stored);
    CHECK(form.encrypted);
    CHECK(form.key_id == "k1");
    CHECK(decode_ok(c, "order:t:1", stored) == value);
  }
  auto a = encode_ok(c, "k", "same");
  auto b = encode_ok(c, "k", "same");
  CHECK(a != b);
  CHECK(a.find("same") == std::string::npos);
}

TEST_CASE("values stored through OpenSSL's AES-GCM read through libsodium's "
          "and back, so a build on either CPU reads the other's") {
  if (!aes_gcm_key::available(aes_gcm_key::implementation::libsodium)) {
    WARN("this CPU lacks AES-NI: one implementation only, nothing to cross");
    return;
  }
  testing::key_files files;
  files.hex_key("k1");
  auto keys = ring(files, {"k1"}, "k1");
  value_codec evp{zstd_from(512), keys, max_value, {},
                  aes_gcm_key::implementation::openssl};
  value_codec sodium{zstd_from(512), keys, max_value, {},
                     aes_gcm_key::implementation::libsodium};
  for (std::string value : {std::string{}, std::string{"x"}, json_order(),
                            std::string(4096, 'q')}) {
    CHECK(decode_ok(sodium, "order:t:1", encode_ok(evp, "order:t:1", value))
          == value);
    CHECK(decode_ok(evp, "order:t:1", encode_ok(sodium, "order:t:1", value))
          == value);
  }
  auto stored = encode_ok(evp, "order:t:1", json_order());
  stored[stored.size() - 20] ^= 1;
  CHECK_THAT(decode_error(sodium, "order:t:1", stored),
             Catch::Contains("does not authenticate"));
}

TEST_CASE("compressed, then encrypted: the JSON order shrinks and hides") {
  testing::key_files files;
  files.hex_key("k1");
  value_codec c{zstd_from(512), ring(files, {"k1"}, "k1"), max_value};
  auto order = json_order();
  auto stored = encode_ok(c, "order:t:1", order);
  auto form = inspect_stored(stored);
  CHECK(form.compressed);
  CHECK(form.encrypted);
  CHECK(stored.size() * 2 < order.size());
  CHECK(decode_ok(c, "order:t:1", stored) == order);
}

TEST_CASE("changing the settings never breaks reading older values") {
  testing::key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  auto order = json_order();
  value_codec plain{{}, nullptr, max_value};
  value_codec zipped{zstd_from(64), nullptr, max_value};
  value_codec old_key{zstd_from(64), ring(files, {"k1"}, "k1"), max_value};
  value_codec rotated{{}, ring(files, {"k1", "k2"}, "k2"), max_value};
  auto raw = encode_ok(plain, "k", order);
  auto compressed = encode_ok(zipped, "k", order);
  auto under_k1 = encode_ok(old_key, "k", order);
  // Every codec reads what any other wrote, given the key.
  for (auto* reader : {&plain, &zipped, &rotated})
    for (auto* stored : {&raw, &compressed})
      CHECK(decode_ok(*reader, "k", *stored) == order);
  CHECK(decode_ok(rotated, "k", under_k1) == order);
  CHECK_FALSE(rotated.current(under_k1));
  CHECK(rotated.current(encode_ok(rotated, "k", order)));
  CHECK_FALSE(rotated.current(raw));
}

TEST_CASE("require_encrypted: a value stored without encryption is refused, "
          "naming the key and the setting, and encrypted ones read as before") {
  testing::key_files files;
  files.hex_key("k1");
  auto order = json_order();
  value_codec plain{{}, nullptr, max_value};
  value_codec zipped{zstd_from(64), nullptr, max_value};
  value_codec lenient{zstd_from(64), ring(files, {"k1"}, "k1"), max_value};
  value_codec strict{zstd_from(64), ring(files, {"k1"}, "k1", true),
                     max_value};
  auto under_k1 = encode_ok(lenient, "order:t:1", order);
  CHECK(decode_ok(strict, "order:t:1", under_k1) == order);
  CHECK(decode_ok(strict, "order:t:1", encode_ok(strict, "order:t:1", "x"))
        == "x");
  CHECK(strict.damage("order:t:1", under_k1).empty());
  // A client's bytes as they are, a frame without AES (escaped, or only
  // compressed): planted by anyone who can write to the backend, they
  // would be served as if this service had written them.
  for (auto stored : {encode_ok(plain, "order:t:1", order),
                      encode_ok(plain, "order:t:1", "\xffSV\x01 looks framed"),
                      encode_ok(zipped, "order:t:1", order)}) {
    CHECK(decode_ok(lenient, "order:t:1", stored).size() > 0);
    auto why = decode_error(strict, "order:t:1", stored);
    CHECK_THAT(why, Catch::Contains("order:t:1")
                      && Catch::Contains("require_encrypted"));
    CHECK_THAT(strict.damage("order:t:1", stored),
               Catch::Contains("require_encrypted"));
    CHECK_FALSE(strict.current(stored));
  }
  // A damaged frame still says what is wrong with it.
  CHECK_THAT(decode_error(strict, "order:t:1", std::string{"\xffSV\x09"} + "x"),
             Catch::Contains("frame format 9"));
}

TEST_CASE("a value under a key that is not configured is an error naming "
          "the key and the key id") {
  testing::key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  value_codec writer{{}, ring(files, {"k1"}, "k1"), max_value};
  value_codec reader{{}, ring(files, {"k2"}, "k2"), max_value};
  auto stored = encode_ok(writer, "order:t:9", "secret");
  auto why = decode_error(reader, "order:t:9", stored);
  CHECK_THAT(why, Catch::Contains("order:t:9") && Catch::Contains("'k1'")
                    && Catch::Contains("does not list"));
  // Without encryption configured at all, the same.
  value_codec none{{}, nullptr, max_value};
  CHECK_THAT(decode_error(none, "order:t:9", stored), Catch::Contains("'k1'"));
}

TEST_CASE("a frame naming a key id no configuration could hold is an error "
          "that does not quote it") {
  testing::key_files files;
  files.hex_key("k1");
  value_codec codec{{}, ring(files, {"k1"}, "k1"), max_value};
  auto stored = encode_ok(codec, "order:t:9", "secret");
  // The id "k1" (after 4 magic bytes, the flags and its length) replaced
  // by one with a line break, as someone with access to the backend could.
  std::string forged_id = "x\nERROR forged line";
  REQUIRE(static_cast<unsigned char>(stored[5]) == 2);
  auto forged = stored.substr(0, 5)
                + static_cast<char>(forged_id.size()) + forged_id
                + stored.substr(8);
  auto why = decode_error(codec, "order:t:9", forged);
  CHECK_THAT(why, Catch::Contains("order:t:9")
                    && Catch::Contains("names no valid key id"));
  CHECK(why.find('\n') == std::string::npos);
  CHECK(why.find("forged") == std::string::npos);
}

TEST_CASE("a ciphertext is bound to its store key and its key id") {
  testing::key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  value_codec c{{}, ring(files, {"k1", "k2"}, "k1"), max_value};
  auto stored = encode_ok(c, "order:a:1", "pay alice");
  CHECK_THAT(decode_error(c, "order:b:1", stored),
             Catch::Contains("stored for another key"));
  // The same bytes relabelled as k2's (same id length): refused too.
  auto relabelled = stored;
  auto at = relabelled.find("k1");
  REQUIRE(at != std::string::npos);
  relabelled[at + 1] = '2';
  CHECK_THAT(decode_error(c, "order:a:1", relabelled),
             Catch::Contains("'k2'"));
  // Key length and key bytes cannot trade places in the authenticated data.
  auto ab = encode_ok(c, "ab", "v");
  CHECK_THAT(decode_error(c, "a", ab), Catch::Contains("another key"));
}

TEST_CASE("every altered byte of an encrypted value is caught") {
  testing::key_files files;
  files.hex_key("k1");
  value_codec c{zstd_from(16), ring(files, {"k1"}, "k1"), max_value};
  auto stored = encode_ok(c, "order:t:1", json_order());
  for (size_t i = 0; i < stored.size(); ++i) {
    auto altered = stored;
    altered[i] ^= 0x20;
    auto plain = c.decode("order:t:1", altered);
    INFO("byte " << i);
    if (i < 3) { // the magic: it no longer is a frame, so raw bytes
      REQUIRE(plain);
      CHECK(*plain == altered);
      continue;
    }
    REQUIRE_FALSE(plain);
    CHECK(code_of(plain.error()) == state_errc::backend_error);
  }
  for (size_t cut = 3; cut < stored.size(); cut += 7)
    CHECK_FALSE(c.decode("order:t:1", stored.substr(0, cut)));
}

TEST_CASE("a frame that would decompress past the codec's bound is refused "
          "before allocating") {
  value_codec big{zstd_from(16), nullptr, 64u << 20};
  auto stored = encode_ok(big, "k", std::string(32u << 20, 'a'));
  CHECK(stored.size() < 4096);
  value_codec small{zstd_from(16), nullptr, 1 << 20};
  CHECK_THAT(decode_error(small, "k", stored),
             Catch::Contains("it would decompress to ")
               && Catch::Contains(" bytes, more than any value may have "
                                  "(1048576)"));
}

namespace {

/// A stored zstd frame of a small value whose header claims more than
/// `claimed` bytes: what a crafted value would look like.
std::string frame_claiming_more_than(uint64_t claimed) {
  std::string value(2u << 20, 'a');
  std::string frame(ZSTD_compressBound(value.size()), '\0');
  frame.resize(
    ZSTD_compress(frame.data(), frame.size(), value.data(), value.size(), 1));
  // The frame header: magic, descriptor, [window], [dictionary id], size.
  auto descriptor = static_cast<unsigned char>(frame[4]);
  bool single_segment = (descriptor >> 5) & 1;
  size_t at = 5 + (single_segment ? 0 : 1)
              + std::array<size_t, 4>{0, 1, 2, 4}[descriptor & 3];
  size_t width = std::array<size_t, 4>{single_segment ? 1u : 0u, 2, 4,
                                       8}[descriptor >> 6];
  REQUIRE(width >= 4);
  for (size_t i = 0; i < width; ++i)
    frame[at + i] = '\xff';
  REQUIRE(ZSTD_getFrameContentSize(frame.data(), frame.size()) > claimed);
  return std::string{"\xffSV\x01\x01", 5} + frame;
}

} // namespace

TEST_CASE("values stored under a higher state.max_value_bytes read back "
          "after it is lowered, but a frame past the ceiling is still refused") {
  // The service's codecs: the limit bounds new writes (the shard refuses
  // them with 413), never the values it let in before.
  state_config before;
  before.compression = zstd_from(32);
  before.compression.level = 3;
  auto writer = make_value_codec(before);
  REQUIRE(writer);
  std::string text;
  while (text.size() < 1200)
    text += R"({"status":"pending","amount":"1000000000000000000"},)";
  std::mt19937_64 rng{11};
  std::string digits;
  for (int i = 0; i < 1200; ++i)
    digits.push_back("0123456789abcdef"[rng() % 16]);
  std::vector<std::string> values{text.substr(0, 950), text.substr(0, 1200),
                                  digits, json_order()};
  std::vector<std::string> stored;
  for (auto& v : values)
    stored.push_back(encode_ok(**writer, "k", v));
  CHECK(inspect_stored(stored[0]).compressed);
  CHECK(inspect_stored(stored[1]).compressed);
  CHECK(static_cast<unsigned char>(stored[2][4]) == 0x04); // packed only
  CHECK(static_cast<unsigned char>(stored[3][4]) == 0x05); // packed, zstd
  auto lowered = before;
  lowered.max_value_bytes = 600;
  auto reader = make_value_codec(lowered);
  REQUIRE(reader);
  for (size_t i = 0; i < values.size(); ++i) {
    INFO("value " << i);
    CHECK(decode_ok(**reader, "k", stored[i]) == values[i]);
  }
  CHECK_THAT(decode_error(**reader, "k",
                          frame_claiming_more_than(max_value_bytes_ceiling)),
             Catch::Contains("more than any value may have (1073741824)"));
}

TEST_CASE("frames of an unknown format or with unknown flags are errors") {
  value_codec c{{}, nullptr, max_value};
  CHECK_THAT(decode_error(c, "k", std::string{"\xffSV\x02\x00"} + "x"),
             Catch::Contains("format 2"));
  CHECK_THAT(decode_error(c, "k", std::string{"\xffSV\x01\x08"} + "x"),
             Catch::Contains("flags"));
  CHECK(decode_error(c, "k", "\xffSV").find("cut short") != std::string::npos);
}

TEST_CASE("seal: bytes beside the values, larger than any value, encrypted "
          "whole and bound to their name and key") {
  testing::key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  value_codec c{zstd_from(16), ring(files, {"k1", "k2"}, "k1"), max_value};
  // A snapshot of indexes is larger than max_value_bytes, and full of the
  // indexed fields in plaintext.
  std::string bytes;
  while (bytes.size() <= 3 * max_value)
    bytes += "order:s:" + std::to_string(bytes.size()) + "\x01pending\x02";
  auto sealed = c.seal("snapshot", bytes);
  REQUIRE(sealed);
  CHECK(sealed->find("pending") == std::string::npos);
  CHECK(inspect_stored(*sealed).key_id == "k1");
  auto opened = c.unseal("snapshot", *sealed);
  REQUIRE(opened);
  CHECK(*opened == bytes);
  // Under another name, altered anywhere, cut short: refused.
  CHECK_FALSE(c.unseal("other", *sealed));
  for (size_t at : {size_t{4}, size_t{10}, sealed->size() / 2,
                    sealed->size() - 1}) {
    auto altered = *sealed;
    altered[at] ^= 0x01;
    INFO("byte " << at);
    CHECK_FALSE(c.unseal("snapshot", altered));
  }
  CHECK_FALSE(c.unseal("snapshot", sealed->substr(0, sealed->size() - 1)));
  // Not sealed: the bytes themselves, or a compressed value's frame (a
  // value's frame is bound to its key as a sealed one to its name).
  CHECK_THAT(message_of(c.unseal("snapshot", bytes).error()),
             Catch::Contains("not sealed"));
  CHECK_FALSE(c.unseal("snapshot", encode_ok(c, "snapshot", json_order())));
  // Its key gone from the ring.
  value_codec k2_only{{}, ring(files, {"k2"}, "k2"), max_value};
  CHECK_THAT(message_of(k2_only.unseal("snapshot", *sealed).error()),
             Catch::Contains("'k1'"));
  // Nothing to seal with.
  value_codec none{{}, nullptr, max_value};
  CHECK_FALSE(none.seal("snapshot", bytes));
}

TEST_CASE("damage: an unencrypted frame whose zstd body or packed runs are "
          "damaged is damaged, and one only this configuration cannot read is "
          "not") {
  value_codec c{zstd_from(64), nullptr, max_value};
  auto order = json_order();
  auto stored = encode_ok(c, "k", order);
  auto form = inspect_stored(stored);
  REQUIRE(form.compressed);
  REQUIRE_FALSE(form.encrypted);
  CHECK(c.damage("k", stored).empty()); // sound
  // The zstd frame's magic altered (zstd keeps no checksum of the body: a
  // byte changed in it may decode to other bytes): no configuration reads
  // it.
  auto altered = stored;
  altered[5] ^= 0x5a; // the first byte after the 5 of the frame header
  REQUIRE_FALSE(c.decode("k", altered));
  CHECK_THAT(c.damage("k", altered), Catch::Contains("damaged"));
  // Cut short.
  auto cut = stored.substr(0, stored.size() - 8);
  REQUIRE_FALSE(c.decode("k", cut));
  CHECK_FALSE(c.damage("k", cut).empty());
  // Packed runs that run past the end.
  const std::string packed_frame{"\xffSV\x01\x04", 5};
  CHECK_FALSE(c.damage("k", packed_frame + "\xF5\x10" "ab").empty());
  // Sound, but past this configuration's max_value_bytes: another reads it.
  value_codec small{zstd_from(64), nullptr, 100};
  REQUIRE_FALSE(small.decode("k", stored));
  CHECK(small.damage("k", stored).empty());
  // Sound, under a dictionary this configuration does not list (the frame
  // names its id).
  auto dict = testing::order_dictionary(9, 500);
  REQUIRE_FALSE(dict.empty());
  auto* cdict = ZSTD_createCDict(dict.data(), dict.size(), 1);
  REQUIRE(cdict != nullptr);
  auto* cctx = ZSTD_createCCtx();
  std::string body(ZSTD_compressBound(order.size()), '\0');
  auto n = ZSTD_compress_usingCDict(cctx, body.data(), body.size(),
                                    order.data(), order.size(), cdict);
  ZSTD_freeCCtx(cctx);
  ZSTD_freeCDict(cdict);
  REQUIRE_FALSE(ZSTD_isError(n));
  body.resize(n);
  REQUIRE(ZSTD_getDictID_fromFrame(body.data(), body.size()) != 0);
  auto framed = std::string{"\xffSV\x01\x01", 5} + body;
  auto unlisted = c.decode("k", framed);
  REQUIRE_FALSE(unlisted);
  CHECK_THAT(message_of(unlisted.error()), Catch::Contains("dictionary id"));
  CHECK(c.damage("k", framed).empty());
}
