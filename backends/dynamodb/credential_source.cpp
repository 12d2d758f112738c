// The credential sources: fixed keys, the container endpoint, the shared
// credentials file and the EC2 instance metadata service, behind one cache
// that fetches ahead of expiry and rides out failed fetches.

#include "backends/dynamodb/credential_source.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include <boost/asio/ip/address.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <spdlog/spdlog.h>

#include "backends/dynamodb/http.hpp"
#include "backends/dynamodb/metadata_http.hpp"
#include "backends/dynamodb/resolver.hpp"
#include "backends/dynamodb/tls.hpp"
#include "messages/errors.hpp"
#include "util/percent.hpp"

namespace solver_state::aws {

namespace json = boost::json;
using std::chrono::system_clock;

namespace {

constexpr std::chrono::milliseconds fetch_timeout{2'000};

/// Credentials are refused this close to their expiry: a request signed
/// with them could arrive after it.
constexpr std::chrono::seconds expiry_slack{10};

caf::error unavailable(const std::string& why) {
  return make_state_error(state_errc::backend_unavailable, why);
}

std::string trim(std::string s) {
  auto first = s.find_first_not_of(" \t\r\n");
  auto last = s.find_last_not_of(" \t\r\n");
  return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

/// "2026-12-06T23:59:59Z" (seconds may carry a fraction), or none.
std::optional<system_clock::time_point> parse_iso8601(const std::string& text) {
  std::tm tm{};
  char zone = 0;
  int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year,
                      &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                      &tm.tm_sec);
  if (n != 6)
    return std::nullopt;
  auto end = text.find_first_not_of("0123456789.", 19);
  zone = end == std::string::npos ? 0 : text[end];
  if (zone != 'Z' && zone != 'z')
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  auto t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1))
    return std::nullopt;
  return system_clock::from_time_t(t);
}

std::optional<std::string> read_whole(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// -- fixed keys -------------------------------------------------------------

class fixed_source : public credential_source {
public:
  fixed_source(credentials keys, std::string where)
    : keys_(std::move(keys)), where_(std::move(where)) {}
  std::string describe() const override { return where_; }

protected:
  caf::expected<expiring_credentials> fetch() override {
    return expiring_credentials{keys_, std::nullopt};
  }

private:
  credentials keys_;
  std::string where_;
};

// -- the container endpoint ---------------------------------------------------

class container_source : public credential_source {
public:
  container_source(http_url url, std::string token, std::string token_file)
    : url_(std::move(url)), token_(std::move(token)),
      token_file_(std::move(token_file)) {}

  std::string describe() const override {
    return "the container credentials endpoint http://" + url_.host + ":"
           + std::to_string(url_.port) + url_.target;
  }

protected:
  caf::expected<expiring_credentials> fetch() override {
    std::vector<std::pair<std::string, std::string>> headers;
    auto token = token_;
    if (!token_file_.empty()) { // rotated by the agent: read each time
      auto text = read_whole(token_file_);
      if (!text)
        return unavailable("cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE "
                           + token_file_);
      token = trim(*text);
    }
    if (!token.empty())
      headers.emplace_back("Authorization", token);
    auto reply = metadata_exchange("GET", url_, headers, fetch_timeout,
                                   &names_);
    if (!reply)
      return std::move(reply.error());
    if (reply->status != 200)
      return unavailable("answered HTTP " + std::to_string(reply->status));
    return parse_credentials_document(reply->body);
  }

private:
  http_url url_;
  std::string token_;
  std::string token_file_;
  dynamodb::bounded_resolver names_{url_.host, std::to_string(url_.port)};
};

// -- a web identity, exchanged with STS ----------------------------------------------

/// The text of the first <tag>...</tag> in `xml`, or "".
std::string xml_text(const std::string& xml, const std::string& tag) {
  auto open = xml.find("<" + tag + ">");
  if (open == std::string::npos)
    return {};
  open += tag.size() + 2;
  auto close = xml.find("</" + tag + ">", open);
  return close == std::string::npos ? std::string{}
                                    : trim(xml.substr(open, close - open));
}

class web_identity_source : public credential_source {
public:
  web_identity_source(std::string token_file, std::string role_arn,
                      std::string session_name, dynamodb::endpoint sts)
    : token_file_(std::move(token_file)), role_arn_(std::move(role_arn)),
      session_name_(std::move(session_name)), sts_(std::move(sts)) {}

  std::string describe() const override {
    return "the web identity in " + token_file_ + " for role " + role_arn_
           + " (STS at " + std::string{sts_.tls ? "https://" : "http://"}
           + sts_.host_header() + ")";
  }

protected:
  caf::expected<expiring_credentials> fetch() override {
    auto token = read_whole(token_file_);
    if (!token)
      return unavailable("cannot read AWS_WEB_IDENTITY_TOKEN_FILE "
                         + token_file_);
    if (!connection_) {
      dynamodb::tls_context tls;
      if (sts_.tls) {
        auto made = dynamodb::make_tls_context(sts_);
        if (!made)
          return std::move(made.error());
        tls = std::move(*made);
      }
      connection_ = std::make_unique<dynamodb::http_connection>(
        sts_.host, sts_.port, sts_.connect_timeout, sts_.request_timeout,
        std::move(tls));
    }
    // application/x-www-form-urlencoded: each value percent-encoded.
    auto body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                "&DurationSeconds=3600&RoleArn="
                + percent_encode(role_arn_) + "&RoleSessionName="
                + percent_encode(session_name_)
                + "&WebIdentityToken=" + percent_encode(trim(*token));
    auto reply = connection_->post(
      {{"Host", sts_.host_header()},
       {"Content-Type", "application/x-www-form-urlencoded"}},
      std::move(body));
    if (!reply)
      return std::move(reply.error());
    if (reply->status != 200) {
      auto code = xml_text(reply->body, "Code");
      auto message = xml_text(reply->body, "Message");
      return unavailable("STS refused AssumeRoleWithWebIdentity: HTTP "
                         + std::to_string(reply->status)
                         + (code.empty() ? "" : " " + code)
                         + (message.empty() ? "" : ": " + message));
    }
    return parse_sts_reply(reply->body);
  }

private:
  std::string token_file_;
  std::string role_arn_;
  std::string session_name_;
  dynamodb::endpoint sts_;
  std::unique_ptr<dynamodb::http_connection> connection_;
};

/// AWS_ENDPOINT_URL_STS ("https://host[:port]" or "http://..."), else
/// STS's regional endpoint.
caf::expected<dynamodb::endpoint> sts_endpoint(const env_lookup& env,
                                               const std::string& region) {
  dynamodb::endpoint sts;
  sts.tls = true;
  sts.port = 443;
  auto url = env("AWS_ENDPOINT_URL_STS");
  if (!url) {
    sts.host = "sts." + region + ".amazonaws.com";
    return sts;
  }
  auto text = *url;
  if (text.rfind("https://", 0) == 0) {
    text = "http://" + text.substr(8);
  } else if (text.rfind("http://", 0) == 0) {
    sts.tls = false;
    sts.port = 80;
  } else {
    return make_state_error(state_errc::bad_request,
                            "AWS_ENDPOINT_URL_STS: '" + *url
                              + "' must start with https:// or http://");
  }
  auto parsed = parse_http_url(text);
  if (!parsed)
    return make_state_error(state_errc::bad_request,
                            "AWS_ENDPOINT_URL_STS: "
                              + message_of(parsed.error()));
  sts.host = parsed->host;
  if (parsed->port_given)
    sts.port = parsed->port;
  return sts;
}

// -- the shared credentials file ------------------------------------------------

class file_source : public credential_source {
public:
  file_source(std::string path, std::string profile)
    : path_(std::move(path)), profile_(std::move(profile)) {}

  std::string describe() const override {
    return "profile '" + profile_ + "' of " + path_;
  }

protected:
  caf::expected<expiring_credentials> fetch() override {
    stamp_ = stamp();
    auto text = read_whole(path_);
    if (!text)
      return unavailable("cannot read " + path_);
    auto keys = parse_credentials_file(*text, profile_);
    if (!keys)
      return make_state_error(state_errc::backend_unavailable,
                              path_ + ": " + message_of(keys.error()));
    return expiring_credentials{std::move(*keys), std::nullopt};
  }

  bool changed() override {
    // A stat per request would cost more than the request's signing: at
    // most one a second.
    auto now = std::chrono::steady_clock::now();
    if (now < next_look_)
      return false;
    next_look_ = now + std::chrono::seconds{1};
    return stamp() != stamp_;
  }

private:
  /// Modification time and size: a rewrite changes one of them.
  std::pair<int64_t, int64_t> stamp() const {
    struct stat st{};
    if (::stat(path_.c_str(), &st) != 0)
      return {-1, -1};
    return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000
              + st.st_mtim.tv_nsec,
            static_cast<int64_t>(st.st_size)};
  }

  std::string path_;
  std::string profile_;
  std::pair<int64_t, int64_t> stamp_{-1, -1};
  std::chrono::steady_clock::time_point next_look_{};
};

// -- the EC2 instance metadata service (IMDSv2) -------------------------------------

class imds_source : public credential_source {
public:
  explicit imds_source(http_url base) : base_(std::move(base)) {}

  std::string describe() const override {
    return "the EC2 instance metadata service at http://" + base_.host + ":"
           + std::to_string(base_.port);
  }

protected:
  caf::expected<expiring_credentials> fetch() override {
    auto at = [&](std::string target) {
      auto url = base_;
      url.target = std::move(target);
      return url;
    };
    auto token = metadata_exchange(
      "PUT", at("/latest/api/token"),
      {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}}, fetch_timeout,
      &names_);
    if (!token)
      return std::move(token.error());
    if (token->status != 200)
      return unavailable("a session token was refused: HTTP "
                         + std::to_string(token->status));
    std::vector<std::pair<std::string, std::string>> with_token{
      {"X-aws-ec2-metadata-token", trim(token->body)}};
    const std::string roles = "/latest/meta-data/iam/security-credentials/";
    auto role = metadata_exchange("GET", at(roles), with_token, fetch_timeout,
                                  &names_);
    if (!role)
      return std::move(role.error());
    auto name = trim(role->body.substr(0, role->body.find('\n')));
    if (role->status != 200 || name.empty())
      return unavailable("no instance role is named (is one attached?)");
    auto doc = metadata_exchange("GET", at(roles + name), with_token,
                                 fetch_timeout, &names_);
    if (!doc)
      return std::move(doc.error());
    if (doc->status != 200)
      return unavailable("answered HTTP " + std::to_string(doc->status)
                         + " for role " + name);
    return parse_credentials_document(doc->body);
  }

private:
  http_url base_;
  /// Kept across fetches: a lookup of a name that hangs is waited for
  /// again by the next fetch, never started once per fetch.
  dynamodb::bounded_resolver names_{base_.host, std::to_string(base_.port)};
};

/// The container endpoint's hosts the AWS SDKs accept for a FULL_URI: a
/// loopback address or the endpoints' own link-local ones. Credentials must
/// not be sent, nor taken, anywhere else, so only addresses count (a name
/// could resolve anywhere, also later): "localhost" stands for 127.0.0.1.
bool container_host_allowed(std::string& host) {
  if (host == "localhost")
    host = "127.0.0.1";
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(host, ec);
  if (ec)
    return false;
  return address.is_loopback()
         || address == boost::asio::ip::make_address("169.254.170.2")
         || address == boost::asio::ip::make_address("169.254.170.23")
         || address == boost::asio::ip::make_address("fd00:ec2::23");
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size()
         && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

} // namespace

// -- the cache ----------------------------------------------------------------------

bool credential_source::usable(system_clock::time_point now) const {
  return held_ && (!held_->expires || *held_->expires - now > expiry_slack);
}

caf::expected<credentials> credential_source::current() {
  std::unique_lock<std::mutex> lock{mtx_};
  bool fetched = false; // at most one fetch per call, however long it took
  for (;;) {
    auto now = system_clock::now();
    bool due = !fetched && !fetching_
               && std::chrono::steady_clock::now() >= next_try_
               && (!held_
                   || (held_->expires
                       && *held_->expires - now < refresh_margin)
                   || changed());
    if (due) {
      fetching_ = true;
      fetched = true;
      ++fetches_;
      lock.unlock(); // a fetch may take seconds: the others sign meanwhile
      caf::expected<expiring_credentials> got = unavailable("not fetched");
      try {
        got = fetch();
      } catch (const std::exception& e) { // never leave fetching_ set
        got = unavailable(std::string{"the fetch failed: "} + e.what());
      }
      lock.lock();
      fetching_ = false;
      now = system_clock::now();
      // The pause counts from the fetch's end: a fetch as slow as the
      // pause must not be followed at once by another.
      auto after = std::chrono::steady_clock::now() + retry_pause_;
      if (got) {
        held_ = std::move(*got);
        last_error_ = {};
        // Still within the margin (the endpoint renews late): not again
        // before the pause, or every request would fetch.
        if (held_->expires && *held_->expires - now < refresh_margin)
          next_try_ = after;
      } else {
        last_error_ = std::move(got.error());
        next_try_ = after;
        spdlog::warn("dynamodb: cannot fetch AWS credentials from {}: {}{}",
                     describe(), message_of(last_error_),
                     usable(now) ? "; the credentials held are used while "
                                   "they last"
                                 : "");
      }
      fetched_.notify_all();
      continue;
    }
    if (usable(now))
      return held_->keys;
    if (!fetching_)
      break;
    fetched_.wait(lock); // none valid: the fetch under way is the only hope
  }
  return unavailable(
    "no valid AWS credentials from " + describe() + ": "
    + (last_error_ ? message_of(last_error_)
                   : std::string{"the last ones fetched have expired"}));
}

void credential_source::set_retry_pause(std::chrono::milliseconds pause) {
  std::lock_guard<std::mutex> guard{mtx_};
  retry_pause_ = pause;
}

size_t credential_source::fetches() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return fetches_;
}

// -- parsing ------------------------------------------------------------------------

caf::expected<expiring_credentials>
parse_credentials_document(const std::string& text) {
  json::error_code ec;
  auto doc = json::parse(text, ec);
  if (ec || !doc.is_object())
    return unavailable("the credentials document is not a JSON object");
  auto& o = doc.as_object();
  auto field = [&](const char* name) -> std::string {
    auto* v = o.if_contains(name);
    return v && v->is_string() ? std::string{v->as_string().c_str()} : "";
  };
  expiring_credentials out;
  out.keys.access_key_id = field("AccessKeyId");
  out.keys.secret_access_key = field("SecretAccessKey");
  out.keys.session_token = field("Token");
  if (out.keys.access_key_id.empty() || out.keys.secret_access_key.empty())
    return unavailable("the credentials document lacks AccessKeyId or "
                       "SecretAccessKey");
  if (auto expiration = field("Expiration"); !expiration.empty()) {
    out.expires = parse_iso8601(expiration);
    if (!out.expires)
      return unavailable("the credentials document's Expiration '"
                         + expiration + "' is not an ISO 8601 UTC time");
  }
  return out;
}

caf::expected<expiring_credentials> parse_sts_reply(const std::string& xml) {
  expiring_credentials out;
  out.keys.access_key_id = xml_text(xml, "AccessKeyId");
  out.keys.secret_access_key = xml_text(xml, "SecretAccessKey");
  out.keys.session_token = xml_text(xml, "SessionToken");
  if (out.keys.access_key_id.empty() || out.keys.secret_access_key.empty()
      || out.keys.session_token.empty())
    return unavailable("STS's reply lacks AccessKeyId, SecretAccessKey or "
                       "SessionToken");
  auto expiration = xml_text(xml, "Expiration");
  out.expires = parse_iso8601(expiration);
  if (!out.expires)
    return unavailable("STS's reply has no usable Expiration ('" + expiration
                       + "')");
  return out;
}

caf::expected<credentials> parse_credentials_file(const std::string& text,
                                                  const std::string& profile) {
  std::istringstream in{text};
  std::string line;
  bool inside = false;
  bool found = false;
  credentials keys;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';')
      continue;
    if (line.front() == '[' && line.back() == ']') {
      inside = trim(line.substr(1, line.size() - 2)) == profile;
      found = found || inside;
      continue;
    }
    auto eq = line.find('=');
    if (!inside || eq == std::string::npos)
      continue;
    auto key = trim(line.substr(0, eq));
    auto value = trim(line.substr(eq + 1));
    if (key == "aws_access_key_id")
      keys.access_key_id = value;
    else if (key == "aws_secret_access_key")
      keys.secret_access_key = value;
    else if (key == "aws_session_token")
      keys.session_token = value;
  }
  if (!found)
    return make_state_error(state_errc::bad_request,
                            "no profile [" + profile + "]");
  if (keys.access_key_id.empty() || keys.secret_access_key.empty())
    return make_state_error(state_errc::bad_request,
                            "profile [" + profile
                              + "] lacks aws_access_key_id or "
                                "aws_secret_access_key");
  return keys;
}

// -- choosing a source ------------------------------------------------------------------

std::optional<std::string> process_env(const char* name) {
  auto* v = std::getenv(name);
  if (!v || !*v)
    return std::nullopt;
  return std::string{v};
}

std::shared_ptr<credential_source> fixed_credentials(credentials keys) {
  return std::make_shared<fixed_source>(std::move(keys), "fixed keys");
}

caf::expected<std::shared_ptr<credential_source>>
credentials_from_environment(const std::string& dynamodb_host,
                             const env_lookup& env,
                             const std::string& region) {
  auto key_id = env("AWS_ACCESS_KEY_ID");
  auto secret = env("AWS_SECRET_ACCESS_KEY");
  if (key_id && secret)
    return std::shared_ptr<credential_source>{std::make_shared<fixed_source>(
      credentials{*key_id, *secret, env("AWS_SESSION_TOKEN").value_or("")},
      "the environment (AWS_ACCESS_KEY_ID)")};
  if (key_id || secret)
    return make_state_error(state_errc::bad_request,
                            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go "
                            "together: only one is set");

  auto token_file = env("AWS_WEB_IDENTITY_TOKEN_FILE");
  auto role_arn = env("AWS_ROLE_ARN");
  if (token_file || role_arn) {
    if (!token_file || !role_arn)
      return make_state_error(state_errc::bad_request,
                              "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN "
                              "go together: only one is set");
    auto sts = sts_endpoint(
      env, !region.empty() ? region
                           : env("AWS_REGION").value_or(
                             env("AWS_DEFAULT_REGION").value_or("us-east-1")));
    if (!sts)
      return std::move(sts.error());
    return std::shared_ptr<credential_source>{
      std::make_shared<web_identity_source>(
        *token_file, *role_arn,
        env("AWS_ROLE_SESSION_NAME").value_or("solver-state"),
        std::move(*sts))};
  }

  auto relative = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  auto full = env("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (relative || full) {
    auto url = relative ? parse_http_url("http://169.254.170.2" + *relative)
                        : parse_http_url(*full);
    if (!url)
      return std::move(url.error());
    if (!relative && !container_host_allowed(url->host))
      return make_state_error(
        state_errc::bad_request,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI: host " + url->host
          + " is neither a loopback address nor a container credentials "
            "endpoint's (169.254.170.2, 169.254.170.23, fd00:ec2::23): "
            "credentials are fetched only from those, named by address");
    return std::shared_ptr<credential_source>{
      std::make_shared<container_source>(
        std::move(*url), env("AWS_CONTAINER_AUTHORIZATION_TOKEN").value_or(""),
        env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE").value_or(""))};
  }

  auto file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (!file) {
    if (auto home = env("HOME"))
      if (struct stat st{}; ::stat((*home + "/.aws/credentials").c_str(), &st)
                            == 0)
        file = *home + "/.aws/credentials";
  }
  if (file)
    return std::shared_ptr<credential_source>{std::make_shared<file_source>(
      *file, env("AWS_PROFILE").value_or("default"))};

  auto imds_endpoint = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
  bool on_aws = ends_with(dynamodb_host, ".amazonaws.com");
  if ((imds_endpoint || on_aws)
      && env("AWS_EC2_METADATA_DISABLED").value_or("") != "true") {
    auto url = parse_http_url(imds_endpoint.value_or("http://169.254.169.254"));
    if (!url)
      return std::move(url.error());
    return std::shared_ptr<credential_source>{
      std::make_shared<imds_source>(std::move(*url))};
  }
  return std::shared_ptr<credential_source>{std::make_shared<fixed_source>(
    credentials::from_environment(),
    "placeholder keys (no AWS credentials configured; a local server such as "
    "dynalite accepts them)")};
}

} // namespace solver_state::aws
