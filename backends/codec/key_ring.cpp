// Reading key files: permissions first (a key others can read is no
// secret), then the contents, 32 raw bytes or 64 hex digits.

#include "backends/codec/key_ring.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "messages/errors.hpp"
#include "util/hex.hpp"

namespace solver_state {

namespace {

/// A key file holds 32 raw bytes or 64 hex digits and a newline: anything
/// much larger is not a key file.
constexpr size_t max_key_file_bytes = 256;

/// Bytes read from a key file, wiped when it goes out of scope.
struct secret_buffer {
  std::array<unsigned char, max_key_file_bytes> bytes{};
  size_t size = 0;
  ~secret_buffer() { OPENSSL_cleanse(bytes.data(), bytes.size()); }
};

caf::error key_error(size_t index, const std::string& why) {
  return make_state_error(state_errc::bad_request,
                          "state.encryption.keys[" + std::to_string(index)
                            + "].file: " + why);
}

/// Reads the whole file at `path` into `out`, refusing files that group or
/// others may access, or that another user owns.
caf::error read_key_file(size_t index, const std::string& path,
                         secret_buffer& out) {
  // O_NONBLOCK: opening a FIFO would wait for a writer, hanging the start
  // (and --check-config) before the check below could refuse it.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0 && errno == ELOOP)
    return key_error(index, path + " is a symbolic link: give the path of "
                              "the file itself (a Kubernetes secret's "
                              "..data/NAME, say), which only its owner may "
                              "read");
  if (fd < 0)
    return key_error(index, "cannot open " + path + ": "
                              + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return key_error(index, path + " is not a regular file");
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return key_error(index, path + " may be accessed by group or others (mode "
                              + mode + "): a key file must be private, "
                                       "chmod 600 it");
  }
  // Whoever owns the file may replace the key (chmod it back to 644, write
  // their own): only the service's own user, or root, may own it (ssh's
  // rule for its private keys).
  if (st.st_uid != ::geteuid() && st.st_uid != 0) {
    ::close(fd);
    return key_error(index, path + " is owned by uid "
                              + std::to_string(st.st_uid)
                              + ", neither the service's user (uid "
                              + std::to_string(::geteuid())
                              + ") nor root: its owner could change the key, "
                                "chown it");
  }
  ssize_t n = 0;
  while (out.size < out.bytes.size()
         && (n = ::read(fd, out.bytes.data() + out.size,
                        out.bytes.size() - out.size))
              > 0)
    out.size += static_cast<size_t>(n);
  auto read_errno = errno;
  ::close(fd);
  if (n < 0)
    return key_error(index, "cannot read " + path + ": "
                              + std::strerror(read_errno));
  return {};
}

/// True when the first `size` bytes of `in` are all hex digits.
bool all_hex_digits(const secret_buffer& in, size_t size) {
  for (size_t i = 0; i < size; ++i)
    if (hex_digit_value(static_cast<char>(in.bytes[i])) < 0)
      return false;
  return true;
}

/// The 32 key bytes of a key file's contents: 32 raw bytes, or 64 hex digits
/// with optional trailing whitespace.
caf::error parse_key(size_t index, const std::string& path,
                     const secret_buffer& in, key_ring::key& out) {
  size_t size = in.size;
  while (size > 0
         && (in.bytes[size - 1] == '\n' || in.bytes[size - 1] == '\r'
             || in.bytes[size - 1] == ' ' || in.bytes[size - 1] == '\t'))
    --size;
  // `openssl rand -hex 16` (or -hex 32 mistyped): 32 bytes, read as raw
  // they would pass for a 256-bit key of 128 bits' worth of hex text. A
  // random raw key is all hex digits with odds of about 1 in 10^34.
  if (size == encryption_key_bytes && all_hex_digits(in, size))
    return key_error(index, path + " holds 32 hex digits: 128 bits; write "
                              "64 hex digits (openssl rand -hex 32) or 32 "
                              "raw bytes");
  if (in.size == encryption_key_bytes) {
    std::memcpy(out.material.data(), in.bytes.data(), encryption_key_bytes);
    return {};
  }
  auto wrong = [&] {
    // The size only: the contents are a secret even when malformed.
    return key_error(index, path + " holds " + std::to_string(in.size)
                              + " bytes: a key file holds 32 raw bytes or 64 "
                                "hex digits (e.g. openssl rand -hex 32)");
  };
  if (size != 2 * encryption_key_bytes)
    return wrong();
  for (size_t i = 0; i < encryption_key_bytes; ++i) {
    int hi = hex_digit_value(static_cast<char>(in.bytes[2 * i]));
    int lo = hex_digit_value(static_cast<char>(in.bytes[2 * i + 1]));
    if (hi < 0 || lo < 0) {
      OPENSSL_cleanse(out.material.data(), out.material.size());
      return wrong();
    }
    out.material[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return {};
}

} // namespace

std::string key_id_problem(std::string_view id) {
  if (id.empty() || id.size() > max_key_id_bytes)
    return "a key id has 1 to " + std::to_string(max_key_id_bytes)
           + " characters";
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-')
      return "a key id holds only A-Z a-z 0-9 . _ -";
  return {};
}

caf::expected<std::shared_ptr<const key_ring>>
key_ring::load(const encryption_config& cfg) {
  std::shared_ptr<key_ring> ring{new key_ring};
  ring->keys_.reserve(cfg.keys.size()); // no reallocation: copies to wipe
  bool found_primary = false;
  for (size_t i = 0; i < cfg.keys.size(); ++i) {
    auto& k = cfg.keys[i];
    if (auto problem = key_id_problem(k.id); !problem.empty())
      return make_state_error(state_errc::bad_request,
                              "state.encryption.keys[" + std::to_string(i)
                                + "].id: " + problem);
    auto& out = ring->keys_.emplace_back();
    out.id = k.id;
    secret_buffer buf;
    if (auto err = read_key_file(i, k.file, buf))
      return err;
    if (auto err = parse_key(i, k.file, buf, out))
      return err;
    if (k.id == cfg.primary) {
      ring->primary_ = i;
      found_primary = true;
    }
  }
  if (!found_primary)
    return make_state_error(state_errc::bad_request,
                            "state.encryption.primary: '" + cfg.primary
                              + "' is not the id of a listed key");
  ring->requires_encrypted_ = cfg.require_encrypted;
  return std::shared_ptr<const key_ring>{std::move(ring)};
}

key_ring::~key_ring() {
  for (auto& k : keys_)
    OPENSSL_cleanse(k.material.data(), k.material.size());
}

const key_ring::key* key_ring::find(std::string_view id) const {
  for (auto& k : keys_)
    if (k.id == id)
      return &k;
  return nullptr;
}

} // namespace solver_state
