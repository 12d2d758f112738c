// Loading zstd dictionaries and preparing them for compression and
// decompression.

#include "backends/codec/zstd_dictionaries.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include <zstd.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

caf::error refuse(size_t i, const std::string& file, const std::string& why) {
  return make_state_error(state_errc::bad_request,
                          "state.compression.dictionaries["
                            + std::to_string(i) + "]: '" + file + "' " + why);
}

/// Bytes of a dictionary file; more is no dictionary anyone trained for
/// values of at most a few MiB.
constexpr size_t max_dictionary_bytes = 16u << 20;

/// Reads the file at `path` into `out` (at most max_dictionary_bytes and
/// one more, so a larger file is told apart), refusing, when `private_only`,
/// a file that group or others may access: a dictionary holds verbatim
/// fragments of the values it was trained on, which encryption keeps
/// unreadable at rest. The same rule as for key files (key_ring.cpp).
caf::error read_dictionary_file(size_t i, const std::string& path,
                                bool private_only, std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return refuse(i, path, "cannot be read");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return refuse(i, path, "is not a regular file");
  }
  if (private_only && (st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    return refuse(i, path,
                  std::string{"may be accessed by group or others (mode "}
                    + mode
                    + "): a dictionary holds fragments of the values it was "
                      "trained on in plaintext, which state.encryption keeps "
                      "secret; chmod 600 it");
  }
  out.clear();
  char buffer[1 << 16];
  for (;;) {
    auto n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      ::close(fd);
      return refuse(i, path, "cannot be read");
    }
    if (n == 0)
      break;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > max_dictionary_bytes)
      break;
  }
  ::close(fd);
  return {};
}

} // namespace

caf::expected<std::shared_ptr<const zstd_dictionaries>>
zstd_dictionaries::load(const compression_config& cfg, bool private_only) {
  if (cfg.dictionaries.empty())
    return std::shared_ptr<const zstd_dictionaries>{};
  if (cfg.dictionaries.size() > max_zstd_dictionaries)
    return make_state_error(state_errc::bad_request,
                            "state.compression.dictionaries: at most "
                              + std::to_string(max_zstd_dictionaries));
  std::shared_ptr<zstd_dictionaries> out{new zstd_dictionaries};
  for (size_t i = 0; i < cfg.dictionaries.size(); ++i) {
    auto& file = cfg.dictionaries[i];
    std::string dict;
    if (auto err = read_dictionary_file(i, file, private_only, dict))
      return err;
    if (dict.size() > max_dictionary_bytes)
      return refuse(i, file, "is larger than 16 MiB: not a dictionary");
    // Raw content would load as a dictionary with id 0, which no frame can
    // name: only the trained format (magic and id) is accepted.
    auto id = ZSTD_getDictID_fromDict(dict.data(), dict.size());
    if (id == 0)
      return refuse(i, file, "is not a zstd dictionary (train one with "
                             "solver-state-cli train-dictionary or zstd "
                             "--train)");
    for (size_t j = 0; j < out->ids_.size(); ++j)
      if (out->ids_[j] == id)
        return refuse(i, file, "has id " + std::to_string(id)
                                 + ", as dictionaries["
                                 + std::to_string(j) + "] has");
    auto* ddict = ZSTD_createDDict(dict.data(), dict.size());
    if (!ddict)
      return refuse(i, file, "cannot be loaded by zstd");
    out->ids_.push_back(id);
    out->decompress_.push_back(ddict);
    if (i == 0) {
      out->compress_ = ZSTD_createCDict(dict.data(), dict.size(), cfg.level);
      if (!out->compress_)
        return refuse(i, file, "cannot be loaded by zstd");
    }
  }
  return std::shared_ptr<const zstd_dictionaries>{std::move(out)};
}

zstd_dictionaries::~zstd_dictionaries() {
  ZSTD_freeCDict(compress_);
  for (auto* d : decompress_)
    ZSTD_freeDDict(d);
}

const ZSTD_DDict_s* zstd_dictionaries::find(uint32_t id) const {
  for (size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id)
      return decompress_[i];
  return nullptr;
}

} // namespace solver_state
