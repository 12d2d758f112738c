#pragma once

// Commands for one round trip, already in RESP (Redis' wire format). A
// pipelined batch of a few hundred writes is formatted straight into one
// buffer: no string per argument, no argument vector per command and no
// hiredis formatting (an sds string and an argv copy per command), which
// were most of the client's allocations per write.

#include <charconv>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace solver_state {

/// One argument made of several pieces, written without joining them first
/// (e.g. the key prefix and the key, or a packed value's header and bytes).
struct redis_joined {
  std::initializer_list<std::string_view> pieces;
};

class redis_batch {
public:
  /// Appends one command. Arguments are string views, integers or
  /// redis_joined.
  template <class... Args>
  void add(const Args&... args) {
    header('*', sizeof...(Args));
    (put(args), ...);
    ++commands_;
  }

  /// Appends one command from an argument list built elsewhere.
  void add_args(const std::vector<std::string_view>& args) {
    header('*', args.size());
    for (auto a : args)
      put(a);
    ++commands_;
  }

  size_t commands() const { return commands_; }
  std::string_view wire() const { return wire_; }
  bool empty() const { return commands_ == 0; }

  /// Forgets the commands, keeping the buffer's capacity for the next batch.
  void clear() {
    wire_.clear();
    commands_ = 0;
  }

private:
  void header(char tag, uint64_t n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    wire_.push_back(tag);
    wire_.append(digits, end);
    wire_.append("\r\n", 2);
  }

  void put(std::string_view a) {
    header('$', a.size());
    wire_.append(a);
    wire_.append("\r\n", 2);
  }

  void put(const char* a) { put(std::string_view{a}); }

  void put(const std::string& a) { put(std::string_view{a}); }

  void put(const redis_joined& a) {
    size_t size = 0;
    for (auto p : a.pieces)
      size += p.size();
    header('$', size);
    for (auto p : a.pieces)
      wire_.append(p);
    wire_.append("\r\n", 2);
  }

  template <class Int, class = std::enable_if_t<std::is_integral_v<Int>>>
  void put(Int n) {
    char digits[24];
    auto end = std::to_chars(digits, digits + sizeof digits, n).ptr;
    put(std::string_view{digits, static_cast<size_t>(end - digits)});
  }

  std::string wire_;
  size_t commands_ = 0;
};

} // namespace solver_state
