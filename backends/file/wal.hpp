#pragma once

// The write-ahead log of one shard ("~wal-N-G.log" under base_path). A write
// is acknowledged once its record is in the log (and, with fsync: always, the
// log is synced); checkpoints fold the log into the key tree and retire it.
//
// With fsync: always the file is preallocated: zero-filled in chunks ahead
// of the write position and overwritten in place, so the fdatasync of a
// commit flushes data only, never a size change (on ext4 that saves a
// journal commit, or an inode write without a journal, per fdatasync, like
// PostgreSQL's pre-zeroed WAL segments). A retired log is recycled rather
// than deleted: reset() gives it a new epoch, which makes every record
// written before unreplayable.
//
// File (version 2):
//   header (24 bytes): "SSWAL2\n\0" | epoch u64 | crc32c u32 of the 16 bytes
//                      before it | 4 zero bytes
//   records:           crc32c u32 | length u32 | op u8 | version u64 |
//                      expires_at_ms u64 | key_length u32 | key | value
//   terminator:        8 zero bytes after the last record
//   then zeros, or records of older epochs (stale), up to the file's end.
// `length` counts the bytes after itself. A record's CRC is seeded with the
// epoch (crc32c of its 8 bytes) and covers everything after itself, length
// included: a record of another epoch fails it like a garbled one, so a
// recycled file needs no zeroing. Every append writes the terminator with
// its records, so replay of a clean log ends at zeros.
//
// Version 1 logs ("SSWAL1\n\0", 8-byte header, records with unseeded CRCs up
// to the end of the file) are still replayed, so an upgrade finds the writes
// the old binary acknowledged; they are folded and deleted like any log.

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/file/env.hpp"
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

constexpr size_t wal_header_bytes = 24;
constexpr size_t wal_terminator_bytes = 8;
/// Zero-filled ahead of the write position, one chunk at a time.
constexpr uint64_t wal_chunk_bytes = 4u << 20;

/// Appends one record's bytes, checksummed for `epoch`, to `buf`.
void encode_wal_record(std::string& buf, uint64_t epoch, wal_op op,
                       std::string_view key, std::string_view value,
                       version_t version, unix_ms expires_at_ms);

/// The 24 header bytes of a version 2 log of `epoch`.
std::string encode_wal_header(uint64_t epoch);

/// What replay found besides the records.
struct replay_summary {
  size_t records = 0;
  uint64_t end = 0;  // offset after the last valid record
  bool torn = false; // it ends with an unreadable record (a crash mid-write)
};

/// Calls `visit` for every record of the log `name` in `dir_fd`, in order.
/// Replay ends cleanly at zeros (the preallocated tail) and stops at the
/// first record that is not valid in the log's epoch: a torn write or a
/// stale record of an earlier epoch. A bad record followed by a valid record
/// of the current epoch is corruption: backend_error naming the file and
/// offset. The file is not changed (recovery deletes it once folded).
caf::expected<replay_summary>
replay_wal(file_env& env, int dir_fd, const std::string& name,
           const std::string& path,
           const std::function<void(wal_record&&)>& visit);

/// Writes one log. Not thread-safe: one shard owns it.
class wal_writer {
public:
  /// Creates (or empties) the log `name` in `dir_fd` and makes it durable.
  /// With `preallocate` (for fsync: always, where every commit syncs), its
  /// first chunk is zero-filled and appends zero-fill the next one ahead;
  /// without, the file grows with its appends (one sync a second does not
  /// need it, and zero-filling costs a write of the chunk).
  static caf::expected<wal_writer> create(std::shared_ptr<file_env> env,
                                          int dir_fd, std::string name,
                                          std::string path,
                                          bool preallocate = true);

  /// Renames the retired log `from` to `name` and reuses it with the next
  /// epoch: its space is already allocated and written, so appends
  /// overwrite it in place. Fails (leaving the caller to create()) when its
  /// header is unreadable.
  static caf::expected<wal_writer> recycle(std::shared_ptr<file_env> env,
                                           int dir_fd, const std::string& from,
                                           std::string name, std::string path,
                                           bool preallocate = true);

  wal_writer(wal_writer&&) = default;
  wal_writer& operator=(wal_writer&&) = default;

  /// Appends one record for this log's epoch to `buf` (a batch for append).
  void encode(std::string& buf, wal_op op, std::string_view key,
              std::string_view value, version_t version,
              unix_ms expires_at_ms) const {
    encode_wal_record(buf, epoch_, op, key, value, version, expires_at_ms);
  }

  /// Writes the records in `bytes` (from encode) and the terminator after
  /// the last record, zero-filling the next chunk when the write reaches the
  /// end of the file, then fdatasyncs when `sync`. On failure the bytes
  /// written are zeroed again, so a failed batch never reappears on replay;
  /// if even that fails, every later append fails until it works. `bytes`
  /// is left as it was.
  caf::error append(std::string& bytes, bool sync);

  /// fdatasync.
  caf::error sync();

  /// Empties the log in place (after a checkpoint made its records
  /// redundant): a new epoch in the header, the terminator after it. The
  /// file keeps its size; the old records stay as stale bytes.
  caf::error reset();

  /// Bytes of the header and the records.
  uint64_t size() const { return size_; }

  /// Bytes zero-filled or otherwise written so far (the file's length).
  uint64_t allocated() const { return allocated_; }

  uint64_t epoch() const { return epoch_; }

  const std::string& path() const { return path_; }

private:
  wal_writer(std::shared_ptr<file_env> env, unique_fd fd, std::string path)
    : env_(std::move(env)), fd_(std::move(fd)), path_(std::move(path)) {}

  /// Writes the header of epoch_ and the terminator after it.
  int write_header();

  /// Writes zeros over [from, to).
  int write_zeros(uint64_t from, uint64_t to);

  /// Makes the failed bytes [size_, dirty_end_) zeros again, or finishes a
  /// failed reset.
  caf::error repair();

  std::shared_ptr<file_env> env_;
  unique_fd fd_;
  std::string path_;
  uint64_t size_ = wal_header_bytes;
  uint64_t allocated_ = 0;
  uint64_t epoch_ = 1;
  uint64_t dirty_end_ = 0; // > size_: bytes of a failed append to zero
  bool needs_reset_ = false;
  bool preallocate_ = true;
};

} // namespace solver_state
