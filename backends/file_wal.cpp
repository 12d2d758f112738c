#include "backends/file_wal.hpp"

#include <fcntl.h>

#include <cstring>

#include "backends/file_crc32c.hpp"
#include "backends/file_value.hpp"
#include "messages/errors.hpp"

namespace solver_state {

namespace {

constexpr char wal_magic[wal_header_bytes] = {'S', 'S', 'W', 'A',
                                              'L', '1', '\n', '\0'};
// op + version + expiry + key length
constexpr size_t fixed_body_bytes = 1 + 8 + 8 + 4;
// A record never exceeds a 1 KiB key plus a value the HTTP layer accepts;
// anything larger is garbage, not a record.
constexpr uint32_t max_record_bytes = 1u << 30;

/// Parses the record at `off`; its total size, or 0 when it is not a valid
/// record.
size_t parse_record(const std::string& buf, size_t off, wal_record* out) {
  if (buf.size() - off < 8)
    return 0;
  auto p = buf.data() + off;
  uint32_t len = get_u32(p + 4);
  if (len < fixed_body_bytes || len > max_record_bytes
      || len > buf.size() - off - 8)
    return 0;
  if (get_u32(p) != crc32c(p + 4, 4 + size_t{len}))
    return 0;
  auto body = p + 8;
  auto op = static_cast<uint8_t>(body[0]);
  uint32_t key_len = get_u32(body + 17);
  if ((op != 1 && op != 2) || key_len > len - fixed_body_bytes)
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

/// True when a valid record starts anywhere after `off`.
bool valid_record_after(const std::string& buf, size_t off) {
  for (size_t p = off + 1; p + 8 + fixed_body_bytes <= buf.size(); ++p)
    if (parse_record(buf, p, nullptr) != 0)
      return true;
  return false;
}

} // namespace

void encode_wal_record(std::string& buf, wal_op op, std::string_view key,
                       std::string_view value, version_t version,
                       unix_ms expires_at_ms) {
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
  auto crc = crc32c(buf.data() + start + 4, 4 + size_t{len});
  for (int i = 0; i < 4; ++i)
    buf[start + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

caf::expected<replay_summary>
replay_wal(file_env& env, int dir_fd, const std::string& name,
           const std::string& path,
           const std::function<void(wal_record&&)>& visit) {
  int fd = env.open_at(dir_fd, name, O_RDWR | O_NOFOLLOW);
  if (fd < 0)
    return io_failure("cannot open log", path, fd);
  unique_fd guard{&env, fd};
  std::string buf;
  if (int rc = env.read_all(fd, buf); rc != 0)
    return io_failure("cannot read log", path, rc);
  replay_summary summary;
  if (buf.size() < wal_header_bytes) {
    // Created but its header never made it: an empty log.
    summary.torn_bytes = buf.size();
    return summary;
  }
  if (std::memcmp(buf.data(), wal_magic, wal_header_bytes) != 0)
    return make_state_error(state_errc::backend_error,
                            "corrupt log " + path + ": bad header");
  size_t off = wal_header_bytes;
  while (off < buf.size()) {
    wal_record rec;
    auto n = parse_record(buf, off, &rec);
    if (n == 0)
      break;
    visit(std::move(rec));
    ++summary.records;
    off += n;
  }
  if (off < buf.size()) {
    if (valid_record_after(buf, off))
      return make_state_error(state_errc::backend_error,
                              "corrupt log " + path + ": bad record at offset "
                                + std::to_string(off)
                                + " followed by valid records");
    summary.torn_bytes = buf.size() - off;
    if (int rc = env.truncate(fd, static_cast<off_t>(off)); rc != 0)
      return io_failure("cannot cut the torn tail of", path, rc);
  }
  return summary;
}

caf::expected<wal_writer> wal_writer::create(std::shared_ptr<file_env> env,
                                             int dir_fd, std::string name,
                                             std::string path) {
  int fd = env->open_at(dir_fd, name,
                        O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644);
  if (fd < 0)
    return io_failure("cannot create log", path, fd);
  wal_writer out{env, unique_fd{env.get(), fd}, std::move(path)};
  if (int rc = env->write_at(fd, wal_magic, wal_header_bytes, 0); rc != 0)
    return io_failure("cannot write log", out.path_, rc);
  if (int rc = env->sync(fd, false); rc != 0)
    return io_failure("cannot sync log", out.path_, rc);
  if (int rc = env->sync(dir_fd, false); rc != 0)
    return io_failure("cannot sync the directory of", out.path_, rc);
  return out;
}

caf::error wal_writer::repair() {
  if (!needs_repair_)
    return {};
  if (int rc = env_->truncate(fd_.get(), static_cast<off_t>(size_)); rc != 0)
    return io_failure("cannot cut back log", path_, rc);
  needs_repair_ = false;
  return {};
}

caf::error wal_writer::append(const std::string& bytes, bool sync) {
  if (auto err = repair())
    return err;
  int rc = env_->write_at(fd_.get(), bytes.data(), bytes.size(),
                          static_cast<off_t>(size_));
  const char* what = "cannot write log";
  if (rc == 0 && sync) {
    rc = env_->sync(fd_.get(), true);
    what = "cannot sync log";
  }
  if (rc != 0) {
    needs_repair_ = true;
    repair(); // best effort now; retried before the next append
    return io_failure(what, path_, rc);
  }
  size_ += bytes.size();
  return {};
}

caf::error wal_writer::sync() {
  if (int rc = env_->sync(fd_.get(), true); rc != 0)
    return io_failure("cannot sync log", path_, rc);
  return {};
}

caf::error wal_writer::reset() {
  if (int rc = env_->truncate(fd_.get(), wal_header_bytes); rc != 0)
    return io_failure("cannot trim log", path_, rc);
  size_ = wal_header_bytes;
  needs_repair_ = false;
  if (int rc = env_->sync(fd_.get(), true); rc != 0)
    return io_failure("cannot sync log", path_, rc);
  return {};
}

} // namespace solver_state
