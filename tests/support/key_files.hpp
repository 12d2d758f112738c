#pragma once

// Encryption key files for tests: a private temp directory, keys written
// the way an operator would (openssl rand -hex 32 > FILE; chmod 600 FILE),
// and the state config that turns compression and encryption on.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>

#include "config/config.hpp"

namespace solver_state::testing {

class key_files {
public:
  key_files() {
    std::string tmpl = (std::filesystem::temp_directory_path()
                        / "solver-keys-XXXXXX")
                         .string();
    if (!::mkdtemp(tmpl.data()))
      throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  ~key_files() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  key_files(const key_files&) = delete;
  key_files& operator=(const key_files&) = delete;

  /// Writes `contents` to a file named `name` with `mode`; its path.
  std::string write(const std::string& name, const std::string& contents,
                    mode_t mode = 0600) const {
    auto path = dir_ + "/" + name;
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ::write(fd, contents.data(), contents.size())
                    != static_cast<ssize_t>(contents.size()))
      throw std::runtime_error("cannot write " + path);
    ::fchmod(fd, mode);
    ::close(fd);
    return path;
  }

  /// A fresh random key of `id` as 64 hex digits and a newline; the
  /// config entry naming its file.
  encryption_key_config hex_key(const std::string& id) const {
    static const char digits[] = "0123456789abcdef";
    std::random_device rd;
    std::string hex;
    for (int i = 0; i < 64; ++i)
      hex.push_back(digits[rd() % 16]);
    return {id, write(id + ".key", hex + "\n")};
  }

  const std::string& dir() const { return dir_; }

private:
  std::string dir_;
};

/// Turns on zstd (for values of 64 bytes and more) and AES-256-GCM with a
/// primary key "k2" and an older "k1" still listed.
inline void compress_and_encrypt(state_config& cfg, const key_files& keys) {
  cfg.compression.type = compression_type::zstd;
  cfg.compression.min_bytes = 64;
  cfg.encryption.keys = {keys.hex_key("k1"), keys.hex_key("k2")};
  cfg.encryption.primary = "k2";
}

} // namespace solver_state::testing
