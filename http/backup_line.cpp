// The NDJSON line of export and import: written by hand (the export's hot
// loop, a million lines), read with Boost.JSON and checked field by field.

#include "http/backup_line.hpp"

#include <limits>

#include <boost/json.hpp>

#include "messages/keys.hpp"
#include "util/base64.hpp"
#include "util/exact_json.hpp"

namespace solver_state::gateway {

namespace json = boost::json;

namespace {

/// `text` as the inside of a JSON string. Keys hold no control bytes, but a
/// value of any byte must still come out as valid JSON.
void append_escaped(std::string& out, std::string_view text) {
  constexpr char hex[] = "0123456789abcdef";
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7F) {
      out += "\\u00";
      out += hex[u >> 4];
      out += hex[u & 0xF];
    } else {
      out += c;
    }
  }
}

std::optional<std::string> key_of(const json::object& obj,
                                   std::string& problem) {
  auto* text = obj.if_contains("key");
  auto* encoded = obj.if_contains("key_base64");
  if ((text != nullptr) == (encoded != nullptr)) {
    problem = "needs exactly one of \"key\" and \"key_base64\"";
    return std::nullopt;
  }
  std::optional<std::string> key;
  if (text && text->is_string())
    key.emplace(text->get_string().data(), text->get_string().size());
  if (encoded && encoded->is_string()) {
    auto& s = encoded->get_string();
    key = base64_decode({s.data(), s.size()});
    if (!key) {
      problem = "\"key_base64\" is not valid base64";
      return std::nullopt;
    }
  }
  if (!key) {
    problem = text ? "\"key\" must be a string" : "\"key_base64\" must be a "
                                                  "string";
    return std::nullopt;
  }
  if (auto why = key_problem(*key); !why.empty()) {
    problem = "invalid key: " + why;
    return std::nullopt;
  }
  return key;
}

std::optional<std::string> value_of(const json::object& obj,
                                    size_t max_value_bytes,
                                    std::string& problem) {
  auto* v = obj.if_contains("value");
  if (!v || !v->is_string()) {
    problem = "\"value\" must be a base64 string";
    return std::nullopt;
  }
  auto& s = v->get_string();
  auto value = base64_decode({s.data(), s.size()});
  if (!value) {
    problem = "\"value\" is not valid base64 (standard alphabet, padded)";
    return std::nullopt;
  }
  if (value->size() > max_value_bytes) {
    problem = "value of " + std::to_string(value->size())
              + " bytes; state.max_value_bytes is "
              + std::to_string(max_value_bytes);
    return std::nullopt;
  }
  return value;
}

std::optional<unix_ms> expiry_of(const json::object& obj,
                                 std::string& problem) {
  auto* v = obj.if_contains("expires_at_ms");
  if (!v || v->is_null())
    return unix_ms{0};
  if (v->is_int64() && v->get_int64() > 0)
    return v->get_int64();
  if (v->is_uint64()
      && v->get_uint64()
           <= static_cast<uint64_t>(std::numeric_limits<unix_ms>::max()))
    return static_cast<unix_ms>(v->get_uint64());
  problem = "\"expires_at_ms\" must be null or a positive whole number of "
            "milliseconds since the Unix epoch";
  return std::nullopt;
}

} // namespace

void append_json_key(std::string& out, std::string_view key) {
  if (is_utf8(key)) {
    out += "\"key\":\"";
    append_escaped(out, key);
  } else {
    out += "\"key_base64\":\"";
    out += base64_encode(key);
  }
  out += '"';
}

void append_json_text(std::string& out, std::string_view text) {
  append_escaped(out, text);
}

void append_backup_line(std::string& out, std::string_view key,
                        const entry& e) {
  out += '{';
  append_json_key(out, key);
  out += ",\"value\":\"";
  out += base64_encode(e.value);
  out += "\",\"expires_at_ms\":";
  if (e.expires_at_ms > 0)
    out += std::to_string(e.expires_at_ms);
  else
    out += "null";
  out += "}\n";
}

std::optional<backup_line> parse_backup_line(std::string_view line,
                                             size_t max_value_bytes,
                                             std::string& problem) {
  auto doc = parse_json_request(line, problem);
  if (!doc)
    return std::nullopt;
  auto* obj = doc->if_object();
  if (!obj) {
    problem = "not a JSON object";
    return std::nullopt;
  }
  // A misspelt member ("expires_at") would silently drop a TTL: refuse it.
  for (auto& member : *obj) {
    auto name = member.key();
    if (name != "key" && name != "key_base64" && name != "value"
        && name != "expires_at_ms") {
      problem = "unknown member \"" + std::string{name} + "\"";
      return std::nullopt;
    }
  }
  backup_line out;
  auto key = key_of(*obj, problem);
  if (!key)
    return std::nullopt;
  auto value = value_of(*obj, max_value_bytes, problem);
  if (!value)
    return std::nullopt;
  auto expiry = expiry_of(*obj, problem);
  if (!expiry)
    return std::nullopt;
  return backup_line{std::move(*key), std::move(*value), *expiry};
}

size_t utf8_sequence_at(std::string_view text, size_t i) {
  auto c = static_cast<unsigned char>(text[i]);
  if (c < 0x80)
    return 1;
  size_t len;
  uint32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > text.size())
    return 0;
  for (size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(text[i + k]);
    if ((cc & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return len;
}

bool is_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    auto len = utf8_sequence_at(text, i);
    if (len == 0)
      return false;
    i += len;
  }
  return true;
}

std::string as_utf8_text(std::string_view text) {
  if (is_utf8(text))
    return std::string{text};
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (size_t i = 0; i < text.size();) {
    if (auto len = utf8_sequence_at(text, i); len > 0) {
      out.append(text.substr(i, len));
      i += len;
      continue;
    }
    auto c = static_cast<unsigned char>(text[i++]);
    out += "\\x";
    out += hex[c >> 4];
    out += hex[c & 0xF];
  }
  return out;
}

} // namespace solver_state::gateway
