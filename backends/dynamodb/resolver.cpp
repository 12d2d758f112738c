#include "backends/dynamodb/resolver.hpp"

#include <condition_variable>
#include <mutex>
#include <system_error>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace net = boost::asio;
using tcp = net::ip::tcp;

/// One lookup, shared by its thread and the resolver: either may outlive
/// the other (a resolver destroyed during a hung lookup leaves the thread
/// to finish on its own).
struct bounded_resolver::lookup {
  std::mutex m;
  std::condition_variable done_cv;
  bool done = false;
  boost::system::error_code ec;
  endpoints results;
};

endpoints bounded_resolver::system_lookup(const std::string& host,
                                          const std::string& port,
                                          boost::system::error_code& ec) {
  net::io_context ioc;
  tcp::resolver resolver{ioc};
  return resolver.resolve(host, port, ec);
}

bounded_resolver::bounded_resolver(std::string host, std::string port,
                                   lookup_fn lookup)
  : host_(std::move(host)), port_(std::move(port)),
    lookup_fn_(std::move(lookup)) {
  boost::system::error_code ec;
  net::ip::make_address(host_, ec);
  literal_ = !ec;
}

bounded_resolver::~bounded_resolver() = default;

namespace {

template <class Lookup>
bool finished_with_error(Lookup& l) {
  std::lock_guard<std::mutex> guard{l.m};
  return l.done && l.ec;
}

} // namespace

caf::expected<endpoints>
bounded_resolver::resolve(std::chrono::milliseconds within) {
  auto failed = [&](const std::string& why) {
    return make_state_error(state_errc::backend_unavailable,
                            "resolving " + host_ + ": " + why);
  };
  if (literal_) { // numeric: getaddrinfo answers without asking anyone
    boost::system::error_code ec;
    auto results = system_lookup(host_, port_, ec);
    if (ec)
      return failed(ec.message());
    return results;
  }
  if (running_ && finished_with_error(*running_))
    running_.reset(); // a failure the last caller gave up on: ask again
  if (!running_) {
    auto state = std::make_shared<lookup>();
    try {
      std::thread{[state, fn = lookup_fn_, host = host_, port = port_] {
        boost::system::error_code ec;
        auto results = fn(host, port, ec);
        std::lock_guard<std::mutex> guard{state->m};
        state->ec = ec;
        state->results = std::move(results);
        state->done = true;
        state->done_cv.notify_all();
      }}.detach();
    } catch (const std::system_error& e) { // out of threads
      return failed(std::string{"cannot start the lookup: "} + e.what());
    }
    ++lookups_;
    running_ = std::move(state);
  }
  std::unique_lock<std::mutex> lock{running_->m};
  if (!running_->done_cv.wait_for(lock, within,
                                  [&] { return running_->done; }))
    return failed("no answer within " + std::to_string(within.count())
                  + " ms (the lookup goes on; the next connect waits for "
                    "it again)");
  auto finished = std::move(running_);
  lock.unlock();
  if (finished->ec)
    return failed(finished->ec.message());
  return std::move(finished->results);
}

} // namespace solver_state::dynamodb
