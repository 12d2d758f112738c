// The file backend's write-ahead log: preallocated, seeded CRC32C records
// stamped with the offset synced so far, appends with a terminator, replay
// that cuts a torn tail and refuses damage to synced records (v1, v2 too).

#include "backends/file/wal.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <random>
#include <thread>

#include "util/crc32c.hpp"
#include "backends/file/value.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"

namespace solver_state {

namespace {

constexpr size_t magic_bytes = 8;
constexpr char v1_magic[magic_bytes] = {'S', 'S', 'W', 'A',
                                        'L', '1', '\n', '\0'};
constexpr char v2_magic[magic_bytes] = {'S', 'S', 'W', 'A',
                                        'L', '2', '\n', '\0'};
constexpr char v3_magic[magic_bytes] = {'S', 'S', 'W', 'A',
                                        'L', '3', '\n', '\0'};
constexpr size_t v1_header_bytes = 8;
constexpr size_t v2_header_bytes = 24;

/// What the record layout of a log version is.
struct record_format {
  size_t fixed_body; // op, version, expiry, [synced_through,] key length
  bool has_synced;   // version 3: synced_through after the expiry
};

constexpr record_format old_records{1 + 8 + 8 + 4, false}; // v1, v2
constexpr record_format v3_records{1 + 8 + 8 + 8 + 4, true};

// The record of the largest value and key file_store::set() lets through
// must fit the u32 length.
static_assert(v3_records.fixed_body + max_key_bytes + max_file_value_bytes
                <= std::numeric_limits<uint32_t>::max(),
              "a record's length is a u32");

/// A log being replayed: its bytes and how to read its records.
struct log_view {
  /// Bytes [base, base + buf.size()) of the log: offsets stay those of the
  /// file while replay moves its window along it.
  const std::string& buf;
  record_format fmt;
  uint32_t seed;
  size_t header_bytes;
  uint64_t max_value; // a longer value is garbage: no append writes one
  size_t base = 0;

  /// The file offset just past the window.
  size_t end() const { return base + buf.size(); }
  const char* at(size_t off) const { return buf.data() + (off - base); }
};

/// One valid record, parsed in place.
struct record_view {
  size_t bytes = 0; // 0: not a valid record
  uint8_t op = 0;
  uint64_t version = 0;
  uint64_t expires_at_ms = 0;
  uint64_t synced_through = 0;
  const char* key = nullptr;
  size_t key_length = 0;
  const char* value = nullptr;
  size_t value_length = 0;
};

constexpr size_t txn_op_fixed_bytes = 1 + 8 + 8 + 4 + 4;

/// Calls `visit` for every sub-operation of the transaction body [p, p+n),
/// in order; false (maybe after visiting some) when the body is malformed:
/// a bad op, a value longer than `max_value` or on an erase, lengths that
/// do not add up to exactly `n`.
template <class Visit>
bool for_each_txn_op(const char* p, size_t n, uint64_t max_value,
                     Visit&& visit) {
  if (n < 4)
    return false;
  uint64_t count = get_u32(p);
  size_t off = 4;
  for (uint64_t i = 0; i < count; ++i) {
    if (n - off < txn_op_fixed_bytes)
      return false;
    auto q = p + off;
    auto op = static_cast<uint8_t>(q[0]);
    uint64_t key_len = get_u32(q + 17);
    uint64_t value_len = get_u32(q + 21);
    off += txn_op_fixed_bytes;
    if ((op != 1 && op != 2) || key_len > n - off
        || value_len > n - off - key_len || value_len > max_value
        || (op == 2 && value_len != 0))
      return false;
    wal_txn_op sub;
    sub.op = static_cast<wal_op>(op);
    sub.version = get_u64(q + 1);
    sub.expires_at_ms = static_cast<unix_ms>(get_u64(q + 9));
    sub.key = std::string_view{p + off, key_len};
    sub.value = std::string_view{p + off + key_len, value_len};
    off += key_len + value_len;
    visit(sub);
  }
  return off == n;
}

/// 8 + the length the record at `off` claims, when the fixed part of its
/// header (in the window) passes the structural checks; 0 otherwise. Whether
/// the whole record is in the window is not looked at: the corruption scan
/// asks before it reads a long record's bytes.
uint64_t claimed_bytes(const log_view& log, size_t off) {
  auto fixed = log.fmt.fixed_body;
  if (off < log.base || off > log.end() || log.end() - off < 8 + fixed)
    return 0;
  auto p = log.at(off);
  uint64_t len = get_u32(p + 4);
  if (len < fixed)
    return 0;
  auto body = p + 8;
  auto op = static_cast<uint8_t>(body[0]);
  uint64_t key_len = get_u32(body + fixed - 4);
  // The bound is on the value alone, the one set() enforces: any key comes
  // on top (a bound of 1 GiB on the whole record once cut acknowledged
  // records of 1 GiB values as torn).
  // Transactions came with version 3 records: op 3 in an older log is junk.
  bool txn = op == static_cast<uint8_t>(wal_op::txn) && log.fmt.has_synced;
  if ((op != 1 && op != 2 && !txn) || key_len > len - fixed
      || (txn && key_len != 0)
      || len - fixed - key_len > (txn ? max_wal_txn_body_bytes : log.max_value))
    return 0;
  uint64_t synced = log.fmt.has_synced ? get_u64(body + 17) : 0;
  // Nothing is synced before the header, and a record cannot have been
  // written after a sync that reached past its own start.
  if (log.fmt.has_synced && (synced < log.header_bytes || synced > off))
    return 0;
  return 8 + len;
}

/// Parses the record at `off`; bytes == 0 when it is not a valid record.
/// The cheap structural checks come first: the corruption scan calls this
/// at every offset of the rest of a log.
record_view parse_record(const log_view& log, size_t off) {
  record_view out;
  auto bytes = claimed_bytes(log, off);
  if (bytes == 0 || bytes > log.end() - off)
    return out;
  auto fixed = log.fmt.fixed_body;
  auto p = log.at(off);
  uint64_t len = bytes - 8;
  auto body = p + 8;
  auto op = static_cast<uint8_t>(body[0]);
  uint64_t key_len = get_u32(body + fixed - 4);
  bool txn = op == static_cast<uint8_t>(wal_op::txn) && log.fmt.has_synced;
  uint64_t synced = log.fmt.has_synced ? get_u64(body + 17) : 0;
  if (get_u32(p) != crc32c(p + 4, 4 + len, log.seed))
    return out;
  out.bytes = 8 + len;
  out.op = op;
  out.version = get_u64(body + 1);
  out.expires_at_ms = get_u64(body + 9);
  out.synced_through = synced;
  out.key = body + fixed;
  out.key_length = key_len;
  out.value = out.key + key_len;
  out.value_length = len - fixed - key_len;
  // A malformed body under a valid CRC is no record either (no append
  // writes one); checked last, since only records that pass the CRC get here.
  if (txn && !for_each_txn_op(out.value, out.value_length, log.max_value,
                              [](const wal_txn_op&) {}))
    return record_view{};
  return out;
}

wal_record to_record(const record_view& v) {
  wal_record out;
  out.op = static_cast<wal_op>(v.op);
  out.version = v.version;
  out.expires_at_ms = static_cast<unix_ms>(v.expires_at_ms);
  out.key.assign(v.key, v.key_length);
  out.value.assign(v.value, v.value_length);
  out.synced_through = v.synced_through;
  return out;
}

/// Visits the sub-operations of a valid transaction record as records of
/// their own, in order.
void visit_txn(const record_view& v,
               const std::function<void(wal_record&&)>& visit) {
  // parse_record checked the body, value bounds included.
  for_each_txn_op(v.value, v.value_length, max_file_value_bytes,
                  [&](const wal_txn_op& sub) {
                    wal_record out;
                    out.op = sub.op;
                    out.version = sub.version;
                    out.expires_at_ms = sub.expires_at_ms;
                    out.key.assign(sub.key);
                    out.value.assign(sub.value);
                    out.synced_through = v.synced_through;
                    visit(std::move(out));
                  });
}

bool all_zero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

const char* zero_block() {
  static const std::string zeros(256u << 10, '\0');
  return zeros.data();
}

/// The first non-zero byte at or after `p` (or the end): whole pages at a
/// time, since the rest of a preallocated log is megabytes of zeros.
size_t first_nonzero(const log_view& log, size_t p) {
  constexpr size_t page = 4096;
  while (p + page <= log.end()
         && std::memcmp(log.at(p), zero_block(), page) == 0)
    p += page;
  while (p < log.end() && *log.at(p) == 0)
    ++p;
  return p;
}

/// What lies after the first bad record of a log.
struct tail_scan {
  size_t dropped = 0; // valid records of appends never known synced
  std::optional<record_view> proof; // a record written after the cut was
  size_t proof_at = 0;              // synced, and where it is
};

/// True when `rec` shows that the bytes at `cut` had been synced before it
/// was written. Logs before version 3 do not say, so any valid record does.
bool proves_synced(const log_view& log, const record_view& rec, size_t cut) {
  return !log.fmt.has_synced || rec.synced_through > cut;
}

/// Looks at every offset after `cut` for valid records (of this epoch).
/// With `lost`, goes on past the proof and collects every valid record
/// (values left out): what cutting the log at `cut` drops. The rest of the
/// log is read through the window: `window_at(from, n)` makes bytes
/// [from, from + n) of it present (fewer at its end, which `file_end`
/// then says). A recycled log holds hundreds of MiB of an earlier epoch's
/// records after its cut; they pass through the window, never all at once.
template <class WindowAt>
caf::expected<tail_scan> scan_after(const log_view& log, size_t cut,
                                    const uint64_t& file_end,
                                    WindowAt&& window_at,
                                    std::vector<wal_record>* lost = nullptr) {
  tail_scan out;
  auto smallest = 8 + log.fmt.fixed_body;
  size_t p = cut + 1;
  while (p + smallest <= file_end) {
    if (auto err = window_at(p, smallest))
      return err;
    if (p + smallest > log.end())
      break; // the file is shorter than it said
    // A record's length (bytes 4..7) is never zero: skip zero runs.
    auto q = first_nonzero(log, p);
    if (q > p + 7) {
      p = q - 7;
      continue;
    }
    // Most offsets fail the header's structural checks: no record there,
    // and no need to parse one.
    auto claimed = claimed_bytes(log, p);
    if (claimed == 0 || claimed > file_end - p) { // or runs past the file
      ++p;
      continue;
    }
    if (claimed > log.end() - p)
      if (auto err = window_at(p, claimed))
        return err;
    auto rec = parse_record(log, p);
    if (rec.bytes == 0) {
      ++p;
      continue;
    }
    if (lost) {
      auto keep = [&](wal_record&& r) {
        r.value.clear();
        lost->push_back(std::move(r));
      };
      if (rec.op == static_cast<uint8_t>(wal_op::txn))
        visit_txn(rec, keep);
      else
        keep(to_record(rec));
    }
    if (proves_synced(log, rec, cut) && !out.proof) {
      out.proof = rec; // its bytes are not kept: the window moves on
      out.proof->key = out.proof->value = nullptr;
      out.proof_at = p;
      if (!lost)
        return out;
    }
    ++out.dropped;
    p += rec.bytes; // records inside its value are its bytes, not records
  }
  return out;
}

caf::error corrupt(const std::string& path, const std::string& what) {
  return make_state_error(state_errc::backend_error,
                          "corrupt log " + path + ": " + what);
}

caf::error corruption_at(const std::string& path, const log_view& log,
                         size_t cut, const tail_scan& tail) {
  auto what = "bad record at offset " + std::to_string(cut)
              + " followed by valid records";
  if (log.fmt.has_synced)
    what += " written after it was synced (the record at offset "
            + std::to_string(tail.proof_at) + " was written when the log "
            + "was synced through offset "
            + std::to_string(tail.proof->synced_through) + ")";
  return corrupt(path, what
                         + "; the records from that offset on are lost "
                           "unless the log is restored: start with "
                           "--recover-truncate-log to cut the log at offset "
                         + std::to_string(cut)
                         + ", which logs every record it drops");
}

caf::error zeroed_header(const std::string& path) {
  return corrupt(path,
                 "its header is zeros but bytes after it are not: it holds "
                 "records, which cannot be read without the header (damage "
                 "after the header was synced, not a crash); the start "
                 "refuses rather than drop them: copy base_path aside, "
                 "then restore the log from a backup, or move it out of "
                 "base_path to start without its records");
}

uint32_t epoch_seed(uint64_t epoch) {
  std::string bytes;
  put_u64(bytes, epoch);
  return crc32c(bytes);
}

/// The epoch and nonce of a version 3 header, or nothing when it is not one.
std::optional<std::pair<uint64_t, uint64_t>> parse_v3_header(const char* p) {
  if (std::memcmp(p, v3_magic, magic_bytes) != 0
      || get_u32(p + 24) != crc32c(p, 24))
    return std::nullopt;
  return std::make_pair(get_u64(p + 8), get_u64(p + 16));
}

/// How to read a log's records, from its header.
struct header_info {
  record_format fmt;
  uint32_t seed;
  size_t bytes;
};

/// The header of `buf`: its format, nothing when it never made it to the
/// disk (nothing was acknowledged), backend_error when it is garbage.
caf::expected<std::optional<header_info>>
parse_header(const std::string& buf, const std::string& path) {
  auto has = [&](const char* magic, size_t bytes) {
    return buf.size() >= bytes
           && std::memcmp(buf.data(), magic, magic_bytes) == 0;
  };
  if (has(v1_magic, v1_header_bytes))
    return header_info{old_records, 0, v1_header_bytes};
  if (has(v2_magic, v2_header_bytes)
      && get_u32(buf.data() + 16) == crc32c(buf.data(), 16))
    return header_info{old_records, epoch_seed(get_u64(buf.data() + 8)),
                       v2_header_bytes};
  if (has(v3_magic, wal_header_bytes))
    if (auto h = parse_v3_header(buf.data()))
      return header_info{v3_records, wal_seed(h->first, h->second),
                         wal_header_bytes};
  // Created but its header never made it: nothing was acknowledged.
  if (buf.size() < wal_header_bytes || all_zero(buf.data(), wal_header_bytes))
    return std::optional<header_info>{};
  return corrupt(path, "bad header (not a log of this or an earlier "
                       "version of solver-state)");
}

uint64_t random_nonce() {
  thread_local std::mt19937_64 rng{
    (uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()
    ^ std::hash<std::thread::id>{}(std::this_thread::get_id())};
  return rng();
}

} // namespace

uint32_t wal_seed(uint64_t epoch, uint64_t nonce) {
  std::string bytes;
  put_u64(bytes, epoch);
  put_u64(bytes, nonce);
  return crc32c(bytes);
}

void encode_wal_record(std::string& buf, uint32_t seed,
                       uint64_t synced_through, wal_op op,
                       std::string_view key, std::string_view value,
                       version_t version, unix_ms expires_at_ms) {
  auto start = buf.size();
  auto len = static_cast<uint32_t>(v3_records.fixed_body + key.size()
                                   + value.size());
  put_u32(buf, 0);
  put_u32(buf, len);
  buf += static_cast<char>(op);
  put_u64(buf, version);
  put_u64(buf, static_cast<uint64_t>(expires_at_ms));
  put_u64(buf, synced_through);
  put_u32(buf, static_cast<uint32_t>(key.size()));
  buf.append(key);
  buf.append(value);
  auto crc = crc32c(buf.data() + start + 4, 4 + size_t{len}, seed);
  for (int i = 0; i < 4; ++i)
    buf[start + i] = static_cast<char>((crc >> (8 * i)) & 0xFF);
}

uint64_t wal_txn_body_bytes(const std::vector<wal_txn_op>& ops) {
  uint64_t bytes = 4;
  for (auto& op : ops)
    bytes += txn_op_fixed_bytes + op.key.size() + op.value.size();
  return bytes;
}

caf::error encode_wal_txn(std::string& buf, uint32_t seed,
                          uint64_t synced_through,
                          const std::vector<wal_txn_op>& ops) {
  auto body_bytes = wal_txn_body_bytes(ops);
  if (body_bytes > max_wal_txn_body_bytes)
    return make_state_error(state_errc::payload_too_large,
                            "the file backend logs a transaction of at most "
                              + std::to_string(max_wal_txn_body_bytes)
                              + " bytes of keys and values");
  std::string body;
  body.reserve(body_bytes);
  put_u32(body, static_cast<uint32_t>(ops.size()));
  for (auto& op : ops) {
    body += static_cast<char>(op.op);
    put_u64(body, op.version);
    put_u64(body, static_cast<uint64_t>(op.expires_at_ms));
    put_u32(body, static_cast<uint32_t>(op.key.size()));
    put_u32(body, static_cast<uint32_t>(op.value.size()));
    body.append(op.key);
    body.append(op.value);
  }
  encode_wal_record(buf, seed, synced_through, wal_op::txn, {}, body, 0, 0);
  return {};
}

std::string encode_wal_header(uint64_t epoch, uint64_t nonce) {
  std::string out(v3_magic, sizeof v3_magic);
  put_u64(out, epoch);
  put_u64(out, nonce);
  put_u32(out, crc32c(out));
  put_u32(out, 0);
  return out;
}

caf::expected<replay_summary>
replay_wal(file_env& env, int dir_fd, const std::string& name,
           const std::string& path,
           const std::function<void(wal_record&&)>& visit,
           uint64_t max_value_bytes, bool cut_damage, size_t window_bytes) {
  int fd = env.open_at(dir_fd, name, O_RDONLY | O_NOFOLLOW);
  if (fd < 0)
    return io_failure("cannot open log", path, fd);
  unique_fd guard{&env, fd};
  uint64_t file_bytes = 0;
  if (int rc = env.file_size(fd, file_bytes); rc != 0)
    return io_failure("cannot read log", path, rc);
  // The log is read a window at a time (reused, so its pages fault once),
  // not whole: a start replays logs of hundreds of MiB, and reading each
  // into one string cost a zero-fill and a page fault per 4 KiB of it, and
  // as much memory again as the log.
  window_bytes = std::max<size_t>(window_bytes, wal_header_bytes);
  std::string buf;
  size_t base = 0;
  // Bytes [from, from + n) of the log (fewer at its end) into the window.
  auto load = [&](size_t from, size_t n) -> caf::error {
    n = static_cast<size_t>(std::min<uint64_t>(n, file_bytes - from));
    buf.resize(n);
    auto got = env.read_at(fd, buf.data(), n, static_cast<off_t>(from));
    if (got < 0)
      return io_failure("cannot read log", path, static_cast<int>(got));
    buf.resize(static_cast<size_t>(got));
    base = from;
    return {};
  };
  if (auto err = load(0, window_bytes))
    return err;
  replay_summary summary;
  auto header = parse_header(buf, path);
  if (!header)
    return std::move(header.error());
  if (!*header) {
    // A zero header is a log created and never synced (create() syncs the
    // header before the first append) only when the rest is zero too. Bytes
    // after it are records, which cannot be read without the header's seed:
    // damage, refused, never taken for an empty log (and removed).
    auto scan_bytes = std::max<size_t>(window_bytes, size_t{64} << 10);
    for (size_t from = 0; from < file_bytes; from += buf.size()) {
      if (auto err = load(from, scan_bytes))
        return err;
      if (buf.empty())
        break;
      if (!all_zero(buf.data(), buf.size()))
        return zeroed_header(path);
    }
    return summary;
  }
  log_view log{buf, (*header)->fmt, (*header)->seed, (*header)->bytes,
               max_value_bytes};
  size_t off = log.header_bytes;
  while (off < file_bytes) {
    log.base = base;
    auto rec = parse_record(log, off);
    if (rec.bytes == 0) {
      // Maybe the record runs past the window: move the window to it, large
      // enough for the length its header gives (never past the file's end),
      // and look again. Past that, the record is bad where it lies.
      uint64_t needed = window_bytes;
      if (log.end() - off >= 8)
        needed = std::max(needed, 8 + uint64_t{get_u32(log.at(off) + 4)});
      needed = std::min<uint64_t>(needed, file_bytes - off);
      if (log.end() - off < needed) {
        if (auto err = load(off, needed))
          return err;
        if (buf.size() < needed) // shorter than its size said: ends here
          file_bytes = base + buf.size();
        continue;
      }
      break;
    }
    if (rec.op == static_cast<uint8_t>(wal_op::txn))
      visit_txn(rec, visit);
    else
      visit(to_record(rec));
    ++summary.records;
    off += rec.bytes;
  }
  summary.end = off;
  if (off < file_bytes) {
    // Bytes [from, from + n) of the rest of the log in the window (a
    // window's worth from `from`, or more for a longer record).
    auto window_at = [&](size_t from, uint64_t n) -> caf::error {
      n = std::min<uint64_t>(n, file_bytes - from);
      if (from >= log.base && from + n <= log.end())
        return {};
      if (auto err = load(from, std::max<uint64_t>(n, window_bytes)))
        return err;
      log.base = base;
      if (log.end() < from + n) // shorter than its size said: ends here
        file_bytes = log.end();
      return {};
    };
    if (auto err = window_at(off, wal_terminator_bytes))
      return err;
    auto rest = std::min(log.end() - off, wal_terminator_bytes);
    bool zeros_at_cut = all_zero(log.at(off), rest);
    auto tail = scan_after(log, off, file_bytes, window_at,
                           cut_damage ? &summary.lost : nullptr);
    if (!tail)
      return std::move(tail.error());
    if (tail->proof && !cut_damage)
      return corruption_at(path, log, off, *tail);
    summary.damaged = tail->proof.has_value();
    if (!summary.damaged)
      summary.lost.clear();
    summary.dropped = tail->dropped;
    summary.torn = tail->dropped > 0 || !zeros_at_cut;
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
  out.new_header(1);
  int rc = out.write_header();
  if (rc == 0)
    rc = out.write_zeros(wal_header_bytes + wal_terminator_bytes,
                         out.allocated_);
  if (rc != 0) {
    // A new, empty log: removed, so that a full disk does not collect one
    // per failed checkpoint (and gets its space back).
    auto err = io_failure("cannot write log", out.path_, rc);
    out.fd_.reset();
    env->unlink_at(dir_fd, name);
    return err;
  }
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
  // Emptied (a new epoch's header, synced) under its spare name, which no
  // start replays, and only then named a log: a failure in between never
  // leaves a log of records an earlier fold already took, which a start
  // would replay over newer deletes.
  int fd = env->open_at(dir_fd, from, O_RDWR | O_NOFOLLOW);
  if (fd < 0)
    return io_failure("cannot open log " + from + " to reuse it as", path,
                      fd);
  wal_writer out{env, unique_fd{env.get(), fd}, std::move(path)};
  char header[wal_header_bytes];
  auto got = env->read_at(fd, header, sizeof header, 0);
  if (got < 0)
    return io_failure("cannot read log", out.path_, static_cast<int>(got));
  auto epoch = got == static_cast<long>(sizeof header)
                 ? parse_v3_header(header)
                 : std::nullopt;
  uint64_t length = 0;
  if (int rc = env->file_size(fd, length); rc != 0)
    return io_failure("cannot stat log", out.path_, rc);
  if (!epoch || length < wal_header_bytes + wal_terminator_bytes)
    return corrupt(out.path_, "cannot recycle: no valid header");
  out.epoch_ = epoch->first;
  out.allocated_ = length;
  out.preallocate_ = preallocate;
  if (auto err = out.reset())
    return err;
  if (int rc = env->rename_at(dir_fd, from, dir_fd, name); rc != 0)
    return io_failure("cannot reuse log " + from + " as", out.path_, rc);
  if (int rc = env->sync(dir_fd, false); rc != 0)
    return io_failure("cannot sync the directory of", out.path_, rc);
  return out;
}

void wal_writer::new_header(uint64_t epoch) {
  epoch_ = epoch;
  nonce_ = random_nonce();
  seed_ = wal_seed(epoch_, nonce_);
}

int wal_writer::write_header() {
  auto bytes = encode_wal_header(epoch_, nonce_);
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
  if (sync)
    synced_ = size_;
  return {};
}

caf::error wal_writer::sync() {
  if (int rc = env_->sync(fd_.get(), true); rc != 0)
    return io_failure("cannot sync log", path_, rc);
  synced_ = size_;
  return {};
}

caf::error wal_writer::reset() {
  // Until the new header is durable the log counts as broken: an append
  // after the old records under a half-written header could be lost. A
  // retry writes the same header: records encoded since the first try
  // carry its seed.
  if (!needs_reset_) {
    needs_reset_ = true;
    // Records of the new epoch may not claim the old epoch's syncs.
    synced_ = wal_header_bytes;
    new_header(epoch_ + 1);
  }
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
