#include "tests/support/sse_client.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace solver_state::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

sse_client::sse_client(uint16_t port, const std::string& target,
                       const header_list& headers) {
  reader_ = std::thread([this, port, target, headers] {
    run(port, target, headers);
  });
}

sse_client::~sse_client() {
  {
    std::lock_guard<std::mutex> lock{mx_};
    if (fd_ >= 0)
      ::shutdown(fd_, SHUT_RDWR); // unblocks the reader
  }
  reader_.join();
}

void sse_client::run(uint16_t port, std::string target, header_list headers) {
  auto finish = [this] {
    std::lock_guard<std::mutex> lock{mx_};
    ended_ = true;
    headers_in_ = true;
    fd_ = -1;
    cv_.notify_all();
  };
  net::io_context ioc;
  tcp::socket socket{ioc};
  beast::error_code ec;
  socket.connect(tcp::endpoint{net::ip::make_address("127.0.0.1"), port}, ec);
  if (ec)
    return finish();
  {
    std::lock_guard<std::mutex> lock{mx_};
    fd_ = socket.native_handle();
  }
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, target, 11};
  req.set(bhttp::field::host, "127.0.0.1");
  req.set(bhttp::field::accept, "text/event-stream");
  for (auto& [k, v] : headers)
    req.set(k, v);
  bhttp::write(socket, req, ec);
  if (ec)
    return finish();
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  bhttp::read_header(socket, buffer, parser, ec);
  if (ec)
    return finish();
  {
    std::lock_guard<std::mutex> lock{mx_};
    status_ = parser.get().result_int();
    for (auto& f : parser.get()) {
      std::string name{f.name_string()};
      for (auto& c : name)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      headers_[name] = std::string{f.value()};
    }
    headers_in_ = true;
    cv_.notify_all();
  }
  std::vector<char> piece(64 * 1024);
  while (!parser.is_done()) {
    parser.get().body().data = piece.data();
    parser.get().body().size = piece.size();
    bhttp::read_some(socket, buffer, parser, ec);
    if (ec == bhttp::error::need_buffer)
      ec = {};
    auto n = piece.size() - parser.get().body().size;
    if (n > 0)
      feed(piece.data(), n);
    if (ec)
      break;
  }
  finish();
}

void sse_client::feed(const char* data, size_t n) {
  std::lock_guard<std::mutex> lock{mx_};
  if (status_ != 200) {
    body_.append(data, n);
    return;
  }
  partial_.append(data, n);
  size_t pos = 0;
  for (auto end = partial_.find("\n\n", pos); end != std::string::npos;
       end = partial_.find("\n\n", pos)) {
    auto block = partial_.substr(pos, end - pos);
    pos = end + 2;
    sse_event ev;
    ev.event = "message";
    bool any_data = false;
    size_t line_start = 0;
    while (line_start <= block.size()) {
      auto line_end = block.find('\n', line_start);
      if (line_end == std::string::npos)
        line_end = block.size();
      auto line = block.substr(line_start, line_end - line_start);
      line_start = line_end + 1;
      if (line.empty())
        continue;
      if (line[0] == ':') {
        comments_.push_back(line.substr(1));
        continue;
      }
      auto colon = line.find(':');
      auto field = line.substr(0, colon);
      auto value = colon == std::string::npos ? "" : line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ')
        value.erase(0, 1);
      if (field == "id")
        last_id_ = ev.id = value;
      else if (field == "event")
        ev.event = value;
      else if (field == "data") {
        ev.data += (ev.data.empty() ? "" : "\n") + value;
        any_data = true;
      }
    }
    // As EventSource: a block without data dispatches no event (its id
    // still counts).
    if (any_data)
      events_.push_back(std::move(ev));
  }
  partial_.erase(0, pos);
  cv_.notify_all();
}

unsigned sse_client::status() {
  std::unique_lock<std::mutex> lock{mx_};
  cv_.wait_for(lock, std::chrono::seconds{10}, [this] { return headers_in_; });
  return status_;
}

std::string sse_client::header(const std::string& lower_name) {
  status();
  std::lock_guard<std::mutex> lock{mx_};
  auto it = headers_.find(lower_name);
  return it == headers_.end() ? std::string{} : it->second;
}

bool sse_client::wait_for(const std::function<bool()>& done,
                          std::chrono::milliseconds limit) {
  std::unique_lock<std::mutex> lock{mx_};
  return cv_.wait_for(lock, limit, done);
}

bool sse_client::wait_events(size_t n, std::chrono::milliseconds limit) {
  return wait_for([&] { return events_.size() >= n; }, limit);
}

bool sse_client::wait_subscribed(std::chrono::milliseconds limit) {
  return wait_for([&] { return !comments_.empty() || !events_.empty(); },
                  limit);
}

bool sse_client::wait_ended(std::chrono::milliseconds limit) {
  return wait_for([&] { return ended_; }, limit);
}

std::vector<sse_event> sse_client::events() {
  std::lock_guard<std::mutex> lock{mx_};
  return events_;
}

std::string sse_client::last_event_id() {
  std::lock_guard<std::mutex> lock{mx_};
  return last_id_;
}

std::vector<std::string> sse_client::comments() {
  std::lock_guard<std::mutex> lock{mx_};
  return comments_;
}

std::string sse_client::body() {
  wait_ended();
  std::lock_guard<std::mutex> lock{mx_};
  return body_;
}

} // namespace solver_state::testing
