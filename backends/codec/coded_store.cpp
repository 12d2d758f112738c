// coded_store: the codec on every path a value takes, and key rotation in
// bounded background chunks.

#include "backends/codec/coded_store.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <spdlog/spdlog.h>

#include "backends/codec/aes_gcm.hpp"
#include "backends/codec/key_ring.hpp"
#include "backends/codec/zstd_dictionaries.hpp"
#include "backends/readable_batch.hpp"
#include "config/limits.hpp"
#include "messages/errors.hpp"

namespace solver_state {

/// Where a walk over the store stands, and what the last whole walk found.
struct coded_store::rotation {
  bool active = false;
  /// A whole walk finished since start: the counts below are exact.
  bool counted = false;
  std::string cursor;
  unix_ms next_pass_at = 0;
  // This walk so far.
  uint64_t left = 0;
  uint64_t unknown = 0;
  /// Failing to decode: altered or damaged, under any key (or none). No
  /// key reads them, so none is waiting for one.
  uint64_t damaged = 0;
  std::string first_damage;
  /// Damaged for good in the inner store (state_store::damaged_for_good:
  /// the file backend's quarantine): no key reads them either, but the
  /// store counts them itself (state_quarantined_values), so they are not
  /// counted again as undecryptable.
  uint64_t damaged_for_good = 0;
  std::string first_damaged_for_good;
  /// Why the first value left this walk stayed where it is ("key K: why").
  std::string first_left;
  uint64_t rewritten = 0;
  std::set<std::string> unknown_ids; // at most max_ids_logged
  /// Keys rewritten since take_rewritten() last took them.
  std::vector<std::string> moved;
  /// Rewrites since the last commit, which a failed commit may take back
  /// (state_store::failed_commit_keeps_writes), and when the last step ran.
  uint64_t uncommitted = 0;
  unix_ms last_step_at = 0;
  /// The largest stored value the last step read: the next step's first
  /// batch is sized by it (read_readable_within).
  size_t value_bytes = 0;
  /// The first left value the last warning named, and when it was logged:
  /// a walk that keeps leaving the same value says so once an hour, not
  /// at every retry.
  std::string left_warned;
  unix_ms left_warned_at = 0;
  /// Listings of the walk's keys that failed in a row (each retry waits
  /// twice as long as the last, up to rotation_retry_ms), and what the
  /// last warning about them said, when.
  uint32_t list_failures = 0;
  std::string list_failure_warned;
  unix_ms list_failure_warned_at = 0;
  // The last whole walk.
  uint64_t last_left = 0;
  uint64_t last_unknown = 0;
  uint64_t last_damaged = 0;

  static constexpr size_t max_ids_logged = 16;

  void found_damaged(const std::string& why) {
    if (damaged++ == 0)
      first_damage = why;
  }

  /// `n` values stay under an old key (or unread) for `why`.
  void found_left(const std::string& why, uint64_t n = 1) {
    if (n != 0 && first_left.empty())
      first_left = why;
    left += n;
  }

  void found_damaged_for_good(const std::string& why) {
    if (damaged_for_good++ == 0)
      first_damaged_for_good = why;
  }
};

namespace {

caf::error open_key_ring(const state_config& cfg,
                         std::shared_ptr<const key_ring>& out) {
  if (!cfg.encryption.enabled())
    return {};
  auto ring = key_ring::load(cfg.encryption);
  if (!ring)
    return std::move(ring.error());
  // OpenSSL's AES-256-GCM is every codec's fallback: a key it will not
  // take (a FIPS provider without the cipher, a broken library) would start
  // a service that refuses every write, or every read of that key's values.
  for (auto& key : (*ring)->keys())
    if (!aes_gcm_key::make(key.material.data(),
                           aes_gcm_key::implementation::openssl))
      return make_state_error(state_errc::bad_request,
                              "state.encryption.keys: OpenSSL's AES-256-GCM "
                              "will not take key '"
                                + key.id + "': this system cannot encrypt");
  out = std::move(*ring);
  return {};
}

} // namespace

namespace {

/// The key ring and the zstd dictionaries of `cfg`, loaded once and shared
/// by every codec.
struct codec_parts {
  std::shared_ptr<const key_ring> ring;
  std::shared_ptr<const zstd_dictionaries> dictionaries;
};

caf::error open_codec_parts(const state_config& cfg, codec_parts& out) {
  if (auto err = open_key_ring(cfg, out.ring))
    return err;
  // With encryption on, a dictionary others may read would give away what
  // the values it was trained on share.
  auto dictionaries = zstd_dictionaries::load(cfg.compression,
                                              cfg.encryption.enabled());
  if (!dictionaries)
    return std::move(dictionaries.error());
  out.dictionaries = std::move(*dictionaries);
  return {};
}

} // namespace

caf::error wrap_in_codecs(store_list& stores, const state_config& cfg) {
  codec_parts parts;
  if (auto err = open_codec_parts(cfg, parts))
    return err;
  if (parts.ring)
    spdlog::info("encryption: AES-256-GCM through {}, new values under key "
                 "'{}' (keys listed: {})",
                 aes_gcm_key::name(aes_gcm_key::fastest()),
                 parts.ring->primary().id, parts.ring->keys().size());
  for (auto& store : stores)
    store = std::make_unique<coded_store>(
      std::move(store),
      value_codec{cfg.compression, parts.ring, max_value_bytes_ceiling,
                  parts.dictionaries});
  return {};
}

caf::expected<std::unique_ptr<value_codec>>
make_value_codec(const state_config& cfg) {
  codec_parts parts;
  if (auto err = open_codec_parts(cfg, parts))
    return err;
  // Stored values are read up to the ceiling, whatever limit new writes
  // have now (value_codec's constructor).
  return std::make_unique<value_codec>(cfg.compression, std::move(parts.ring),
                                       max_value_bytes_ceiling,
                                       std::move(parts.dictionaries));
}

caf::error check_codec_config(const state_config& cfg) {
  codec_parts parts;
  return open_codec_parts(cfg, parts);
}

coded_store::coded_store(std::unique_ptr<state_store> inner, value_codec codec)
  : inner_(std::move(inner)),
    codec_(std::move(codec)),
    rotation_(std::make_unique<rotation>()) {
  rotation_->active = codec_.encrypts();
}

coded_store::~coded_store() = default;

caf::error coded_store::encode_value(const std::string& key,
                                     std::string& value) {
  auto stored = codec_.encode(key, std::move(value));
  if (!stored)
    return std::move(stored.error());
  value = std::move(*stored);
  return {};
}

caf::error coded_store::decode_value(const std::string& key,
                                     std::string& value) {
  auto plain = codec_.decode(key, std::move(value));
  if (!plain)
    return std::move(plain.error());
  value = std::move(*plain);
  return {};
}

std::string_view coded_store::backend_name() const {
  return inner_->backend_name();
}

namespace {

/// Whether an entry a backend read with version 0 holds anything. Version 0
/// is "no value" (an absent key in a batch read), and no backend writes a
/// value at it; one that holds bytes or an expiry was put there by
/// something else (another writer of a shared backend, damage).
bool holds_anything(const entry& e) {
  return !e.value.empty() || e.expires_at_ms != 0;
}

/// Why a value at version 0 is not served: taken for absent by some paths
/// and for a value by others, it must not pass any of them undecoded (under
/// require_encrypted, plaintext would be served).
std::string versionless_reason() {
  return "it is stored at version 0, which this service never writes "
         "(another writer of the backend, or damage)";
}

caf::error versionless(const std::string& key) {
  return make_value_error("key '" + key + "': cannot restore its stored "
                          "value: " + versionless_reason());
}

} // namespace

caf::error coded_store::decode_read(const std::string& key, entry& e) {
  // Every successful read is decoded: none passes through as it is stored.
  if (!e.found())
    return versionless(key);
  return decode_value(key, e.value);
}

caf::expected<entry> coded_store::get(const std::string& key, unix_ms now) {
  auto e = inner_->get(key, now);
  if (e)
    if (auto err = decode_read(key, *e))
      return err;
  return e;
}

caf::expected<write_result> coded_store::set(set_request&& req,
                                             unix_ms expires_at, unix_ms now) {
  if (auto err = encode_value(req.key, req.value))
    return err;
  return inner_->set(std::move(req), expires_at, now);
}

caf::expected<bool> coded_store::erase(const delete_request& req,
                                       unix_ms now) {
  return inner_->erase(req, now);
}

caf::expected<key_page> coded_store::list(const list_request& req,
                                          unix_ms now) {
  return inner_->list(req, now);
}

caf::expected<key_page> coded_store::list_owned(const list_request& req,
                                                unix_ms now) {
  return inner_->list_owned(req, now);
}

caf::expected<std::vector<entry>>
coded_store::batch_get(const std::vector<std::string>& keys, unix_ms now) {
  return decode_batch(keys, inner_->batch_get(keys, now));
}

caf::expected<std::vector<entry>>
coded_store::batch_get_within(const std::vector<std::string>& keys,
                              unix_ms now, size_t byte_budget) {
  auto* atomic = dynamic_cast<atomic_batch_read*>(inner_.get());
  if (!atomic) // atomic_reader_of does not hand this store out then
    return batch_get(std::vector<std::string>(keys.begin(), keys.begin() + 1),
                     now);
  return decode_batch(keys, atomic->batch_get_within(keys, now, byte_budget));
}

caf::expected<std::vector<entry>>
coded_store::decode_batch(const std::vector<std::string>& keys,
                          caf::expected<std::vector<entry>> got) {
  if (!got)
    return got;
  for (size_t i = 0; i < got->size(); ++i) {
    auto& e = (*got)[i];
    // Version 0 is an absent key, unless it holds something: then a value
    // error, which read_readable() narrows to its key.
    if (!e.found() && !holds_anything(e))
      continue;
    if (auto err = decode_read(keys[i], e))
      return err;
  }
  return got;
}

bool coded_store::damaged_for_good(const std::string& key) const {
  return inner_->damaged_for_good(key);
}

bool coded_store::pipelines() const {
  return inner_->pipelines();
}

void coded_store::apply(std::vector<pending_op>& ops, unix_ms now) {
  size_t failed = 0;
  for (auto& op : ops)
    if (op.kind == pending_op::set)
      if (auto err = encode_value(op.write.key, op.write.value)) {
        op.fail(err);
        ++failed;
      }
  if (failed == 0) {
    inner_->apply(ops, now);
  } else {
    // An op whose value could not be encoded keeps its error; the backend
    // is handed the others, in order.
    std::vector<size_t> sent;
    std::vector<pending_op> batch;
    for (size_t i = 0; i < ops.size(); ++i)
      if (!ops[i].failure()) {
        sent.push_back(i);
        batch.push_back(std::move(ops[i]));
      }
    inner_->apply(batch, now);
    for (size_t j = 0; j < batch.size(); ++j)
      ops[sent[j]] = std::move(batch[j]);
  }
  for (auto& op : ops)
    if (op.kind == pending_op::get && op.got)
      if (auto err = decode_read(op.key, *op.got))
        op.got = err;
}

caf::error coded_store::transact(std::vector<pending_op>& ops, unix_ms now) {
  for (auto& op : ops)
    if (op.kind == pending_op::set)
      if (auto err = encode_value(op.write.key, op.write.value))
        return err;
  return inner_->transact(ops, now);
}

bool coded_store::shares_data() const {
  return inner_->shares_data();
}

size_t coded_store::sweep(unix_ms now, std::vector<std::string>* expired) {
  return inner_->sweep(now, expired);
}

bool coded_store::reports_expiries() const {
  return inner_->reports_expiries();
}

bool coded_store::has_pending_commit() const {
  return inner_->has_pending_commit();
}

bool coded_store::failed_commit_keeps_writes() const {
  return inner_->failed_commit_keeps_writes();
}

caf::error coded_store::commit() {
  auto err = inner_->commit();
  if (rotation_)
    take_back_rewrites(err);
  return err;
}

void coded_store::take_back_rewrites(const caf::error& commit_failure) {
  auto& r = *rotation_;
  auto undone = std::exchange(r.uncommitted, 0);
  if (!commit_failure || undone == 0 || inner_->failed_commit_keeps_writes())
    return;
  // The values are under their old key again. Counted as left, the walk
  // cannot end with the gauge at 0, telling the operator the old key may
  // go while they still need it; a walk that had ended runs again.
  spdlog::warn("{} store: a failed commit took back {} values re-encrypted "
               "under key '{}' ({}); the walk goes over them again",
               inner_->backend_name(), undone, codec_.primary_id(),
               message_of(commit_failure));
  if (!r.cursor.empty()) {
    // This walk's finish schedules the next.
    r.found_left("a failed commit took back their rewrites ("
                   + message_of(commit_failure) + ")",
                 undone);
    return;
  }
  r.last_left += undone;
  if (!r.active) {
    r.active = true;
    r.next_pass_at = r.last_step_at + rotation_retry_ms;
  }
}

caf::error coded_store::checkpoint() {
  auto err = inner_->checkpoint();
  // A checkpoint commits what is pending first (the file backend): once it
  // succeeded, the rewrites are durable, and a later failed commit must not
  // count them as taken back. A failed one leaves them counted: if its
  // commit failed, the next commit fails too and takes them back then.
  if (rotation_ && !err)
    rotation_->uncommitted = 0;
  return err;
}

caf::error coded_store::close() {
  return inner_->close();
}

bool coded_store::only_frees_after_close() const {
  return !codec_.encrypts() && inner_->only_frees_after_close();
}

namespace {

/// What a sealed snapshot is bound to, as a value is to its key.
constexpr std::string_view snapshot_name = "(the snapshot of the indexes)";

} // namespace

bool coded_store::keeps_snapshots() const {
  return inner_->keeps_snapshots();
}

caf::error coded_store::keep_snapshot(std::string bytes) {
  if (!codec_.encrypts())
    return inner_->keep_snapshot(std::move(bytes));
  auto sealed = codec_.seal(snapshot_name, bytes);
  if (!sealed)
    return std::move(sealed.error());
  return inner_->keep_snapshot(std::move(*sealed));
}

caf::expected<std::optional<std::string>> coded_store::take_snapshot() {
  auto kept = inner_->take_snapshot();
  if (!kept || !*kept)
    return kept;
  // One sealed before encryption was turned off: the key that opens it may
  // be gone, and the start builds from the values either way.
  if (!codec_.encrypts()) {
    if (inspect_stored(**kept).encrypted)
      return make_state_error(state_errc::backend_error,
                              "the snapshot is encrypted and "
                              "state.encryption is off");
    return kept;
  }
  auto opened = codec_.unseal(snapshot_name, std::move(**kept));
  if (!opened)
    return std::move(opened.error());
  return std::optional<std::string>{std::move(*opened)};
}

caf::error coded_store::health_check() {
  return inner_->health_check();
}

store_stats coded_store::stats() const {
  auto out = inner_->stats();
  auto& r = *rotation_;
  if (!codec_.encrypts())
    return out;
  if (r.counted) {
    out.reencrypt_pending = r.last_left;
    out.undecryptable = r.last_unknown + r.last_damaged;
  } else {
    // Until one walk has seen every value nothing says none is left: the
    // gauge must not read 0 before the old key may really go.
    out.reencrypt_pending = std::max<uint64_t>(1, r.left);
    out.undecryptable = r.unknown + r.damaged;
  }
  return out;
}

// -- rotation ---------------------------------------------------------------------

bool coded_store::background_step(unix_ms now) {
  bool inner_more = inner_->background_step(now);
  bool rotation_more = rotation_step(now);
  return inner_more || rotation_more;
}

bool coded_store::rotation_step(unix_ms now) {
  auto& r = *rotation_;
  // A pass further ahead than the longest wait was set before the system
  // clock stepped back (the shard follows it): due now.
  bool stepped_back = r.next_pass_at - now > 10 * rotation_retry_ms;
  if (!r.active || (now < r.next_pass_at && !stepped_back))
    return false;
  r.last_step_at = now;
  // The keys this shard owns: on DynamoDB list() hands the first shard the
  // whole table, and it would rewrite every shard's keys.
  auto page = inner_->list_owned(
    list_request{std::string{}, r.cursor, static_cast<uint32_t>(rotation_chunk)},
    now);
  if (!page) {
    // The backend is down or refuses, or a range of its keys cannot be
    // read (a damaged RocksDB block, which every retry meets again): try
    // again later, and less often the longer it lasts.
    report_list_failure(now, page.error());
    auto wait = std::min<unix_ms>(rotation_retry_ms,
                                  unix_ms{1'000} << std::min(r.list_failures,
                                                             6u));
    ++r.list_failures;
    r.next_pass_at = now + wait;
    return false;
  }
  if (r.list_failures != 0) {
    if (!r.list_failure_warned.empty())
      spdlog::info("{} store: the key rotation walk lists its keys {} "
                   "again",
                   inner_->backend_name(), where_the_walk_is());
    r.list_failures = 0;
    r.list_failure_warned.clear();
  }
  if (!page->keys.empty()) {
    auto& keys = page->keys;
    auto got = read_chunk(keys, now);
    bool cut = got.size() < keys.size(); // the step's bytes are read
    keys.resize(got.size());
    rewrite(keys, got, now);
    r.cursor = keys.back();
    if (cut)
      return true;
  }
  if (page->more)
    return true;
  finish_pass(now);
  return false;
}

/// The stored values of the first of `keys`, up to rotation_step_bytes, as
/// they are (version 0: gone, or unreadable now). An unreadable one counts
/// as left: the walk must not end with the gauge at 0, telling the operator
/// the old key may go, while values it could not read (a disk error, a
/// backend that dropped the connection) may still be under it. The next
/// walk reads them again. One damaged for good holds no key back (the
/// gauge would never reach 0): no key will read it, as with an altered
/// value.
std::vector<entry> coded_store::read_chunk(const std::vector<std::string>& keys,
                                           unix_ms now) {
  auto& r = *rotation_;
  auto read = read_readable_within(*inner_, keys, now, rotation_step_bytes, 0,
                                   &r.value_bytes);
  if (!read) {
    r.found_left("reading the values from key " + keys.front() + " on: "
                   + message_of(read.error()),
                 keys.size());
    return std::vector<entry>(keys.size());
  }
  for (size_t i = 0; i < read->unreadable.size(); ++i) {
    auto& key = keys[read->unreadable[i]];
    auto& reason = read->reasons[i];
    // A value error names its key as a rule; one that does not is told.
    auto why = reason.find(key) == std::string::npos
                 ? "key " + key + ": " + reason
                 : reason;
    if (inner_->damaged_for_good(key))
      r.found_damaged_for_good(why);
    else
      r.found_left(why);
  }
  return std::move(read->entries);
}

void coded_store::rewrite(const std::vector<std::string>& keys,
                          std::vector<entry>& got, unix_ms now) {
  auto& r = *rotation_;
  std::vector<pending_op> ops;
  std::vector<size_t> key_of_op; // apply may move the ops' keys out
  for (size_t i = 0; i < keys.size(); ++i) {
    auto& e = got[i];
    if (!e.found()) {
      // No key reads it (get() refuses it), so it holds no key back.
      if (holds_anything(e))
        r.found_damaged("key " + keys[i] + ": " + versionless_reason());
      continue;
    }
    if (codec_.current(e.value)) {
      // Nothing to move; but one altered at rest answers an error like
      // any other, and is counted as one (the walk reads it anyway; the
      // check costs a decryption).
      if (auto why = codec_.damage(keys[i], std::move(e.value)); !why.empty())
        r.found_damaged("key " + keys[i] + ": " + why);
      continue;
    }
    auto form = inspect_stored(e.value);
    if (form.encrypted && form.problem.empty()
        && !codec_.knows_key(form.key_id)) {
      // The id is logged: only when it is one a config could hold.
      if (!key_id_problem(form.key_id).empty()) {
        r.found_damaged("key " + keys[i] + ": the frame names no valid key id");
        continue;
      }
      ++r.unknown;
      if (r.unknown_ids.size() < rotation::max_ids_logged)
        r.unknown_ids.emplace(form.key_id);
      continue;
    }
    auto plain = codec_.decode(keys[i], e.value);
    if (!plain) {
      // Altered or cut short, it answers its error and no key will read
      // it: it does not hold the old key back (the gauge would never reach
      // 0). Sound but unreadable under this configuration (a dictionary no
      // longer listed), it is left: the old key still protects it.
      if (auto why = codec_.damage(keys[i], std::move(e.value)); !why.empty())
        r.found_damaged(message_of(plain.error()));
      else
        r.found_left(message_of(plain.error()));
      continue;
    }
    auto stored = codec_.encode(keys[i], std::move(*plain));
    if (!stored) {
      r.found_left("key " + keys[i] + ": " + message_of(stored.error()));
      continue;
    }
    pending_op op;
    op.kind = pending_op::set;
    op.write.key = keys[i];
    op.write.value = std::move(*stored);
    op.write.cond = condition::matches(e.version);
    op.expires_at = e.expires_at_ms;
    ops.push_back(std::move(op));
    key_of_op.push_back(i);
  }
  if (ops.empty())
    return;
  inner_->apply(ops, now);
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& op = ops[i];
    if (op.written) {
      ++r.rewritten;
      ++r.uncommitted;
      r.moved.push_back(keys[key_of_op[i]]);
      continue;
    }
    // version_mismatch: a client wrote the key meanwhile, under the primary
    // key. not_found cannot happen to a conditional set of a live key but an
    // expiry; both leave nothing to do.
    auto code = code_of(op.written.error());
    if (code != state_errc::version_mismatch && code != state_errc::not_found)
      r.found_left("key " + keys[key_of_op[i]] + ": "
                   + message_of(op.written.error()));
  }
}

std::vector<std::string> coded_store::take_expired_by_writes() {
  return inner_->take_expired_by_writes();
}

std::vector<std::string> coded_store::take_evicted() {
  return inner_->take_evicted();
}

std::vector<std::string> coded_store::take_rewritten() {
  return std::exchange(rotation_->moved, {});
}

std::string coded_store::where_the_walk_is() const {
  auto& cursor = rotation_->cursor;
  return cursor.empty() ? std::string{"from the first key"}
                        : "after key '" + cursor + "'";
}

void coded_store::report_list_failure(unix_ms now, const caf::error& why) {
  auto& r = *rotation_;
  // Retried every few seconds to once a minute: warned once, again when
  // the error changes, else every ten minutes.
  auto message = message_of(why);
  bool news = message != r.list_failure_warned
              || now - r.list_failure_warned_at >= 10 * rotation_retry_ms
              || now < r.list_failure_warned_at;
  spdlog::log(news ? spdlog::level::warn : spdlog::level::debug,
              "{} store: the key rotation walk cannot list the keys {} "
              "({}); it tries again, less and less often (at most a minute "
              "apart), and state_reencrypt_pending stays above 0 until it "
              "gets past them",
              inner_->backend_name(), where_the_walk_is(), message);
  if (news) {
    r.list_failure_warned = std::move(message);
    r.list_failure_warned_at = now;
  }
}

void coded_store::report_left(unix_ms now) {
  auto& r = *rotation_;
  // Each retry of a walk that cannot move the same value would say the same
  // every minute: said again when the first value left changes, else once
  // an hour.
  bool news = r.first_left != r.left_warned
              || now - r.left_warned_at >= left_warning_interval_ms
              || now < r.left_warned_at;
  auto level = news ? spdlog::level::warn : spdlog::level::debug;
  spdlog::log(level,
              "{} store: {} values could not be re-encrypted under key '{}' "
              "(the first: {}); the next attempt is in {} s",
              inner_->backend_name(), r.left, codec_.primary_id(),
              r.first_left, rotation_retry_ms / 1000);
  if (news) {
    r.left_warned = r.first_left;
    r.left_warned_at = now;
  }
}

void coded_store::finish_pass(unix_ms now) {
  auto& r = *rotation_;
  if (r.rewritten > 0)
    spdlog::info("{} store: re-encrypted {} values under key '{}'",
                 inner_->backend_name(), r.rewritten, codec_.primary_id());
  if (r.unknown > 0) {
    std::string ids;
    for (auto& id : r.unknown_ids)
      ids += (ids.empty() ? "'" : ", '") + id + "'";
    spdlog::warn("{} store: {} values are encrypted under keys that "
                 "state.encryption.keys does not list ({}): each answers an "
                 "error until it is written again or deleted, or the key is "
                 "listed again",
                 inner_->backend_name(), r.unknown, ids);
  }
  if (r.damaged > 0)
    spdlog::warn("{} store: {} values fail to decode (altered or damaged; "
                 "the first: {}): each answers an error until it is written "
                 "again or deleted",
                 inner_->backend_name(), r.damaged, r.first_damage);
  if (r.damaged_for_good > 0)
    spdlog::info("{} store: the walk passed over {} values damaged for good "
                 "in the backend (the first: {}; each answers an error until "
                 "it is written again or deleted): they hold no key back",
                 inner_->backend_name(), r.damaged_for_good,
                 r.first_damaged_for_good);
  if (r.left > 0)
    report_left(now);
  r.counted = true;
  r.last_left = r.left;
  r.last_unknown = r.unknown;
  r.last_damaged = r.damaged;
  r.cursor.clear();
  r.left = r.unknown = r.damaged = r.damaged_for_good = r.rewritten = 0;
  r.unknown_ids.clear();
  r.first_damage.clear();
  r.first_damaged_for_good.clear();
  r.first_left.clear();
  if (r.last_left == 0 && r.last_unknown == 0 && r.last_damaged == 0)
    r.active = false; // every value is under the primary key: done
  else if (r.last_left > 0)
    r.next_pass_at = now + rotation_retry_ms;
  else // only values nobody can read: recount now and then, not every minute
    r.next_pass_at = now + 10 * rotation_retry_ms;
}

} // namespace solver_state
