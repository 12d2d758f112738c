#include "actors/query/json_fields.hpp"

#include <cmath>
#include <memory>
#include <string>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/value.hpp>
#include <simdjson.h>

#include "messages/query_bounds.hpp"
#include "util/exact_json.hpp"

namespace solver_state {

namespace {

/// A parser keeps the capacity of the largest document it read: values up
/// to this size share one per thread; a larger one gets a parser of its
/// own, freed after it, so that one large value does not stay allocated.
constexpr size_t kept_parser_bytes = 64 * 1024;

bool starts_object(std::string_view value) {
  auto first = value.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && value[first] == '{';
}

// -- simdjson -------------------------------------------------------------------

std::optional<index_value> field_of(simdjson::dom::element e) {
  using type = simdjson::dom::element_type;
  switch (e.type()) {
    case type::STRING: {
      std::string_view s;
      if (e.get(s) || s.size() > max_indexed_string_bytes)
        return std::nullopt;
      return index_value::of(std::string{s});
    }
    case type::INT64:
      return index_value::of(static_cast<long double>(int64_t(e)));
    case type::UINT64:
      return index_value::of(static_cast<long double>(uint64_t(e)));
    case type::DOUBLE:
      return index_value::of(static_cast<long double>(double(e)));
    default:
      return std::nullopt;
  }
}

/// Takes the next reference token of `pointer` (which starts with '/')
/// into `token`, unescaped (~1 is '/', ~0 is '~'); false when an escape is
/// broken.
bool take_token(std::string_view& pointer, std::string& token) {
  token.clear();
  size_t i = 1;
  for (; i < pointer.size() && pointer[i] != '/'; ++i) {
    if (pointer[i] != '~') {
      token.push_back(pointer[i]);
      continue;
    }
    if (++i == pointer.size() || (pointer[i] != '0' && pointer[i] != '1'))
      return false;
    token.push_back(pointer[i] == '0' ? '~' : '/');
  }
  pointer.remove_prefix(i);
  return true;
}

/// An array index as RFC 6901 writes it: digits, no leading zero.
bool array_index(const std::string& token, size_t& out) {
  if (token.empty() || token.size() > 18 || (token[0] == '0' && token.size() > 1))
    return false;
  out = 0;
  for (char c : token) {
    if (c < '0' || c > '9')
      return false;
    out = out * 10 + static_cast<size_t>(c - '0');
  }
  return true;
}

/// The element at `pointer` in `at`. simdjson keeps every member of an
/// object, also one named twice, and its own lookup answers the first; a
/// DOM (Boost.JSON's, which this replaced) keeps the last, so the walk
/// reads every member and keeps the last match.
bool find(simdjson::dom::element at, std::string_view pointer,
          simdjson::dom::element& out) {
  std::string token;
  while (!pointer.empty()) {
    if (pointer[0] != '/' || !take_token(pointer, token))
      return false;
    if (simdjson::dom::object object; !at.get(object)) {
      bool found = false;
      for (auto member : object)
        if (member.key == token) {
          at = member.value;
          found = true;
        }
      if (!found)
        return false;
    } else if (simdjson::dom::array array; !at.get(array)) {
      size_t index = 0;
      if (!array_index(token, index) || array.at(index).get(at))
        return false;
    } else {
      return false;
    }
  }
  out = at;
  return true;
}

/// False when simdjson cannot read `value` (the caller asks Boost.JSON).
bool extract_with_simdjson(simdjson::dom::parser& parser, std::string_view value,
                           const std::vector<std::string_view>& paths,
                           std::vector<std::optional<index_value>>& out) {
  simdjson::dom::element doc;
  if (parser.parse(value.data(), value.size()).get(doc))
    return false;
  if (doc.type() != simdjson::dom::element_type::OBJECT)
    return true; // JSON, not an object: nothing
  for (size_t i = 0; i < paths.size(); ++i) {
    simdjson::dom::element found;
    if (!paths[i].empty() && find(doc, paths[i], found))
      out[i] = field_of(found);
  }
  return true;
}

// -- Boost.JSON: what simdjson refuses --------------------------------------------

std::optional<index_value> field_of(const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::string: {
      auto& s = v.get_string();
      if (s.size() > max_indexed_string_bytes)
        return std::nullopt;
      return index_value::of(std::string{s.data(), s.size()});
    }
    case boost::json::kind::int64:
      return index_value::of(static_cast<long double>(v.get_int64()));
    case boost::json::kind::uint64:
      return index_value::of(static_cast<long double>(v.get_uint64()));
    case boost::json::kind::double_:
      // Past the double range (1e400): infinity, which no query may name
      // and which CAF 0.17 cannot carry between nodes (its long double
      // goes as text and "inf" reads back as 0), so a cluster's merge
      // would misplace it. Not indexed, like a field of no indexed type.
      if (!std::isfinite(v.get_double()))
        return std::nullopt;
      return index_value::of(static_cast<long double>(v.get_double()));
    default:
      return std::nullopt;
  }
}

/// Numbers past 64 bits (read as the nearest double, or infinity), which
/// simdjson refuses whole documents for; and the documents neither reads.
/// Numbers are rounded as simdjson rounds them (parse_json_exact), and
/// nesting is allowed as deep as simdjson allows it: a field reads the same
/// whichever of the two reads its document.
/// `text` with each number's exponent of ten digits or more (past its
/// leading zeros) written as 999999999: read as a double it is the same
/// infinity or zero, where Boost.JSON refuses the whole document
/// (exponent_overflow, past INT_MAX) and simdjson too, which would leave
/// every other field of the value unindexed. Strings are copied as they
/// are.
std::string with_exponents_clamped(std::string_view text) {
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string out;
  out.reserve(text.size());
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    out += c;
    if (in_string) {
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    // Outside strings an e follows a digit only in a number's exponent
    // (true and false have theirs after a letter).
    if ((c != 'e' && c != 'E') || i == 0 || !digit(text[i - 1]))
      continue;
    size_t j = i + 1;
    if (j < text.size() && (text[j] == '+' || text[j] == '-'))
      out += text[j++];
    size_t first = j;
    while (j < text.size() && text[j] == '0')
      ++j;
    size_t significant = j;
    while (j < text.size() && digit(text[j]))
      ++j;
    if (j - significant >= 10)
      out += "999999999";
    else
      out.append(text.substr(first, j - first));
    i = j - 1;
  }
  return out;
}

void extract_with_boost(std::string_view value,
                        const std::vector<std::string_view>& paths,
                        std::vector<std::optional<index_value>>& out) {
  unsigned char buffer[4096];
  boost::json::monotonic_resource mr{buffer, sizeof buffer};
  boost::json::error_code ec;
  boost::json::parse_options options;
  options.max_depth = simdjson::DEFAULT_MAX_DEPTH;
  auto doc = parse_json_exact(value, ec, &mr, options);
  std::string clamped;
  if (ec == boost::json::error::exponent_overflow) {
    clamped = with_exponents_clamped(value);
    ec = {};
    doc = parse_json_exact(clamped, ec, &mr, options);
  }
  if (ec || !doc.is_object())
    return;
  for (size_t i = 0; i < paths.size(); ++i) {
    if (paths[i].empty())
      continue;
    boost::json::error_code pec;
    auto found = doc.find_pointer(
      boost::json::string_view{paths[i].data(), paths[i].size()}, pec);
    if (found)
      out[i] = field_of(*found);
  }
}

} // namespace

void extract_fields(std::string_view value,
                    const std::vector<std::string_view>& paths,
                    std::vector<std::optional<index_value>>& out) {
  out.assign(paths.size(), std::nullopt);
  if (!starts_object(value))
    return; // not an object: not indexed, and no parse
  bool read = false;
  if (value.size() <= kept_parser_bytes) {
    static thread_local simdjson::dom::parser parser;
    read = extract_with_simdjson(parser, value, paths, out);
  } else {
    auto parser = std::make_unique<simdjson::dom::parser>();
    read = extract_with_simdjson(*parser, value, paths, out);
  }
  if (!read)
    extract_with_boost(value, paths, out);
}

std::vector<std::optional<index_value>>
extract_fields(std::string_view value,
               const std::vector<std::string_view>& paths) {
  std::vector<std::optional<index_value>> out;
  extract_fields(value, paths, out);
  return out;
}

} // namespace solver_state
