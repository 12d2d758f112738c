#pragma once

// Where the DynamoDB backend's AWS credentials come from, and when they are
// fetched again. Keys in the environment never change, but the credentials
// an AWS runtime hands out (an ECS task's or an EKS pod's role, an EC2
// instance's role) expire within hours, and a credentials file that a
// secrets agent rewrites changes under the running service: read once at
// start, they would fail every request some hours later. A source is asked
// before each request; it fetches fresh credentials five minutes before the
// ones it holds expire, keeps using those while a fetch fails, and answers
// backend_unavailable, saying why, only once they have expired.
//
// The first source the environment names is used, in the AWS SDKs' order:
//  1. AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN);
//  2. a web identity (EKS IAM roles for service accounts):
//     AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, exchanged with STS
//     (AssumeRoleWithWebIdentity at https://sts.REGION.amazonaws.com, or
//     AWS_ENDPOINT_URL_STS) for an hour's credentials, the token file read
//     at each exchange (kubelet rotates it); AWS_ROLE_SESSION_NAME names
//     the session;
//  3. the container endpoint (ECS, EKS Pod Identity):
//     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (on 169.254.170.2) or
//     AWS_CONTAINER_CREDENTIALS_FULL_URI (a loopback or the container
//     endpoints' link-local address), with AWS_CONTAINER_AUTHORIZATION_TOKEN
//     or AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read at each fetch);
//  4. the shared credentials file, AWS_SHARED_CREDENTIALS_FILE or
//     ~/.aws/credentials when it exists, profile AWS_PROFILE or "default",
//     read again when it changes;
//  5. the EC2 instance metadata service (IMDSv2), for a DynamoDB endpoint
//     on amazonaws.com (or when AWS_EC2_METADATA_SERVICE_ENDPOINT names
//     one), unless AWS_EC2_METADATA_DISABLED is "true";
//  6. else fixed placeholder keys, which local servers (dynalite, DynamoDB
//     Local) accept.
// Not read: SSO, credential_process, the config file's role chains.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "backends/dynamodb/sigv4.hpp"

namespace solver_state::aws {

/// Credentials and when they stop working (none: never).
struct expiring_credentials {
  credentials keys;
  std::optional<std::chrono::system_clock::time_point> expires;
};

class credential_source {
public:
  /// Fresh credentials are fetched this long before the held ones expire.
  static constexpr std::chrono::minutes refresh_margin{5};
  /// After a fetch, the next waits at least this long by default: after a
  /// failure (requests meanwhile use the held credentials while they last,
  /// or fail at once), and after credentials that are already within
  /// refresh_margin (an endpoint hands out the same ones until shortly
  /// before they expire).
  static constexpr std::chrono::seconds default_retry_pause{5};

  virtual ~credential_source() = default;

  /// Thread-safe: credentials to sign a request with now, fetched first
  /// when none are held, when they expire within refresh_margin, or when
  /// their source changed. backend_unavailable when none valid can be had.
  /// One caller fetches at a time, without the lock: the others sign with
  /// the held credentials meanwhile, and wait for the fetch only when they
  /// have none valid.
  caf::expected<credentials> current();

  /// Tests shorten the pause between fetches.
  void set_retry_pause(std::chrono::milliseconds pause);

  /// Where they come from, for the log and for errors; never a secret.
  virtual std::string describe() const = 0;

  /// Fetches so far (tests).
  size_t fetches() const;

protected:
  virtual caf::expected<expiring_credentials> fetch() = 0;
  /// True when the source changed since the last fetch (a rewritten file);
  /// called under the cache's lock, never beside fetch().
  virtual bool changed() { return false; }

private:
  /// True when `held_` may sign a request at `now`.
  bool usable(std::chrono::system_clock::time_point now) const;

  mutable std::mutex mtx_;
  std::condition_variable fetched_;
  bool fetching_ = false;
  std::chrono::milliseconds retry_pause_{default_retry_pause};
  std::optional<expiring_credentials> held_;
  std::chrono::steady_clock::time_point next_try_{};
  caf::error last_error_;
  size_t fetches_ = 0;
};

/// The value of an environment variable, or none (tests pass their own).
using env_lookup = std::function<std::optional<std::string>(const char*)>;

/// The process's environment.
std::optional<std::string> process_env(const char* name);

/// Keys that never change.
std::shared_ptr<credential_source> fixed_credentials(credentials keys);

/// The source the environment names (see above). `dynamodb_host` decides
/// whether the instance metadata service is asked; `region` names STS's
/// (empty: AWS_REGION, AWS_DEFAULT_REGION, us-east-1). An error when the
/// environment names a source that cannot be used (a FULL_URI on another
/// host, a lone half of a pair); a profile the file lacks is found only at
/// the first fetch.
caf::expected<std::shared_ptr<credential_source>>
credentials_from_environment(const std::string& dynamodb_host,
                             const env_lookup& env = process_env,
                             const std::string& region = "");

/// The credentials in an ECS/IMDS-style JSON document (AccessKeyId,
/// SecretAccessKey, Token, Expiration), or why not.
caf::expected<expiring_credentials>
parse_credentials_document(const std::string& json);

/// The credentials in STS's AssumeRoleWithWebIdentity reply (XML), or why
/// not.
caf::expected<expiring_credentials>
parse_sts_reply(const std::string& xml);

/// The keys of `profile` in an INI credentials file's text, or why not.
caf::expected<credentials> parse_credentials_file(const std::string& text,
                                                  const std::string& profile);

} // namespace solver_state::aws
