// AWS Signature Version 4 with OpenSSL: canonical request, string to sign,
// HMAC-SHA256 key chain, and credentials from the AWS_* environment.

#include "backends/dynamodb/sigv4.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

namespace solver_state::aws {

namespace {

std::string to_hex(const unsigned char* data, size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xF];
  }
  return out;
}

std::string env_or(const char* name, const char* fallback) {
  auto value = std::getenv(name);
  return value && *value ? value : fallback;
}

std::string lowercase(std::string text) {
  for (auto& c : text)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

/// Trims and collapses runs of spaces, as SigV4 canonical headers require.
std::string canonical_value(std::string_view value) {
  std::string out;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t') {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space)
      out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

} // namespace

credentials credentials::from_environment() {
  return {env_or("AWS_ACCESS_KEY_ID", "solver-state-local"),
          env_or("AWS_SECRET_ACCESS_KEY", "solver-state-local-secret"),
          env_or("AWS_SESSION_TOKEN", "")};
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
         digest);
  return to_hex(digest, sizeof digest);
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       digest, &size);
  return std::string(reinterpret_cast<const char*>(digest), size);
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  auto secs = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  char buf[17];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &utc);
  return buf;
}

std::string canonical_request(const request_to_sign& req,
                              std::string& signed_headers) {
  std::vector<std::pair<std::string, std::string>> headers;
  headers.reserve(req.headers.size());
  for (auto& [name, value] : req.headers)
    headers.emplace_back(lowercase(name), canonical_value(value));
  std::sort(headers.begin(), headers.end());
  std::string out = req.method + '\n' + req.path + '\n' + req.canonical_query
                    + '\n';
  signed_headers.clear();
  for (auto& [name, value] : headers) {
    out += name + ':' + value + '\n';
    if (!signed_headers.empty())
      signed_headers += ';';
    signed_headers += name;
  }
  out += '\n' + signed_headers + '\n' + sha256_hex(req.payload);
  return out;
}

std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request_hash) {
  std::string out = "AWS4-HMAC-SHA256\n";
  out.append(amz_date).append("\n").append(scope).append("\n");
  out.append(canonical_request_hash);
  return out;
}

std::string signature(std::string_view secret_access_key,
                      std::string_view amz_date, std::string_view region,
                      std::string_view service, std::string_view to_sign) {
  auto k_date = hmac_sha256("AWS4" + std::string{secret_access_key},
                            amz_date.substr(0, 8));
  auto k_region = hmac_sha256(k_date, region);
  auto k_service = hmac_sha256(k_region, service);
  auto k_signing = hmac_sha256(k_service, "aws4_request");
  auto sig = hmac_sha256(k_signing, to_sign);
  return to_hex(reinterpret_cast<const unsigned char*>(sig.data()),
                sig.size());
}

std::string authorization(const credentials& creds, std::string_view region,
                          std::string_view service, std::string_view amz_date,
                          const request_to_sign& req) {
  std::string scope{amz_date.substr(0, 8)};
  scope.append("/").append(region).append("/").append(service);
  scope += "/aws4_request";
  std::string signed_headers;
  auto canonical = canonical_request(req, signed_headers);
  auto to_sign = string_to_sign(amz_date, scope, sha256_hex(canonical));
  return "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope
         + ", SignedHeaders=" + signed_headers + ", Signature="
         + signature(creds.secret_access_key, amz_date, region, service,
                     to_sign);
}

} // namespace solver_state::aws
