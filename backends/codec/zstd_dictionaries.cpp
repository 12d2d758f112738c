// Loading zstd dictionaries and preparing them for compression and
// decompression.

#include "backends/codec/zstd_dictionaries.hpp"

#include <fstream>
#include <sstream>

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

} // namespace

caf::expected<std::shared_ptr<const zstd_dictionaries>>
zstd_dictionaries::load(const compression_config& cfg) {
  if (cfg.dictionaries.empty())
    return std::shared_ptr<const zstd_dictionaries>{};
  if (cfg.dictionaries.size() > max_zstd_dictionaries)
    return make_state_error(state_errc::bad_request,
                            "state.compression.dictionaries: at most "
                              + std::to_string(max_zstd_dictionaries));
  std::shared_ptr<zstd_dictionaries> out{new zstd_dictionaries};
  for (size_t i = 0; i < cfg.dictionaries.size(); ++i) {
    auto& file = cfg.dictionaries[i];
    std::ifstream in{file, std::ios::binary};
    if (!in)
      return refuse(i, file, "cannot be read");
    std::stringstream bytes;
    bytes << in.rdbuf();
    auto dict = bytes.str();
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
