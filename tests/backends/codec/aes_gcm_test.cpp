// AES-256-GCM through libsodium and through OpenSSL: both compute the
// standard's answer, each opens what the other sealed (values stored by one
// build stay readable by a build that picks the other), and both refuse
// every altered byte, tag, nonce or aad.

#include <optional>
#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "backends/codec/aes_gcm.hpp"

using namespace solver_state;
using kind = aes_gcm_key::implementation;

namespace {

std::vector<unsigned char> from_hex(std::string_view hex) {
  std::vector<unsigned char> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<unsigned char>(
      std::stoi(std::string{hex.substr(i, 2)}, nullptr, 16)));
  return out;
}

std::string_view view(const std::vector<unsigned char>& v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

/// Both implementations where this CPU runs libsodium's; a CPU without
/// AES-NI tests OpenSSL's alone (and says so).
std::vector<kind> runnable() {
  if (!aes_gcm_key::available(kind::libsodium)) {
    WARN("this CPU lacks AES-NI or PCLMULQDQ: libsodium's AES-256-GCM is "
         "not tested here");
    return {kind::openssl};
  }
  return {kind::libsodium, kind::openssl};
}

struct sealed {
  std::vector<unsigned char> body;
  std::vector<unsigned char> tag = std::vector<unsigned char>(16);
};

sealed seal(aes_gcm_key& key, std::string_view plain, std::string_view aad,
            const unsigned char* nonce) {
  sealed out;
  out.body.resize(plain.size());
  REQUIRE(key.seal(plain, aad, nonce, out.body.data(), out.tag.data()));
  return out;
}

/// Opens a copy of `s`: the plaintext, or nothing when it does not
/// authenticate.
std::optional<std::string> open(aes_gcm_key& key, const sealed& s,
                                std::string_view aad,
                                const unsigned char* nonce) {
  auto body = s.body;
  if (!key.open(body.data(), body.size(), aad, nonce, s.tag.data()))
    return std::nullopt;
  return std::string{view(body)};
}

} // namespace

TEST_CASE("both implementations give the GCM specification's answer") {
  // Test case 16 of McGrew and Viega's "The Galois/Counter Mode of
  // Operation": AES-256, a 96-bit IV, 60 bytes, 20 bytes of aad.
  auto material = from_hex("feffe9928665731c6d6a8f9467308308"
                           "feffe9928665731c6d6a8f9467308308");
  auto nonce = from_hex("cafebabefacedbaddecaf888");
  auto plain = from_hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da"
                        "2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
                        "b16aedf5aa0de657ba637b39");
  auto aad = from_hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto cipher = from_hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c9"
                         "7598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838"
                         "c5f61e6393ba7a0abcc9f662");
  auto tag = from_hex("76fc6ece0f4e1768cddf8853bb2d551b");
  for (auto k : runnable()) {
    INFO(aes_gcm_key::name(k));
    auto made = aes_gcm_key::make(material.data(), k);
    REQUIRE(made);
    auto& key = *made;
    CHECK(key.kind() == k);
    auto s = seal(key, view(plain), view(aad), nonce.data());
    CHECK(s.body == cipher);
    CHECK(s.tag == tag);
    auto opened = open(key, s, view(aad), nonce.data());
    REQUIRE(opened);
    CHECK(*opened == view(plain));
  }
}

TEST_CASE("each implementation opens what the other sealed, at every length "
          "around the block and batch sizes") {
  auto kinds = runnable();
  if (kinds.size() < 2)
    return;
  std::mt19937_64 rng{7};
  std::vector<unsigned char> material(32), nonce(12);
  for (auto& b : material)
    b = static_cast<unsigned char>(rng());
  auto made_sodium = aes_gcm_key::make(material.data(), kind::libsodium);
  REQUIRE(made_sodium);
  auto& sodium = *made_sodium;
  auto made_evp = aes_gcm_key::make(material.data(), kind::openssl);
  REQUIRE(made_evp);
  auto& evp = *made_evp;
  std::vector<size_t> sizes;
  for (size_t n = 0; n <= 300; ++n)
    sizes.push_back(n);
  for (size_t n : {511, 512, 513, 1435, 4096, 100'000})
    sizes.push_back(n);
  for (auto n : sizes) {
    INFO(n << " bytes");
    std::string plain(n, '\0');
    for (auto& c : plain)
      c = static_cast<char>(rng());
    std::string aad(n % 97, 'a');
    for (auto& b : nonce)
      b = static_cast<unsigned char>(rng());
    auto by_sodium = seal(sodium, plain, aad, nonce.data());
    auto by_evp = seal(evp, plain, aad, nonce.data());
    // GCM is deterministic given key, nonce and aad: the same bytes.
    CHECK(by_sodium.body == by_evp.body);
    CHECK(by_sodium.tag == by_evp.tag);
    CHECK(open(evp, by_sodium, aad, nonce.data()) == plain);
    CHECK(open(sodium, by_evp, aad, nonce.data()) == plain);
  }
}

TEST_CASE("an altered byte, tag, nonce or aad does not open, on either "
          "implementation") {
  std::vector<unsigned char> material(32, 0x42), other(32, 0x43);
  std::vector<unsigned char> nonce(12, 0x01);
  std::string plain = R"({"orderId":"0xabc","status":"pending"})";
  std::string aad = "order:t:1";
  for (auto k : runnable()) {
    INFO(aes_gcm_key::name(k));
    auto made = aes_gcm_key::make(material.data(), k);
    REQUIRE(made);
    auto& key = *made;
    auto s = seal(key, plain, aad, nonce.data());
    REQUIRE(open(key, s, aad, nonce.data()) == plain);
    for (size_t i = 0; i < s.body.size(); ++i) {
      auto altered = s;
      altered.body[i] ^= 0x01;
      CHECK_FALSE(open(key, altered, aad, nonce.data()));
    }
    for (size_t i = 0; i < s.tag.size(); ++i) {
      auto altered = s;
      altered.tag[i] ^= 0x80;
      CHECK_FALSE(open(key, altered, aad, nonce.data()));
    }
    auto moved = nonce;
    moved[11] ^= 1;
    CHECK_FALSE(open(key, s, aad, moved.data()));
    CHECK_FALSE(open(key, s, "order:t:2", nonce.data()));
    CHECK_FALSE(open(key, s, "", nonce.data()));
    auto made_wrong = aes_gcm_key::make(other.data(), k);
    REQUIRE(made_wrong);
    auto& wrong = *made_wrong;
    CHECK_FALSE(open(wrong, s, aad, nonce.data()));
  }
}

TEST_CASE("a key is made only for an implementation this CPU runs") {
  std::vector<unsigned char> material(32, 0x42);
  auto evp = aes_gcm_key::make(material.data(), kind::openssl);
  REQUIRE(evp);
  CHECK(evp->kind() == kind::openssl);
  // Where the CPU lacks AES-NI, libsodium's code would stop the process on
  // its first instruction: no key instead.
  auto sodium = aes_gcm_key::make(material.data(), kind::libsodium);
  CHECK(static_cast<bool>(sodium)
        == aes_gcm_key::available(kind::libsodium));
  if (sodium)
    CHECK(sodium->kind() == kind::libsodium);
  CHECK(aes_gcm_key::available(aes_gcm_key::fastest()));
}
