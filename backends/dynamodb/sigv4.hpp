#pragma once

// AWS Signature Version 4 (the signing every AWS JSON API requires), kept
// apart from HTTP so it can be checked against AWS's published examples.
// Only what a JSON-over-POST API needs: the query string is taken as already
// canonical, and the payload is signed (no UNSIGNED-PAYLOAD).

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace solver_state::aws {

struct credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token; // empty unless temporary credentials

  /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, with
  /// dummy keys when unset (dynalite and DynamoDB Local accept any).
  static credentials from_environment();
};

/// What a signature covers.
struct request_to_sign {
  std::string method;          // "POST"
  std::string path;            // "/", already URI-encoded
  std::string canonical_query; // "Action=ListUsers&Version=2010-05-08" or ""
  /// Every header to sign, `host` and `x-amz-date` included; names in any
  /// case (they are lowercased), values trimmed when canonicalized.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string_view payload;
};

/// Lowercase hex of SHA-256(bytes).
std::string sha256_hex(std::string_view bytes);

/// HMAC-SHA256(key, data) as raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// "20150830T123600Z" for `t` (UTC).
std::string amz_date(std::chrono::system_clock::time_point t);

/// The canonical request (task 1 of the AWS documentation); also returns the
/// signed header list ("content-type;host;x-amz-date").
std::string canonical_request(const request_to_sign& req,
                              std::string& signed_headers);

/// The string to sign (task 2) for a canonical request hashed with
/// sha256_hex; `scope` is "20150830/us-east-1/iam/aws4_request".
std::string string_to_sign(std::string_view amz_date, std::string_view scope,
                           std::string_view canonical_request_hash);

/// The hex signature (tasks 3 and 4): HMAC chain over date, region, service.
std::string signature(std::string_view secret_access_key,
                      std::string_view amz_date, std::string_view region,
                      std::string_view service, std::string_view to_sign);

/// The value of the Authorization header for `req` signed at `amz_date`
/// (which must equal the request's x-amz-date header).
std::string authorization(const credentials& creds, std::string_view region,
                          std::string_view service, std::string_view amz_date,
                          const request_to_sign& req);

} // namespace solver_state::aws
