// The DynamoDB client's name lookup with a deadline: a lookup that hangs
// (a DNS server answering nothing) costs a connect at most its timeout, is
// never started twice at once, and its late answer serves the next
// connect.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>

#include "backends/dynamodb/resolver.hpp"
#include "messages/errors.hpp"

using namespace solver_state;
using namespace solver_state::dynamodb;
using namespace std::chrono_literals;

namespace {

/// A lookup that answers only once released, as a DNS server that has
/// stopped answering (and later comes back).
struct hung_dns {
  std::mutex m;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> asked{0};
  std::atomic<int> answered{0};

  /// The lookup keeps `dns` alive: it may outlive the test's scope.
  static bounded_resolver::lookup_fn fn(std::shared_ptr<hung_dns> dns) {
    return [dns](const std::string&, const std::string& port,
                 boost::system::error_code& ec) {
      ++dns->asked;
      std::unique_lock<std::mutex> lock{dns->m};
      dns->cv.wait(lock, [&] { return dns->released; });
      auto found = bounded_resolver::system_lookup("127.0.0.1", port, ec);
      ++dns->answered;
      return found;
    };
  }
  void release() {
    std::lock_guard<std::mutex> guard{m};
    released = true;
    cv.notify_all();
  }
};

} // namespace

TEST_CASE("a lookup that hangs fails the connect at its deadline, is not "
          "started again while it runs, and its answer serves the next") {
  auto dns = std::make_shared<hung_dns>();
  bounded_resolver resolver{"dynamodb.example", "8000", hung_dns::fn(dns)};
  auto started = std::chrono::steady_clock::now();
  auto first = resolver.resolve(200ms);
  auto waited = std::chrono::steady_clock::now() - started;
  REQUIRE_FALSE(first);
  CHECK(code_of(first.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(first.error()),
             Catch::Contains("resolving dynamodb.example: no answer within "
                             "200 ms"));
  CHECK(waited >= 200ms);
  CHECK(waited < 2s);
  auto second = resolver.resolve(100ms);
  CHECK_FALSE(second);
  CHECK(resolver.lookups() == 1); // the same lookup, waited for again
  dns->release();
  auto third = resolver.resolve(5s);
  REQUIRE(third);
  CHECK(third->begin()->endpoint().address().to_string() == "127.0.0.1");
  CHECK(third->begin()->endpoint().port() == 8000);
  CHECK(resolver.lookups() == 1);
  CHECK(dns->asked == 1);
  // The answer was taken: the next connect looks the name up again.
  CHECK(resolver.resolve(5s));
  CHECK(resolver.lookups() == 2);
}

TEST_CASE("a resolver destroyed while its lookup hangs leaves the lookup "
          "to end on its own") {
  auto dns = std::make_shared<hung_dns>();
  {
    bounded_resolver resolver{"dynamodb.example", "8000", hung_dns::fn(dns)};
    CHECK_FALSE(resolver.resolve(50ms));
  }
  CHECK(dns->asked == 1);
  dns->release(); // the detached lookup finishes into its own state
  for (int i = 0; i < 500 && dns->answered == 0; ++i)
    std::this_thread::sleep_for(10ms);
  CHECK(dns->answered == 1);
}

TEST_CASE("names resolve through the system, IP addresses in place, and a "
          "name that does not exist fails with the resolver's reason") {
  bounded_resolver local{"localhost", "8000"};
  auto found = local.resolve(5s);
  REQUIRE(found);
  CHECK(found->begin()->endpoint().address().is_loopback());
  bounded_resolver literal{"127.0.0.1", "8000"};
  REQUIRE(literal.resolve(5s));
  CHECK(literal.lookups() == 0); // no thread for an address
  bounded_resolver missing{"no-such-host.invalid", "8000"};
  auto none = missing.resolve(3s); // an answer, or none in time

  REQUIRE_FALSE(none);
  CHECK_THAT(message_of(none.error()),
             Catch::Contains("resolving no-such-host.invalid"));
}

TEST_CASE("a lookup that failed after its caller gave up is not handed to "
          "the next connect, which asks again") {
  auto dns = std::make_shared<hung_dns>();
  auto fails_first = [dns](const std::string& host, const std::string& port,
                           boost::system::error_code& ec) {
    auto found = hung_dns::fn(dns)(host, port, ec);
    if (dns->answered == 1)
      ec = boost::asio::error::host_not_found; // the DNS server's answer
    return found;
  };
  bounded_resolver resolver{"dynamodb.example", "8000", fails_first};
  CHECK_FALSE(resolver.resolve(50ms)); // gave up
  dns->release();
  for (int i = 0; i < 500 && dns->answered == 0; ++i)
    std::this_thread::sleep_for(10ms);
  REQUIRE(dns->answered == 1);
  auto again = resolver.resolve(5s);
  CHECK(again); // a fresh lookup, which finds it
  CHECK(resolver.lookups() == 2);
}
