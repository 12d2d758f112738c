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
// File (version 3):
//   header (32 bytes): "SSWAL3\n\0" | epoch u64 | nonce u64 | crc32c u32 of
//                      the 24 bytes before it | 4 zero bytes
//   records:           crc32c u32 | length u32 | op u8 | version u64 |
//                      expires_at_ms u64 | synced_through u64 |
//                      key_length u32 | key | value
//   terminator:        8 zero bytes after the last record
//   A transaction is ONE record (op 3, so a crash keeps all of it or none):
//   version, expires_at_ms and key_length are 0 and the value is
//                      count u32 | count times: op u8 (1 put, 2 erase) |
//                      version u64 | expires_at_ms u64 | key_length u32 |
//                      value_length u32 | key | value
//   Replay expands it into its sub-operations, in order, as if each were a
//   record of its own (with the transaction record's synced_through); a
//   malformed body under a valid CRC is a bad record like any other.
//   Binaries from before op 3 read such a record as a bad one: refuse a log
//   that holds one (corruption) or cut it as a torn tail, so do not start
//   an older binary on a log written since transactions.
//   then zeros, or records of older epochs (stale), up to the file's end.
// `length` counts the bytes after itself. A record's CRC is seeded with the
// log's seed (crc32c of epoch and nonce) and covers everything after itself,
// length included: a record of another epoch fails it like a garbled one, so
// a recycled file needs no zeroing. The nonce is random per header, so a
// value that happens to hold the bytes of a log (a backup stored as a value)
// never passes for records of this one. Every append writes the terminator
// with its records, so replay of a clean log ends at zeros.
//
// `synced_through` is the offset up to which the log was known to be synced
// (fdatasync returned) when the record was encoded: the end of the previous
// commit under fsync: always, of the last checkpoint's sync under interval
// and never. It is what tells a crash from corruption on replay. A crash can
// only damage what was not synced yet: the last append(s), whose pages the
// kernel may have written in any order, some not at all (zeros), some half.
// So when replay meets a bad record at offset X it looks at every valid
// record after it: one with synced_through > X was written after X was on
// disk, so X was damaged after it was synced: corruption, refuse to start.
// If every valid record after X has synced_through <= X, they all belong to
// appends that were never known durable: a torn tail, cut at X (the records
// after X were never acknowledged as durable, see the fsync contract in
// README.md). A bad record in the very last synced append, with nothing
// written after it, cannot be told from a torn one and is cut too.
//
// Version 2 logs ("SSWAL2\n\0", 24-byte header: magic, epoch, crc, 4 zero
// bytes; records without synced_through, seeded with crc32c of the epoch)
// and version 1 logs ("SSWAL1\n\0", 8-byte header, records with unseeded
// CRCs up to the end of the file) are still replayed, so an upgrade finds
// the writes the old binary acknowledged; they are folded and deleted like
// any log. Without synced_through they keep the old rule: a bad record
// followed by any valid one is corruption.
//
// Lengths are u32: a record of the largest value the backend stores
// (max_file_value_bytes, value.hpp) with the largest key still fits, and
// replay accepts every length an append can write. A transaction's body
// (its keys, values and per-op fields) is bounded the same way
// (max_wal_txn_body_bytes): encode_wal_txn refuses a larger one
// (payload_too_large), far above the 16 MiB of values a shard lets through.

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/file/env.hpp"
#include "backends/file/value.hpp"
#include "messages/values.hpp"

namespace solver_state {

enum class wal_op : uint8_t { put = 1, erase = 2, txn = 3 };

struct wal_record {
  wal_op op = wal_op::put;
  version_t version = 0;
  unix_ms expires_at_ms = 0;
  std::string key;
  std::string value;
  uint64_t synced_through = 0; // 0 in logs before version 3
};

constexpr size_t wal_header_bytes = 32;
constexpr size_t wal_terminator_bytes = 8;
/// Zero-filled ahead of the write position, one chunk at a time.
constexpr uint64_t wal_chunk_bytes = 4u << 20;
/// How much of a log replay reads at a time (more for a longer record).
constexpr size_t wal_replay_window_bytes = 1u << 20;

/// The seed of every record CRC in a log with this header.
uint32_t wal_seed(uint64_t epoch, uint64_t nonce);

/// Appends one record's bytes, checksummed from `seed`, to `buf`. `synced_through`
/// is the offset the log was known synced up to (at most where the record
/// goes). The value must be at most max_file_value_bytes (value.hpp), the key
/// at most max_key_bytes: the store checks both before it encodes.
void encode_wal_record(std::string& buf, uint32_t seed,
                       uint64_t synced_through, wal_op op,
                       std::string_view key, std::string_view value,
                       version_t version, unix_ms expires_at_ms);

/// One sub-operation of a transaction record (put or erase).
struct wal_txn_op {
  wal_op op = wal_op::put;
  std::string_view key;
  std::string_view value; // put
  version_t version = 0;
  unix_ms expires_at_ms = 0; // put
};

/// The largest body of a transaction record: the same budget as the
/// largest value of a single record, so its length fits the u32.
constexpr uint64_t max_wal_txn_body_bytes = max_file_value_bytes;

/// Bytes of the body of a transaction record of `ops`.
uint64_t wal_txn_body_bytes(const std::vector<wal_txn_op>& ops);

/// Appends ONE record holding every op of `ops` (puts and erases, in order)
/// to `buf`: replay yields all of them or none. payload_too_large (and
/// `buf` unchanged) when the body exceeds max_wal_txn_body_bytes.
caf::error encode_wal_txn(std::string& buf, uint32_t seed,
                          uint64_t synced_through,
                          const std::vector<wal_txn_op>& ops);

/// The header bytes of a log of `epoch` and `nonce`.
std::string encode_wal_header(uint64_t epoch, uint64_t nonce);

/// What replay found besides the records.
struct replay_summary {
  size_t records = 0;
  uint64_t end = 0;   // offset after the last record replayed: the cut
  bool torn = false;  // cut short: unreadable bytes or dropped records at end
  size_t dropped = 0; // valid records after the cut (of unsynced appends)
  /// With cut_damage: the log was damaged inside its synced part and cut
  /// there anyway; `lost` holds the valid records after the cut (keys,
  /// versions and ops; values left out), which the cut drops.
  bool damaged = false;
  std::vector<wal_record> lost;
};

/// Calls `visit` for every record of the log `name` in `dir_fd`, in order,
/// up to the first one that is not valid in the log's epoch. Replay ends
/// cleanly at zeros (the preallocated tail). A bad record followed by a
/// valid one that was written after the bad one was synced (version 3; any
/// valid record in older versions) is corruption: backend_error naming the
/// file and offset. Otherwise the log is cut there (a torn tail: the
/// summary says where and what it dropped). The file is not changed
/// (recovery deletes it once folded). A record with a value longer than
/// `max_value_bytes` is garbage (tests set a small bound to check the
/// boundary without writing gigabytes). With `cut_damage` corruption is cut
/// like a torn tail, and the summary lists what the cut drops. The log is
/// read `window_bytes` at a time (a longer record: as much as it takes), the
/// bytes after a cut in one piece.
caf::expected<replay_summary>
replay_wal(file_env& env, int dir_fd, const std::string& name,
           const std::string& path,
           const std::function<void(wal_record&&)>& visit,
           uint64_t max_value_bytes = max_file_value_bytes,
           bool cut_damage = false,
           size_t window_bytes = wal_replay_window_bytes);

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

  /// Appends one record for this log's epoch to `buf` (a batch for append),
  /// stamped with the offset the log is synced through now.
  void encode(std::string& buf, wal_op op, std::string_view key,
              std::string_view value, version_t version,
              unix_ms expires_at_ms) const {
    encode_wal_record(buf, seed_, synced_, op, key, value, version,
                      expires_at_ms);
  }

  /// Appends one transaction record of `ops` (see encode_wal_txn).
  caf::error encode_txn(std::string& buf,
                        const std::vector<wal_txn_op>& ops) const {
    return encode_wal_txn(buf, seed_, synced_, ops);
  }

  /// Writes the records in `bytes` (from encode) and the terminator after
  /// the last record, zero-filling the next chunk when the write reaches the
  /// end of the file, then fdatasyncs when `sync`. On failure the bytes
  /// written are zeroed again, so a failed batch never reappears on replay;
  /// if even that fails, every later append fails until it works. `bytes`
  /// is left as it was.
  caf::error append(std::string& bytes, bool sync);

  /// fdatasync: every record appended so far is durable.
  caf::error sync();

  /// Empties the log in place (after a checkpoint made its records
  /// redundant): a new epoch in the header, the terminator after it. The
  /// file keeps its size; the old records stay as stale bytes.
  caf::error reset();

  /// Bytes of the header and the records.
  uint64_t size() const { return size_; }

  /// Offset up to which the log is known synced.
  uint64_t synced() const { return synced_; }

  /// Bytes zero-filled or otherwise written so far (the file's length).
  uint64_t allocated() const { return allocated_; }

  uint64_t epoch() const { return epoch_; }

  const std::string& path() const { return path_; }

private:
  wal_writer(std::shared_ptr<file_env> env, unique_fd fd, std::string path)
    : env_(std::move(env)), fd_(std::move(fd)), path_(std::move(path)) {}

  /// Starts a header of `epoch` with a new random nonce: the seed of the
  /// records encoded from now on.
  void new_header(uint64_t epoch);

  /// Writes the header of epoch_ and nonce_ and the terminator after it.
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
  uint64_t synced_ = wal_header_bytes;
  uint64_t allocated_ = 0;
  uint64_t epoch_ = 1;
  uint64_t nonce_ = 0;
  uint32_t seed_ = 0;
  uint64_t dirty_end_ = 0; // > size_: bytes of a failed append to zero
  bool needs_reset_ = false;
  bool preallocate_ = true;
};

} // namespace solver_state
