// The DynamoDB store of one shard: conditional versioned puts, Query-based
// listing per key class, BatchGetItem, chunked large values, expiry sweep.

#include "backends/dynamodb/store.hpp"

#include <iterator>
#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <thread>

#include <boost/json/array.hpp>
#include <spdlog/spdlog.h>

#include "backends/dynamodb/table.hpp"
#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"
#include "messages/keys.hpp"

namespace solver_state::dynamodb {

namespace {

/// BatchGetItem takes at most 100 keys, BatchWriteItem 25 requests.
constexpr size_t batch_get_max = 100;
constexpr size_t batch_write_max = 25;
/// Retries of UnprocessedKeys/UnprocessedItems and of version races.
constexpr int max_attempts = 8;
constexpr size_t query_page = 1000;

/// A condition or key expression with the names and values it uses
/// (DynamoDB refuses names or values that no expression uses).
struct expression {
  std::string text;
  json::object names;
  json::object values;

  expression& name(std::string_view placeholder, std::string_view attr) {
    names[placeholder] = attr;
    return *this;
  }
  expression& value(std::string_view placeholder, json::object attr) {
    values[placeholder] = std::move(attr);
    return *this;
  }
  void add_to(json::object& body, std::string_view field) const {
    body[field] = text;
    if (!names.empty())
      body["ExpressionAttributeNames"] = names;
    if (!values.empty())
      body["ExpressionAttributeValues"] = values;
  }
};

constexpr version_t top_version = std::numeric_limits<version_t>::max();

/// v + 1, or v at the top: no version wraps to 0.
version_t above(version_t v) {
  return v == top_version ? v : v + 1;
}

/// Why no write can go above `top_version`: a client's If-Match of it is a
/// claim the put could not honour either; a key holding it (written by
/// someone else) cannot be written again.
caf::error no_version_above_top(const std::string& key,
                                const condition& cond) {
  auto top = std::to_string(top_version);
  if (cond.kind == condition::if_version)
    return make_state_error(state_errc::version_mismatch,
                            "version differs or key does not exist (no "
                            "version follows " + top + ")");
  return make_state_error(state_errc::backend_error,
                          "key '" + key + "' holds version " + top
                            + ", the highest there is: no write can follow "
                              "it");
}

uint64_t clock_micros() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

/// The condition that makes a put of version :nv honour `cond` at :now.
expression put_condition(const condition& cond, version_t new_version,
                         unix_ms now) {
  expression e;
  e.name("#k", "k").name("#v", "ver").value(":nv", attr_n(new_version));
  switch (cond.kind) {
    case condition::if_version:
      e.text = "#v = :cv AND (#e = :z OR #e > :now)";
      e.names.erase("#k");
      e.values.erase(":nv");
      e.name("#e", "exp")
        .value(":cv", attr_n(cond.version))
        .value(":z", attr_n(int64_t{0}))
        .value(":now", attr_n(now));
      break;
    case condition::if_absent:
      e.text = "attribute_not_exists(#k) OR (#e <> :z AND #e <= :now AND "
               "#v < :nv)";
      e.name("#e", "exp")
        .value(":z", attr_n(int64_t{0}))
        .value(":now", attr_n(now));
      break;
    default:
      e.text = "attribute_not_exists(#k) OR #v < :nv";
  }
  return e;
}

std::optional<expression> delete_condition(const condition& cond,
                                           unix_ms now) {
  expression e;
  switch (cond.kind) {
    case condition::if_version:
      e.text = "#v = :cv AND (#e = :z OR #e > :now)";
      e.name("#v", "ver").value(":cv", attr_n(cond.version));
      break;
    case condition::if_absent:
      e.text = "attribute_not_exists(#k) OR (#e <> :z AND #e <= :now)";
      e.name("#k", "k");
      break;
    default:
      return std::nullopt;
  }
  e.name("#e", "exp")
    .value(":z", attr_n(int64_t{0}))
    .value(":now", attr_n(now));
  return e;
}

std::string chunk_partition(const std::string& key) {
  return "blob:" + aws::sha256_hex(key);
}

json::object chunk_key(const std::string& partition, uint64_t blob,
                       uint32_t index) {
  std::string k(12, '\0');
  for (int i = 0; i < 8; ++i)
    k[i] = static_cast<char>(blob >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i)
    k[8 + i] = static_cast<char>(index >> (24 - 8 * i));
  return json::object{{"pk", attr_s(partition)}, {"k", attr_b(k)}};
}

/// Classes whose partition may hold keys starting with `prefix`: its own
/// class, or for a prefix shorter than a class name ("ord", ""), every class
/// it could still become plus "other".
std::vector<key_class> classes_for(std::string_view prefix) {
  auto cls = class_of(prefix);
  if (cls != key_class::other)
    return {cls};
  std::vector<key_class> out;
  for (auto c : all_classes) {
    auto name = std::string{partition_of(c)} + ":";
    if (c == key_class::other || name.compare(0, prefix.size(), prefix) == 0)
      out.push_back(c);
  }
  return out;
}

void backoff_sleep(int attempt) {
  std::this_thread::sleep_for(std::chrono::milliseconds{10 << attempt});
}

const json::array* array_at(const json::object& obj, std::string_view a,
                            std::string_view b = {}) {
  auto v = obj.if_contains(a);
  if (v && !b.empty())
    v = v->is_object() ? v->as_object().if_contains(b) : nullptr;
  return v && v->is_array() ? &v->as_array() : nullptr;
}

/// The keys of `table` a BatchGetItem reply left unprocessed, if any:
/// {"UnprocessedKeys": {"<table>": {"Keys": [...]}}}.
const json::array* unprocessed_keys(const json::object& reply,
                                    const std::string& table) {
  auto unprocessed = reply.if_contains("UnprocessedKeys");
  if (!unprocessed || !unprocessed->is_object())
    return nullptr;
  auto t = unprocessed->as_object().if_contains(table);
  return t && t->is_object() ? array_at(t->as_object(), "Keys") : nullptr;
}

} // namespace

dynamodb_store::dynamodb_store(endpoint ep,
                               std::shared_ptr<aws::credential_source> creds,
                               size_t shard, size_t shard_count,
                               tls_context tls)
  : api_(std::move(ep), std::move(creds), std::move(tls)),
    shard_(shard),
    shard_count_(shard_count),
    rng_(std::random_device{}()) {
}

std::string_view dynamodb_store::backend_name() const {
  return "dynamodb";
}

version_t dynamodb_store::next_version(version_t floor) const {
  return std::max({clock_micros(), above(last_version_), above(floor)});
}

caf::expected<std::optional<stored_item>>
dynamodb_store::read_item(const std::string& key) {
  json::object body{{"TableName", api_.where().table},
                    {"Key", key_of(key)},
                    {"ConsistentRead", true}};
  auto reply = api_.call("GetItem", body);
  if (!reply)
    return std::move(reply.error());
  auto item = reply->if_contains("Item");
  if (!item || !item->is_object())
    return std::optional<stored_item>{};
  auto decoded = decode_item(item->as_object());
  if (!decoded)
    return std::move(decoded.error());
  return std::optional<stored_item>{std::move(*decoded)};
}

caf::expected<entry> dynamodb_store::to_entry(stored_item&& item) {
  if (item.chunks != 0) {
    auto value = read_chunks(item);
    if (!value)
      return std::move(value.error());
    item.value = std::move(*value);
  }
  return entry{std::move(item.value), item.version, item.expires_at};
}

caf::expected<entry> dynamodb_store::get(const std::string& key,
                                         unix_ms now) {
  // A chunked value can be replaced (and its chunks deleted) between reading
  // the main item and its chunks: read again, the new item is complete.
  for (int attempt = 0;; ++attempt) {
    auto item = read_item(key);
    if (!item)
      return std::move(item.error());
    if (!*item || !(*item)->live_at(now))
      return make_state_error(state_errc::not_found, "no value for key");
    auto version = (*item)->version;
    auto e = to_entry(std::move(**item));
    if (e || code_of(e.error()) != state_errc::not_found)
      return e;
    if (attempt + 1 == max_attempts)
      // The item is there and its chunks are not, read after read: not a
      // racing rewrite but chunks lost (deleted by hand, or by a write
      // whose outcome was unknown). Saying not_found would contradict the
      // item, which still refuses a create-only write.
      return make_state_error(
        state_errc::backend_error,
        "the value of '" + key + "' (version " + std::to_string(version)
          + ") cannot be read: its chunks are missing from the table ("
          + std::to_string(max_attempts) + " reads)");
  }
}

caf::expected<write_result> dynamodb_store::set(set_request&& req,
                                                unix_ms expires_at,
                                                unix_ms now) {
  stored_item item;
  item.key = std::move(req.key);
  item.expires_at = expires_at;
  if (req.value.size() > inline_limit) {
    item.blob = rng_() | 1;
    item.chunks = static_cast<uint32_t>((req.value.size() + chunk_bytes - 1)
                                        / chunk_bytes);
    if (auto err = write_chunks(item.key, item.blob, req.value))
      return err;
  } else {
    item.value = std::move(req.value);
  }
  auto result = put(item, req.cond, now);
  // Drop our chunks only when the put surely failed: after a lost reply,
  // or one that could not be read, the item may point at them.
  if (!result && item.chunks != 0
      && code_of(result.error()) != state_errc::backend_unavailable
      && code_of(result.error()) != state_errc::serialization_error)
    delete_chunks(item.key, item.blob, item.chunks);
  return result;
}

caf::expected<write_result> dynamodb_store::put(stored_item& item,
                                                const condition& cond,
                                                unix_ms now) {
  // The version the key holds as far as this write knows: the client's
  // If-Match (a claim, true only if the put succeeds) or one read from the
  // table. Only a version really written moves last_version_, so a claim
  // far above every stored version does not push later writes to the top.
  version_t floor = cond.kind == condition::if_version ? cond.version : 0;
  for (int attempt = 0; attempt < max_attempts; ++attempt) {
    if (floor == top_version)
      return no_version_above_top(item.key, cond);
    item.version = next_version(floor);
    json::object body{{"TableName", api_.where().table},
                      {"Item", encode_item(item)},
                      {"ReturnValues", "ALL_OLD"}};
    put_condition(cond, item.version, now).add_to(body, "ConditionExpression");
    auto reply = api_.call("PutItem", body);
    if (reply) {
      last_version_ = std::max(last_version_, item.version);
      bool created = true;
      if (auto old = reply->if_contains("Attributes"); old && old->is_object())
        if (auto prev = decode_item(old->as_object())) {
          created = !prev->live_at(now);
          if (prev->chunks)
            delete_chunks(prev->key, prev->blob, prev->chunks);
        }
      return write_result{item.version, created};
    }
    if (code_of(reply.error()) != state_errc::version_mismatch)
      return std::move(reply.error());
    if (cond.kind == condition::if_version)
      return make_state_error(state_errc::version_mismatch,
                              "version differs or key does not exist");
    // Either the key is live (if_absent fails) or its stored version is not
    // below ours (another writer, or a clock behind): look and retry above.
    auto current = read_item(item.key);
    if (!current)
      return std::move(current.error());
    if (cond.kind == condition::if_absent && *current
        && (*current)->live_at(now))
      return make_state_error(state_errc::version_mismatch, "key exists");
    floor = *current ? (*current)->version : 0;
  }
  return make_state_error(state_errc::backend_unavailable,
                          "too many concurrent writers on one key");
}

caf::expected<bool> dynamodb_store::erase(const delete_request& req,
                                          unix_ms now) {
  json::object body{{"TableName", api_.where().table},
                    {"Key", key_of(req.key)},
                    {"ReturnValues", "ALL_OLD"}};
  if (auto cond = delete_condition(req.cond, now))
    cond->add_to(body, "ConditionExpression");
  auto reply = api_.call("DeleteItem", body);
  if (!reply) {
    if (code_of(reply.error()) == state_errc::version_mismatch)
      return make_state_error(state_errc::version_mismatch,
                              req.cond.kind == condition::if_absent
                                ? "key exists"
                                : "version differs or key does not exist");
    return std::move(reply.error());
  }
  auto old = reply->if_contains("Attributes");
  if (!old || !old->is_object())
    return false;
  auto prev = decode_item(old->as_object());
  if (!prev)
    return false;
  if (prev->chunks)
    delete_chunks(prev->key, prev->blob, prev->chunks);
  return prev->live_at(now);
}

// -- listing ------------------------------------------------------------------------

bool dynamodb_store::answers_list(const std::string& prefix) const {
  if (shard_count_ <= 1)
    return true;
  auto group = group_of_prefix(prefix);
  if (group.empty())
    return shard_ == 0;
  return shard_of_group(group, shard_count_) == shard_;
}

caf::expected<key_page> dynamodb_store::list(const list_request& req,
                                             unix_ms now) {
  if (!answers_list(req.prefix))
    return key_page{};
  return list_table(req, now);
}

caf::expected<key_page> dynamodb_store::list_owned(const list_request& req,
                                                   unix_ms now) {
  if (shard_count_ <= 1)
    return list_table(req, now);
  // Pages of every shard's keys until `limit` of this shard's are found.
  size_t wanted = req.limit == 0 ? SIZE_MAX : req.limit;
  list_request next{req.prefix, req.after,
                    std::max<uint32_t>(256, req.limit)};
  key_page out;
  while (true) {
    auto page = list_table(next, now);
    if (!page)
      return std::move(page.error());
    if (!page->keys.empty())
      next.after = page->keys.back();
    for (auto& key : page->keys) {
      if (shard_index(key, shard_count_) != shard_)
        continue;
      if (out.keys.size() == wanted) {
        out.more = true;
        return out;
      }
      out.keys.push_back(std::move(key));
    }
    if (!page->more || page->keys.empty())
      return out;
  }
}

caf::expected<key_page> dynamodb_store::list_table(const list_request& req,
                                                   unix_ms now) {
  key_page out;
  for (auto cls : classes_for(req.prefix)) {
    auto page = list_partition(cls, req, now);
    if (!page)
      return std::move(page.error());
    out.more |= page->more;
    std::move(page->keys.begin(), page->keys.end(),
              std::back_inserter(out.keys));
  }
  std::sort(out.keys.begin(), out.keys.end());
  if (req.limit != 0 && out.keys.size() > req.limit) {
    out.keys.resize(req.limit);
    out.more = true;
  }
  return out;
}

caf::expected<key_page> dynamodb_store::list_partition(key_class cls,
                                                       const list_request& req,
                                                       unix_ms now) {
  key_page out;
  // Keys under the prefix lie in [prefix, prefix + 0xFF...] (keys are at
  // most 1024 bytes); B sort keys compare as unsigned bytes, like ours.
  auto hi = req.prefix;
  if (hi.size() < max_key_bytes)
    hi.append(max_key_bytes - hi.size(), '\xff');
  // After a cursor: the keys above it (not "from cursor + \0", which is
  // above DynamoDB's 1,024 bytes after a key of that size), up to the
  // first one past the prefix.
  bool from_cursor = !req.after.empty() && req.after >= req.prefix;
  if (from_cursor && req.after >= hi)
    return out;
  expression e;
  e.name("#p", "pk")
    .name("#k", "k")
    .name("#e", "exp")
    .value(":p", attr_s(partition_of(cls)));
  if (from_cursor) {
    e.text = "#p = :p AND #k > :after";
    e.value(":after", attr_b(req.after));
  } else {
    e.text = "#p = :p AND #k BETWEEN :lo AND :hi";
    e.value(":lo", attr_b(req.prefix)).value(":hi", attr_b(hi));
  }
  auto limit = req.limit == 0 ? query_page
                              : std::min<size_t>(query_page, req.limit + 1);
  json::object body{{"TableName", api_.where().table},
                    {"ProjectionExpression", "#k, #e"},
                    {"ConsistentRead", true},
                    {"Limit", limit}};
  e.add_to(body, "KeyConditionExpression");
  for (;;) {
    auto reply = api_.call("Query", body);
    if (!reply)
      return std::move(reply.error());
    if (auto items = array_at(*reply, "Items"))
      for (auto& v : *items) {
        if (!v.is_object())
          continue;
        auto& item = v.as_object();
        auto key = read_b(item, "k");
        auto exp = read_u64(item, "exp").value_or(0);
        if (!key)
          continue;
        if (key->compare(0, req.prefix.size(), req.prefix) != 0) {
          if (from_cursor)
            return out; // past the prefix: so is every key after it
          continue;
        }
        if (exp != 0 && static_cast<unix_ms>(exp) <= now)
          continue;
        if (req.limit != 0 && out.keys.size() == req.limit) {
          out.more = true;
          return out;
        }
        out.keys.push_back(std::move(*key));
      }
    auto last = reply->if_contains("LastEvaluatedKey");
    if (!last || !last->is_object())
      return out;
    body["ExclusiveStartKey"] = *last;
  }
}

// -- batch_get ------------------------------------------------------------------------

caf::error dynamodb_store::batch_get_items(
  const json::array& keys, const char* what,
  const std::function<caf::error(const json::object&)>& on_item) {
  const auto& table = api_.where().table;
  for (size_t first = 0; first < keys.size(); first += batch_get_max) {
    auto last = std::min(keys.size(), first + batch_get_max);
    json::object request{{"Keys", json::array(keys.begin() + first,
                                              keys.begin() + last)},
                         {"ConsistentRead", true}};
    for (int attempt = 0;; ++attempt) {
      json::object body{{"RequestItems", json::object{{table, request}}}};
      auto reply = api_.call("BatchGetItem", body);
      if (!reply)
        return std::move(reply.error());
      if (auto items = array_at(*reply, "Responses", table))
        for (auto& v : *items)
          if (v.is_object())
            if (auto err = on_item(v.as_object()))
              return err;
      auto left = unprocessed_keys(*reply, table);
      if (!left || left->empty())
        break;
      if (attempt + 1 == max_attempts)
        return make_state_error(state_errc::backend_unavailable,
                                std::string{"DynamoDB left "} + what
                                  + " unprocessed (throttled)");
      request["Keys"] = *left;
      backoff_sleep(attempt);
    }
  }
  return {};
}

caf::expected<std::vector<std::optional<stored_item>>>
dynamodb_store::batch_read(const std::vector<std::string>& keys) {
  // `keys` is duplicate-free: BatchGetItem refuses duplicates.
  std::vector<std::optional<stored_item>> out(keys.size());
  std::map<std::string, size_t, std::less<>> index;
  json::array wanted;
  for (size_t i = 0; i < keys.size(); ++i) {
    index.emplace(keys[i], i);
    wanted.emplace_back(key_of(keys[i]));
  }
  auto err = batch_get_items(wanted, "keys of BatchGetItem",
                             [&](const json::object& v) -> caf::error {
                               auto item = decode_item(v);
                               if (!item)
                                 return std::move(item.error());
                               if (auto it = index.find(item->key);
                                   it != index.end())
                                 out[it->second] = std::move(*item);
                               return {};
                             });
  if (err)
    return err;
  return out;
}

caf::expected<std::vector<entry>>
dynamodb_store::batch_get(const std::vector<std::string>& keys, unix_ms now) {
  std::vector<std::string> unique = keys;
  std::sort(unique.begin(), unique.end());
  unique.erase(std::unique(unique.begin(), unique.end()), unique.end());
  auto items = batch_read(unique);
  if (!items)
    return std::move(items.error());
  std::map<std::string_view, entry> found;
  for (auto& item : *items) {
    if (!item || !item->live_at(now))
      continue;
    std::string_view key = unique[&item - items->data()];
    if (item->chunks != 0) {
      auto e = get(std::string{key}, now); // re-reads after a racing rewrite
      if (e)
        found.emplace(key, std::move(*e));
      else if (code_of(e.error()) != state_errc::not_found)
        return std::move(e.error());
      continue;
    }
    found.emplace(key, entry{std::move(item->value), item->version,
                             item->expires_at});
  }
  std::vector<entry> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i)
    if (auto it = found.find(keys[i]); it != found.end())
      out[i] = it->second;
  return out;
}

// -- expiry -----------------------------------------------------------------------------

size_t dynamodb_store::sweep(unix_ms now, std::vector<std::string>*) {
  // Every shard shares the table, so one sweeps for all, and not on every
  // tick: expired items are already invisible, the sweep only frees space.
  // A pass reads every item (a filter does not spare DynamoDB the reads)
  // and deletes them one round trip each, so it goes in steps of about
  // sweep_step_time, the next one from background_step(): however large
  // the table and far the network, shard 0 (and the listings it answers)
  // serves its requests between two steps.
  if (shard_ != 0)
    return 0;
  if (!sweep_.running) {
    auto interval = std::chrono::duration_cast<std::chrono::milliseconds>(
                      api_.where().sweep_interval)
                      .count();
    // A last sweep "after" now: the system clock stepped back since (the
    // shard follows it): sweep rather than wait out the step.
    if (last_sweep_ != 0 && now >= last_sweep_ && now - last_sweep_ < interval)
      return 0;
    last_sweep_ = now;
    sweep_ = sweep_position{};
    sweep_.running = true;
  }
  return sweep_step(now);
}

bool dynamodb_store::background_step(unix_ms now) {
  if (!sweep_.running)
    return false;
  sweep_step(now);
  // A failed call ends the steps until the next tick (sweep() goes on from
  // here): stepping again at once would spin a core against a server that
  // is down or throttling, with nothing in between to wait.
  return sweep_.running && !sweep_.stalled;
}

void dynamodb_store::sweep_failed(const caf::error& err) {
  sweep_.stalled = true;
  if (!sweep_failing_)
    spdlog::warn("{}: the expiry sweep stopped: {}; it goes on at the next "
                 "tick",
                 api_.where().table, message_of(err));
  sweep_failing_ = true;
}

size_t dynamodb_store::sweep_step(unix_ms now) {
  auto until = std::chrono::steady_clock::now() + sweep_step_time;
  const auto& table = api_.where().table;
  size_t dropped = 0;
  bool called = false; // each step makes some progress, however slow
  sweep_.stalled = false;
  while (sweep_.running) {
    if (called && (std::chrono::steady_clock::now() >= until
                   || dropped >= max_sweep_keys))
      return dropped; // the rest at the next step
    called = true;
    if (sweep_.next_due == sweep_.due.size()) {
      if (sweep_.cls == std::size(all_classes)) {
        sweep_ = sweep_position{}; // the pass is over
        return dropped;
      }
      if (!read_sweep_page(now))
        return dropped;
      continue;
    }
    auto& item = sweep_.due[sweep_.next_due];
    // Conditional on the version: a rewrite since the query survives.
    json::object del{
      {"TableName", table},
      {"Key", key_of(item.key)},
      {"ConditionExpression", "#v = :v"},
      {"ExpressionAttributeNames", json::object{{"#v", "ver"}}},
      {"ExpressionAttributeValues",
       json::object{{":v", attr_n(item.version)}}}};
    auto r = api_.call("DeleteItem", del);
    if (r) {
      ++dropped;
      sweep_failing_ = false;
      if (item.chunks)
        delete_chunks(item.key, item.blob, item.chunks);
    } else if (code_of(r.error()) != state_errc::version_mismatch) {
      sweep_failed(r.error());
      return dropped; // this item again next time: deletes are idempotent
    }
    ++sweep_.next_due;
  }
  return dropped;
}

bool dynamodb_store::read_sweep_page(unix_ms now) {
  expression e;
  e.text = "#p = :p";
  e.name("#p", "pk")
    .name("#k", "k")
    .name("#v", "ver")
    .name("#e", "exp")
    .name("#b", "blob")
    .name("#n", "nc")
    .value(":p", attr_s(partition_of(all_classes[sweep_.cls])))
    .value(":z", attr_n(int64_t{0}))
    .value(":now", attr_n(now));
  json::object body{{"TableName", api_.where().table},
                    {"ProjectionExpression", "#k, #v, #e, #b, #n"},
                    {"FilterExpression", "#e <> :z AND #e <= :now"},
                    {"Limit", query_page}};
  e.add_to(body, "KeyConditionExpression");
  if (!sweep_.from.is_null())
    body["ExclusiveStartKey"] = sweep_.from;
  auto reply = api_.call("Query", body);
  if (!reply) {
    sweep_failed(reply.error());
    return false;
  }
  sweep_failing_ = false;
  sweep_.due.clear();
  sweep_.next_due = 0;
  if (auto items = array_at(*reply, "Items"))
    for (auto& v : *items) {
      if (!v.is_object())
        continue;
      auto item = decode_item(v.as_object());
      if (item)
        sweep_.due.push_back(
          {std::move(item->key), item->version, item->blob, item->chunks});
    }
  // The next page: further in this partition, or the next one's first
  // (cls past the last class: none, the pass ends with these items).
  auto last = reply->if_contains("LastEvaluatedKey");
  if (last && last->is_object()) {
    sweep_.from = *last;
  } else {
    ++sweep_.cls;
    sweep_.from = nullptr;
  }
  return true;
}

// -- chunks -----------------------------------------------------------------------------

caf::error dynamodb_store::batch_write(std::vector<json::value> requests) {
  const auto& table = api_.where().table;
  for (size_t first = 0; first < requests.size(); first += batch_write_max) {
    json::array part;
    for (size_t i = first;
         i < std::min(requests.size(), first + batch_write_max); ++i)
      part.emplace_back(std::move(requests[i]));
    for (int attempt = 0;; ++attempt) {
      json::object body{{"RequestItems", json::object{{table, part}}}};
      auto reply = api_.call("BatchWriteItem", body);
      if (!reply)
        return std::move(reply.error());
      auto left = array_at(*reply, "UnprocessedItems", table);
      if (!left || left->empty())
        break;
      if (attempt + 1 == max_attempts)
        return make_state_error(state_errc::backend_unavailable,
                                "DynamoDB left writes of BatchWriteItem "
                                "unprocessed (throttled)");
      part = *left;
      backoff_sleep(attempt);
    }
  }
  return {};
}

caf::error dynamodb_store::write_chunks(const std::string& key, uint64_t blob,
                                        std::string_view value) {
  auto partition = chunk_partition(key);
  std::vector<json::value> requests;
  for (uint32_t i = 0; size_t{i} * chunk_bytes < value.size(); ++i) {
    auto item = chunk_key(partition, blob, i);
    item["c"] = attr_b(value.substr(size_t{i} * chunk_bytes, chunk_bytes));
    requests.emplace_back(
      json::object{{"PutRequest", json::object{{"Item", std::move(item)}}}});
  }
  return batch_write(std::move(requests));
}

void dynamodb_store::delete_chunks(const std::string& key, uint64_t blob,
                                   uint32_t chunks) {
  auto partition = chunk_partition(key);
  std::vector<json::value> requests;
  for (uint32_t i = 0; i < chunks; ++i)
    requests.emplace_back(json::object{
      {"DeleteRequest",
       json::object{{"Key", chunk_key(partition, blob, i)}}}});
  // Best effort: a chunk left behind is unreachable garbage, not a wrong
  // value (readers only follow the blob id of the current item).
  batch_write(std::move(requests));
}

caf::expected<std::string>
dynamodb_store::read_chunks(const stored_item& item) {
  auto partition = chunk_partition(item.key);
  std::vector<std::string> parts(item.chunks);
  std::vector<bool> seen(item.chunks, false);
  json::array wanted;
  for (uint32_t i = 0; i < item.chunks; ++i)
    wanted.emplace_back(chunk_key(partition, item.blob, i));
  auto err = batch_get_items(wanted, "chunk reads",
                             [&](const json::object& v) -> caf::error {
                               auto k = read_b(v, "k");
                               auto c = read_b(v, "c");
                               if (!k || !c || k->size() != 12)
                                 return {};
                               uint32_t index = 0;
                               for (int i = 8; i < 12; ++i)
                                 index = (index << 8)
                                         | static_cast<unsigned char>((*k)[i]);
                               if (index < item.chunks) {
                                 parts[index] = std::move(*c);
                                 seen[index] = true;
                               }
                               return {};
                             });
  if (err)
    return err;
  std::string out;
  for (uint32_t i = 0; i < item.chunks; ++i) {
    if (!seen[i])
      return make_state_error(state_errc::not_found,
                              "value was replaced while being read");
    out += parts[i];
  }
  return out;
}

// -- lifecycle ----------------------------------------------------------------------------

caf::error dynamodb_store::close() {
  api_.connection().close();
  return {};
}

caf::error dynamodb_store::transact(std::vector<pending_op>&, unix_ms) {
  return make_state_error(
    state_errc::bad_request,
    "the DynamoDB backend does not run transactions yet (it would need "
    "TransactWriteItems); use single-key conditional writes, or the Redis "
    "or PostgreSQL backend");
}

caf::error dynamodb_store::health_check() {
  json::object body{{"TableName", api_.where().table}};
  auto reply = api_.call("DescribeTable", body);
  if (!reply)
    return std::move(reply.error());
  auto table = reply->if_contains("Table");
  auto status = table && table->is_object()
                  ? table->as_object().if_contains("TableStatus")
                  : nullptr;
  if (!status || !status->is_string())
    return make_state_error(state_errc::backend_unavailable,
                            "DynamoDB table " + api_.where().table
                              + " has no status");
  if (!table_serves(status->as_string()))
    return make_state_error(state_errc::backend_unavailable,
                            "DynamoDB table " + api_.where().table + " is "
                              + std::string{status->as_string()}
                              + ", not ACTIVE or UPDATING");
  return {};
}

} // namespace solver_state::dynamodb
