// Where the DynamoDB backend's AWS credentials come from, and when they are
// fetched again: the container endpoint, the EC2 instance metadata service
// and STS for a web identity (each played by a small HTTP server on loopback that answers what
// the real ones answer), the shared credentials file rewritten under a
// running source, and a signed call to dynalite through a source.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "backends/dynamodb/api.hpp"
#include "backends/dynamodb/credential_source.hpp"
#include "backends/dynamodb/metadata_http.hpp"
#include "backends/dynamodb/resolver.hpp"
#include "backends/dynamodb/table.hpp"
#include "messages/errors.hpp"
#include "tests/support/dynalite_server.hpp"

using namespace solver_state;
using namespace std::chrono_literals;

namespace {

/// One request as the endpoint saw it.
struct seen_request {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
};

/// An HTTP/1.1 server on loopback answering each request (one per
/// connection) with what `answer` returns: status and body.
class endpoint_server {
public:
  using handler = std::function<std::pair<int, std::string>(const seen_request&)>;

  explicit endpoint_server(handler answer) : answer_(std::move(answer)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread{[this] { serve(); }};
  }

  ~endpoint_server() { stop(); }

  /// Closes the listening socket: later fetches find nobody there.
  void stop() {
    if (fd_ < 0)
      return;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    fd_ = -1;
    thread_.join();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& target) const {
    return "http://127.0.0.1:" + std::to_string(port_) + target;
  }
  std::vector<seen_request> seen() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return seen_;
  }

private:
  void serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0)
        return;
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0)
          break;
        in.append(buf, static_cast<size_t>(n));
      }
      seen_request req;
      auto line_end = in.find("\r\n");
      auto first = in.substr(0, line_end);
      req.method = first.substr(0, first.find(' '));
      req.target = first.substr(req.method.size() + 1,
                                first.rfind(' ') - req.method.size() - 1);
      size_t at = line_end + 2;
      while (at < in.size()) {
        auto end = in.find("\r\n", at);
        if (end == std::string::npos || end == at)
          break;
        auto field = in.substr(at, end - at);
        auto colon = field.find(':');
        auto name = field.substr(0, colon);
        for (auto& ch : name)
          ch = static_cast<char>(std::tolower(ch));
        auto value = field.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        req.headers[name] = value;
        at = end + 2;
      }
      auto length = req.headers.count("content-length")
                      ? std::stoul(req.headers["content-length"])
                      : 0;
      auto body_at = in.find("\r\n\r\n") + 4;
      while (in.size() < body_at + length) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0)
          break;
        in.append(buf, static_cast<size_t>(n));
      }
      req.body = in.substr(std::min(body_at, in.size()));
      {
        std::lock_guard<std::mutex> guard{mtx_};
        seen_.push_back(req);
      }
      auto [status, body] = answer_(req);
      auto out = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: "
                 + std::to_string(body.size())
                 + "\r\nConnection: close\r\n\r\n" + body;
      ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  }

  handler answer_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  mutable std::mutex mtx_;
  std::vector<seen_request> seen_;
};

std::string iso8601_in(std::chrono::seconds from_now) {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()
                                                + from_now);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string document(const std::string& key_id, std::chrono::seconds valid) {
  return R"({"Code":"Success","AccessKeyId":")" + key_id
         + R"(","SecretAccessKey":"secret-)" + key_id
         + R"(","Token":"token-)" + key_id + R"(","Expiration":")"
         + iso8601_in(valid) + "\"}";
}

aws::env_lookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end())
      return std::nullopt;
    return it->second;
  };
}

std::string sts_reply(const std::string& key_id, std::chrono::seconds valid) {
  return "<AssumeRoleWithWebIdentityResponse "
         "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
         "<AssumeRoleWithWebIdentityResult><Credentials>"
         "<SessionToken>token-" + key_id + "</SessionToken>"
         "<SecretAccessKey>secret-" + key_id + "</SecretAccessKey>"
         "<Expiration>" + iso8601_in(valid) + "</Expiration>"
         "<AccessKeyId>" + key_id + "</AccessKeyId>"
         "</Credentials></AssumeRoleWithWebIdentityResult>"
         "</AssumeRoleWithWebIdentityResponse>";
}

std::shared_ptr<aws::credential_source>
source_of(const std::map<std::string, std::string>& vars,
          const std::string& dynamodb_host = "127.0.0.1") {
  auto made = aws::credentials_from_environment(dynamodb_host, env_of(vars));
  INFO((made ? std::string{} : message_of(made.error())));
  REQUIRE(made);
  return *made;
}

std::string problem_of(const std::map<std::string, std::string>& vars) {
  auto made = aws::credentials_from_environment("127.0.0.1", env_of(vars));
  return made ? std::string{} : message_of(made.error());
}

} // namespace

TEST_CASE("container endpoint: fetched with its token, reused, and fetched "
          "again five minutes before the credentials expire") {
  std::atomic<int> served{0};
  endpoint_server endpoint{[&](const seen_request&) {
    // The first credentials expire within the refresh margin.
    return std::pair{200, ++served == 1 ? document("AK1", 4min)
                                        : document("AK2", 1h)};
  }};
  auto source = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url("/v2/credentials")},
     {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "Basic abc"}});
  CHECK(source->describe()
        == "the container credentials endpoint "
             + endpoint.url("/v2/credentials"));
  source->set_retry_pause(300ms);
  auto first = source->current();
  REQUIRE(first);
  CHECK(first->access_key_id == "AK1");
  CHECK(first->secret_access_key == "secret-AK1");
  CHECK(first->session_token == "token-AK1");
  // Within the pause the endpoint is not asked again, however many
  // requests sign: an endpoint that renews late would get one per request.
  CHECK(source->current()->access_key_id == "AK1");
  CHECK(source->fetches() == 1);
  std::this_thread::sleep_for(400ms);
  auto second = source->current();
  REQUIRE(second);
  CHECK(second->access_key_id == "AK2");
  for (int i = 0; i < 5; ++i)
    CHECK(source->current()->access_key_id == "AK2");
  CHECK(source->fetches() == 2);
  auto seen = endpoint.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].method == "GET");
  CHECK(seen[0].target == "/v2/credentials");
  CHECK(seen[0].headers["authorization"] == "Basic abc");
}

TEST_CASE("container endpoint: the token file is read at each fetch") {
  auto token_file = "/tmp/solver-state-token-" + std::to_string(::getpid());
  std::ofstream{token_file} << "first-token\n";
  endpoint_server endpoint{[&](const seen_request&) {
    return std::pair{200, document("AK", 4min)}; // always due again
  }};
  auto source = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url("/c")},
     {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", token_file}});
  source->set_retry_pause(50ms);
  REQUIRE(source->current());
  std::ofstream{token_file} << "second-token";
  std::this_thread::sleep_for(100ms);
  REQUIRE(source->current());
  ::unlink(token_file.c_str());
  auto seen = endpoint.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].headers["authorization"] == "first-token");
  CHECK(seen[1].headers["authorization"] == "second-token");
}

TEST_CASE("container endpoint: a failed fetch keeps the held credentials "
          "while they last, then names the endpoint and why") {
  endpoint_server endpoint{[&](const seen_request&) {
    return std::pair{200, document("AK1", 15s)}; // due at once, valid ~5 s
  }};
  auto url = endpoint.url("/creds");
  auto source = source_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", url}});
  source->set_retry_pause(1s);
  REQUIRE(source->current()->access_key_id == "AK1");
  endpoint.stop();
  std::this_thread::sleep_for(1100ms);
  auto held = source->current(); // fetch fails, the held ones still work
  REQUIRE(held);
  CHECK(held->access_key_id == "AK1");
  CHECK(source->fetches() == 2);
  CHECK(source->current()); // within the pause: no new attempt
  CHECK(source->fetches() == 2);
  std::this_thread::sleep_for(5s); // past the expiry, less its 10 s slack
  auto expired = source->current();
  REQUIRE_FALSE(expired);
  CHECK(code_of(expired.error()) == state_errc::backend_unavailable);
  auto why = message_of(expired.error());
  CHECK(why.find("no valid AWS credentials from the container credentials "
                 "endpoint " + url) != std::string::npos);
  CHECK(why.find("connecting failed") != std::string::npos);
  CHECK(source->fetches() == 3);
}

TEST_CASE("container endpoint: an error status, a broken document and a "
          "missing field are errors, never keys") {
  std::atomic<int> step{0};
  endpoint_server endpoint{[&](const seen_request&) {
    switch (++step) {
      case 1: return std::pair{500, std::string{"{}"}};
      case 2: return std::pair{200, std::string{"not json"}};
      case 3: return std::pair{200, std::string{R"({"AccessKeyId":"A"})"}};
      default:
        return std::pair{200, std::string{R"({"AccessKeyId":"A",)"
                                          R"("SecretAccessKey":"S",)"
                                          R"("Expiration":"tomorrow"})"}};
    }
  }};
  auto fresh = [&] {
    return source_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url("/")}});
  };
  auto failure = [](const std::shared_ptr<aws::credential_source>& s) {
    auto got = s->current();
    return got ? std::string{} : message_of(got.error());
  };
  CHECK(failure(fresh()).find("answered HTTP 500") != std::string::npos);
  CHECK(failure(fresh()).find("not a JSON object") != std::string::npos);
  CHECK(failure(fresh()).find("lacks AccessKeyId or SecretAccessKey")
        != std::string::npos);
  CHECK(failure(fresh()).find("Expiration 'tomorrow' is not an ISO 8601")
        != std::string::npos);
}

TEST_CASE("the environment: keys first, a lone key refused, the container "
          "endpoint only on loopback or its own address") {
  auto keys = source_of({{"AWS_ACCESS_KEY_ID", "AKENV"},
                         {"AWS_SECRET_ACCESS_KEY", "S"},
                         {"AWS_SESSION_TOKEN", "T"},
                         {"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                          "http://127.0.0.1:1/"}});
  CHECK(keys->current()->access_key_id == "AKENV");
  CHECK(keys->current()->session_token == "T");
  CHECK(problem_of({{"AWS_ACCESS_KEY_ID", "A"}})
        == "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together: only "
           "one is set");
  CHECK(problem_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "http://attacker.example:80/creds"}})
          .find("host attacker.example is neither a loopback address")
        != std::string::npos);
  CHECK(problem_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "https://127.0.0.1/creds"}})
          .find("must start with http://")
        != std::string::npos);
  auto relative = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"}});
  CHECK(relative->describe()
        == "the container credentials endpoint "
           "http://169.254.170.2:80/v2/credentials/abc");
  // Nothing configured, a local server: placeholders, no metadata service.
  auto local = source_of({});
  CHECK(local->describe().find("placeholder keys") == 0);
  CHECK(local->current());
  // Nothing configured, AWS itself: the instance metadata service.
  auto on_aws = aws::credentials_from_environment(
    "dynamodb.eu-west-1.amazonaws.com", env_of({}));
  REQUIRE(on_aws);
  CHECK((*on_aws)->describe()
        == "the EC2 instance metadata service at http://169.254.169.254:80");
  auto disabled = aws::credentials_from_environment(
    "dynamodb.eu-west-1.amazonaws.com",
    env_of({{"AWS_EC2_METADATA_DISABLED", "true"}}));
  REQUIRE(disabled);
  CHECK((*disabled)->describe().find("placeholder keys") == 0);
}

TEST_CASE("shared credentials file: its profile, read again when rewritten") {
  auto path = "/tmp/solver-state-aws-credentials-" + std::to_string(::getpid());
  std::ofstream{path} << "[default]\naws_access_key_id = AKDEF\n"
                         "aws_secret_access_key = SDEF\n\n"
                         "# the service's own\n[ops]\n"
                         "aws_access_key_id=AKOPS1\naws_secret_access_key=S1\n";
  auto source = source_of({{"AWS_SHARED_CREDENTIALS_FILE", path},
                           {"AWS_PROFILE", "ops"}});
  CHECK(source->describe() == "profile 'ops' of " + path);
  CHECK(source->current()->access_key_id == "AKOPS1");
  CHECK(source->current()->access_key_id == "AKOPS1");
  CHECK(source->fetches() == 1);
  // A secrets agent rotates the keys in place.
  std::ofstream{path} << "[ops]\naws_access_key_id=AKOPS22\n"
                         "aws_secret_access_key=S22\naws_session_token=T22\n";
  std::this_thread::sleep_for(1100ms); // looked at once a second at most
  auto rotated = source->current();
  REQUIRE(rotated);
  CHECK(rotated->access_key_id == "AKOPS22");
  CHECK(rotated->session_token == "T22");
  auto missing = source_of({{"AWS_SHARED_CREDENTIALS_FILE", path},
                            {"AWS_PROFILE", "nobody"}});
  auto none = missing->current();
  REQUIRE_FALSE(none);
  CHECK(message_of(none.error()).find(path + ": no profile [nobody]")
        != std::string::npos);
  ::unlink(path.c_str());
}

TEST_CASE("instance metadata service: a session token first, then the "
          "role, then its credentials") {
  endpoint_server imds{[&](const seen_request& r) {
    if (r.method == "PUT" && r.target == "/latest/api/token")
      return std::pair{200, std::string{"session-token"}};
    auto it = r.headers.find("x-aws-ec2-metadata-token");
    if (it == r.headers.end() || it->second != "session-token")
      return std::pair{401, std::string{}};
    if (r.target == "/latest/meta-data/iam/security-credentials/")
      return std::pair{200, std::string{"solver-role\n"}};
    if (r.target == "/latest/meta-data/iam/security-credentials/solver-role")
      return std::pair{200, document("AKEC2", 6h)};
    return std::pair{404, std::string{}};
  }};
  auto source = source_of(
    {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:" + std::to_string(imds.port())}});
  auto got = source->current();
  INFO((got ? std::string{} : message_of(got.error())));
  REQUIRE(got);
  CHECK(got->access_key_id == "AKEC2");
  auto seen = imds.seen();
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].headers["x-aws-ec2-metadata-token-ttl-seconds"] == "21600");
}

TEST_CASE("a DynamoDB call signs with what its source holds, and fails "
          "without a request when the source has nothing valid") {
  testing::dynalite_server dynalite;
  endpoint_server endpoint{[&](const seen_request&) {
    return std::pair{200, document("AKCALL", 1h)};
  }};
  auto ep = dynamodb::parse_endpoint(dynalite.url("creds_table"));
  REQUIRE(ep);
  auto source = source_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                            endpoint.url("/creds")}});
  dynamodb::api_client api{*ep, source};
  CHECK_FALSE(dynamodb::ensure_table(api, 10s));
  CHECK(api.call("ListTables", {}));
  CHECK(source->fetches() == 1);

  auto dead = source_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                          "http://127.0.0.1:1/creds"}});
  dynamodb::api_client without{*ep, dead};
  auto connects = without.connection().connects();
  auto refused = without.call("ListTables", {});
  REQUIRE_FALSE(refused);
  CHECK(message_of(refused.error()).find("no valid AWS credentials from the "
                                         "container credentials endpoint "
                                         "http://127.0.0.1:1/creds")
        != std::string::npos);
  CHECK(without.connection().connects() == connects); // nothing was sent
}

TEST_CASE("web identity: the token exchanged with STS for credentials, the "
          "token file read again at each exchange") {
  auto token_file = "/tmp/solver-state-web-identity-" + std::to_string(::getpid());
  std::ofstream{token_file} << "eyJ.first.token\n";
  std::atomic<int> served{0};
  endpoint_server sts{[&](const seen_request&) {
    return std::pair{200, ++served == 1 ? sts_reply("ASIA1", 4min)
                                        : sts_reply("ASIA2", 1h)};
  }};
  auto source = source_of(
    {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
     {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/solver"},
     {"AWS_ROLE_SESSION_NAME", "solver-a"},
     {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:" + std::to_string(sts.port())}});
  CHECK(source->describe()
        == "the web identity in " + token_file
             + " for role arn:aws:iam::123456789012:role/solver (STS at "
               "http://127.0.0.1:" + std::to_string(sts.port()) + ")");
  source->set_retry_pause(100ms);
  auto first = source->current();
  INFO((first ? std::string{} : message_of(first.error())));
  REQUIRE(first);
  CHECK(first->access_key_id == "ASIA1");
  CHECK(first->secret_access_key == "secret-ASIA1");
  CHECK(first->session_token == "token-ASIA1");
  std::ofstream{token_file} << "eyJ.second.token"; // kubelet rotated it
  std::this_thread::sleep_for(150ms);
  auto second = source->current(); // the first expire within 5 minutes
  REQUIRE(second);
  CHECK(second->access_key_id == "ASIA2");
  CHECK(source->current()->access_key_id == "ASIA2");
  CHECK(source->fetches() == 2);
  ::unlink(token_file.c_str());
  auto seen = sts.seen();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].method == "POST");
  CHECK(seen[0].headers["content-type"] == "application/x-www-form-urlencoded");
  CHECK(seen[0].body
        == "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
           "&DurationSeconds=3600"
           "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fsolver"
           "&RoleSessionName=solver-a&WebIdentityToken=eyJ.first.token");
  CHECK(seen[1].body.find("&WebIdentityToken=eyJ.second.token")
        != std::string::npos);
}

TEST_CASE("web identity: STS's refusal is named, a lone half refused, AWS's "
          "regional STS by default") {
  auto token_file = "/tmp/solver-state-web-identity-x-" + std::to_string(::getpid());
  std::ofstream{token_file} << "expired.token";
  endpoint_server sts{[&](const seen_request&) {
    return std::pair{400, std::string{
      "<ErrorResponse><Error><Type>Sender</Type>"
      "<Code>ExpiredTokenException</Code><Message>Token expired: current "
      "date/time 1 must be before the expiration date/time 0</Message>"
      "</Error></ErrorResponse>"}};
  }};
  auto source = source_of(
    {{"AWS_WEB_IDENTITY_TOKEN_FILE", token_file},
     {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"},
     {"AWS_ENDPOINT_URL_STS", "http://127.0.0.1:" + std::to_string(sts.port())}});
  auto refused = source->current();
  REQUIRE_FALSE(refused);
  CHECK(message_of(refused.error())
          .find("STS refused AssumeRoleWithWebIdentity: HTTP 400 "
                "ExpiredTokenException: Token expired")
        != std::string::npos);
  CHECK(sts.seen().at(0).body.find("RoleSessionName=solver-state&")
        != std::string::npos);
  ::unlink(token_file.c_str());
  CHECK(problem_of({{"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"}})
        == "AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN go together: only "
           "one is set");
  auto regional = aws::credentials_from_environment(
    "dynamodb.eu-west-1.amazonaws.com",
    env_of({{"AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"},
            {"AWS_ROLE_ARN", "arn:aws:iam::1:role/r"}}),
    "eu-west-1");
  REQUIRE(regional);
  CHECK((*regional)->describe().find("(STS at https://sts.eu-west-1.amazonaws.com)")
        != std::string::npos);
}

TEST_CASE("a slow fetch holds back no caller while the held credentials are "
          "valid") {
  std::atomic<int> served{0};
  endpoint_server endpoint{[&](const seen_request&) {
    if (++served == 1)
      return std::pair{200, document("AK1", 4min)}; // due again soon
    std::this_thread::sleep_for(1500ms);
    return std::pair{200, document("AK2", 1h)};
  }};
  auto source = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url("/slow")}});
  source->set_retry_pause(50ms);
  REQUIRE(source->current()->access_key_id == "AK1");
  std::this_thread::sleep_for(100ms);
  std::atomic<bool> fetched{false};
  std::string refreshed; // checked after the join: Catch2 is one thread's
  std::thread refresher{[&] {
    auto got = source->current();
    refreshed = got ? got->access_key_id : message_of(got.error());
    fetched = true;
  }};
  while (served < 2)
    std::this_thread::sleep_for(10ms);
  // The refresher waits on the endpoint: this caller signs meanwhile.
  CHECK(source->current()->access_key_id == "AK1");
  CHECK_FALSE(fetched);
  refresher.join();
  CHECK(refreshed == "AK2");
  CHECK(source->current()->access_key_id == "AK2");
  CHECK(source->fetches() == 2);
}

TEST_CASE("container endpoint: a name other than localhost is refused, an "
          "IPv6 address is sent with its brackets") {
  CHECK(problem_of({{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "http://127.attacker.example/creds"}})
          .find("host 127.attacker.example is neither a loopback address")
        != std::string::npos);
  auto local = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:1/creds"}});
  CHECK(local->describe()
        == "the container credentials endpoint http://127.0.0.1:1/creds");
  auto pod_identity = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_FULL_URI",
      "http://[fd00:ec2::23]/v1/credentials"}});
  CHECK(pod_identity->describe().find("fd00:ec2::23") != std::string::npos);
}

TEST_CASE("a fetch slower than the pause is not repeated by the same call") {
  std::atomic<int> served{0};
  endpoint_server endpoint{[&](const seen_request&) {
    ++served;
    std::this_thread::sleep_for(300ms);
    return std::pair{200, document("AKSLOW", 4min)}; // inside the margin
  }};
  auto source = source_of(
    {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoint.url("/slower")}});
  source->set_retry_pause(100ms);
  auto got = source->current();
  REQUIRE(got);
  CHECK(got->access_key_id == "AKSLOW");
  CHECK(served == 1);
  CHECK(source->current()); // the pause counts from the fetch's end
  CHECK(served == 1);
}

TEST_CASE("a credentials endpoint named by a host name is looked up within "
          "the fetch's deadline, and a lookup that hangs is not started again") {
  endpoint_server endpoint{[](const seen_request& req) {
    return std::pair{200, "reached " + req.headers.at("host")};
  }};
  // A name that resolves: the exchange goes to what the lookup found.
  auto port = std::to_string(endpoint.port());
  dynamodb::bounded_resolver named{
    "imds.example", port,
    [](const std::string&, const std::string& p, boost::system::error_code& ec) {
      return dynamodb::bounded_resolver::system_lookup("127.0.0.1", p, ec);
    }};
  aws::http_url url{"imds.example", endpoint.port(), true, "/latest"};
  auto reached = aws::metadata_exchange("GET", url, {}, 2s, &named);
  REQUIRE(reached);
  CHECK(reached->body == "reached imds.example:" + port);
  CHECK(named.lookups() == 1);

  // A DNS server that answers nothing: each fetch gives up at its deadline
  // and the lookup still running is waited for again, not started anew.
  struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false;
  };
  auto hold = std::make_shared<gate>();
  dynamodb::bounded_resolver hung{
    "imds.example", "80",
    [hold](const std::string&, const std::string&,
           boost::system::error_code& ec) {
      std::unique_lock<std::mutex> lock{hold->m};
      hold->cv.wait(lock, [&] { return hold->open; });
      ec = boost::asio::error::host_not_found;
      return dynamodb::endpoints{};
    }};
  aws::http_url silent{"imds.example", 80, false, "/latest"};
  for (int i = 0; i < 2; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto got = aws::metadata_exchange("GET", silent, {}, 300ms, &hung);
    auto took = std::chrono::steady_clock::now() - t0;
    REQUIRE_FALSE(got);
    CHECK(message_of(got.error()).find("no answer within 300 ms")
          != std::string::npos);
    CHECK(message_of(got.error()).find("GET http://imds.example:80/latest")
          != std::string::npos);
    CHECK(took < 1500ms);
  }
  CHECK(hung.lookups() == 1);
  {
    std::lock_guard<std::mutex> guard{hold->m};
    hold->open = true;
  }
  hold->cv.notify_all();
}
