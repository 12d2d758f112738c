// HTTP test support: runs build/solver-state on a free port, a keep-alive
// Beast client, and raw-socket helpers for malformed-input tests.

#include "tests/support/http_test_support.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

extern char** environ;

namespace solver_state::testing {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// -- service_process ----------------------------------------------------------

service_process::service_process(
  const std::string& yaml,
  const std::vector<std::pair<std::string, std::string>>& env) {
  char tmpl[] = "/tmp/solver-state-http-XXXXXX";
  if (!mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  auto config = dir_ + "/config.yaml";
  // No settings at all is refused as a likely mistake: `{}` asks for the
  // built-in defaults.
  std::ofstream{config} << (yaml.empty() ? std::string{"{}\n"} : yaml);
  auto log_path = dir_ + "/service.log";
  std::string binary = SOLVER_STATE_BINARY_DIR "/solver-state";
  std::vector<std::string> args{binary, "--config", config, "--listen",
                                "127.0.0.1:0"};
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e)
    if (std::string{*e}.rfind("SOLVER_STATE_", 0) != 0)
      env_strings.emplace_back(*e);
  for (auto& [k, v] : env)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : env_strings)
    envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, dir_.c_str());
  pid_t pid = 0;
  auto rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(),
                        envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    throw std::runtime_error("cannot start " + binary);
  pid_ = pid;
  std::regex listening{R"(listening on 127\.0\.0\.1:(\d+))"};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (std::chrono::steady_clock::now() < deadline) {
    std::smatch m;
    auto text = log();
    if (std::regex_search(text, m, listening)) {
      port_ = static_cast<uint16_t>(std::stoi(m[1]));
      return;
    }
    if (!running())
      throw std::runtime_error("solver-state exited at start:\n" + text);
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  // The destructor does not run for an object whose constructor throws:
  // kill the child here, or it outlives the test.
  auto text = log();
  stop(SIGKILL, std::chrono::seconds{5});
  throw std::runtime_error("solver-state did not start:\n" + text);
}

service_process::~service_process() {
  if (pid_ > 0)
    stop(SIGKILL, std::chrono::seconds{5});
  std::string out;
  run_command("rm -rf '" + dir_ + "'", out);
}

bool service_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  auto r = waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status)
                                   : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  return true;
}

void service_process::signal(int sig) {
  if (pid_ > 0)
    kill(pid_, sig);
}

int service_process::stop(int sig, std::chrono::milliseconds wait) {
  if (pid_ <= 0)
    return exit_code_;
  kill(pid_, sig);
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!running())
      return exit_code_;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
  return -1;
}

std::string service_process::log() const {
  std::ifstream in{dir_ + "/service.log"};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// -- http_client --------------------------------------------------------------------

std::string http_response::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string{} : it->second;
}

struct http_client::impl {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  uint16_t port;
  bool open = false;
  size_t connects = 0;

  void connect() {
    beast::error_code ec;
    stream.socket().close(ec);
    buffer.clear();
    stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
    open = true;
    ++connects;
  }

  bool exchange(bhttp::request<bhttp::string_body>& req, http_response& out) {
    beast::error_code ec;
    stream.expires_after(std::chrono::seconds{30});
    bhttp::write(stream, req, ec);
    if (ec)
      return false;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(64 << 20);
    if (req.method() == bhttp::verb::head)
      parser.skip(true);
    bhttp::read(stream, buffer, parser, ec);
    if (ec)
      return false;
    auto& res = parser.get();
    out.status = res.result_int();
    for (auto& f : res) {
      std::string name{f.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string{f.value()};
    }
    out.body = res.body();
    out.keep_alive = res.keep_alive();
    if (!out.keep_alive)
      open = false;
    return true;
  }
};

http_client::http_client(uint16_t port) : impl_(std::make_unique<impl>()) {
  impl_->port = port;
}

http_client::~http_client() = default;

http_response http_client::request(const std::string& method,
                                   const std::string& target,
                                   const std::string& body,
                                   const header_list& headers) {
  bhttp::request<bhttp::string_body> req;
  req.method_string(method);
  req.target(target);
  req.version(11);
  req.set(bhttp::field::host, "127.0.0.1");
  for (auto& [k, v] : headers)
    req.set(k, v);
  req.body() = body;
  if (!body.empty() || method == "PUT" || method == "POST")
    req.prepare_payload();
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->open)
      impl_->connect();
    http_response out;
    if (impl_->exchange(req, out))
      return out;
    impl_->open = false; // the server closed an idle connection: retry once
  }
  throw std::runtime_error("HTTP exchange failed: " + method + " " + target);
}

size_t http_client::connects() const {
  return impl_->connects;
}

// -- raw sockets ------------------------------------------------------------------------

int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot connect to port "
                             + std::to_string(port));
  }
  return fd;
}

bool send_all(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::send(fd, bytes.data() + done, bytes.size() - done,
                    MSG_NOSIGNAL);
    if (n <= 0)
      return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

namespace {

/// Reads until EOF/error or `wait`; `closed` tells whether the peer closed.
std::string read_until(int fd, std::chrono::milliseconds wait, bool& closed) {
  std::string out;
  closed = false;
  auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[65536];
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return out;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0)
      return out;
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      closed = true;
      return out;
    }
    out.append(buf, static_cast<size_t>(n));
  }
}

} // namespace

streamed_response
stream_get(uint16_t port, const std::string& target,
           const std::function<bool(std::string_view)>& on_data,
           const header_list& headers) {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  stream.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port});
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  for (auto& [k, v] : headers)
    req.set(k, v);
  streamed_response out;
  beast::error_code ec;
  stream.expires_after(std::chrono::seconds{60});
  bhttp::write(stream, req, ec);
  if (ec) {
    out.error = "write: " + ec.message();
    return out;
  }
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  bhttp::read_header(stream, buffer, parser, ec);
  if (ec) {
    out.error = "header: " + ec.message();
    return out;
  }
  out.status = parser.get().result_int();
  auto copy_fields = [&] {
    for (auto& f : parser.get()) {
      std::string name{f.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.headers[name] = std::string{f.value()};
    }
  };
  copy_fields();
  std::vector<char> piece(256 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    stream.expires_after(std::chrono::seconds{60});
    bhttp::read(stream, buffer, parser, ec);
    if (ec == bhttp::error::need_buffer)
      ec = {};
    if (ec) {
      out.error = "body: " + ec.message();
      return out;
    }
    auto n = piece.size() - parser.get().body().size;
    if (n > 0 && !on_data(std::string_view{piece.data(), n})) {
      out.error = "stopped by the reader";
      return out;
    }
  }
  copy_fields(); // the trailer's fields join the header's
  out.complete = true;
  return out;
}

std::string raw_exchange(uint16_t port, const std::string& bytes,
                         std::chrono::milliseconds wait, bool shutdown_send) {
  int fd = connect_loopback(port);
  send_all(fd, bytes);
  if (shutdown_send)
    ::shutdown(fd, SHUT_WR);
  bool closed = false;
  auto out = read_until(fd, wait, closed);
  ::close(fd);
  return out;
}

raw_socket::raw_socket(uint16_t port) : fd_(connect_loopback(port)) {
}

raw_socket::~raw_socket() {
  if (fd_ >= 0)
    ::close(fd_);
}

bool raw_socket::send(const std::string& bytes) {
  return send_all(fd_, bytes);
}

std::string raw_socket::receive(std::chrono::milliseconds wait) {
  bool closed = false;
  return read_until(fd_, wait, closed);
}

bool raw_socket::closed_by_peer(std::chrono::milliseconds wait) {
  bool closed = false;
  read_until(fd_, wait, closed);
  return closed;
}

int run_command(const std::string& command, std::string& output) {
  output.clear();
  auto* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe)
    return -1;
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0)
    output.append(buf, n);
  auto status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string error_code_of(const std::string& body) {
  std::smatch m;
  std::regex code{R"re("code":"([a-z_]+)")re"};
  return std::regex_search(body, m, code) ? std::string{m[1]} : "";
}

} // namespace solver_state::testing
