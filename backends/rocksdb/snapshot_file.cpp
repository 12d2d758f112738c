#include "backends/rocksdb/snapshot_file.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <unistd.h>

#include "messages/errors.hpp"

namespace solver_state::rocks {

namespace {

caf::error os_failure(const std::string& what, const std::string& path,
                      int err) {
  return make_state_error(err == ENOSPC || err == EDQUOT
                            ? state_errc::insufficient_storage
                            : state_errc::backend_error,
                          what + " " + path + ": " + std::strerror(err));
}

/// fsync of the directory itself: a rename or an unlink in it is durable.
caf::error sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return os_failure("cannot open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? caf::error{} : os_failure("cannot sync", dir, err);
}

bool is_snapshot_name(const std::string& name) {
  constexpr std::string_view head{"query-"}, tail{".snapshot"};
  return name.size() > head.size() + tail.size()
         && name.compare(0, head.size(), head) == 0
         && name.compare(name.size() - tail.size(), tail.size(), tail) == 0;
}

/// What ends a bound snapshot, after the encoded totals.
constexpr std::string_view binding_tag{"rocksdb-snapshot-of/1"};

} // namespace

void bind_snapshot(std::string& bytes, const shard_totals& data) {
  bytes += encode_totals(data);
  bytes += binding_tag;
}

std::optional<std::string> unbind_snapshot(std::string bytes,
                                           const shard_totals& data) {
  auto totals = encode_totals(data);
  auto tail = totals.size() + binding_tag.size();
  if (bytes.size() < tail
      || std::string_view{bytes}.substr(bytes.size() - binding_tag.size())
           != binding_tag
      || std::string_view{bytes}.substr(bytes.size() - tail, totals.size())
           != totals)
    return std::nullopt;
  bytes.resize(bytes.size() - tail);
  return bytes;
}

std::string snapshot_file_name(size_t shard) {
  return "query-" + std::to_string(shard) + ".snapshot";
}

caf::error write_snapshot_file(const std::string& dir, const std::string& name,
                               const std::string& bytes) {
  auto path = dir + "/" + name;
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return os_failure("cannot create", tmp, errno);
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return os_failure("cannot write", tmp, err);
    }
    done += static_cast<size_t>(n);
  }
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(tmp.c_str());
    return os_failure("cannot sync", tmp, err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(tmp.c_str());
    return os_failure("cannot rename into", path, err);
  }
  return sync_dir(dir);
}

caf::expected<std::optional<std::string>>
take_snapshot_file(const std::string& dir, const std::string& name) {
  auto path = dir + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT)
    return std::optional<std::string>{};
  if (fd < 0)
    return os_failure("cannot open", path, errno);
  std::string bytes;
  char buf[1 << 16];
  int err = 0;
  while (true) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      err = errno;
    if (n <= 0)
      break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  // Gone, durably, before anything is written: a crash later in this run
  // must not leave it for the next start to trust.
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return os_failure("cannot remove", path, errno);
  if (auto synced = sync_dir(dir))
    return synced;
  if (err != 0)
    return os_failure("cannot read", path, err);
  return std::optional<std::string>{std::move(bytes)};
}

caf::error remove_snapshot_files(const std::string& dir) {
  std::error_code ec;
  bool removed = false;
  for (auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto name = e.path().filename().string();
    if (!is_snapshot_name(name))
      continue;
    if (::unlink(e.path().c_str()) != 0 && errno != ENOENT)
      return os_failure("cannot remove", e.path().string(), errno);
    removed = true;
  }
  if (ec)
    return make_state_error(state_errc::backend_error,
                            "cannot list " + dir + ": " + ec.message());
  return removed ? sync_dir(dir) : caf::error{};
}

} // namespace solver_state::rocks
