#pragma once

// A dynalite server (a DynamoDB-compatible server on Node.js) for tests: on a
// free loopback port, with its LevelDB in a temp dir so that a restart keeps
// the data, as a real outage would. Stop it with kill() to simulate a crash
// and start() it again on the same port. Needs scripts/install-dynalite.sh;
// without it the constructor throws a message that says so.
//
// Over HTTPS it serves a certificate made for the run with the openssl CLI
// (dynalite's own, in the npm package's ssl/ folder, expired in 2018, is
// self-signed and names no host): signed by a fresh CA, valid for the DNS
// name "localhost" only, so that 127.0.0.1 is a wrong host.

#include <cstdint>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

#include <sys/types.h>

namespace solver_state::testing {

class dynalite_server {
public:
  enum class transport {
    http,
    https,               ///< the run's CA and certificate (see above)
    https_stock_certificate, ///< dynalite's bundled certificate (--ssl)
  };

  /// Starts the server; throws std::runtime_error when it cannot.
  /// `options` go to dynalite's command line after the fixture's own (for
  /// a test that needs, say, "--updateTableMs", "10000").
  explicit dynalite_server(transport mode = transport::http,
                           std::vector<std::string> options = {});
  ~dynalite_server();

  dynalite_server(const dynalite_server&) = delete;
  dynalite_server& operator=(const dynalite_server&) = delete;

  /// Starts the server again on the same port (after kill()).
  void start();

  /// SIGKILLs the server and waits for it: connections drop mid-request.
  void kill();

  /// SIGSTOPs the server: it keeps accepting connections (the kernel does)
  /// but never answers, like a hung host. resume() sends SIGCONT.
  void pause();
  void resume();

  bool running() const { return pid_ > 0; }

  uint16_t port() const { return port_; }

  /// state.type for a table of this server: dynamodb://127.0.0.1:PORT/...
  /// or, over HTTPS, dynamodbs://localhost:PORT/... with ca_file naming the
  /// run's CA (when it has one), percent-encoded.
  std::string url(std::string_view table) const;

  /// The PEM file of the CA that signed the server's certificate; its name
  /// has a space, so URLs must percent-encode it. Empty over plain HTTP.
  const std::string& ca_file() const { return ca_file_; }

  /// The server's certificate and key (PEM files), for other TLS servers
  /// of a test. Empty over plain HTTP.
  const std::string& certificate() const { return server_cert_; }
  const std::string& private_key() const { return server_key_; }

  /// A certificate (and its key) for `dns_name`, signed by the run's CA:
  /// trusted, but for another host. PEM file paths in the server's dir.
  std::pair<std::string, std::string>
  certificate_for(const std::string& dns_name) const;

private:
  /// Writes a CA and a server certificate for "localhost" into dir_.
  void make_certificates();
  /// Writes a key and a certificate for `dns_name` signed by the CA.
  void issue(const std::string& dns_name, const std::string& key,
             const std::string& cert) const;
  /// One attempt to start on port_; false when it exits early.
  bool try_start();

  std::string dir_;
  transport mode_;
  std::vector<std::string> options_;
  std::string ca_file_;
  std::string server_cert_;
  std::string server_key_;
  uint16_t port_ = 0;
  pid_t pid_ = -1;
};

} // namespace solver_state::testing
