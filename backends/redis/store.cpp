// The Redis store of one shard: packed values, MULTI/EXEC or Lua writes,
// MGET batch reads, sorted-set listing, pipelined batches, index pruning.

#include "backends/redis/store.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

caf::error malformed(const std::string& what) {
  return make_state_error(state_errc::backend_error,
                          "redis: unexpected reply: " + what);
}

/// Decodes "<version>:<expires_at>:<bytes>" into `out`.
bool unpack(std::string_view packed, entry& out) {
  auto a = packed.find(':');
  auto b = a == std::string_view::npos ? a : packed.find(':', a + 1);
  if (b == std::string_view::npos)
    return false;
  out.version = std::strtoull(std::string{packed.substr(0, a)}.c_str(),
                              nullptr, 10);
  out.expires_at_ms = std::strtoll(
    std::string{packed.substr(a + 1, b - a - 1)}.c_str(), nullptr, 10);
  out.value.assign(packed.substr(b + 1));
  return out.version != 0;
}

bool live(const entry& e, unix_ms now) {
  return e.expires_at_ms == 0 || e.expires_at_ms > now;
}

/// `n` in decimal, in `buf`.
template <class Int>
std::string_view decimal(char (&buf)[24], Int n) {
  auto end = std::to_chars(buf, buf + sizeof buf, n).ptr;
  return {buf, static_cast<size_t>(end - buf)};
}

caf::error mismatch(long long code) {
  switch (code) {
    case -1:
      return make_state_error(state_errc::version_mismatch, "key exists");
    case -2:
      return make_state_error(state_errc::version_mismatch,
                              "key does not exist");
    case -4:
      return make_state_error(state_errc::capacity_exceeded,
                              "store holds max_items keys");
    default:
      return make_state_error(state_errc::version_mismatch, "version differs");
  }
}

caf::error error_reply(const redisReply* r) {
  return redis_error("redis: ", r);
}

caf::error not_found() {
  return make_state_error(state_errc::not_found, "no value for key");
}

/// One stored value that cannot be read, where Redis works: a batch fails
/// with it, and a walk over many keys (or a batch with skip_unreadable)
/// goes past it.
caf::error unreadable(const std::string& key) {
  return make_value_error("redis: the stored value of '" + key
                          + "' is not in this store's format");
}

// -- replies to outcomes (shared by the single and the pipelined path) -----------

caf::expected<entry> entry_of(const redisReply* reply, const std::string& key,
                              unix_ms now) {
  if (reply->type == REDIS_REPLY_NIL)
    return not_found();
  if (reply->type == REDIS_REPLY_ERROR)
    return error_reply(reply);
  if (reply->type != REDIS_REPLY_STRING)
    return malformed("GET");
  entry out;
  if (!unpack(text_of(reply), out))
    return unreadable(key);
  if (!live(out, now))
    return not_found();
  return out;
}

/// The set script's outcome: "<version>", or "c<version>" when it created
/// the key; a negative integer when the condition failed.
caf::expected<write_result> written_of(const redisReply* reply) {
  if (reply->type == REDIS_REPLY_ERROR)
    return error_reply(reply);
  if (reply->type == REDIS_REPLY_INTEGER)
    return mismatch(reply->integer);
  if (reply->type != REDIS_REPLY_STRING)
    return malformed("set script");
  std::string text{text_of(reply)};
  bool created = !text.empty() && text.front() == 'c';
  auto version = std::strtoull(text.c_str() + (created ? 1 : 0), nullptr,
                               10);
  if (version == 0)
    return malformed("set script version");
  return write_result{version, created};
}

caf::expected<bool> erased_of(const redisReply* reply) {
  if (reply->type == REDIS_REPLY_ERROR)
    return error_reply(reply);
  if (reply->type != REDIS_REPLY_INTEGER)
    return malformed("erase script");
  if (reply->integer < 0)
    return mismatch(reply->integer);
  return reply->integer == 1;
}

} // namespace

redis_store::redis_store(redis_options opts, shard_slice slice,
                         size_t max_items)
  : conn_(std::move(opts)),
    slice_(slice),
    value_prefix_(conn_.options().prefix + "v:"),
    index_key_(conn_.options().prefix + "index"),
    counter_key_(conn_.options().prefix + "version"),
    expiry_key_(conn_.options().prefix + "expiry"),
    channel_(conn_.options().change_channel()),
    max_items_(max_items),
    set_script_{redis_set_script, {}},
    erase_script_{redis_erase_script, {}},
    batch_within_script_{redis_batch_within_script, {}},
    list_script_{redis_list_script, {}},
    prune_script_{redis_prune_script, {}},
    block_script_{redis_version_block_script, {}},
    transaction_script_{redis_transaction_script, {}} {
}

std::string_view redis_store::backend_name() const {
  return "redis";
}

std::string redis_store::value_key(std::string_view key) const {
  std::string out;
  out.reserve(value_prefix_.size() + key.size());
  out += value_prefix_;
  out += key;
  return out;
}

caf::expected<entry> redis_store::get(const std::string& key, unix_ms now) {
  auto vk = value_key(key);
  auto r = conn_.command({"GET", vk});
  if (!r)
    return std::move(r.error());
  return entry_of(r->get(), key, now);
}

namespace {

/// The entries of the first out.size() elements of an array reply, the
/// values of `keys` in order: read as get() reads each key, so a value it
/// refuses fails the batch instead of reading as absent.
caf::error read_entries(const redisReply* reply,
                        const std::vector<std::string>& keys, unix_ms now,
                        std::vector<entry>& out) {
  for (size_t i = 0; i < out.size(); ++i) {
    auto e = entry_of(reply->element[i], keys[i], now);
    if (e)
      out[i] = std::move(*e);
    else if (code_of(e.error()) != state_errc::not_found)
      return std::move(e.error());
  }
  return {};
}

} // namespace

caf::expected<std::vector<entry>>
redis_store::batch_get(const std::vector<std::string>& keys, unix_ms now) {
  std::vector<entry> out(keys.size());
  if (keys.empty())
    return out;
  std::vector<std::string> value_keys;
  value_keys.reserve(keys.size());
  redis_args args{"MGET"};
  for (auto& k : keys)
    value_keys.push_back(value_key(k));
  for (auto& vk : value_keys)
    args.push_back(vk);
  auto r = conn_.command(args);
  if (!r)
    return std::move(r.error());
  auto* reply = r->get();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != keys.size())
    return malformed("MGET");
  if (auto err = read_entries(reply, keys, now, out))
    return err;
  return out;
}

caf::expected<std::vector<entry>>
redis_store::batch_get_within(const std::vector<std::string>& keys,
                              unix_ms now, size_t byte_budget) {
  if (keys.empty())
    return std::vector<entry>{};
  std::vector<std::string> value_keys;
  value_keys.reserve(keys.size());
  for (auto& k : keys)
    value_keys.push_back(value_key(k));
  auto budget = std::to_string(byte_budget);
  auto r = run_script(conn_, batch_within_script_,
                      redis_args(value_keys.begin(), value_keys.end()),
                      {budget});
  if (!r)
    return std::move(r.error());
  auto* reply = r->get();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0
      || reply->elements > keys.size())
    return malformed("batch script");
  std::vector<entry> out(reply->elements);
  if (auto err = read_entries(reply, keys, now, out))
    return err;
  return out;
}

/// Versions a store hands out without asking Redis each time: blocks of
/// this many from the shared counter (never twice, across every client).
constexpr version_t version_block = 4096;

caf::expected<version_t> redis_store::take_version() {
  if (next_version_ > last_version_) {
    auto drawn = std::to_string(last_version_);
    auto size = std::to_string(version_block);
    auto r = run_script(conn_, block_script_, {counter_key_}, {drawn, size});
    if (!r)
      return std::move(r.error());
    if ((*r)->type != REDIS_REPLY_INTEGER || (*r)->integer <= 0)
      return malformed("version block");
    last_version_ = static_cast<version_t>((*r)->integer);
    next_version_ = last_version_ - version_block + 1;
  }
  return next_version_++;
}

bool redis_store::add_set(redis_batch& b, const set_request& req,
                          unix_ms expires_at, unix_ms now,
                          version_t version) const {
  char version_buf[24], expires_buf[24];
  auto ver = decimal(version_buf, version);
  auto exp = decimal(expires_buf, expires_at);
  if (req.cond.kind != condition::none || max_items_ != 0) {
    b.add("EVALSHA", set_script_.sha, 4,
          redis_joined{{value_prefix_, req.key}}, index_key_, counter_key_,
          expiry_key_, static_cast<int>(req.cond.kind), req.cond.version, now,
          exp, req.value, req.key, ver, max_items_, channel_);
    return false;
  }
  b.add("MULTI");
  // The old value's header ("<version>:<expires_at>:", at most 41 bytes),
  // to tell whether a live value was there at `now`: 201 or 204 over HTTP.
  b.add("GETRANGE", redis_joined{{value_prefix_, req.key}}, "0", "47");
  if (expires_at != 0)
    b.add("SET", redis_joined{{value_prefix_, req.key}},
          redis_joined{{ver, ":", exp, ":", req.value}}, "PXAT", exp);
  else
    b.add("SET", redis_joined{{value_prefix_, req.key}},
          redis_joined{{ver, ":", exp, ":", req.value}});
  b.add("ZADD", index_key_, "0", req.key);
  if (expires_at != 0)
    b.add("ZADD", expiry_key_, exp, req.key);
  else
    b.add("ZREM", expiry_key_, req.key);
  char key_size_buf[24];
  b.add("PUBLISH", channel_,
        redis_joined{{"p", ver, ":", exp, ":",
                      decimal(key_size_buf, req.key.size()), ":", req.key,
                      req.value}});
  b.add("EXEC");
  return true;
}

void redis_store::add_erase(redis_batch& b, const delete_request& req,
                            unix_ms now) const {
  b.add("EVALSHA", erase_script_.sha, 3,
        redis_joined{{value_prefix_, req.key}}, index_key_, expiry_key_,
        static_cast<int>(req.cond.kind), req.cond.version, now, req.key,
        channel_);
}

caf::error redis_store::explain_refusal(caf::error err) const {
  // EXEC's EXECABORT does not say why; the queued SET's reply did.
  if (conn_.demoted())
    return make_state_error(state_errc::backend_unavailable,
                            "redis: " + conn_.server()
                              + " answered READONLY: it is a replica now (a "
                                "failover); the next request reconnects");
  auto& why = conn_.first_refusal();
  if (!why.empty() && message_of(err).find("EXECABORT") != std::string::npos)
    return redis_error("redis: ", why);
  return err;
}

bool redis_store::waits() const {
  return conn_.options().wait_replicas > 0;
}

void redis_store::add_wait(redis_batch& b) const {
  auto& opts = conn_.options();
  b.add("WAIT", opts.wait_replicas, opts.wait_timeout.count());
}

caf::error redis_store::replicas_short(const redisReply* r) const {
  auto& opts = conn_.options();
  if (r->type == REDIS_REPLY_INTEGER && r->integer >= opts.wait_replicas)
    return {};
  if (r->type == REDIS_REPLY_ERROR)
    return error_reply(r);
  return make_state_error(
    state_errc::backend_unavailable,
    "redis: written on the master " + conn_.server() + " but "
      + std::to_string(r->type == REDIS_REPLY_INTEGER ? r->integer : 0)
      + " of " + std::to_string(opts.wait_replicas)
      + " replicas acknowledged it within "
      + std::to_string(opts.wait_timeout.count())
      + " ms: it may be lost if the master fails now");
}

caf::expected<redis_store::waited_reply>
redis_store::run_one(const std::function<void(redis_batch&)>& add) {
  for (int attempt = 0;; ++attempt) {
    if (auto err = scripts_ready())
      return err;
    one_.clear();
    add(one_);
    if (waits())
      add_wait(one_);
    auto replies = conn_.pipeline(one_);
    if (!replies)
      return std::move(replies.error());
    waited_reply out;
    if (waits()) {
      out.unreplicated = replicas_short(replies->back().get());
      replies->pop_back();
    }
    out.reply = std::move(replies->back());
    // The server's script cache was flushed since the scripts were loaded
    // (SCRIPT FLUSH, a failover): load them again and run once more.
    if (attempt == 0 && is_noscript(out.reply.get())) {
      scripts_generation_ = 0;
      continue;
    }
    return out;
  }
}

namespace {

/// The outcome of a MULTI .. EXEC write from its EXEC reply: GETRANGE of
/// the old header, SET, ZADD to the index, ZADD or ZREM of the expiry,
/// PUBLISH of the change.
caf::expected<write_result> plain_outcome(const redisReply* exec,
                                          version_t version, unix_ms now) {
  if (exec->type == REDIS_REPLY_ERROR)
    return error_reply(exec);
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 5)
    return malformed("EXEC");
  for (size_t i = 0; i < exec->elements; ++i)
    if (exec->element[i]->type == REDIS_REPLY_ERROR)
      return error_reply(exec->element[i]);
  auto* old = exec->element[0];
  if (old->type != REDIS_REPLY_STRING)
    return malformed("GETRANGE");
  entry header;
  bool was_live = unpack(text_of(old), header) && live(header, now);
  return write_result{version, !was_live};
}

} // namespace

caf::expected<write_result> redis_store::set(set_request&& req,
                                             unix_ms expires_at, unix_ms now) {
  auto version = take_version();
  if (!version)
    return std::move(version.error());
  bool plain = false;
  auto r = run_one([&](redis_batch& b) {
    plain = add_set(b, req, expires_at, now, *version);
  });
  if (!r)
    return std::move(r.error());
  auto outcome = plain ? plain_outcome(r->reply.get(), *version, now)
                       : written_of(r->reply.get());
  if (!outcome && plain)
    outcome = explain_refusal(std::move(outcome.error()));
  if (outcome && r->unreplicated)
    return std::move(r->unreplicated);
  return outcome;
}

caf::expected<bool> redis_store::erase(const delete_request& req,
                                       unix_ms now) {
  auto r = run_one([&](redis_batch& b) { add_erase(b, req, now); });
  if (!r)
    return std::move(r.error());
  auto outcome = erased_of(r->reply.get());
  if (outcome && *outcome && r->unreplicated)
    return std::move(r->unreplicated);
  return outcome;
}

// -- pipelining --------------------------------------------------------------------

bool redis_store::pipelines() const {
  return true;
}

void redis_store::apply(std::vector<pending_op>& ops, unix_ms now) {
  // Chunks bound what one round trip buffers (values may be large).
  for_each_chunk(ops, size_t{1} << 20, [&](pending_op* first, size_t n) {
    apply_chunk(first, n, now);
  });
}

caf::error redis_store::scripts_ready() {
  if (auto err = conn_.ensure_connected())
    return err;
  // A new connection may be to a restarted server with an empty script
  // cache: load before pipelining EVALSHAs (one round trip per reconnect).
  if (scripts_generation_ == conn_.generation() && !set_script_.sha.empty()
      && !erase_script_.sha.empty())
    return {};
  if (auto err = load_script(conn_, set_script_))
    return err;
  if (auto err = load_script(conn_, erase_script_))
    return err;
  scripts_generation_ = conn_.generation();
  return {};
}

void redis_store::apply_chunk(pending_op* ops, size_t n, unix_ms now) {
  auto fail_all = [&](const caf::error& err) {
    for (size_t i = 0; i < n; ++i)
      ops[i].fail(err);
  };
  if (auto err = scripts_ready())
    return fail_all(err);
  struct slot {
    size_t reply = 0;    // the reply that holds the op's outcome
    bool plain = false;  // a MULTI .. EXEC write: EXEC's reply
    version_t version = 0;
  };
  std::vector<slot> slots(n);
  auto& b = batch_;
  b.clear();
  for (size_t i = 0; i < n; ++i) {
    auto& op = ops[i];
    auto& s = slots[i];
    switch (op.kind) {
      case pending_op::get:
        b.add("GET", redis_joined{{value_prefix_, op.key}});
        break;
      case pending_op::set: {
        auto version = take_version();
        if (!version)
          return fail_all(version.error());
        s.version = *version;
        s.plain = add_set(b, op.write, op.expires_at, now, s.version);
        break;
      }
      case pending_op::erase:
        add_erase(b, op.removal, now);
        break;
    }
    s.reply = b.commands() - 1;
  }
  bool writes = std::any_of(ops, ops + n, [](const pending_op& op) {
    return op.kind != pending_op::get;
  });
  if (writes && waits())
    add_wait(b);
  // A lost connection loses the whole batch: which commands ran is unknown,
  // as for a single command whose reply never came.
  auto replies = conn_.pipeline(b);
  if (!replies)
    return fail_all(replies.error());
  std::vector<bool> noscript(n, false);
  bool any_noscript = false;
  for (size_t i = 0; i < n; ++i) {
    auto* r = (*replies)[slots[i].reply].get();
    auto& op = ops[i];
    if (slots[i].plain) {
      op.written = plain_outcome(r, slots[i].version, now);
      if (!op.written)
        op.written = explain_refusal(std::move(op.written.error()));
      continue;
    }
    if (op.kind != pending_op::get && is_noscript(r)) {
      noscript[i] = any_noscript = true;
      continue;
    }
    switch (op.kind) {
      case pending_op::get:
        op.got = entry_of(r, op.key, now);
        break;
      case pending_op::set:
        op.written = written_of(r);
        break;
      case pending_op::erase:
        op.erased = erased_of(r);
        break;
    }
  }
  // WAIT's reply is read before a rerun: the rerun's commands reuse the
  // reply arena this batch's replies live in (a reply read after them was
  // freed memory, or another command's).
  caf::error unreplicated;
  if (writes && waits())
    unreplicated = replicas_short(replies->back().get());
  if (any_noscript)
    rerun_after_noscript(ops, n, noscript, now);
  if (unreplicated)
    fail_unreplicated_writes(ops, n, noscript, unreplicated);
}

void redis_store::fail_unreplicated_writes(pending_op* ops, size_t n,
                                           const std::vector<bool>& rerun,
                                           const caf::error& err) {
  // WAIT counted the writes of this round trip; the ops run again after a
  // NOSCRIPT waited for their own (run_one).
  for (size_t i = 0; i < n; ++i) {
    auto& op = ops[i];
    if (rerun[i])
      continue;
    if (op.kind == pending_op::set && op.written)
      op.written = err;
    else if (op.kind == pending_op::erase && op.erased && *op.erased)
      op.erased = err;
  }
}

void redis_store::rerun_after_noscript(pending_op* ops, size_t n,
                                       const std::vector<bool>& noscript,
                                       unix_ms now) {
  // The server's script cache was flushed (SCRIPT FLUSH, a failover) while
  // the batch ran, so these ops did not run but later ones did. Running one
  // again now keeps the order on its key only if no later op of the batch
  // touched that key; otherwise it fails (it never ran: the client retries).
  scripts_generation_ = 0; // reload on the next batch
  for (size_t i = 0; i < n; ++i) {
    if (!noscript[i])
      continue;
    auto& op = ops[i];
    bool overtaken = false;
    for (size_t j = i + 1; j < n && !overtaken; ++j)
      overtaken = !noscript[j] && ops[j].target() == op.target();
    if (overtaken) {
      op.fail(make_state_error(state_errc::backend_unavailable,
                               "redis: script cache flushed during a "
                               "pipelined batch; not applied, retry"));
    } else if (op.kind == pending_op::set) {
      op.written = set(std::move(op.write), op.expires_at, now);
    } else {
      op.erased = erase(op.removal, now);
    }
  }
}

caf::expected<key_page> redis_store::list(const list_request& req,
                                          unix_ms now) {
  key_page page;
  // One key past the limit tells whether more exist.
  size_t wanted = req.limit == 0 ? SIZE_MAX : size_t{req.limit} + 1;
  std::string min = req.after < req.prefix ? "[" + req.prefix
                                           : "(" + req.after;
  auto succ = prefix_successor(req.prefix);
  std::string max = succ ? "(" + *succ : std::string{"+"};
  // Other shards' keys are skipped, so scan in chunks until enough are ours.
  size_t chunk = std::max<size_t>(64, req.limit == 0 ? 1024 : wanted * 2);
  auto chunk_text = std::to_string(chunk);
  auto now_text = std::to_string(now);
  std::vector<std::string> keys;
  for (;;) {
    auto r = run_script(conn_, list_script_, {index_key_, expiry_key_},
                        {min, max, chunk_text, now_text, value_prefix_});
    if (!r)
      return std::move(r.error());
    auto* reply = r->get();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[2]->type != REDIS_REPLY_ARRAY)
      return malformed("list script");
    auto scanned = static_cast<size_t>(reply->element[0]->integer);
    auto* live_keys = reply->element[2];
    for (size_t i = 0; i < live_keys->elements && keys.size() < wanted; ++i) {
      auto key = text_of(live_keys->element[i]);
      if (slice_.owns(key))
        keys.emplace_back(key);
    }
    if (keys.size() >= wanted || scanned < chunk)
      break;
    min = "(" + std::string{text_of(reply->element[1])};
  }
  if (keys.size() == wanted && req.limit != 0) {
    keys.pop_back();
    page.more = true;
  }
  page.keys = std::move(keys);
  return page;
}

size_t redis_store::sweep(unix_ms, std::vector<std::string>*) {
  // Redis drops expired values itself (PEXPIREAT); what is left is index
  // members pointing at them. One shard prunes a bounded batch per tick.
  if (!slice_.leads())
    return 0;
  constexpr size_t batch = 512;
  auto batch_text = std::to_string(batch);
  auto r = run_script(conn_, prune_script_, {index_key_, expiry_key_},
                      {prune_cursor_, batch_text, value_prefix_});
  if (!r)
    return 0;
  auto* reply = r->get();
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
    return 0;
  auto removed = static_cast<size_t>(reply->element[0]->integer);
  auto scanned = static_cast<size_t>(reply->element[1]->integer);
  prune_cursor_ = scanned < batch
                    ? "-"
                    : "(" + std::string{text_of(reply->element[2])};
  if (auto n = conn_.command({"ZCARD", index_key_});
      n && (*n)->type == REDIS_REPLY_INTEGER)
    stats_.keys = static_cast<uint64_t>((*n)->integer);
  return removed;
}

namespace {

/// Replicas a master's `INFO replication` lists as online
/// ("slave0:ip=...,port=...,state=online,offset=...,lag=0" lines).
int64_t online_replicas(std::string_view info) {
  int64_t online = 0;
  for (size_t at = 0; at < info.size();) {
    auto end = info.find('\n', at);
    auto line = info.substr(at, end == std::string_view::npos ? end : end - at);
    if (line.substr(0, 5) == "slave" && line.find(':') != std::string_view::npos
        && line.find("state=online") != std::string_view::npos)
      ++online;
    if (end == std::string_view::npos)
      break;
    at = end + 1;
  }
  return online;
}

} // namespace

caf::error redis_store::health_check() {
  auto& opts = conn_.options();
  if (opts.wait_replicas == 0) {
    auto r = conn_.command({"PING"});
    if (!r)
      return std::move(r.error());
    if ((*r)->type == REDIS_REPLY_ERROR)
      return make_state_error(state_errc::backend_unavailable,
                              "redis PING: " + std::string{text_of(r->get())});
    return {};
  }
  // With wait_replicas every write waits for that many replicas: a master
  // without them fails every write after wait_timeout_ms, so it is not
  // ready, whatever PING says.
  auto r = conn_.command({"INFO", "replication"});
  if (!r)
    return std::move(r.error());
  auto* reply = r->get();
  if (reply->type != REDIS_REPLY_STRING) {
    // INFO refused (an ACL without @dangerous, renamed away): the server
    // answered, the count is unknown; writes still tell their own WAIT.
    if (!info_refusal_logged_) {
      info_refusal_logged_ = true;
      spdlog::warn("redis: {} answered INFO replication with '{}': /readyz "
                   "cannot tell whether wait_replicas={} replicas are online "
                   "(allow INFO to this user to have it checked)",
                   conn_.server(), text_of(reply), opts.wait_replicas);
    }
    return {};
  }
  auto online = online_replicas({reply->str, reply->len});
  if (online >= opts.wait_replicas)
    return {};
  return make_state_error(
    state_errc::backend_unavailable,
    "redis: " + conn_.server() + " has " + std::to_string(online)
      + " replica(s) online and wait_replicas is "
      + std::to_string(opts.wait_replicas)
      + ": every write would fail after wait_timeout_ms");
}

store_stats redis_store::stats() const {
  return stats_;
}

} // namespace solver_state
