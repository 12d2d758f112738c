#include "util/exact_json.hpp"

#include <charconv>
#include <string>
#include <system_error>
#include <unordered_set>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

namespace solver_state {

namespace {

namespace json = boost::json;

/// Builds the document as Boost.JSON's own parser does (a value_stack),
/// but for on_double, which reads the number's text again.
struct exact_handler {
  static constexpr std::size_t max_object_size = json::object::max_size();
  static constexpr std::size_t max_array_size = json::array::max_size();
  static constexpr std::size_t max_key_size = json::string::max_size();
  static constexpr std::size_t max_string_size = json::string::max_size();

  json::value_stack st;
  std::string number; // the parts of a number cut by the end of a buffer

  /// With refuse_duplicates, the member names of each object open, the
  /// innermost last (sets kept for reuse: `open` are in use), and the name
  /// met twice.
  bool refuse_duplicates = false;
  std::vector<std::unordered_set<std::string>> names;
  std::size_t open = 0;
  std::string key; // the parts of a key cut by the end of a buffer
  std::string duplicate;

  explicit exact_handler(json::storage_ptr sp) { st.reset(std::move(sp)); }

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) {
    if (refuse_duplicates) {
      if (open == names.size())
        names.emplace_back();
      names[open++].clear();
    }
    return true;
  }
  bool on_object_end(std::size_t n, json::error_code&) {
    if (refuse_duplicates)
      --open;
    st.push_object(n);
    return true;
  }
  bool on_array_begin(json::error_code&) { return true; }
  bool on_array_end(std::size_t n, json::error_code&) {
    st.push_array(n);
    return true;
  }
  bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
    if (refuse_duplicates)
      key.append(s.data(), s.size());
    st.push_chars(s);
    return true;
  }
  bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
    if (refuse_duplicates) {
      key.append(s.data(), s.size());
      if (!names[open - 1].insert(key).second) {
        duplicate = std::move(key);
        ec = json::error::syntax;
        return false;
      }
      key.clear();
    }
    st.push_key(s);
    return true;
  }
  bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, std::size_t, json::error_code&) {
    st.push_string(s);
    return true;
  }
  bool on_number_part(json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
    number.clear();
    st.push_int64(i);
    return true;
  }
  bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
    number.clear();
    st.push_uint64(u);
    return true;
  }
  bool on_double(double d, json::string_view s, json::error_code&) {
    number.append(s.data(), s.size());
    // JSON's number grammar is a subset of what from_chars reads. Out of
    // a double's range (1e400, 1e-400) Boost.JSON's answer stays.
    double exact = 0;
    auto [end, err] = std::from_chars(number.data(),
                                      number.data() + number.size(), exact);
    if (err == std::errc{} && end == number.data() + number.size())
      d = exact;
    number.clear();
    st.push_double(d);
    return true;
  }
  bool on_bool(bool b, json::error_code&) {
    st.push_bool(b);
    return true;
  }
  bool on_null(json::error_code&) {
    st.push_null();
    return true;
  }
  bool on_comment_part(json::string_view, json::error_code&) { return true; }
  bool on_comment(json::string_view, json::error_code&) { return true; }
};

} // namespace

namespace {

json::value parse_with(json::basic_parser<exact_handler>& p,
                       std::string_view text, json::error_code& ec) {
  auto n = p.write_some(false, text.data(), text.size(), ec);
  if (ec)
    return nullptr;
  if (n < text.size()) {
    ec = json::error::extra_data;
    return nullptr;
  }
  return p.handler().st.release();
}

} // namespace

json::value parse_json_exact(std::string_view text, json::error_code& ec,
                             json::storage_ptr sp,
                             const json::parse_options& opt) {
  json::basic_parser<exact_handler> p{opt, std::move(sp)};
  return parse_with(p, text, ec);
}

std::optional<json::value> parse_json_request(std::string_view text,
                                              std::string& problem) {
  json::basic_parser<exact_handler> p{json::parse_options{},
                                      json::storage_ptr{}};
  p.handler().refuse_duplicates = true;
  json::error_code ec;
  auto doc = parse_with(p, text, ec);
  if (auto& name = p.handler().duplicate; !name.empty()) {
    problem = "member \"" + name + "\" appears twice in one object";
    return std::nullopt;
  }
  if (ec) {
    problem = "malformed JSON: " + ec.message();
    return std::nullopt;
  }
  return doc;
}

} // namespace solver_state
