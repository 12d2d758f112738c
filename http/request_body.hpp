#pragma once

// The body of a request: a std::string, as Beast's string_body, that grows
// with the bytes that arrive rather than with the length announced.
// string_body reserves the whole Content-Length at the first body byte: a
// client announcing 64 MiB on the import route and sending one byte had
// the process reserve 64 MiB per connection, and under an address-space
// limit (ulimit -v, systemd's LimitAS=, vm.overcommit_memory=2) sixty such
// connections ended the service with bad_alloc. It grows no further than
// the length announced, which http.max_pending_body_bytes counts.

#include <algorithm>
#include <cstdint>
#include <cstring>

#include <boost/beast/core/buffers_range.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/optional.hpp>

namespace solver_state::gateway {

struct request_body : boost::beast::http::string_body {
  /// What a body may reserve on its announced length alone.
  static constexpr std::uint64_t reserved_up_front = 64 * 1024;

  class reader {
  public:
    template <bool isRequest, class Fields>
    reader(boost::beast::http::header<isRequest, Fields>&, value_type& body)
      : body_(body) {
    }

    void init(const boost::optional<std::uint64_t>& length,
              boost::beast::error_code& ec) {
      length_ = length;
      if (length)
        body_.reserve(static_cast<size_t>(
          std::min<std::uint64_t>(*length, reserved_up_front)));
      ec = {};
    }

    /// Appends the bytes: the string's capacity grows geometrically, so a
    /// body costs amortised copies of what came, not of what was announced,
    /// and never past the announced length (a doubling would hold up to
    /// twice what the body budget counts for it).
    template <class ConstBufferSequence>
    size_t put(const ConstBufferSequence& buffers,
               boost::beast::error_code& ec) {
      auto extra = boost::beast::buffer_bytes(buffers);
      auto size = body_.size();
      if (extra > body_.max_size() - size) {
        ec = boost::beast::http::error::buffer_overflow;
        return 0;
      }
      auto needed = size + extra;
      if (needed > body_.capacity()) {
        auto grown = std::max(needed, 2 * body_.capacity());
        if (length_ && *length_ >= needed)
          grown = static_cast<size_t>(
            std::min<std::uint64_t>(grown, *length_));
        reserve_exactly(grown);
      }
      body_.resize(needed);
      auto* out = &body_[size];
      for (auto b : boost::beast::buffers_range_ref(buffers)) {
        std::memcpy(out, b.data(), b.size());
        out += b.size();
      }
      ec = {};
      return extra;
    }

    void finish(boost::beast::error_code& ec) { ec = {}; }

  private:
    /// Grows the body's storage to `bytes` and no more: libstdc++'s
    /// reserve() doubles any growth under twice the capacity, so a 2.6 MB
    /// body grown from 2 MiB took 4 MiB (and the budget counted 4 MiB).
    void reserve_exactly(size_t bytes) {
      value_type grown;
      grown.reserve(bytes);
      grown.append(body_);
      body_.swap(grown);
    }

    value_type& body_;
    boost::optional<std::uint64_t> length_;
  };
};

} // namespace solver_state::gateway
