// node_config -> CAF settings: middleman modules, heartbeats, the
// application identifier and TLS files, checked before the system starts.

#include "actors/cluster/settings.hpp"

#include <algorithm>
#include <chrono>
#include <memory>

#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "messages/errors.hpp"

namespace solver_state {

namespace {

std::string openssl_reason() {
  std::string out;
  while (auto code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!out.empty())
      out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

caf::error tls_problem(const std::string& field, const std::string& path) {
  return make_state_error(state_errc::bad_request,
                          "node.tls." + field + ": cannot use '" + path
                            + "': " + openssl_reason());
}

} // namespace

bool node_enabled(const node_config& cfg) {
  return !cfg.listen.empty() || !cfg.store_nodes().empty();
}

caf::error check_tls_files(const tls_config& tls) {
  using ctx_ptr = std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)>;
  ctx_ptr ctx{SSL_CTX_new(TLS_method()), &SSL_CTX_free};
  if (!ctx)
    return make_state_error(state_errc::backend_error,
                            "node.tls: " + openssl_reason());
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str())
      != 1)
    return tls_problem("certificate", tls.certificate);
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM)
      != 1)
    return tls_problem("key", tls.key);
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return tls_problem("key", tls.key + "' does not match '" + tls.certificate);
  if (!tls.ca_file.empty()
      && SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr)
           != 1)
    return tls_problem("ca_file", tls.ca_file);
  return {};
}

caf::error configure_node(caf::actor_system_config& caf_cfg,
                          const node_config& cfg) {
  caf_cfg.load<caf::io::middleman>();
  // Dead peers are only noticed through heartbeats (CAF's default is off).
  // A connection silent for three intervals, and never less than 5 s, is
  // closed, which kills the proxies and lets the connectors redial. The
  // floor matters: the timeout counts the *other* side's heartbeats, and a
  // client or node with a longer interval must not be cut off every beat.
  // Requests to a silent peer fail earlier anyway, by node.request_timeout.
  auto beat = caf::timespan{cfg.heartbeat_interval};
  auto silence = std::max(beat * 3, caf::timespan{std::chrono::seconds{5}});
  caf_cfg.set("middleman.heartbeat-interval", beat);
  caf_cfg.set("middleman.connection-timeout", silence);
  // BASP's deserialization workers add a thread hop per message; on small
  // machines the multiplexer thread decoding inline is faster (node_bench).
  caf_cfg.set("middleman.workers", size_t{0});
  caf_cfg.set("middleman.app-identifiers",
              std::vector<std::string>{node_app_identifier});
  if (!cfg.tls.enabled())
    return {};
  // CAF verifies the peer on both sides of every connection; without trusted
  // CAs no peer could ever be verified.
  if (cfg.tls.ca_file.empty())
    return make_state_error(state_errc::bad_request,
                            "node.tls.ca_file: required with a certificate");
  if (auto err = check_tls_files(cfg.tls))
    return err;
  // The openssl manager reads these members, not the settings dictionary.
  caf_cfg.openssl_certificate = cfg.tls.certificate;
  caf_cfg.openssl_key = cfg.tls.key;
  caf_cfg.openssl_cafile = cfg.tls.ca_file;
  caf_cfg.load<caf::openssl::manager>();
  return {};
}

} // namespace solver_state
