// Hex runs packed, zstd and AES-256-GCM (aes_gcm.hpp) behind value_codec.
// Each codec keeps one aes_gcm_key per key with the key schedule already
// set up, so a value costs a nonce, not a key expansion.

#include "backends/codec/value_codec.hpp"

#include <array>
#include <cstring>

#include <openssl/rand.h>
// For ZSTD_c_literalCompressionMode, an experimental parameter that zstd
// 1.4-1.5 accept through the stable ZSTD_CCtx_setParameter.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "backends/codec/aes_gcm.hpp"
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
constexpr size_t nonce_bytes = aes_gcm_key::nonce_bytes;
constexpr size_t tag_bytes = aes_gcm_key::tag_bytes;

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

/// What a sealed blob named `name` is bound to: never a key (keys hold no
/// control byte), so a value whose plaintext a client chose, its stored
/// bytes copied over the blob, does not open as it.
std::string sealed_aad_name(std::string_view name) {
  std::string out(1, '\0');
  out += "sealed ";
  out += name;
  return out;
}

caf::error restore_error(std::string_view key, const std::string& why) {
  return make_value_error("key '" + std::string{key}
                            + "': cannot restore its stored value: " + why);
}

/// Why state.encryption.require_encrypted refuses a stored value.
const std::string not_encrypted_reason =
  "it is stored without encryption, which "
  "state.encryption.require_encrypted refuses (written before encryption "
  "was on, or by another writer of the backend)";

/// `s` cut down to `part`, a view into it, in place (no new string). By
/// reference: a moved short string would leave `part` behind in the old one.
std::string keep_only(std::string& s, std::string_view part) {
  auto at = static_cast<size_t>(part.data() - s.data());
  auto size = part.size();
  s.erase(0, at);
  s.resize(size);
  return std::move(s);
}

const unsigned char* bytes_of(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

/// A buffer reused from value to value: no allocation and no zeroing per
/// value for the forms a value passes through (packed, compressed). One
/// large value does not pin its size: past keep_bytes it is let go.
class scratch_buffer {
public:
  /// Room for `n` bytes, contents unspecified.
  char* reserve(size_t n) {
    if (n > capacity_) {
      data_.reset(new char[n]);
      capacity_ = n;
    }
    return data_.get();
  }

  void trim() {
    if (capacity_ > keep_bytes) {
      data_.reset();
      capacity_ = 0;
    }
  }

private:
  static constexpr size_t keep_bytes = 64 * 1024;
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

/// A value on its way to being stored: the flags of what was done to it
/// and the bytes that came out (in the value itself or in a scratch
/// buffer).
struct compressed_form {
  unsigned char flags = 0;
  std::string_view body;
};

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
    std::unique_ptr<aes_gcm_key> gcm;
  };

  compression_config compression;
  std::shared_ptr<const key_ring> keys;
  size_t max_decoded_bytes;
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
  /// How the literals of the value at hand are coded.
  ZSTD_paramSwitch_e literal_mode = ZSTD_ps_enable;
  /// The packed form of the value at hand, and its zstd frame (either way).
  scratch_buffer packed_bytes;
  scratch_buffer zstd_bytes;

  impl(compression_config c, std::shared_ptr<const key_ring> k, size_t max,
       std::shared_ptr<const zstd_dictionaries> d,
       aes_gcm_key::implementation aes)
    : compression(std::move(c)),
      keys(std::move(k)),
      max_decoded_bytes(max),
      dictionaries(std::move(d)) {
    if (compression.type == compression_type::zstd) {
      // Parameters set once: ZSTD_compress2 then skips re-deriving them
      // for every value (about 15% of a 2 KiB value's time here).
      zip = ZSTD_createCCtx();
      ZSTD_CCtx_setParameter(zip, ZSTD_c_compressionLevel, compression.level);
      // Literals entropy-coded unless a value is mostly packed hex (see
      // literals_for): zstd's fast (negative) levels would otherwise store
      // them raw, and they shrink text that is neither a dictionary's match
      // nor a hex run (base64 by a quarter).
      ZSTD_CCtx_setParameter(zip, ZSTD_c_literalCompressionMode,
                             literal_mode);
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
      // The implementation asked for, or OpenSSL's where this CPU cannot
      // run it. None (OpenSSL would not take the key): that key's values
      // answer an error naming it.
      auto gcm = aes_gcm_key::make(key.material.data(), aes);
      if (!gcm)
        gcm = aes_gcm_key::make(key.material.data(),
                                aes_gcm_key::implementation::openssl);
      ciphers.push_back({&key, std::move(gcm)});
    }
    primary_id = keys->primary().id;
    primary = find(primary_id);
  }

  ~impl() {
    ZSTD_freeCCtx(zip);
    ZSTD_freeDCtx(unzip);
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

  /// Whether zstd tries to entropy-code the literals of a value of `size`
  /// bytes that packs to `packed_size` (0: no hex run). What packing saved
  /// is about the number of packed digit bytes, which are random: when they
  /// are half of what zstd sees or more, Huffman-coding the literals gains
  /// next to nothing (a 1.5 KiB order stores 475 bytes either way, its
  /// text being the dictionary's) and costs 0.5 us per order, so zstd's own
  /// choice for the level stands (raw at the fast levels, coded from level
  /// 1). Changed only when it differs from the last value's: a parameter
  /// change makes zstd derive them anew.
  void code_literals_for(size_t size, size_t packed_size) {
    bool mostly_random = packed_size != 0
                         && (size - packed_size) * 2 >= packed_size;
    auto mode = mostly_random ? ZSTD_ps_auto : ZSTD_ps_enable;
    if (mode == literal_mode)
      return;
    literal_mode = mode;
    ZSTD_CCtx_setParameter(zip, ZSTD_c_literalCompressionMode, mode);
  }

  /// The smallest form of `value`: hex runs packed, then zstd, or either,
  /// or the value as it is (flags 0).
  compressed_form compress(std::string_view value) {
    if (!zip || value.size() < compression.min_bytes)
      return {0, value};
    auto* packed = packed_bytes.reserve(packed_bound(value.size()));
    auto packed_size = pack_hex_runs(value, packed);
    unsigned char hex = packed_size ? flag_hex : 0;
    auto source = hex ? std::string_view{packed, packed_size} : value;
    code_literals_for(value.size(), packed_size);
    auto bound = ZSTD_compressBound(source.size());
    auto* zipped = zstd_bytes.reserve(bound);
    // The frame records the content size (srcSize is known): decompress
    // checks it against max_decoded_bytes before allocating.
    auto n = ZSTD_compress2(zip, zipped, bound, source.data(), source.size());
    // Packing grows a value whose 0xF5 bytes outnumber what its runs save:
    // the smallest of the three forms is kept, never a larger one.
    if (!ZSTD_isError(n) && n < std::min(value.size(), source.size()))
      return {static_cast<unsigned char>(flag_zstd | hex), {zipped, n}};
    if (!hex || source.size() >= value.size())
      return {0, value};
    return {flag_hex, source};
  }

  /// The size `body`, a zstd frame, says it decompresses to.
  caf::expected<size_t> frame_content_size(std::string_view key,
                                           std::string_view body) {
    auto size = ZSTD_getFrameContentSize(body.data(), body.size());
    if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
      return restore_error(key, "its zstd frame is damaged");
    // A bound before allocating: a crafted frame must not make the service
    // allocate gigabytes.
    if (size > max_decoded_bytes)
      return restore_error(key, "it would decompress to "
                                  + std::to_string(size)
                                  + " bytes, more than any value may have ("
                                  + std::to_string(max_decoded_bytes) + ")");
    return static_cast<size_t>(size);
  }

  /// Decompresses `body` into the `size` bytes at `out` (frame_content_size
  /// said so).
  caf::error decompress(std::string_view key, std::string_view body,
                        char* out, size_t size) {
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
    auto n = dict ? ZSTD_decompress_usingDDict(unzip, out, size, body.data(),
                                               body.size(), dict)
                  : ZSTD_decompressDCtx(unzip, out, size, body.data(),
                                        body.size());
    if (ZSTD_isError(n) || n != size)
      return restore_error(key, "its zstd frame is damaged");
    return caf::none;
  }

  /// Why `body`, the body of a frame with `flags` that no cipher
  /// authenticated, cannot be restored by any configuration; empty when it
  /// is sound, or when only a configuration could tell (a dictionary this
  /// one does not list, a size past this one's max_decoded_bytes): another
  /// configuration may read it.
  std::string body_damage(std::string_view body, unsigned char flags) {
    const std::string damaged_zstd = "its zstd frame is damaged";
    if (flags & flag_zstd) {
      auto size = ZSTD_getFrameContentSize(body.data(), body.size());
      if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN)
        return damaged_zstd;
      if (size > max_decoded_bytes)
        return {};
      if (auto id = ZSTD_getDictID_fromFrame(body.data(), body.size()))
        if (!dictionaries || !dictionaries->find(id))
          return {};
      auto* inflated = zstd_bytes.reserve(size);
      // The dictionary is listed: a failure is the frame's own.
      if (decompress({}, body, inflated, size))
        return damaged_zstd;
      body = std::string_view{inflated, size};
    }
    // Packed runs unpack to at most two bytes a byte: a bound no
    // codec's max_decoded_bytes makes a failure of its own.
    std::string unpacked;
    if ((flags & flag_hex)
        && !unpack_hex_runs(body, 2 * body.size() + 1, unpacked))
      return "its packed hex runs are damaged";
    return {};
  }

  /// Lets go of scratch grown past its keep size, whichever way the value
  /// at hand goes.
  struct trim_on_exit {
    impl& owner;
    ~trim_on_exit() {
      owner.packed_bytes.trim();
      owner.zstd_bytes.trim();
    }
  };

  /// The frame of `value` encrypted under the primary key.
  caf::expected<std::string> seal(std::string_view key, std::string_view value,
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
    build_aad(aad, key, std::string_view{out}.substr(0, header));
    auto* body = reinterpret_cast<unsigned char*>(out.data()) + header;
    if (!primary->gcm || !primary->gcm->seal(value, aad, nonce, body,
                                             body + value.size()))
      return make_state_error(state_errc::backend_error,
                              "AES-256-GCM encryption under key id '" + id
                                + "' failed");
    return out;
  }

  /// Decrypts the body of `stored` in place (no buffer of its own: a read
  /// of a small value would otherwise spend a tenth of its decryption in
  /// malloc and free) and returns where it is in `stored`. On failure
  /// `stored` is garbage.
  /// `key` names it in errors; `bound` (default: `key`) is what it is
  /// bound to.
  caf::expected<std::string_view> open(std::string_view key,
                                       std::string& stored,
                                       const stored_form& form,
                                       unsigned char flags,
                                       std::string_view bound = {}) {
    auto* c = find(form.key_id);
    // The id comes from the stored bytes: one no configuration could hold
    // (control bytes, a newline) is not quoted into errors and logs.
    if (!c && !key_id_problem(form.key_id).empty())
      return restore_error(key, "its frame names no valid key id (it was not "
                                "written by this service, or was altered)");
    if (!c)
      return restore_error(key, "it is encrypted under key id '"
                                  + std::string{form.key_id}
                                  + "', which state.encryption.keys does not "
                                    "list");
    auto header = header_bytes(flags, form.key_id.size());
    auto body_size = stored.size() - header - tag_bytes;
    auto* nonce = bytes_of(stored) + header - nonce_bytes;
    build_aad(aad, bound.empty() ? key : bound,
              std::string_view{stored}.substr(0, header));
    // GCM decrypts in place (same in and out); the header, and with it the
    // nonce and form.key_id, and the tag after the body are not touched.
    auto* body = reinterpret_cast<unsigned char*>(stored.data()) + header;
    if (!c->gcm)
      return restore_error(key, "the cipher would not take key id '"
                                  + std::string{form.key_id} + "'");
    if (!c->gcm->open(body, body_size, aad, nonce, body + body_size))
      return restore_error(key, "it does not authenticate under key id '"
                                  + std::string{form.key_id}
                                  + "': it was altered, or it was stored for "
                                    "another key");
    return std::string_view{stored}.substr(header, body_size);
  }
};

value_codec::value_codec(compression_config compression,
                         std::shared_ptr<const key_ring> keys,
                         size_t max_decoded_bytes,
                         std::shared_ptr<const zstd_dictionaries> dictionaries,
                         aes_gcm_key::implementation aes)
  : impl_(std::make_unique<impl>(std::move(compression), std::move(keys),
                                 max_decoded_bytes, std::move(dictionaries),
                                 aes)) {
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
  impl::trim_on_exit trim{*impl_};
  auto form = impl_->compress(value);
  if (encrypts())
    return impl_->seal(key, form.body, form.flags | flag_aes);
  if (form.flags == 0 && !has_magic(value))
    return value;
  std::string out;
  out.reserve(header_bytes(form.flags, 0) + form.body.size());
  append_header(out, form.flags, {}, nullptr);
  out += form.body;
  return out;
}

std::string value_codec::damage(std::string_view key, std::string stored) {
  if (refuses_plaintext(stored))
    return not_encrypted_reason; // no configuration of this store reads it
  if (!has_magic(stored))
    return {};
  auto form = inspect_stored(stored);
  if (!form.problem.empty())
    return form.problem;
  auto flags = static_cast<unsigned char>(stored[4]);
  if (!form.encrypted) {
    // No tag vouches for it: its body says whether it is sound.
    impl::trim_on_exit trim{*impl_};
    return impl_->body_damage(
      std::string_view{stored}.substr(header_bytes(flags, 0)), flags);
  }
  if (!impl_->find(form.key_id))
    return {}; // nothing to check it by
  // One that authenticates is what a codec wrote: sound.
  auto opened = impl_->open(key, stored, form, flags);
  return opened ? std::string{} : message_of(opened.error());
}

bool value_codec::refuses_plaintext(std::string_view stored) const {
  if (!impl_->keys || !impl_->keys->requires_encrypted())
    return false;
  auto form = inspect_stored(stored);
  return !form.encrypted && form.problem.empty(); // a bad frame says why
}

caf::expected<std::string> value_codec::decode(std::string_view key,
                                               std::string stored) {
  if (refuses_plaintext(stored))
    return restore_error(key, not_encrypted_reason);
  if (!has_magic(stored))
    return stored;
  auto form = inspect_stored(stored);
  if (!form.problem.empty())
    return restore_error(key, form.problem);
  auto flags = static_cast<unsigned char>(stored[4]);
  auto body = std::string_view{stored}.substr(header_bytes(flags, 0));
  if (form.encrypted) {
    auto opened = impl_->open(key, stored, form, flags);
    if (!opened)
      return std::move(opened.error());
    body = *opened;
  }
  if (!(flags & (flag_zstd | flag_hex)))
    return keep_only(stored, body); // the value is the body
  impl::trim_on_exit trim{*impl_};
  if (flags & flag_zstd) {
    auto size = impl_->frame_content_size(key, body);
    if (!size)
      return std::move(size.error());
    if (!(flags & flag_hex)) {
      std::string plain(*size, '\0');
      if (auto err = impl_->decompress(key, body, plain.data(), *size))
        return err;
      return plain;
    }
    // Inflated into scratch, then unpacked into the value's own string.
    auto* inflated = impl_->zstd_bytes.reserve(*size);
    if (auto err = impl_->decompress(key, body, inflated, *size))
      return err;
    body = std::string_view{inflated, *size};
  }
  std::string unpacked;
  if (unpack_hex_runs(body, impl_->max_decoded_bytes, unpacked))
    return unpacked;
  // Runs unpack to at most two bytes a byte: under that bound a failure is
  // the runs' own.
  if (!unpack_hex_runs(body, 2 * body.size() + 1, unpacked))
    return restore_error(key, "its packed hex runs are damaged");
  return restore_error(key, "it would unpack to "
                              + std::to_string(unpacked.size())
                              + " bytes, more than any value may have ("
                              + std::to_string(impl_->max_decoded_bytes)
                              + ")");
}

caf::expected<std::string> value_codec::seal(std::string_view name,
                                             std::string_view bytes) {
  if (!encrypts())
    return make_state_error(state_errc::backend_error,
                            "cannot seal " + std::string{name}
                              + ": state.encryption is off");
  return impl_->seal(sealed_aad_name(name), bytes, flag_aes);
}

caf::expected<std::string> value_codec::unseal(std::string_view name,
                                               std::string sealed) {
  auto form = inspect_stored(sealed);
  if (!form.problem.empty())
    return restore_error(name, form.problem);
  if (!form.framed || static_cast<unsigned char>(sealed[4]) != flag_aes)
    return restore_error(name, "it is not sealed (written while "
                               "state.encryption was off?)");
  auto opened = impl_->open(name, sealed, form, flag_aes,
                            sealed_aad_name(name));
  if (!opened)
    return std::move(opened.error());
  return keep_only(sealed, *opened);
}

} // namespace solver_state
