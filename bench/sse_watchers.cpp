// N watch streams over loopback in one thread, for bench/watch_http.sh:
// opens N connections to GET /v1/watch?prefix=P (HTTP/1.0, so the events
// come unframed), prints "ready" once every stream sent its first line,
// counts put events and resyncs per stream until SIGTERM or SIGINT, then
// prints "watchers N least L most M resyncs R closed C".
// Usage: sse-watchers PORT N PREFIX

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

volatile std::sig_atomic_t stop = 0;

void on_signal(int) {
  stop = 1;
}

struct stream {
  int fd = -1;
  bool started = false;
  bool closed = false;
  unsigned long long puts = 0;
  unsigned long long resyncs = 0;
  std::string carry; // the tail of the last read, for events split by it
};

int connect_to(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0
      || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("connect");
    std::exit(1);
  }
  return fd;
}

size_t count_all(std::string_view text, std::string_view what) {
  size_t n = 0;
  for (auto at = text.find(what); at != std::string_view::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

/// Matches of `what` in `seam` that start before `boundary` and end after.
size_t count_spanning(std::string_view seam, std::string_view what,
                      size_t boundary) {
  size_t n = 0;
  for (auto at = seam.find(what); at != std::string_view::npos && at < boundary;
       at = seam.find(what, at + 1))
    if (at + what.size() > boundary)
      ++n;
  return n;
}

/// Counts the events in `data`, and those split between the last read and
/// this one, without copying what was read.
void feed(stream& s, const char* data, size_t n) {
  constexpr std::string_view put = "\nevent: put\n";
  constexpr std::string_view resync = "event: resync\n";
  std::string_view now{data, n};
  if (!s.started && now.find("\r\n\r\n") != std::string_view::npos)
    s.started = true;
  // Matches that start in the carry and end in this read.
  std::string seam = s.carry;
  seam.append(now.substr(0, resync.size() - 1));
  s.puts += count_spanning(seam, put, s.carry.size());
  s.resyncs += count_spanning(seam, resync, s.carry.size());
  // Matches within this read.
  s.puts += count_all(now, put);
  s.resyncs += count_all(now, resync);
  // Keep the last bytes seen: the start of an event the next read ends.
  seam = s.carry;
  seam.append(now.substr(now.size() - std::min(now.size(), resync.size())));
  s.carry = seam.substr(seam.size() - std::min(seam.size(), resync.size() - 1));
}

} // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: sse-watchers PORT N PREFIX\n");
    return 2;
  }
  auto port = static_cast<uint16_t>(std::atoi(argv[1]));
  auto n = static_cast<size_t>(std::atoi(argv[2]));
  std::string request = std::string{"GET /v1/watch?prefix="} + argv[3]
                        + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::vector<stream> streams(n);
  std::vector<pollfd> fds(n);
  for (size_t i = 0; i < n; ++i) {
    streams[i].fd = connect_to(port);
    if (::send(streams[i].fd, request.data(), request.size(), 0)
        != static_cast<ssize_t>(request.size())) {
      std::perror("send");
      return 1;
    }
    fds[i] = pollfd{streams[i].fd, POLLIN, 0};
  }
  bool ready = false;
  std::vector<char> buf(256 * 1024);
  while (!stop) {
    if (::poll(fds.data(), fds.size(), 100) < 0)
      continue; // EINTR: the signal ends the loop
    for (size_t i = 0; i < n; ++i) {
      if ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      auto got = ::recv(fds[i].fd, buf.data(), buf.size(), 0);
      if (got <= 0) {
        streams[i].closed = true;
        fds[i].fd = -1; // poll ignores it from now on
        continue;
      }
      feed(streams[i], buf.data(), static_cast<size_t>(got));
    }
    if (!ready
        && std::all_of(streams.begin(), streams.end(),
                       [](const stream& s) { return s.started; })) {
      ready = true;
      std::printf("ready\n");
      std::fflush(stdout);
    }
  }
  unsigned long long least = ~0ull, most = 0, resyncs = 0, closed = 0;
  for (auto& s : streams) {
    least = std::min(least, s.puts);
    most = std::max(most, s.puts);
    resyncs += s.resyncs;
    closed += s.closed ? 1 : 0;
    ::close(s.fd);
  }
  std::printf("watchers %zu least %llu most %llu resyncs %llu closed %llu\n", n,
              least, most, resyncs, closed);
  return 0;
}
