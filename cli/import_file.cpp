// Import files: line rules, streaming line reads, checking and chunking.

#include "cli/import_file.hpp"

#include <boost/json.hpp>

#include "messages/keys.hpp"
#include "util/base64.hpp"

namespace solver_state::cli {

namespace {

std::string string_member_problem(const boost::json::object& obj,
                                  const char* name) {
  auto* v = obj.if_contains(name);
  if (!v)
    return std::string{"no \""} + name + "\"";
  if (!v->is_string())
    return std::string{"\""} + name + "\" is not a string";
  return {};
}

} // namespace

std::string import_line_problem(std::string_view line) {
  boost::json::error_code ec;
  auto doc = boost::json::parse(line, ec);
  if (ec)
    return line.empty() ? "empty line" : "not JSON: " + ec.message();
  if (!doc.is_object())
    return "not a JSON object";
  auto& obj = doc.as_object();
  if (auto p = string_member_problem(obj, "key"); !p.empty())
    return p;
  auto key = obj.at("key").as_string();
  if (auto p = key_problem({key.data(), key.size()}); !p.empty())
    return p;
  if (auto p = string_member_problem(obj, "value"); !p.empty())
    return p;
  auto value = obj.at("value").as_string();
  if (!base64_decode({value.data(), value.size()}))
    return "\"value\" is not padded standard base64";
  auto* expires = obj.if_contains("expires_at_ms");
  if (!expires)
    return "no \"expires_at_ms\" (a number, or null for never)";
  if (expires->is_null() || expires->is_uint64()
      || (expires->is_int64() && expires->as_int64() >= 0))
    return {};
  return "\"expires_at_ms\" is not a whole number of at least 0, nor null";
}

import_check check_import(std::istream& in, size_t chunk_bytes) {
  import_check out;
  std::string line;
  auto max_line = chunk_bytes > 0 ? chunk_bytes - 1 : 0;
  for (;;) {
    auto r = read_line(in, line, max_line);
    if (r == line_read::end)
      return out;
    ++out.lines;
    if (r == line_read::too_long) {
      out.bad_line = out.lines;
      out.problem = "longer than one request body of "
                    + std::to_string(chunk_bytes)
                    + " bytes (raise --chunk-bytes)";
      return out;
    }
    if (auto p = import_line_problem(line); !p.empty()) {
      out.bad_line = out.lines;
      out.problem = std::move(p);
      return out;
    }
  }
}

import_chunker::import_chunker(std::istream& in, size_t chunk_bytes)
  : in_(in), chunk_bytes_(chunk_bytes) {
}

std::optional<import_chunk> import_chunker::next() {
  import_chunk out;
  out.first_line = next_line_;
  auto take = [&](const std::string& line) {
    out.body.append(line).push_back('\n');
    ++out.lines;
    ++next_line_;
  };
  if (carried_) {
    take(*carried_);
    carried_.reset();
  }
  std::string line;
  auto max_line = chunk_bytes_ > 0 ? chunk_bytes_ - 1 : 0;
  while (read_line(in_, line, max_line) == line_read::line) {
    if (out.body.size() + line.size() + 1 > chunk_bytes_) {
      carried_ = std::move(line);
      break;
    }
    take(line);
  }
  if (out.lines == 0)
    return std::nullopt;
  return out;
}

} // namespace solver_state::cli
