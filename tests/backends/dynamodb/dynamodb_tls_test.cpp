// HTTPS to DynamoDB, against dynalite --ssl started for this test: requests
// over one kept-alive TLS connection, and every way a handshake must be
// refused (untrusted chain, wrong host, plain HTTP server, no reply) giving
// backend_unavailable with the reason, logged once, never a hang.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/table.hpp"
#include "backends/dynamodb/tls.hpp"
#include "backends/compiled_plugins.hpp"
#include "backends/plugin.hpp"
#include "messages/errors.hpp"
#include "tests/support/dynalite_server.hpp"

using namespace solver_state;
using namespace solver_state::dynamodb;
using namespace std::chrono_literals;
using transport = testing::dynalite_server::transport;

namespace {

/// One HTTPS server for the tests that leave it running as it is.
testing::dynalite_server& server() {
  static testing::dynalite_server instance{transport::https};
  return instance;
}

/// `url` with its host "localhost" replaced by `host`.
std::string at_host(std::string url, const std::string& host) {
  auto pos = url.find("localhost");
  REQUIRE(pos != std::string::npos);
  return url.replace(pos, 9, host);
}

/// `url` without its ca_file option: the system trust store decides.
std::string without_ca_file(const std::string& url) {
  return url.substr(0, url.find("&ca_file="));
}

/// An API client for `url` with a TLS context of its own.
api_client client(const std::string& url) {
  auto ep = parse_endpoint(url);
  REQUIRE(ep);
  auto tls = make_tls_context(*ep);
  INFO((tls ? std::string{} : message_of(tls.error())));
  REQUIRE(tls);
  return api_client{*ep, aws::credentials::from_environment(), *tls};
}

/// Starts the backend as the service does and returns why it failed.
caf::error start_error(const std::string& type) {
  state_config cfg;
  cfg.type = type;
  cfg.shards = 2;
  cfg.max_items = 0; // the dynamodb backend refuses a key limit
  auto plugin = compiled_plugins().find(type);
  REQUIRE(plugin);
  auto stores = plugin->create_stores(cfg);
  REQUIRE_FALSE(stores);
  return std::move(stores.error());
}

/// Captures what the default logger writes while it lives.
struct log_capture {
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink
    = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256);
  log_capture() { spdlog::default_logger()->sinks().push_back(sink); }
  ~log_capture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
  }
  size_t count(const std::string& text) const {
    auto lines = sink->last_formatted();
    return std::count_if(lines.begin(), lines.end(), [&](auto& line) {
      return line.find(text) != std::string::npos;
    });
  }
};

/// An HTTPS server on Node that answers every request with {} and then
/// closes the connection gracefully (close_notify, then FIN), as a server
/// or load balancer may do with an idle connection at any time. Node issues
/// TLS session tickets; servers given the same `ticket_keys` (96 hex digits)
/// accept each other's tickets, as the nodes of one load-balanced endpoint
/// may.
class closing_server {
public:
  closing_server(const std::string& cert, const std::string& key,
                 const std::string& ticket_keys = "") {
    static constexpr const char* script = R"(
      const https = require('https'), fs = require('fs');
      const [cert, key, ticketKeys] = process.argv.slice(1);
      const options = {cert: fs.readFileSync(cert), key: fs.readFileSync(key)};
      if (ticketKeys) options.ticketKeys = Buffer.from(ticketKeys, 'hex');
      const server = https.createServer(options,
        (req, res) => {
          req.resume();
          req.on('end', () => res.end('{}', () =>
            setTimeout(() => req.socket.end(), 50)));
        });
      server.listen(0, '127.0.0.1', () =>
        console.log(server.address().port));
    )";
    int out[2];
    REQUIRE(::pipe(out) == 0);
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(out[1], 1);
      ::execlp("node", "node", "-e", script, cert.c_str(), key.c_str(),
               ticket_keys.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    char buf[16] = {};
    auto n = ::read(out[0], buf, sizeof buf - 1); // blocks until listening
    ::close(out[0]);
    REQUIRE(n > 0);
    port_ = static_cast<uint16_t>(std::stoi(buf));
  }

  ~closing_server() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }

  uint16_t port() const { return port_; }

private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

} // namespace

TEST_CASE("HTTPS with the server's CA in ca_file serves requests over one "
          "kept-alive connection") {
  auto api = client(server().url("keepalive"));
  REQUIRE_FALSE(ensure_table(api, 10s));
  for (int i = 0; i < 20; ++i) {
    auto r = api.call("DescribeTable", {{"TableName", "keepalive"}});
    INFO((r ? std::string{} : message_of(r.error())));
    REQUIRE(r);
  }
  CHECK(api.connection().connects() == 1);
}

TEST_CASE("the backend starts over HTTPS and logs where it trusts") {
  log_capture log;
  state_config cfg;
  cfg.type = server().url("startup");
  cfg.shards = 2;
  cfg.max_items = 0;
  auto stores = compiled_plugins().find(cfg.type)->create_stores(cfg);
  INFO((stores ? std::string{} : message_of(stores.error())));
  REQUIRE(stores);
  CHECK(log.count("at https://localhost:" + std::to_string(server().port())
                  + " (CA file " + server().ca_file() + ")")
        == 1);
  auto v = (*stores)[1]->set(set_request{"state:tls:k", "v", 0, {}}, 0, 1);
  INFO((v ? std::string{} : message_of(v.error())));
  REQUIRE(v);
  auto got = (*stores)[1]->get("state:tls:k", 1);
  REQUIRE(got);
  CHECK(got->value == "v");
}

TEST_CASE("the system trust store refuses dynalite's self-signed "
          "certificate") {
  testing::dynalite_server stock{transport::https_stock_certificate};
  auto url = stock.url("stock");
  auto err = start_error(url);
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(err), Catch::Contains("state.type '" + url + "'")
                                && Catch::Contains("TLS handshake failed")
                                && Catch::Contains("certificate verify failed")
                                && Catch::Contains("self-signed certificate"));
}

TEST_CASE("the system trust store refuses a certificate of a private CA") {
  auto err = start_error(without_ca_file(server().url("private")));
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(err),
             Catch::Contains("TLS handshake failed")
               && Catch::Contains("unable to get local issuer certificate"));
}

TEST_CASE("a certificate for localhost is refused at 127.0.0.1") {
  auto err = start_error(at_host(server().url("wronghost"), "127.0.0.1"));
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(err), Catch::Contains("TLS handshake failed")
                                && Catch::Contains("IP address mismatch"));
}

TEST_CASE("a trusted certificate for another host name is refused") {
  auto [cert, key] = server().certificate_for("elsewhere.test");
  closing_server elsewhere{cert, key};
  auto ep = parse_endpoint(server().url("any"));
  REQUIRE(ep);
  auto tls = make_tls_context(*ep);
  REQUIRE(tls);
  http_connection conn{"localhost", elsewhere.port(), 1s, 2s, *tls};
  auto r = conn.post({{"host", "localhost"}}, "{}");
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(r.error()), Catch::Contains("TLS handshake failed")
                                      && Catch::Contains("hostname mismatch"));
}

TEST_CASE("an unusable ca_file stops start-up, naming state.type and the "
          "file") {
  auto base = without_ca_file(server().url("cafile"));
  SECTION("missing") {
    auto url = base + "&ca_file=/nonexistent/ca%20bundle.pem";
    auto err = start_error(url);
    CHECK(code_of(err) == state_errc::bad_request);
    CHECK_THAT(message_of(err),
               Catch::Contains("state.type '" + url + "'")
                 && Catch::Contains("'/nonexistent/ca bundle.pem'")
                 && Catch::Contains("No such file"));
  }
  SECTION("without a certificate") {
    auto url = base + "&ca_file=/dev/null";
    auto err = start_error(url);
    CHECK(code_of(err) == state_errc::bad_request);
    CHECK_THAT(message_of(err), Catch::Contains("'/dev/null'")
                                  && Catch::Contains("no usable PEM"));
  }
}

TEST_CASE("a refused handshake is logged once and retried after a backoff") {
  log_capture log;
  auto api = client(at_host(server().url("logonce"), "127.0.0.1"));
  auto first = api.call("ListTables", {});
  REQUIRE_FALSE(first);
  CHECK(code_of(first.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(first.error()), Catch::Contains("IP address mismatch"));
  // Right after: within the backoff ("reconnecting in N ms") or, on a slow
  // machine, past it; the reason is given either way.
  auto soon = api.call("ListTables", {});
  REQUIRE_FALSE(soon);
  CHECK_THAT(message_of(soon.error()),
             Catch::StartsWith("DynamoDB at 127.0.0.1:")
               && Catch::Contains("IP address mismatch"));
  // Past the backoff (50 ms, 100 ms after two failures): a real handshake
  // again, refused again, and not logged again.
  std::this_thread::sleep_for(150ms);
  auto again = api.call("ListTables", {});
  REQUIRE_FALSE(again);
  CHECK_THAT(message_of(again.error()),
             !Catch::Contains("reconnecting in")
               && Catch::Contains("IP address mismatch"));
  CHECK(log.count("TLS handshake failed") == 1);
  CHECK(api.connection().connects() == 0);
}

TEST_CASE("dynamodbs:// against a plain HTTP server says so") {
  testing::dynalite_server plain;
  auto url = plain.url("plain") + "&tls=1";
  auto err = start_error(url);
  CHECK(code_of(err) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(err), Catch::Contains("TLS handshake failed")
                                && Catch::Contains("plain HTTP"));
}

TEST_CASE("a server that never completes the handshake costs the connect "
          "timeout, not a hang, and the client recovers") {
  testing::dynalite_server s{transport::https};
  {
    auto setup = client(s.url("hung"));
    REQUIRE_FALSE(ensure_table(setup, 10s));
  }
  auto url = s.url("hung") + "&connect_timeout_ms=300";
  auto api = client(url);
  s.pause(); // the kernel still accepts the TCP connection
  auto r = api.call("DescribeTable", {{"TableName", "hung"}});
  s.resume();
  REQUIRE_FALSE(r);
  CHECK(code_of(r.error()) == state_errc::backend_unavailable);
  CHECK_THAT(message_of(r.error()),
             Catch::Contains("TLS handshake failed: no reply within 300 ms"));
  bool recovered = false;
  for (int i = 0; i < 100 && !recovered; ++i) {
    recovered = static_cast<bool>(
      api.call("DescribeTable", {{"TableName", "hung"}}));
    std::this_thread::sleep_for(50ms);
  }
  CHECK(recovered);
}

TEST_CASE("a TLS connection the server closed while idle is replaced before "
          "reuse") {
  auto api = client(server().url("idle"));
  REQUIRE_FALSE(ensure_table(api, 10s));
  CHECK(api.connection().connects() == 1);
  // Node closes idle keep-alive sockets after 5 to 6 s. A request written
  // into the closed connection would fail with an unknown outcome.
  std::this_thread::sleep_for(7s);
  auto r = api.call("DescribeTable", {{"TableName", "idle"}});
  INFO((r ? std::string{} : message_of(r.error())));
  CHECK(r);
  CHECK(api.connection().connects() == 2);
  // dynalite (Node) issues TLS 1.3 tickets: the replacement resumes.
  CHECK(api.connection().resumed() == 1);
}

TEST_CASE("a TLS connection the server closed gracefully (close_notify) is "
          "replaced before reuse") {
  closing_server closing{server().certificate(), server().private_key()};
  auto ep = parse_endpoint(server().url("any"));
  REQUIRE(ep);
  auto tls = make_tls_context(*ep);
  REQUIRE(tls);
  http_connection conn{"localhost", closing.port(), 1s, 2s, *tls};
  header_list headers{{"host", "localhost"}};
  auto first = conn.post(headers, "{}");
  INFO((first ? std::string{} : message_of(first.error())));
  REQUIRE(first);
  CHECK(first->status == 200);
  // The close_notify is now waiting in the socket: readable, not EOF yet
  // to a plain-TCP check, which would send the next request into it.
  std::this_thread::sleep_for(300ms);
  auto second = conn.post(headers, "{}");
  INFO((second ? std::string{} : message_of(second.error())));
  REQUIRE(second);
  CHECK(second->status == 200);
  CHECK(conn.connects() == 2);
}

namespace {

/// A TLS context trusting the run's CA, as the backend makes it.
tls_context trusting_context() {
  auto ep = parse_endpoint(server().url("any"));
  REQUIRE(ep);
  auto tls = make_tls_context(*ep);
  REQUIRE(tls);
  return *tls;
}

/// One request to `conn`'s server, which answers 200.
void post_ok(http_connection& conn) {
  auto r = conn.post({{"host", "localhost"}}, "{}");
  INFO((r ? std::string{} : message_of(r.error())));
  REQUIRE(r);
  CHECK(r->status == 200);
}

} // namespace

TEST_CASE("a TLS connection replaced after the server closed it resumes the "
          "session of the one before") {
  closing_server closing{server().certificate(), server().private_key()};
  http_connection conn{"localhost", closing.port(), 1s, 2s,
                       trusting_context()};
  for (int i = 0; i < 3; ++i) {
    post_ok(conn);
    // Until the close_notify is in the socket: the next post reconnects.
    std::this_thread::sleep_for(150ms);
  }
  CHECK(conn.connects() == 3);
  CHECK(conn.resumed() == 2);
}

TEST_CASE("a TLS session is not offered to another server") {
  // Both servers accept each other's tickets: only the client keeps a
  // session from reaching a server it was not made with.
  std::string keys(96, 'a');
  closing_server first{server().certificate(), server().private_key(), keys};
  closing_server second{server().certificate(), server().private_key(), keys};
  auto tls = trusting_context(); // shared, as by the shards of a store
  http_connection to_first{"localhost", first.port(), 1s, 2s, tls};
  http_connection to_second{"localhost", second.port(), 1s, 2s, tls};
  post_ok(to_first);
  std::this_thread::sleep_for(150ms);
  post_ok(to_first);
  REQUIRE(to_first.resumed() == 1);
  post_ok(to_second);
  CHECK(to_second.connects() == 1);
  CHECK(to_second.resumed() == 0);
  // The second server does resume its own sessions: not resuming above is
  // the client's choice, not the server's.
  std::this_thread::sleep_for(150ms);
  post_ok(to_second);
  CHECK(to_second.resumed() == 1);
}
