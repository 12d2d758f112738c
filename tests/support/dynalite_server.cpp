// Test fixture that runs dynalite (DynamoDB-compatible) on a free loopback
// port over HTTP or HTTPS with a per-run CA, and kills/pauses it on demand.

#include "tests/support/dynalite_server.hpp"

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SOLVER_STATE_SOURCE_DIR
#  error "SOLVER_STATE_SOURCE_DIR must name the source tree"
#endif

namespace solver_state::testing {

namespace {

namespace fs = std::filesystem;

std::string cli_path() {
  return SOLVER_STATE_SOURCE_DIR "/tests/support/dynalite/node_modules/dynalite/cli.js";
}

/// A port the kernel just handed out on 127.0.0.1 (free unless raced).
uint16_t pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
      || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len))
    throw std::runtime_error("dynalite_server: cannot pick a free port");
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool accepts_connections(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr)
            == 0;
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void run_openssl(const std::string& args) {
  auto cmd = "openssl " + args + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0)
    throw std::runtime_error("dynalite_server: failed: " + cmd);
}

std::string shell_quoted(const std::string& path) {
  return "'" + path + "'";
}

/// Percent-encodes everything but unreserved characters and '/'.
std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~'
        || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

} // namespace

dynalite_server::dynalite_server(transport mode,
                                 std::vector<std::string> options)
  : mode_(mode), options_(std::move(options)) {
  if (!fs::exists(cli_path()))
    throw std::runtime_error(
      "dynalite is not installed (no " + cli_path()
      + "): run scripts/install-dynalite.sh to install it into tests/support/dynalite/node_modules/");
  char tmpl[] = "/tmp/solver-state-dynalite-XXXXXX";
  if (!::mkdtemp(tmpl))
    throw std::runtime_error("dynalite_server: mkdtemp failed");
  dir_ = tmpl;
  if (mode_ == transport::https) {
    try {
      make_certificates();
    } catch (...) {
      fs::remove_all(dir_);
      throw;
    }
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = pick_free_port();
    if (try_start())
      return;
  }
  auto log = read_file(dir_ + "/dynalite.log");
  fs::remove_all(dir_);
  throw std::runtime_error("dynalite did not start; its output:\n" + log);
}

dynalite_server::~dynalite_server() {
  kill();
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string dynalite_server::url(std::string_view table) const {
  auto port = std::to_string(port_) + "/" + std::string{table}
              + "?region=us-east-1";
  if (mode_ == transport::http)
    return "dynamodb://127.0.0.1:" + port;
  auto url = "dynamodbs://localhost:" + port;
  return ca_file_.empty() ? url : url + "&ca_file=" + url_encode(ca_file_);
}

void dynalite_server::make_certificates() {
  ca_file_ = dir_ + "/test ca.pem";
  server_key_ = dir_ + "/server.key";
  server_cert_ = dir_ + "/server.pem";
  run_openssl("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
              "-nodes -keyout "
              + shell_quoted(dir_ + "/ca.key") + " -out " + shell_quoted(ca_file_)
              + " -days 2 -subj /CN=solver-state-test-ca");
  issue("localhost", server_key_, server_cert_);
}

void dynalite_server::issue(const std::string& dns_name,
                            const std::string& key,
                            const std::string& cert) const {
  auto csr = key + ".csr";
  auto ext = key + ".ext";
  std::ofstream{ext} << "subjectAltName=DNS:" << dns_name << "\n"
                     << "basicConstraints=CA:FALSE\n"
                        "extendedKeyUsage=serverAuth\n";
  auto q = shell_quoted;
  run_openssl("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
              "-keyout "
              + q(key) + " -out " + q(csr) + " -subj /CN=" + dns_name);
  run_openssl("x509 -req -in " + q(csr) + " -CA " + q(ca_file_) + " -CAkey "
              + q(dir_ + "/ca.key") + " -CAcreateserial -out " + q(cert)
              + " -days 2 -extfile " + q(ext));
}

std::pair<std::string, std::string>
dynalite_server::certificate_for(const std::string& dns_name) const {
  auto key = dir_ + "/" + dns_name + ".key";
  auto cert = dir_ + "/" + dns_name + ".pem";
  issue(dns_name, key, cert);
  return {cert, key};
}

void dynalite_server::start() {
  if (running())
    return;
  // The port was ours a moment ago; after a kill the kernel frees it at once
  // (the server's listening socket had SO_REUSEADDR), so retry briefly.
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (try_start())
      return;
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
  }
  throw std::runtime_error("dynalite did not restart on port "
                           + std::to_string(port_) + ":\n"
                           + read_file(dir_ + "/dynalite.log"));
}

bool dynalite_server::try_start() {
  auto port = std::to_string(port_);
  auto db = dir_ + "/db";
  auto log = dir_ + "/dynalite.log";
  std::vector<std::string> args{"node",     cli_path(),  "--host",
                                "127.0.0.1", "--port",    port,
                                "--path",   db,          "--createTableMs",
                                "0",        "--deleteTableMs", "0"};
  if (mode_ != transport::http)
    args.emplace_back("--ssl");
  // dynalite hands its options to https.createServer, which wants the PEM
  // text itself, not a path.
  if (mode_ == transport::https) {
    args.push_back("--key=" + read_file(server_key_));
    args.push_back("--cert=" + read_file(server_cert_));
  }
  args.insert(args.end(), options_.begin(), options_.end());
  std::vector<char*> argv;
  for (auto& arg : args)
    argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0)
    throw std::runtime_error("dynalite_server: fork failed");
  if (pid == 0) {
    // Die with the test process, whatever way it ends.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execvp("node", argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (accepts_connections(port_))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{25});
  }
  kill();
  return false;
}

void dynalite_server::pause() {
  if (pid_ > 0)
    ::kill(pid_, SIGSTOP);
}

void dynalite_server::resume() {
  if (pid_ > 0)
    ::kill(pid_, SIGCONT);
}

void dynalite_server::kill() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

} // namespace solver_state::testing
