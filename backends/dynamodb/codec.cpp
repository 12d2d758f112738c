// Conversion between entries and DynamoDB items: B/N/S attribute values and
// the table's pk/k/v/ver/exp/ttl/blob item layout.

#include "backends/dynamodb/codec.hpp"

#include <charconv>

#include <boost/json/string.hpp>

#include "backends/shard_placement.hpp"
#include "messages/errors.hpp"
#include "util/base64.hpp"

namespace solver_state::dynamodb {

namespace {

const json::string* attr_text(const json::object& item, std::string_view name,
                              std::string_view type) {
  auto attr = item.if_contains(name);
  if (!attr || !attr->is_object())
    return nullptr;
  auto text = attr->as_object().if_contains(type);
  return text && text->is_string() ? &text->as_string() : nullptr;
}

} // namespace

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
  if (!text)
    return std::nullopt;
  return base64_decode(std::string_view{text->data(), text->size()});
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
