// The indexes' snapshot (actors/query/index_snapshot.hpp): what a shard
// leaves with its backend at a clean stop and loads at the next start. A
// loaded set answers every query as the set it was written from; a snapshot
// of other indexes, another shard, or with any byte changed loads nothing.

#include <catch2/catch.hpp>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "actors/query/index_set.hpp"
#include "actors/query/index_snapshot.hpp"
#include "actors/query/json_fields.hpp"
#include "messages/errors.hpp"
#include "util/crc32c.hpp"
#include "util/little_endian.hpp"

using namespace solver_state;

namespace {

std::vector<index_config> specs() {
  return {{"status", "o:", "/status"},
          {"deadline", "o:", "/deadline"},
          {"chain", "x:", "/chain"}};
}

/// Keys under both prefixes and outside them, strings and numbers (some
/// not integers, some negative), fields missing, expiries, values that are
/// not JSON.
void fill(index_set& set, size_t n) {
  std::mt19937 rng{11};
  const char* statuses[] = {"pending", "filled", "settled",
                            "\\u00e9t\\u00e9 \\ud83d\\ude80"};
  for (size_t i = 0; i < n; ++i) {
    auto k = std::to_string(i);
    std::string status = statuses[rng() % 4];
    std::string value = "{\"status\":\"" + status + "\"";
    if (rng() % 5 != 0)
      value += ",\"deadline\":" + std::to_string(static_cast<int>(rng() % 2000)
                                                 - 1000)
               + (i % 3 == 0 ? ".25" : "");
    value += ",\"chain\":" + std::to_string(rng() % 7) + "}";
    auto expires = i % 4 == 0 ? unix_ms(5000 + i) : unix_ms(0);
    set.put("o:" + k, 10 + i, value, expires);
    set.put("x:" + k, 20 + i, value, 0);
    set.put("y:" + k, 30 + i, value, 0); // no index covers it
  }
  set.put("o:not-json", 7, "status: pending", 0);
}

using key_record = std::tuple<version_t, unix_ms,
                              std::vector<std::optional<index_value>>>;

std::map<std::string, key_record> records_of(const index_set& set) {
  std::map<std::string, key_record> out;
  set.each([&](const std::string& key, version_t v, unix_ms exp,
               const std::vector<std::optional<index_value>>& fields) {
    out[key] = {v, exp, fields};
  });
  return out;
}

/// Every key of every page of `req`.
std::vector<std::string> all_pages(const index_set& set, query_request req,
                                   unix_ms now) {
  std::vector<std::string> keys;
  while (true) {
    auto page = set.run(req, now);
    REQUIRE(page);
    for (auto& item : page->items)
      keys.push_back(item.key);
    if (page->next_cursor.empty())
      return keys;
    req.cursor = page->next_cursor;
  }
}

query_condition where(std::string index, query_op op, index_value v) {
  return {std::move(index), static_cast<uint8_t>(op), {std::move(v)}};
}

/// Recomputes the checksum after an edit of the body.
void reseal(std::string& bytes) {
  bytes.resize(bytes.size() - 4);
  put_u32(bytes, crc32c(bytes.data(), bytes.size()));
}

} // namespace

TEST_CASE("a snapshot loads into a set that holds and answers what the "
          "original did") {
  index_set original{specs()};
  fill(original, 3000);
  auto bytes = encode_index_snapshot(original, 1, 4);
  index_set loaded{specs()};
  REQUIRE_FALSE(load_index_snapshot(bytes, 1, 4, loaded));
  CHECK(loaded.keys() == original.keys());
  CHECK(records_of(loaded) == records_of(original));
  std::vector<query_request> queries;
  {
    query_request q;
    q.prefix = "o:";
    q.where = {where("status", query_op::eq, index_value::of("pending"))};
    q.order_by = "deadline";
    q.limit = 37;
    queries.push_back(q);
    q.descending = true;
    queries.push_back(q);
    q.where = {where("deadline", query_op::gte, index_value::of(-250.0L)),
               where("status", query_op::ne, index_value::of("filled"))};
    q.order_by.clear();
    queries.push_back(q);
    q.prefix = "x:";
    q.where = {where("chain", query_op::lt, index_value::of(3.0L))};
    q.order_by = "chain";
    queries.push_back(q);
  }
  for (auto& q : queries)
    for (unix_ms now : {unix_ms(1000), unix_ms(6000)}) {
      auto want = all_pages(original, q, now);
      CHECK_FALSE(want.empty());
      CHECK(all_pages(loaded, q, now) == want);
    }
  // The loaded set is a working one: writes and expiries go on.
  loaded.put("o:new", 99999, R"({"status":"pending","deadline":-5000})", 0);
  original.put("o:new", 99999, R"({"status":"pending","deadline":-5000})", 0);
  CHECK(loaded.expire(7000) == original.expire(7000));
  CHECK(records_of(loaded) == records_of(original));
  CHECK(all_pages(loaded, queries[0], 7000)
        == all_pages(original, queries[0], 7000));
}

TEST_CASE("an empty set makes a snapshot that loads as empty") {
  index_set none{specs()};
  index_set loaded{specs()};
  REQUIRE_FALSE(load_index_snapshot(encode_index_snapshot(none, 0, 1), 0, 1,
                                    loaded));
  CHECK(loaded.keys() == 0);
}

TEST_CASE("a snapshot of another shard, shard count or declaration of "
          "indexes, or damaged, loads nothing and says why") {
  index_set original{specs()};
  fill(original, 200);
  auto bytes = encode_index_snapshot(original, 2, 4);
  auto refused = [](std::string_view b, uint32_t shard, uint32_t count,
                    std::vector<index_config> declared) {
    index_set set{std::move(declared)};
    auto err = load_index_snapshot(b, shard, count, set);
    CHECK(set.keys() == 0);
    REQUIRE(err);
    return message_of(err);
  };
  CHECK_THAT(refused(bytes, 1, 4, specs()),
             Catch::Contains("written by shard 2 of 4, this is shard 1 of 4"));
  CHECK_THAT(refused(bytes, 2, 8, specs()),
             Catch::Contains("shard 2 of 4, this is shard 2 of 8"));
  auto fewer = specs();
  fewer.pop_back();
  CHECK_THAT(refused(bytes, 2, 4, fewer),
             Catch::Contains("holds 3 indexes, state.indexes declares 2"));
  auto moved = specs();
  moved[1].path = "/expiry";
  CHECK_THAT(refused(bytes, 2, 4, moved),
             Catch::Contains("holds index 'deadline'"));
  auto renamed = specs();
  renamed[0].name = "state";
  CHECK_THAT(refused(bytes, 2, 4, renamed),
             Catch::Contains("holds index 'status'"));
  auto reprefixed = specs();
  reprefixed[2].prefix = "x:y";
  CHECK_THAT(refused(bytes, 2, 4, reprefixed),
             Catch::Contains("holds index 'chain'"));
  // Any byte changed, anywhere.
  for (size_t at : {size_t{0}, size_t{9}, bytes.size() / 3, bytes.size() / 2,
                    bytes.size() - 5, bytes.size() - 1}) {
    auto damaged = bytes;
    damaged[at] ^= 0x01;
    auto why = refused(damaged, 2, 4, specs());
    CHECK((why.find("checksum mismatch") != std::string::npos
           || why.find("not an index snapshot") != std::string::npos));
  }
  CHECK_THAT(refused(bytes.substr(0, bytes.size() / 2), 2, 4, specs()),
             Catch::Contains("checksum mismatch"));
  CHECK_THAT(refused("", 2, 4, specs()),
             Catch::Contains("not an index snapshot"));
}

TEST_CASE("a snapshot whose fields were read by other rules, or of the "
          "format before the rules were recorded, loads nothing and says "
          "why") {
  // An upgrade that reads some values otherwise (field_rules_version)
  // must rebuild from the values: the snapshot's fields are the old
  // reading, and would answer queries by it until each key is rewritten.
  index_set original{specs()};
  fill(original, 50);
  auto bytes = encode_index_snapshot(original, 0, 1);
  REQUIRE(bytes.substr(0, 5) == "SSQX2");
  REQUIRE(get_u32(bytes.data() + 8) == field_rules_version);
  auto load = [](const std::string& b) {
    index_set set{specs()};
    auto err = load_index_snapshot(b, 0, 1, set);
    CHECK(set.keys() == 0);
    REQUIRE(err);
    return message_of(err);
  };
  auto other_rules = bytes.substr(0, 8);
  put_u32(other_rules, field_rules_version - 1);
  other_rules += bytes.substr(12);
  reseal(other_rules);
  CHECK_THAT(load(other_rules),
             Catch::Contains("its fields were read by the rules of version "
                             + std::to_string(field_rules_version - 1)
                             + ", this build reads them by "
                             + std::to_string(field_rules_version)));
  // What the build before wrote: SSQX1, and no rules after the magic.
  auto first_format = "SSQX1" + bytes.substr(5, 3) + bytes.substr(12);
  reseal(first_format);
  CHECK_THAT(load(first_format), Catch::Contains("older format (SSQX1)"));
}

TEST_CASE("a snapshot writes no byte of a number's padding: the same set "
          "always gives the same bytes") {
  // x87's long double holds 10 bytes in 16; the other 6 are whatever the
  // memory held before (in a real snapshot: bytes of stored values, heap
  // pointers). A field whose padding is dirty must write as a clean one.
  std::vector<index_config> one{{"n", "o:", "/n"}};
  auto snapshot_of = [&](unsigned char fill_byte) {
    index_value v;
    std::memset(static_cast<void*>(&v.number), fill_byte, sizeof v.number);
    v.is_number = true;
    v.number = 2.5L;
    std::vector<std::optional<index_value>> fields{v};
    index_set set{one};
    set.load_key("o:1", 1, std::move(fields), 0);
    set.finish_loading();
    return encode_index_snapshot(set, 0, 1);
  };
  auto clean = snapshot_of(0x00);
  auto dirty = snapshot_of(0xAB);
  CHECK(clean == dirty);
  CHECK(clean.find(std::string(6, '\xAB')) == std::string::npos);
  index_set loaded{one};
  REQUIRE_FALSE(load_index_snapshot(dirty, 0, 1, loaded));
  CHECK(loaded.keys() == 1);
}

TEST_CASE("a snapshot whose checksum holds but whose structure does not "
          "loads nothing, not a part") {
  index_set original{specs()};
  fill(original, 50);
  auto bytes = encode_index_snapshot(original, 0, 1);
  // The key count sits after the header (magic, field rules, shard, shard
  // count, index count) and the three declarations.
  size_t at = 8 + 16;
  for (auto& s : specs())
    at += 12 + s.name.size() + s.prefix.size() + s.path.size();
  REQUIRE(get_u64(bytes.data() + at) == original.keys());
  auto load = [](std::string b) {
    index_set set{specs()};
    auto err = load_index_snapshot(b, 0, 1, set);
    CHECK(set.keys() == 0);
    REQUIRE(err);
    return message_of(err);
  };
  // The snapshot with another key count, its checksum made to fit.
  auto counting = [&](uint64_t count) {
    auto edited = bytes.substr(0, at);
    put_u64(edited, count);
    edited += bytes.substr(at + 8);
    reseal(edited);
    return edited;
  };
  SECTION("one key more than it holds") {
    CHECK_THAT(load(counting(original.keys() + 1)),
               Catch::Contains("is cut short"));
  }
  SECTION("one key fewer") {
    CHECK_THAT(load(counting(original.keys() - 1)),
               Catch::Contains("bytes follow the last key"));
  }
  SECTION("a field of no known kind") {
    // The first key's first field tag follows its key, version, expiry.
    auto odd = bytes;
    auto key_len = get_u32(odd.data() + at + 8);
    odd[at + 8 + 4 + key_len + 16] = 7;
    reseal(odd);
    CHECK_THAT(load(odd), Catch::Contains("of no known kind"));
  }
}
