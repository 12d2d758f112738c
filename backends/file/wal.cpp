// The file backend's write-ahead log: preallocated, epoch-seeded CRC32C
// records, appends with a terminator, replay up to a torn tail (v1 too).

#include "backends/file/wal.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <optional>

#include "util/crc32c.hpp"
#include "backends/file/value.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

constexpr size_t v1_header_bytes = 8;
constexpr char v1_magic[v1_header_bytes] = {'S', 'S', 'W', 'A',
                                            'L', '1', '\n', '\0'};
constexpr char v2_magic[8] = {'S', 'S', 'W', 'A', 'L', '2', '\n', '\0'};
// op + version + expiry + key length
constexpr size_t fixed_body_bytes = 1 + 8 + 8 + 4;
// A record never exceeds a 1 KiB key plus a value the HTTP layer accepts;
// anything larger is garbage, not a record.
constexpr uint32_t max_record_bytes = 1u << 30;

/// The CRC every record of `epoch` starts from. Version 1 logs use 0.
uint32_t epoch_seed(uint64_t epoch) {
  std::string bytes;
  put_u64(bytes, epoch);
  return crc32c(bytes);
}

/// Parses the record at `off`, checksummed from `seed`; its total size, or
/// 0 when it is not a valid record. The cheap structural checks come first:
/// the corruption scan calls this at every offset of the rest of a log.
size_t parse_record(const std::string& buf, size_t off, uint32_t seed,
                    wal_record* out) {
  if (buf.size() - off < 8 + fixed_body_bytes)
    return 0;
  auto p = buf.data() + off;
  uint32_t len = get_u32(p + 4);
  if (len < fixed_body_bytes || len > max_record_bytes
      || len > buf.size() - off - 8)
    return 0;
  auto body = p + 8;
  auto op = static_cast<uint8_t>(body[0]);
  uint32_t key_len = get_u32(body + 17);
  if ((op != 1 && op != 2) || key_len > len - fixed_body_bytes)
    return 0;
  if (get_u32(p) != crc32c(p + 4, 4 + size_t{len}, seed))
    return 0;
  if (out) {
    out->op = static_cast<wal_op>(op);
    out->version = get_u64(body + 1);
    out->expires_at_ms = static_cast<unix_ms>(get_u64(body + 9));
    out->key.assign(body + fixed_body_bytes, key_len);
    out->value.assign(body + fixed_body_bytes + key_len,
                      len - fixed_body_bytes - key_len);
  }
  return 8 + size_t{len};
}

bool all_zero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

/// True when a valid record of the epoch `seed` starts anywhere after
/// `off`. Zero runs (the preallocated tail) are skipped a word at a time: a
/// record's length field is never zero.
bool valid_record_after(const std::string& buf, size_t off, uint32_t seed) {
  size_t p = off + 1;
  while (p + 8 + fixed_body_bytes <= buf.size()) {
    if (get_u32(buf.data() + p + 4) == 0 && get_u32(buf.data() + p) == 0) {
      p += 4;
      continue;
    }
    if (parse_record(buf, p, seed, nullptr) != 0)
      return true;
    ++p;
  }
  return false;
}

caf::error corrupt(const std::string& path, const std::string& what) {
  return make_state_error(state_errc::backend_error,
                          "corrupt log " + path + ": " + what);
}

/// The epoch of a version 2 header, or nothing when it is not one.
std::optional<uint64_t> parse_v2_header(const char* p) {
  if (std::memcmp(p, v2_magic, sizeof v2_magic) != 0
      || get_u32(p + 16) != crc32c(p, 16))
    return std::nullopt;
  return get_u64(p + 8);
}

const char* zero_block() {
  static const std::string zeros(256u << 10, '\0');
  return zeros.data();
}

} // namespace

void encode_wal_record(std::string& buf, uint64_t epoch, wal_op op,
                       std::string_view key, std::string_view value,
                       version_t version, unix_ms expires_at_ms) {
  auto start = buf.size();
  auto len = static_cast<uint32_t>(fixed_body_bytes + key.size()
                                   + value.size());
  put_u32(buf, 0);
  put_u32(buf, len);
  buf += static_cast<char>(op);
  put_u64(buf, version);
  put_u64(buf, static_cast<uint64_t>(expires_at_ms));
  put_u32(buf, static_cast<uint32_t>(key.size()));
  buf.append(key);
  buf.append(value);
  auto crc = crc32c(buf.data() + start + 4, 4 + size_t{len},
                    epoch == 0 ? 0 : epoch_seed(epoch));
  for (int i = 0; i < 4; ++i)
    buf[start + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

std::string encode_wal_header(uint64_t epoch) {
  std::string out(v2_magic, sizeof v2_magic);
  put_u64(out, epoch);
  put_u32(out, crc32c(out));
  put_u32(out, 0);
  return out;
}

caf::expected<replay_summary>
replay_wal(file_env& env, int dir_fd, const std::string& name,
           const std::string& path,
           const std::function<void(wal_record&&)>& visit) {
  int fd = env.open_at(dir_fd, name, O_RDONLY | O_NOFOLLOW);
  if (fd < 0)
    return io_failure("cannot open log", path, fd);
  unique_fd guard{&env, fd};
  std::string buf;
  if (int rc = env.read_all(fd, buf); rc != 0)
    return io_failure("cannot read log", path, rc);
  replay_summary summary;
  size_t off;
  uint32_t seed;
  if (buf.size() >= v1_header_bytes
      && std::memcmp(buf.data(), v1_magic, v1_header_bytes) == 0) {
    off = v1_header_bytes;
    seed = 0;
  } else if (buf.size() < wal_header_bytes
             || all_zero(buf.data(), wal_header_bytes)) {
    // Created but its header never made it: nothing was acknowledged.
    return summary;
  } else if (auto epoch = parse_v2_header(buf.data())) {
    off = wal_header_bytes;
    seed = epoch_seed(*epoch);
  } else {
    return corrupt(path, "bad header (not a log of this or an earlier "
                         "version of solver-state)");
  }
  while (off < buf.size()) {
    wal_record rec;
    auto n = parse_record(buf, off, seed, &rec);
    if (n == 0)
      break;
    visit(std::move(rec));
    ++summary.records;
    off += n;
  }
  summary.end = off;
  if (off < buf.size()) {
    if (valid_record_after(buf, off, seed))
      return corrupt(path, "bad record at offset " + std::to_string(off)
                             + " followed by valid records");
    auto rest = std::min(buf.size() - off, wal_terminator_bytes);
    summary.torn = !all_zero(buf.data() + off, rest);
  }
  return summary;
}

// -- wal_writer -------------------------------------------------------------------

caf::expected<wal_writer> wal_writer::create(std::shared_ptr<file_env> env,
                                             int dir_fd, std::string name,
                                             std::string path,
                                             bool preallocate) {
  int fd = env->open_at(dir_fd, name,
                        O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return io_failure("cannot create log", path, fd);
  wal_writer out{env, unique_fd{env.get(), fd}, std::move(path)};
  out.preallocate_ = preallocate;
  out.allocated_ = preallocate ? wal_chunk_bytes
                               : wal_header_bytes + wal_terminator_bytes;
  int rc = out.write_header();
  if (rc == 0)
    rc = out.write_zeros(wal_header_bytes + wal_terminator_bytes,
                         out.allocated_);
  if (rc != 0)
    return io_failure("cannot write log", out.path_, rc);
  if (int rc = env->sync(fd, false); rc != 0)
    return io_failure("cannot sync log", out.path_, rc);
  if (int rc = env->sync(dir_fd, false); rc != 0)
    return io_failure("cannot sync the directory of", out.path_, rc);
  return out;
}

caf::expected<wal_writer>
wal_writer::recycle(std::shared_ptr<file_env> env, int dir_fd,
                    const std::string& from, std::string name,
                    std::string path, bool preallocate) {
  if (int rc = env->rename_at(dir_fd, from, dir_fd, name); rc != 0)
    return io_failure("cannot reuse log " + from + " as", path, rc);
  int fd = env->open_at(dir_fd, name, O_RDWR | O_NOFOLLOW);
  if (fd < 0)
    return io_failure("cannot open log", path, fd);
  wal_writer out{env, unique_fd{env.get(), fd}, std::move(path)};
  char header[wal_header_bytes];
  auto got = env->read_at(fd, header, sizeof header, 0);
  if (got < 0)
    return io_failure("cannot read log", out.path_, static_cast<int>(got));
  auto epoch = got == static_cast<long>(sizeof header)
                 ? parse_v2_header(header)
                 : std::nullopt;
  uint64_t length = 0;
  if (int rc = env->file_size(fd, length); rc != 0)
    return io_failure("cannot stat log", out.path_, rc);
  if (!epoch || length < wal_header_bytes + wal_terminator_bytes)
    return corrupt(out.path_, "cannot recycle: no valid header");
  out.epoch_ = *epoch;
  out.allocated_ = length;
  out.preallocate_ = preallocate;
  if (auto err = out.reset())
    return err;
  if (int rc = env->sync(dir_fd, false); rc != 0)
    return io_failure("cannot sync the directory of", out.path_, rc);
  return out;
}

int wal_writer::write_header() {
  auto bytes = encode_wal_header(epoch_);
  bytes.append(wal_terminator_bytes, '\0');
  return env_->write_at(fd_.get(), bytes.data(), bytes.size(), 0);
}

int wal_writer::write_zeros(uint64_t from, uint64_t to) {
  constexpr uint64_t block = 256u << 10;
  while (from < to) {
    auto n = std::min(block, to - from);
    if (int rc = env_->write_at(fd_.get(), zero_block(), n,
                                static_cast<off_t>(from));
        rc != 0)
      return rc;
    from += n;
  }
  return 0;
}

caf::error wal_writer::repair() {
  if (needs_reset_)
    return reset();
  if (dirty_end_ <= size_)
    return {};
  int rc = write_zeros(size_, dirty_end_);
  if (rc == 0)
    rc = env_->sync(fd_.get(), true);
  if (rc != 0)
    return io_failure("cannot clear a failed write from log", path_, rc);
  dirty_end_ = 0;
  return {};
}

caf::error wal_writer::append(std::string& bytes, bool sync) {
  if (auto err = repair())
    return err;
  auto n = bytes.size();
  auto end = size_ + n + wal_terminator_bytes;
  bytes.append(wal_terminator_bytes, '\0');
  int rc = env_->write_at(fd_.get(), bytes.data(), bytes.size(),
                          static_cast<off_t>(size_));
  bytes.resize(n);
  // Past the zeroed space: zero the next chunk now, so the fdatasyncs
  // after it change no file size.
  uint64_t grown = std::max(allocated_, end);
  if (rc == 0 && preallocate_ && end > allocated_) {
    grown = (end / wal_chunk_bytes + 1) * wal_chunk_bytes;
    rc = write_zeros(end, grown);
  }
  const char* what = "cannot write log";
  if (rc == 0 && sync) {
    rc = env_->sync(fd_.get(), true);
    what = "cannot sync log";
  }
  if (rc != 0) {
    dirty_end_ = std::max(dirty_end_, end);
    repair(); // best effort now; retried before the next append
    return io_failure(what, path_, rc);
  }
  size_ += n;
  allocated_ = grown;
  return {};
}

caf::error wal_writer::sync() {
  if (int rc = env_->sync(fd_.get(), true); rc != 0)
    return io_failure("cannot sync log", path_, rc);
  return {};
}

caf::error wal_writer::reset() {
  // Until the new header is durable the log counts as broken: an append
  // after the old records under a half-written header could be lost.
  needs_reset_ = true;
  ++epoch_;
  int rc = write_header();
  if (rc == 0)
    rc = env_->sync(fd_.get(), true);
  if (rc != 0)
    return io_failure("cannot reset log", path_, rc);
  needs_reset_ = false;
  size_ = wal_header_bytes;
  dirty_end_ = 0;
  return {};
}

} // namespace solver_state
