#pragma once

// A host name lookup with a deadline, for the DynamoDB client's connects.
// getaddrinfo cannot be cancelled, and a DNS server that answers nothing
// holds it for resolv.conf's timeout times attempts times servers (30 s
// and more with the defaults): the shard's thread, blocked in it, would
// answer nothing meanwhile. Here the lookup runs on a thread of its own and
// the caller waits at most `within`; a lookup still running when the next
// connect asks is waited for again rather than started anew, so a resolver
// never has more than one thread at a time. An IP address is not looked up.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <caf/expected.hpp>

namespace solver_state::dynamodb {

using endpoints = boost::asio::ip::tcp::resolver::results_type;

class bounded_resolver {
public:
  /// How a name is looked up (getaddrinfo through asio; tests pass one
  /// that hangs).
  using lookup_fn = std::function<endpoints(
    const std::string& host, const std::string& port,
    boost::system::error_code& ec)>;

  static endpoints system_lookup(const std::string& host,
                                 const std::string& port,
                                 boost::system::error_code& ec);

  bounded_resolver(std::string host, std::string port,
                   lookup_fn lookup = system_lookup);
  ~bounded_resolver();

  bounded_resolver(const bounded_resolver&) = delete;
  bounded_resolver& operator=(const bounded_resolver&) = delete;

  /// The addresses of host:port, or why not: the lookup's error, or
  /// "no answer within N ms" when it is still running.
  caf::expected<endpoints> resolve(std::chrono::milliseconds within);

  /// Lookups started so far (tests: a hung one is not started again).
  size_t lookups() const { return lookups_; }

private:
  struct lookup;
  std::string host_;
  std::string port_;
  lookup_fn lookup_fn_;
  bool literal_; // an IP address: resolved in place, no thread
  /// The lookup running, or none.
  std::shared_ptr<lookup> running_;
  size_t lookups_ = 0;
};

} // namespace solver_state::dynamodb
