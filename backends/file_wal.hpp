#pragma once

// The write-ahead log of one shard ("~wal-N.log" under base_path). A write is
// acknowledged once its record is in the log (and, with fsync: always, the
// log is synced); checkpoints fold the log into the key tree and trim it.
//
// File: "SSWAL1\n\0", then records
//   crc32c u32 | length u32 | op u8 | version u64 | expires_at_ms u64 |
//   key_length u32 | key | value
// where length counts the bytes after itself and the CRC covers everything
// after itself (length included, so a garbled length is caught too).

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/file_env.hpp"
#include "messages/values.hpp"

namespace solver_state {

enum class wal_op : uint8_t { put = 1, erase = 2 };

struct wal_record {
  wal_op op = wal_op::put;
  version_t version = 0;
  unix_ms expires_at_ms = 0;
  std::string key;
  std::string value;
};

constexpr size_t wal_header_bytes = 8;

/// Appends one record's bytes to `buf`.
void encode_wal_record(std::string& buf, wal_op op, std::string_view key,
                       std::string_view value, version_t version,
                       unix_ms expires_at_ms);

/// What replay found besides the records.
struct replay_summary {
  size_t records = 0;
  size_t torn_bytes = 0; // an incomplete last write, cut off
};

/// Calls `visit` for every record of the log `name` in `dir_fd`, in order.
/// A torn tail (a bad record with no valid record after it: a write cut
/// short by a crash) is truncated away. A bad record followed by valid ones
/// is corruption: backend_error naming the file and offset.
caf::expected<replay_summary>
replay_wal(file_env& env, int dir_fd, const std::string& name,
           const std::string& path,
           const std::function<void(wal_record&&)>& visit);

/// Appends to a fresh log. Not thread-safe: one shard owns it.
class wal_writer {
public:
  /// Creates (or empties) the log `name` in `dir_fd` and makes it durable.
  static caf::expected<wal_writer> create(std::shared_ptr<file_env> env,
                                          int dir_fd, std::string name,
                                          std::string path);

  wal_writer(wal_writer&&) = default;
  wal_writer& operator=(wal_writer&&) = default;

  /// Writes `bytes` at the end, then fdatasyncs when `sync`. On failure the
  /// log is cut back to where it was, so a failed batch never reappears on
  /// replay; if even that fails, every later append fails until it works.
  caf::error append(const std::string& bytes, bool sync);

  /// fdatasync.
  caf::error sync();

  /// Empties the log (after a checkpoint made its records redundant).
  caf::error reset();

  /// Bytes in the log, header included.
  uint64_t size() const { return size_; }

  const std::string& path() const { return path_; }

private:
  wal_writer(std::shared_ptr<file_env> env, unique_fd fd, std::string path)
    : env_(std::move(env)), fd_(std::move(fd)), path_(std::move(path)) {}

  /// Restores the invariant "file length == size_" after a failure.
  caf::error repair();

  std::shared_ptr<file_env> env_;
  unique_fd fd_;
  std::string path_;
  uint64_t size_ = wal_header_bytes;
  bool needs_repair_ = false;
};

} // namespace solver_state
