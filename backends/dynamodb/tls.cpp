// The DynamoDB backend's OpenSSL client context: always-on verification
// against ca_file or the system trust store, TLS 1.2 at least.

#include "backends/dynamodb/tls.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace {

namespace ssl = boost::asio::ssl;
namespace fs = std::filesystem;

caf::error bad(std::string why) {
  return make_state_error(state_errc::bad_request, std::move(why));
}

/// OpenSSL's default CA file and directory, as SSL_CERT_FILE and
/// SSL_CERT_DIR override them (set_default_verify_paths reads the same).
std::string default_ca_file() {
  auto env = std::getenv(X509_get_default_cert_file_env());
  return env && *env ? env : X509_get_default_cert_file();
}

std::string default_ca_dir() {
  auto env = std::getenv(X509_get_default_cert_dir_env());
  return env && *env ? env : X509_get_default_cert_dir();
}

/// True when the system trust store has anything in it: without it every
/// handshake would fail with "unable to get local issuer certificate", so
/// start-up says so instead.
bool system_store_present() {
  std::error_code ec;
  if (fs::is_regular_file(default_ca_file(), ec))
    return true;
  auto dir = default_ca_dir();
  for (size_t start = 0; start <= dir.size();) {
    auto end = std::min(dir.find(':', start), dir.size());
    auto one = dir.substr(start, end - start);
    if (!one.empty() && fs::is_directory(one, ec)
        && !fs::is_empty(one, ec) && !ec)
      return true;
    start = end + 1;
  }
  return false;
}

caf::error load_ca_file(ssl::context& ctx, const std::string& path) {
  // Checked by hand first: OpenSSL's message for a missing file is
  // "no such file" at best, without the path.
  std::ifstream probe{path};
  if (!probe)
    return bad("ca_file '" + path + "': " + std::strerror(errno));
  boost::system::error_code ec;
  ctx.load_verify_file(path, ec);
  if (ec)
    return bad("ca_file '" + path + "' holds no usable PEM certificate ("
               + ec.message() + ")");
  return {};
}

} // namespace

caf::expected<tls_context> make_tls_context(const endpoint& ep) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  ctx->set_verify_mode(ssl::verify_peer);
  if (!ep.ca_file.empty()) {
    if (auto err = load_ca_file(*ctx, ep.ca_file))
      return err;
    return ctx;
  }
  if (!system_store_present())
    return bad("no system trust store (" + default_ca_file() + ", "
               + default_ca_dir()
               + "): install ca-certificates or name a CA bundle with "
                 "ca_file=PATH");
  boost::system::error_code ec;
  ctx->set_default_verify_paths(ec);
  if (ec)
    return bad("cannot use the system trust store: " + ec.message());
  return ctx;
}

std::string trust_source(const endpoint& ep) {
  if (!ep.ca_file.empty())
    return "CA file " + ep.ca_file;
  return "system trust store at " + default_ca_dir();
}

} // namespace solver_state::dynamodb
