// Hex runs packed, zstd and AES-256-GCM (OpenSSL EVP) behind value_codec.
// Each codec keeps one cipher context per key with the key schedule already
// set up, so a value costs a nonce, not a key expansion.

#include "backends/codec/value_codec.hpp"

#include <array>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/rand.h>
// For ZSTD_c_literalCompressionMode, an experimental parameter that zstd
// 1.4-1.5 accept through the stable ZSTD_CCtx_setParameter.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "backends/codec/hex_runs.hpp"
#include "backends/codec/key_ring.hpp"
#include "backends/codec/zstd_dictionaries.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

constexpr unsigned char magic[] = {0xff, 'S', 'V'};
constexpr unsigned char frame_format = 1;
constexpr size_t magic_bytes = sizeof magic + 1; // with the format byte
constexpr unsigned char flag_zstd = 1;
constexpr unsigned char flag_aes = 2;
/// Hex runs packed (hex_runs.hpp) before any zstd: undone after it.
constexpr unsigned char flag_hex = 4;
constexpr size_t nonce_bytes = 12;
constexpr size_t tag_bytes = 16;

/// Nonces drawn from the random source at once: one RAND_bytes call per
/// this many values instead of one per value.
constexpr size_t nonces_per_draw = 256;

bool has_magic(std::string_view stored) {
  return stored.size() >= sizeof magic
         && std::memcmp(stored.data(), magic, sizeof magic) == 0;
}

/// Bytes of the header of a frame with `flags` under a key id of `id_bytes`.
size_t header_bytes(unsigned char flags, size_t id_bytes) {
  auto n = magic_bytes + 1;
  if (flags & flag_aes)
    n += 1 + id_bytes + nonce_bytes;
  return n;
}

void append_header(std::string& out, unsigned char flags, std::string_view id,
                   const unsigned char* nonce) {
  out.append(reinterpret_cast<const char*>(magic), sizeof magic);
  out.push_back(static_cast<char>(frame_format));
  out.push_back(static_cast<char>(flags));
  if (flags & flag_aes) {
    out.push_back(static_cast<char>(id.size()));
    out.append(id);
    out.append(reinterpret_cast<const char*>(nonce), nonce_bytes);
  }
}

/// The additional authenticated data: the store key's length (so key and
/// header cannot trade bytes), the key, and the frame header. Built once so
/// GCM takes it in one call.
void build_aad(std::string& out, std::string_view key,
               std::string_view header) {
  auto n = static_cast<uint32_t>(key.size());
  out.clear();
  out.push_back(static_cast<char>(n >> 24));
  out.push_back(static_cast<char>(n >> 16));
  out.push_back(static_cast<char>(n >> 8));
  out.push_back(static_cast<char>(n));
  out.append(key);
  out.append(header);
}

caf::error restore_error(std::string_view key, const std::string& why) {
  return make_state_error(state_errc::backend_error,
                          "key '" + std::string{key}
                            + "': cannot restore its stored value: " + why);
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

} // namespace

stored_form inspect_stored(std::string_view stored) {
  stored_form form;
  if (!has_magic(stored))
    return form;
  form.framed = true;
  if (stored.size() < magic_bytes + 1) {
    form.problem = "the frame is cut short";
    return form;
  }
  if (static_cast<unsigned char>(stored[3]) != frame_format) {
    form.problem = "frame format "
                   + std::to_string(static_cast<unsigned char>(stored[3]))
                   + " is not known to this version";
    return form;
  }
  auto flags = static_cast<unsigned char>(stored[4]);
  if (flags & ~(flag_zstd | flag_aes | flag_hex)) {
    form.problem = "unknown frame flags " + std::to_string(flags);
    return form;
  }
  form.compressed = flags & (flag_zstd | flag_hex);
  form.encrypted = flags & flag_aes;
  if (!form.encrypted)
    return form;
  if (stored.size() < magic_bytes + 2) {
    form.problem = "the frame is cut short";
    return form;
  }
  auto id_bytes = static_cast<unsigned char>(stored[magic_bytes + 1]);
  if (id_bytes == 0
      || stored.size() < header_bytes(flags, id_bytes) + tag_bytes) {
    form.problem = "the frame is cut short";
    return form;
  }
  form.key_id = stored.substr(magic_bytes + 2, id_bytes);
  return form;
}

struct value_codec::impl {
  struct cipher {
    const key_ring::key* key = nullptr;
    EVP_CIPHER_CTX* seal = nullptr;
    EVP_CIPHER_CTX* open = nullptr;
  };

  compression_config compression;
  std::shared_ptr<const key_ring> keys;
  size_t max_value_bytes;
  std::shared_ptr<const zstd_dictionaries> dictionaries;
  ZSTD_CCtx* zip = nullptr;
  ZSTD_DCtx* unzip = nullptr;
  std::vector<cipher> ciphers;
  cipher* primary = nullptr;
  std::string primary_id;
  std::array<unsigned char, nonce_bytes * nonces_per_draw> nonces{};
  size_t nonces_used = nonces_per_draw;
  /// The additional authenticated data of the value at hand (reused).
  std::string aad;

  impl(compression_config c, std::shared_ptr<const key_ring> k, size_t max,
       std::shared_ptr<const zstd_dictionaries> d)
    : compression(std::move(c)),
      keys(std::move(k)),
      max_value_bytes(max),
      dictionaries(std::move(d)) {
    if (compression.type == compression_type::zstd) {
      // Parameters set once: ZSTD_compress2 then skips re-deriving them
      // for every value (about 15% of a 2 KiB value's time here).
      zip = ZSTD_createCCtx();
      ZSTD_CCtx_setParameter(zip, ZSTD_c_compressionLevel, compression.level);
      // Literals always entropy-coded: zstd's fast (negative) levels would
      // otherwise store them raw, and they shrink text that is neither a
      // dictionary's match nor a hex run (packed before zstd sees it).
      ZSTD_CCtx_setParameter(zip, ZSTD_c_literalCompressionMode,
                             ZSTD_ps_enable);
      // Referenced once, it stays for every ZSTD_compress2 of this
      // context; the frame then names the dictionary's id.
      if (dictionaries)
        ZSTD_CCtx_refCDict(zip, dictionaries->for_writes());
      unzip = ZSTD_createDCtx();
    }
    if (!keys)
      return;
    ciphers.reserve(keys->keys().size());
    for (auto& key : keys->keys()) {
      cipher c;
      c.key = &key;
      c.seal = EVP_CIPHER_CTX_new();
      c.open = EVP_CIPHER_CTX_new();
      EVP_EncryptInit_ex(c.seal, EVP_aes_256_gcm(), nullptr,
                         key.material.data(), nullptr);
      EVP_DecryptInit_ex(c.open, EVP_aes_256_gcm(), nullptr,
                         key.material.data(), nullptr);
      ciphers.push_back(c);
    }
    primary_id = keys->primary().id;
    primary = find(primary_id);
  }

  ~impl() {
    ZSTD_freeCCtx(zip);
    ZSTD_freeDCtx(unzip);
    // EVP_CIPHER_CTX_free wipes the key schedule.
    for (auto& c : ciphers) {
      EVP_CIPHER_CTX_free(c.seal);
      EVP_CIPHER_CTX_free(c.open);
    }
  }

  cipher* find(std::string_view id) {
    for (auto& c : ciphers)
      if (c.key->id == id)
        return &c;
    return nullptr;
  }

  /// The next fresh random nonce, or nullptr when the random source fails.
  const unsigned char* next_nonce() {
    if (nonces_used == nonces_per_draw) {
      if (RAND_bytes(nonces.data(), static_cast<int>(nonces.size())) != 1)
        return nullptr;
      nonces_used = 0;
    }
    return nonces.data() + nonce_bytes * nonces_used++;
  }

  /// Compresses `value` in place when that makes it smaller: hex runs
  /// packed, then zstd. Returns the flags saying which of the two it kept.
  unsigned char compress(std::string& value) {
    if (!zip || value.size() < compression.min_bytes)
      return 0;
    auto packed = pack_hex_runs(value);
    unsigned char hex = packed.empty() ? 0 : flag_hex;
    const auto& source = hex ? packed : value;
    std::string out(ZSTD_compressBound(source.size()), '\0');
    // The frame records the content size (srcSize is known): decompress
    // checks it against max_value_bytes before allocating.
    auto n = ZSTD_compress2(zip, out.data(), out.size(), source.data(),
                            source.size());
    // Packing grows a value whose 0xF5 bytes outnumber what its runs save:
    // the smallest of the three forms is kept, never a larger one.
    auto smallest = std::min(value.size(), source.size());
    if (!ZSTD_isError(n) && n < smallest) {
      out.resize(n);
      value.swap(out);
      return flag_zstd | hex;
    }
    if (!hex || packed.size() >= value.size())
      return 0;
    value.swap(packed);
    return flag_hex;
  }

  caf::expected<std::string> decompress(std::string_view key,
                                        std::string_view body) {
    auto size = ZSTD_getFrameContentSize(body.data(), body.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
      return restore_error(key, "its zstd frame is damaged");
    // A bound before allocating: a crafted frame must not make the service
    // allocate gigabytes.
    if (size > max_value_bytes)
      return restore_error(key, "it would decompress to "
                                  + std::to_string(size)
                                  + " bytes, more than state.max_value_bytes");
    if (!unzip)
      unzip = ZSTD_createDCtx();
    const ZSTD_DDict* dict = nullptr;
    if (auto id = ZSTD_getDictID_fromFrame(body.data(), body.size())) {
      dict = dictionaries ? dictionaries->find(id) : nullptr;
      if (!dict)
        return restore_error(key, "it was compressed with zstd dictionary id "
                                    + std::to_string(id)
                                    + ", which state.compression.dictionaries "
                                      "does not list");
    }
    std::string out(size, '\0');
    auto n = dict ? ZSTD_decompress_usingDDict(unzip, out.data(), out.size(),
                                               body.data(), body.size(), dict)
                  : ZSTD_decompressDCtx(unzip, out.data(), out.size(),
                                        body.data(), body.size());
    if (ZSTD_isError(n) || n != size)
      return restore_error(key, "its zstd frame is damaged");
    return out;
  }

  caf::expected<std::string> seal(std::string_view key, std::string value,
                                   unsigned char flags) {
    auto nonce = next_nonce();
    if (!nonce)
      return make_state_error(state_errc::backend_error,
                              "the system's random source failed: cannot "
                              "encrypt");
    auto& id = primary_id;
    std::string out;
    auto header = header_bytes(flags, id.size());
    out.reserve(header + value.size() + tag_bytes);
    append_header(out, flags, id, nonce);
    out.resize(header + value.size() + tag_bytes);
    auto* ctx = primary->seal;
    build_aad(aad, key, std::string_view{out}.substr(0, header));
    int len = 0;
    auto* body = reinterpret_cast<unsigned char*>(out.data()) + header;
    bool ok = EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1
              && EVP_EncryptUpdate(ctx, nullptr, &len, bytes_of(aad),
                                   static_cast<int>(aad.size()))
                   == 1
              && EVP_EncryptUpdate(ctx, body, &len, bytes_of(value),
                                   static_cast<int>(value.size()))
                   == 1
              && EVP_EncryptFinal_ex(ctx, body + len, &len) == 1
              && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                                     static_cast<int>(tag_bytes),
                                     body + value.size())
                   == 1;
    if (!ok)
      return make_state_error(state_errc::backend_error,
                              "AES-256-GCM encryption failed");
    return out;
  }

  /// Decrypts `stored` in place into the value it holds (no buffer of its
  /// own: a read of a small value would otherwise spend a tenth of its
  /// decryption in malloc and free). On failure `stored` is garbage.
  caf::error open(std::string_view key, std::string& stored,
                  const stored_form& form, unsigned char flags) {
    auto* c = find(form.key_id);
    if (!c)
      return restore_error(key, "it is encrypted under key id '"
                                  + std::string{form.key_id}
                                  + "', which state.encryption.keys does not "
                                    "list");
    auto header = header_bytes(flags, form.key_id.size());
    auto body_size = stored.size() - header - tag_bytes;
    auto* nonce = bytes_of(stored) + header - nonce_bytes;
    std::array<unsigned char, tag_bytes> tag;
    std::memcpy(tag.data(), stored.data() + header + body_size, tag_bytes);
    auto* ctx = c->open;
    build_aad(aad, key, std::string_view{stored}.substr(0, header));
    int len = 0;
    // GCM decrypts in place (same in and out); the header, and with it the
    // nonce and form.key_id, is not touched.
    auto* body = reinterpret_cast<unsigned char*>(stored.data()) + header;
    bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce) == 1
              && EVP_DecryptUpdate(ctx, nullptr, &len, bytes_of(aad),
                                   static_cast<int>(aad.size()))
                   == 1
              && EVP_DecryptUpdate(ctx, body, &len, body,
                                   static_cast<int>(body_size))
                   == 1
              && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                                     static_cast<int>(tag_bytes), tag.data())
                   == 1
              && EVP_DecryptFinal_ex(ctx, body + len, &len) == 1;
    if (!ok)
      return restore_error(key, "it does not authenticate under key id '"
                                  + std::string{form.key_id}
                                  + "': it was altered, or it was stored for "
                                    "another key");
    stored.erase(0, header);
    stored.resize(body_size);
    return caf::none;
  }
};

value_codec::value_codec(compression_config compression,
                         std::shared_ptr<const key_ring> keys,
                         size_t max_value_bytes,
                         std::shared_ptr<const zstd_dictionaries> dictionaries)
  : impl_(std::make_unique<impl>(std::move(compression), std::move(keys),
                                 max_value_bytes, std::move(dictionaries))) {
}

value_codec::value_codec(value_codec&&) noexcept = default;
value_codec& value_codec::operator=(value_codec&&) noexcept = default;
value_codec::~value_codec() = default;

bool value_codec::encrypts() const {
  return impl_->primary != nullptr;
}

bool value_codec::passthrough() const {
  return !encrypts() && impl_->compression.type == compression_type::none;
}

const std::string& value_codec::primary_id() const {
  return impl_->primary_id;
}

bool value_codec::current(std::string_view stored) const {
  if (!encrypts())
    return true;
  auto form = inspect_stored(stored);
  return form.encrypted && form.problem.empty()
         && form.key_id == impl_->primary_id;
}

bool value_codec::knows_key(std::string_view id) const {
  return impl_->find(id) != nullptr;
}

caf::expected<std::string> value_codec::encode(std::string_view key,
                                               std::string value) {
  unsigned char flags = impl_->compress(value);
  if (encrypts())
    return impl_->seal(key, std::move(value), flags | flag_aes);
  if (flags == 0 && !has_magic(value))
    return value;
  std::string out;
  out.reserve(header_bytes(flags, 0) + value.size());
  append_header(out, flags, {}, nullptr);
  out += value;
  return out;
}

caf::expected<std::string> value_codec::decode(std::string_view key,
                                               std::string stored) {
  if (!has_magic(stored))
    return stored;
  auto form = inspect_stored(stored);
  if (!form.problem.empty())
    return restore_error(key, form.problem);
  auto flags = static_cast<unsigned char>(stored[4]);
  std::string plain;
  if (form.encrypted) {
    if (auto err = impl_->open(key, stored, form, flags))
      return err;
    plain = std::move(stored);
  } else {
    plain = stored.substr(header_bytes(flags, 0));
  }
  if (flags & flag_zstd) {
    auto inflated = impl_->decompress(key, plain);
    if (!inflated)
      return inflated;
    plain = std::move(*inflated);
  }
  if (!(flags & flag_hex))
    return plain;
  std::string unpacked;
  if (!unpack_hex_runs(plain, impl_->max_value_bytes, unpacked))
    return restore_error(key, "its packed hex runs are damaged or unpack "
                              "past state.max_value_bytes");
  return unpacked;
}

} // namespace solver_state
