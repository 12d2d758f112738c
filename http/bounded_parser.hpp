#pragma once

// A request parser that bounds the whole header while it reads it. Beast
// (1.81, Debian 12's) applies header_limit to the bytes of one read that
// are not parsed yet, not to the header: the fields parsed so far leave its
// buffer, so a client that sends short fields in reads that end between
// them ("a:\r\n" a few at a time) was never refused, and each field took
// a heap allocation of its own, ~15 bytes of memory per byte sent, for as
// long as http.read_timeout let it go on, before any token was checked.
// Here every field is counted as it arrives, against the header's bytes
// (request line included) and against the most fields a request may have.

#include <cstddef>

#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include "http/request_body.hpp"

namespace solver_state::gateway {

class bounded_request_parser
  : public boost::beast::http::request_parser<request_body> {
public:
  /// What stopped the header: its bytes or its number of fields; or a
  /// trailer field after a chunked body, which is refused at the first.
  enum class overflow { none, bytes, fields, trailer };

  bounded_request_parser(size_t max_header_bytes, size_t max_fields)
    : max_bytes_(max_header_bytes), max_fields_(max_fields) {
  }

  overflow overflowed() const { return overflow_; }

private:
  void on_field_impl(boost::beast::http::field name,
                     boost::beast::string_view name_string,
                     boost::beast::string_view value,
                     boost::beast::error_code& ec) override {
    // The parser would add a chunked body's trailer fields to the header,
    // unbounded as the header's were, where a handler would take them for
    // header fields (an If-Match sent last).
    if (is_header_done()) {
      overflow_ = overflow::trailer;
      ec = boost::beast::http::error::header_limit;
      return;
    }
    // The line as sent: name, ": ", value, CRLF; the request line is in
    // get() once the first field comes.
    bytes_ += name_string.size() + value.size() + 4;
    if (++fields_ > max_fields_) {
      overflow_ = overflow::fields;
      ec = boost::beast::http::error::header_limit;
      return;
    }
    auto& req = get();
    if (bytes_ + req.method_string().size() + req.target().size() + 12
        > max_bytes_) {
      overflow_ = overflow::bytes;
      ec = boost::beast::http::error::header_limit;
      return;
    }
    req.insert(name, name_string, value);
  }

  size_t max_bytes_;
  size_t max_fields_;
  size_t bytes_ = 0;
  size_t fields_ = 0;
  overflow overflow_ = overflow::none;
};

} // namespace solver_state::gateway
