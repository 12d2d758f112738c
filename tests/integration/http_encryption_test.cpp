// Encryption at rest end to end: the real service on the file backend,
// restarted with new key configurations. Clients see the same bytes and
// ETags; the files hold no plaintext; a rotation finishes by itself (the
// metric reaches 0) and the old key can then go; values under a key that is
// gone are counted on /readyz and answer 500, the rest are served.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <functional>
#include <thread>

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "tests/support/http_test_support.hpp"
#include "tests/support/files_containing.hpp"
#include "tests/support/key_files.hpp"
#include "util/base64.hpp"

using namespace solver_state::testing;
using namespace std::chrono_literals;

namespace {

constexpr int key_count = 300;
const std::string marker = "PLAINTEXT-MARKER-7f3a";
/// The config lines of one index, `n`, over every key of the tests.
const std::string n_index = "  indexes:\n"
                            "    - {name: n, prefix: \"order:enc:\", path: /n}\n";

std::string key_of(int i) {
  return "/v1/state/order:enc:" + std::to_string(1000 + i);
}

std::string value_of(int i) {
  std::string v = R"({"marker":")" + marker + R"(","n":)" + std::to_string(i)
                  + R"(,"legs":[)";
  for (int leg = 0; leg < 10; ++leg)
    v += R"({"chainId":)" + std::to_string(leg) + R"(,"amount":"1000000"},)";
  v.back() = ']';
  return v + "}";
}

/// A file-backend config over `base` with `keys` (ids, the first one the
/// primary) from `files`.
std::string yaml_for(const std::string& base, const key_files& files,
                     const std::vector<std::string>& keys) {
  std::string list;
  for (auto& id : keys)
    list += (list.empty() ? "" : ", ") + std::string{"{id: "} + id
            + ", file: \"" + files.dir() + "/" + id + ".key\"}";
  return "state:\n  type: file\n  sweep_interval: 100ms\n"
         "  file: {base_path: \""
         + base
         + "\"}\n"
           "  compression: {type: zstd, min_bytes: 128}\n"
           "  encryption: {primary: "
         + keys.front() + ", keys: [" + list + "]}\n";
}

/// The value of `name{backend="file"}` on /metrics, or -1.
double gauge(http_client& c, const std::string& name) {
  auto text = c.get("/metrics").body;
  auto line = "\n" + name + "{backend=\"file\"} ";
  auto at = text.find(line);
  return at == std::string::npos ? -1 : std::stod(text.substr(at + line.size()));
}

bool eventually(const std::function<bool()>& done,
                std::chrono::milliseconds limit = 20s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until)
      return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

void check_every_value(http_client& c) {
  for (int i = 0; i < key_count; ++i) {
    auto got = c.get(key_of(i));
    INFO(key_of(i) << ": " << got.body);
    REQUIRE(got.status == 200);
    CHECK(got.body == value_of(i));
  }
}

} // namespace

TEST_CASE("encrypted at rest over HTTP: same bytes and ETags, no plaintext "
          "on disk, a rotation that finishes, a key that is gone") {
  key_files files;
  for (auto id : {"k1", "k2", "k3"})
    files.hex_key(id);
  key_files data; // a private directory for base_path
  auto base = data.dir() + "/state";
  {
    service_process svc{yaml_for(base, files, {"k1"})};
    http_client c{svc.port()};
    for (int i = 0; i < key_count; ++i)
      REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
    auto got = c.get(key_of(0));
    REQUIRE(got.status == 200);
    CHECK(got.body == value_of(0));
    auto etag = got.header("etag");
    // Conditions see the same versions as without a codec.
    CHECK(c.put(key_of(0), value_of(0), {{"If-Match", etag}}).status == 204);
    CHECK(c.put(key_of(0), value_of(0), {{"If-Match", etag}}).status == 412);
    // An export carries the plaintext, one line per key.
    auto backup = c.get("/v1/export?prefix=order%3Aenc%3A");
    REQUIRE(backup.status == 200);
    CHECK(std::count(backup.body.begin(), backup.body.end(), '\n')
          == key_count);
    CHECK(backup.body.find(solver_state::base64_encode(value_of(7)))
          != std::string::npos);
    // A transaction's writes are encrypted and read back like any other.
    auto txn = c.request(
      "POST", "/v1/state/transaction",
      R"({"operations":[{"op":"set","key":"txn:enc:a","value":")"
        + solver_state::base64_encode(value_of(1))
        + R"("},{"op":"set","key":"txn:enc:b","value":")"
        + solver_state::base64_encode(value_of(2)) + R"("}]})");
    REQUIRE(txn.status == 200);
    CHECK(c.get("/v1/state/txn:enc:a").body == value_of(1));
    CHECK(c.get("/v1/state/txn:enc:b").body == value_of(2));
    // Out of the way: the walks below count exactly the key_count keys.
    REQUIRE(c.del("/v1/state/txn:enc:a").status == 204);
    REQUIRE(c.del("/v1/state/txn:enc:b").status == 204);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  CHECK(files_containing(base, marker).empty());
  CHECK(files_containing(base, "chainId").empty());
  {
    // k2 new, k1 still listed: every value moves to k2 by itself.
    service_process svc{yaml_for(base, files, {"k2", "k1"})};
    http_client c{svc.port()};
    REQUIRE(eventually(
      [&] { return gauge(c, "state_reencrypt_pending") == 0; }));
    check_every_value(c);
    CHECK(svc.log().find("re-encrypted " + std::to_string(key_count)
                         + " values under key 'k2'")
          != std::string::npos);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  {
    // k1 removed: nothing was left under it.
    service_process svc{yaml_for(base, files, {"k2"})};
    http_client c{svc.port()};
    check_every_value(c);
    REQUIRE(eventually(
      [&] { return gauge(c, "state_reencrypt_pending") == 0; }));
    CHECK(gauge(c, "state_undecryptable_values") == 0);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  CHECK(files_containing(base, marker).empty());
  {
    // k2 removed too early: the values under it are counted and refused,
    // new ones are served.
    service_process svc{yaml_for(base, files, {"k3"})};
    http_client c{svc.port()};
    REQUIRE(c.put("/v1/state/order:enc:new", value_of(1)).status == 201);
    REQUIRE(eventually([&] {
      return gauge(c, "state_undecryptable_values") == key_count;
    }));
    auto ready = c.get("/readyz");
    CHECK(ready.status == 200);
    CHECK(ready.body
          == R"({"status":"ready","quarantined_values":0,"undecryptable_values":)"
               + std::to_string(key_count) + "}");
    auto refused = c.get(key_of(5));
    CHECK(refused.status == 500);
    CHECK(error_code_of(refused.body) == "backend_error");
    CHECK(refused.body.find("'k2'") != std::string::npos);
    CHECK(c.get("/v1/state/order:enc:new").body == value_of(1));
    CHECK(svc.log().find(std::to_string(key_count)
                         + " values are encrypted under keys that "
                           "state.encryption.keys does not list ('k2')")
          != std::string::npos);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
}

TEST_CASE("with indexes declared, a clean stop keeps them sealed, and the "
          "next start loads them instead of reading every value") {
  key_files files;
  files.hex_key("k1");
  key_files data;
  auto base = data.dir() + "/state";
  auto yaml = yaml_for(base, files, {"k1"})
              + "  indexes:\n"
                "    - {name: marker, prefix: \"order:enc:\", path: /marker}\n"
                "    - {name: n, prefix: \"order:enc:\", path: /n}\n";
  // The indexed marker and the first ten keys, by n.
  auto query = [](http_client& c) {
    auto r = c.request("POST", "/v1/query",
                       R"({"prefix":"order:enc:","where":[)"
                       R"({"index":"marker","op":"eq","value":")"
                         + marker + R"("},{"index":"n","op":"lt","value":10}],)"
                         R"("order_by":{"index":"n"},"limit":100})");
    return r.status == 200 ? r.body : "status " + std::to_string(r.status);
  };
  std::string first;
  {
    service_process svc{yaml};
    http_client c{svc.port()};
    for (int i = 0; i < 50; ++i)
      REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
    first = query(c);
    for (int i = 0; i < 10; ++i)
      CHECK(first.find(key_of(i).substr(10)) != std::string::npos);
    REQUIRE(svc.stop(SIGTERM) == 0);
    CHECK_THAT(svc.log(), Catch::Contains("indexes kept for the next start"));
  }
  // The snapshot holds the indexed fields: only sealed may it be on disk.
  CHECK(files_containing(base, marker).empty());
  service_process svc{yaml};
  http_client c{svc.port()};
  CHECK(eventually([&] { return query(c) == first; }));
  CHECK_THAT(svc.log(),
             Catch::Contains("indexes loaded from the last stop's snapshot"));
  CHECK_THAT(svc.log(), !Catch::Contains("indexes are built from the values"));
}

TEST_CASE("after a rotation a query pages through every indexed key: the "
          "indexes hold the versions the re-encryption gave them") {
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  key_files data;
  auto base = data.dir() + "/state";
  // Every key by n, 100 a page, every page: the keys in the order seen.
  auto all_by_n = [](http_client& c) {
    std::vector<std::string> keys;
    std::string cursor = "null";
    for (int pages = 0; pages < 20; ++pages) {
      auto r = c.request("POST", "/v1/query",
                         R"({"prefix":"order:enc:","where":[{"index":"n",)"
                         R"("op":"gte","value":0}],"order_by":{"index":"n"},)"
                         R"("limit":100,"cursor":)"
                           + cursor + "}");
      REQUIRE(r.status == 200);
      auto page = boost::json::parse(r.body).as_object();
      for (auto& item : page.at("items").as_array())
        keys.emplace_back(item.as_object().at("key").as_string().c_str());
      auto& next = page.at("next_cursor");
      if (next.is_null())
        break;
      cursor = boost::json::serialize(next);
    }
    return keys;
  };
  std::vector<std::string> want;
  for (int i = 0; i < key_count; ++i)
    want.push_back(key_of(i).substr(10)); // n order is key order here
  {
    service_process svc{yaml_for(base, files, {"k1"}) + n_index};
    http_client c{svc.port()};
    for (int i = 0; i < key_count; ++i)
      REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
    CHECK(all_by_n(c) == want);
    REQUIRE(svc.stop(SIGTERM) == 0); // the indexes kept, at the k1 versions
  }
  service_process svc{yaml_for(base, files, {"k2", "k1"}) + n_index};
  http_client c{svc.port()};
  REQUIRE(eventually(
    [&] { return gauge(c, "state_reencrypt_pending") == 0; }));
  REQUIRE(svc.log().find("re-encrypted " + std::to_string(key_count)
                         + " values under key 'k2'")
          != std::string::npos);
  CHECK(all_by_n(c) == want);
}

TEST_CASE("values under a key that is gone do not stop the indexes: they are "
          "built from the rest, and take those values once the key is back") {
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  key_files data;
  auto base = data.dir() + "/state";
  // The keys a query of every n finds, or its status.
  auto found = [](http_client& c) {
    auto r = c.request("POST", "/v1/query",
                       R"({"prefix":"order:enc:","where":[{"index":"n",)"
                       R"("op":"gte","value":0}],"order_by":{"index":"n"},)"
                       R"("limit":1000})");
    std::vector<std::string> keys;
    if (r.status != 200)
      return std::vector<std::string>{"status " + std::to_string(r.status)
                                      + ": " + r.body};
    auto page = boost::json::parse(r.body).as_object();
    for (auto& item : page.at("items").as_array())
      keys.emplace_back(item.as_object().at("key").as_string().c_str());
    return keys;
  };
  auto keys_of = [](int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i)
      out.push_back(key_of(i).substr(10));
    return out;
  };
  {
    service_process svc{yaml_for(base, files, {"k1"})};
    http_client c{svc.port()};
    for (int i = 0; i < 100; ++i)
      REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  {
    // k1 removed before a rotation moved its values: they cannot be read.
    service_process svc{yaml_for(base, files, {"k2"}) + n_index};
    http_client c{svc.port()};
    for (int i = 100; i < 150; ++i)
      REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
    std::vector<std::string> last;
    CHECK(eventually([&] { return (last = found(c)) == keys_of(100, 150); }));
    INFO(last.front());
    CHECK_THAT(svc.log(),
               Catch::Contains("values could not be read and are not indexed"));
    CHECK(c.get(key_of(0)).status == 500); // and a get says why
    REQUIRE(svc.stop(SIGTERM) == 0);
    CHECK_THAT(svc.log(), Catch::Contains("indexes not kept"));
  }
  service_process svc{yaml_for(base, files, {"k2", "k1"}) + n_index};
  http_client c{svc.port()};
  CHECK(eventually([&] { return found(c) == keys_of(0, 150); }));
}

TEST_CASE("values under a key that is gone: an export and a batch-get "
          "refuse them by default, skip_unreadable gives every other value") {
  key_files files;
  files.hex_key("k1");
  files.hex_key("k2");
  key_files data;
  auto base = data.dir() + "/state";
  {
    service_process svc{yaml_for(base, files, {"k1"})};
    http_client c{svc.port()};
    for (int i = 0; i < 100; i += 2) // every other key under k1
      REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
    REQUIRE(svc.stop(SIGTERM) == 0);
  }
  // k1 removed; the other keys written under k2. Pages of 16 keys: some
  // all readable, none all unreadable, every one mixed.
  service_process svc{yaml_for(base, files, {"k2"})
                      + "http:\n  max_batch_keys: 16\n"};
  http_client c{svc.port()};
  for (int i = 1; i < 100; i += 2)
    REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
  for (int i = 100; i < 120; ++i)
    REQUIRE(c.put(key_of(i), value_of(i)).status == 201);
  auto export_lines = [&](const std::string& query, size_t& lines) {
    lines = 0;
    std::string rest;
    return stream_get(svc.port(), "/v1/export?prefix=order:enc:" + query,
                      [&](std::string_view piece) {
                        rest.append(piece);
                        size_t at;
                        while ((at = rest.find('\n')) != std::string::npos) {
                          auto line = boost::json::parse(rest.substr(0, at))
                                        .as_object();
                          auto n = std::stoi(std::string{
                            line.at("key").as_string().c_str()}
                                               .substr(10));
                          CHECK(((n - 1000) % 2 == 1 || n >= 1100));
                          ++lines;
                          rest.erase(0, at + 1);
                        }
                        return true;
                      });
  };
  // By default the first page's unreadable value fails the export, before
  // its head went out: an error answer naming the key and the way past it.
  auto refused = c.get("/v1/export?prefix=order:enc:");
  CHECK(refused.status == 500);
  CHECK_THAT(refused.body, Catch::Contains("order:enc:1000")
                             && Catch::Contains("skip_unreadable=true"));
  size_t lines = 0;
  auto whole = export_lines("&skip_unreadable=true", lines);
  CHECK(whole.status == 200);
  CHECK(whole.complete);
  CHECK(whole.error.empty());
  CHECK(lines == 70); // 50 odd keys under k2, and 20 more
  CHECK(whole.headers["trailer"] == "X-Unreadable-Skipped");
  CHECK(whole.headers["x-unreadable-skipped"] == "50");
  CHECK_THAT(svc.log(), Catch::Contains(
                            R"(export left out {"key":"order:enc:1000"})"));
  CHECK_THAT(svc.log(), Catch::Contains("export left out 50 keys"));
  // Nothing unreadable under this prefix: the count says 0.
  auto none = export_lines("1001&skip_unreadable=true", lines);
  CHECK(none.complete);
  CHECK(lines == 1);
  CHECK(none.headers["x-unreadable-skipped"] == "0");
  CHECK(c.get("/v1/export?skip_unreadable=yes").status == 400);

  // A batch-get over some of them: refused whole by default; with the
  // option every other key is answered and the unreadable ones carry an
  // error each, in request order (an absent key stays plain null).
  const std::string body =
    R"({"keys":["order:enc:1001","order:enc:1000","order:enc:nope",)"
    R"("order:enc:1110","order:enc:1002"]})";
  auto batch_refused = c.request("POST", "/v1/state/batch-get", body);
  CHECK(batch_refused.status == 500);
  CHECK_THAT(batch_refused.body, Catch::Contains("order:enc:1000"));
  auto batch = c.request("POST", "/v1/state/batch-get?skip_unreadable=true",
                         body);
  INFO(batch.body);
  REQUIRE(batch.status == 200);
  auto doc = boost::json::parse(batch.body).as_object();
  auto& items = doc.at("items").as_array();
  REQUIRE(items.size() == 5);
  CHECK(doc.at("unprocessed_keys").as_array().empty());
  auto value = [&](size_t i) {
    return solver_state::base64_decode(items[i].at("value").as_string())
      .value_or("?");
  };
  CHECK(value(0) == value_of(1));
  CHECK(value(3) == value_of(110));
  for (size_t i : {1, 2, 4}) {
    CHECK(items[i].at("value").is_null());
    CHECK(items[i].at("etag").is_null());
  }
  CHECK_FALSE(items[2].as_object().contains("error"));
  CHECK_FALSE(items[0].as_object().contains("error"));
  for (size_t i : {1, 4}) {
    auto& error = items[i].at("error").as_object();
    CHECK(error.at("code").as_string() == "backend_error");
    CHECK_THAT(std::string{error.at("message").as_string().c_str()},
               Catch::Contains(items[i].at("key").as_string().c_str()));
  }
  CHECK(c.request("POST", "/v1/state/batch-get?skip_unreadable=1", body)
          .status
        == 400);
  CHECK(svc.running());
}
