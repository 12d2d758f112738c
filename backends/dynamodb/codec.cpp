#include "backends/dynamodb_codec.hpp"

#include <charconv>

#include <boost/json/string.hpp>

#include "messages/errors.hpp"

namespace solver_state::dynamodb {

namespace {

constexpr char alphabet[]
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+')
    return 62;
  if (c == '/')
    return 63;
  return -1;
}

const json::string* attr_text(const json::object& item, std::string_view name,
                              std::string_view type) {
  auto attr = item.if_contains(name);
  if (!attr || !attr->is_object())
    return nullptr;
  auto text = attr->as_object().if_contains(type);
  return text && text->is_string() ? &text->as_string() : nullptr;
}

} // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  auto at = [&](size_t j) { return static_cast<unsigned char>(bytes[j]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (at(i) << 16) | (at(i + 1) << 8) | at(i + 2);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (auto rest = bytes.size() - i; rest > 0) {
    uint32_t n = at(i) << 16;
    if (rest == 2)
      n |= at(i + 1) << 8;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() % 4 != 0)
    return false;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    int s[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=' && i + 4 == text.size() && j >= 2) {
        s[j] = 0;
        ++pad;
        continue;
      }
      if (pad > 0 || (s[j] = sextet(c)) < 0)
        return false;
    }
    uint32_t n = (s[0] << 18) | (s[1] << 12) | (s[2] << 6) | s[3];
    out += static_cast<char>((n >> 16) & 0xFF);
    if (pad < 2)
      out += static_cast<char>((n >> 8) & 0xFF);
    if (pad < 1)
      out += static_cast<char>(n & 0xFF);
  }
  return true;
}

json::object attr_b(std::string_view bytes) {
  return json::object{{"B", base64_encode(bytes)}};
}

json::object attr_s(std::string_view text) {
  return json::object{{"S", text}};
}

json::object attr_n(int64_t number) {
  return json::object{{"N", std::to_string(number)}};
}

json::object attr_n(uint64_t number) {
  return json::object{{"N", std::to_string(number)}};
}

std::optional<std::string> read_b(const json::object& item,
                                  std::string_view name) {
  auto text = attr_text(item, name, "B");
  std::string out;
  if (!text || !base64_decode(*text, out))
    return std::nullopt;
  return out;
}

std::optional<uint64_t> read_u64(const json::object& item,
                                 std::string_view name) {
  auto text = attr_text(item, name, "N");
  if (!text)
    return std::nullopt;
  uint64_t out = 0;
  auto end = text->data() + text->size();
  auto [ptr, ec] = std::from_chars(text->data(), end, out);
  if (ec != std::errc{} || ptr != end)
    return std::nullopt;
  return out;
}

std::string_view partition_of(key_class cls) {
  switch (cls) {
    case key_class::order:
      return "order";
    case key_class::fill:
      return "fill";
    case key_class::settlement:
      return "settlement";
    case key_class::state:
      return "state";
    default:
      return "other";
  }
}

json::object key_of(std::string_view key) {
  return json::object{{"pk", attr_s(partition_of(class_of(key)))},
                      {"k", attr_b(key)}};
}

json::object encode_item(const stored_item& item) {
  auto out = key_of(item.key);
  out["ver"] = attr_n(item.version);
  out["exp"] = attr_n(static_cast<int64_t>(item.expires_at));
  if (item.expires_at != 0)
    out["ttl"] = attr_n(static_cast<int64_t>((item.expires_at + 999) / 1000));
  if (item.chunks != 0) {
    out["blob"] = attr_n(item.blob);
    out["nc"] = attr_n(static_cast<uint64_t>(item.chunks));
  } else if (!item.value.empty()) {
    out["v"] = attr_b(item.value);
  }
  return out;
}

caf::expected<stored_item> decode_item(const json::object& item) {
  stored_item out;
  auto key = read_b(item, "k");
  auto version = read_u64(item, "ver");
  if (!key || !version)
    return make_state_error(state_errc::serialization_error,
                            "DynamoDB item lacks a valid k or ver attribute");
  out.key = std::move(*key);
  out.version = *version;
  if (auto exp = read_u64(item, "exp"))
    out.expires_at = static_cast<unix_ms>(*exp);
  if (auto value = read_b(item, "v"))
    out.value = std::move(*value);
  if (auto blob = read_u64(item, "blob"))
    out.blob = *blob;
  if (auto nc = read_u64(item, "nc"))
    out.chunks = static_cast<uint32_t>(*nc);
  return out;
}

} // namespace solver_state::dynamodb
