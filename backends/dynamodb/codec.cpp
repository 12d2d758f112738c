// Conversion between entries and DynamoDB items: B/N/S attribute values and
// the table's pk/k/v/ver/exp/ttl/blob item layout.

#include "backends/dynamodb/codec.hpp"

#include <charconv>
#include <limits>

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

namespace {

/// A value error (one key's stored value, not the backend): batch reads
/// that skip unreadable values, exports with --skip-unreadable and the
/// index build go past it, as past any damaged value.
caf::error invalid_attribute(const std::string& key, std::string_view attr,
                             std::string_view why) {
  return make_value_error("DynamoDB item of key '" + key + "' has an invalid '"
                          + std::string{attr} + "' attribute ("
                          + std::string{why} + ")");
}

/// Reads the optional N attribute `attr` of the item of `key` into `out`
/// (left as it is when absent): an error when present but not an integer
/// in [0, max].
caf::error read_optional(const json::object& item, const std::string& key,
                         std::string_view attr, uint64_t max, uint64_t& out) {
  if (!item.contains(attr))
    return {};
  auto n = read_u64(item, attr);
  if (!n)
    return invalid_attribute(key, attr, "not an unsigned integer N");
  if (*n > max)
    return invalid_attribute(key, attr, std::to_string(*n) + " is above "
                                          + std::to_string(max));
  out = *n;
  return {};
}

/// Reads the optional B attribute v of the item of `key` into `out`.
caf::error read_optional_value(const json::object& item,
                               const std::string& key, std::string& out) {
  if (!item.contains("v"))
    return {};
  auto value = read_b(item, "v");
  if (!value)
    return invalid_attribute(key, "v", "not a base64 B");
  out = std::move(*value);
  return {};
}

} // namespace

caf::expected<stored_item> decode_item(const json::object& item) {
  stored_item out;
  auto key = read_b(item, "k");
  auto version = read_u64(item, "ver");
  if (!key || !version)
    return make_state_error(state_errc::serialization_error,
                            "DynamoDB item lacks a valid k or ver attribute");
  out.key = std::move(*key);
  out.version = *version;
  // Absent and invalid differ: an unreadable exp is not "never expires",
  // an unreadable v not an empty value.
  uint64_t exp = 0;
  uint64_t chunks = 0;
  if (auto err = read_optional(item, out.key, "exp",
                               std::numeric_limits<unix_ms>::max(), exp))
    return err;
  if (auto err = read_optional_value(item, out.key, out.value))
    return err;
  if (auto err = read_optional(item, out.key, "blob",
                               std::numeric_limits<uint64_t>::max(),
                               out.blob))
    return err;
  if (auto err = read_optional(item, out.key, "nc", max_chunk_count, chunks))
    return err;
  out.expires_at = static_cast<unix_ms>(exp);
  out.chunks = static_cast<uint32_t>(chunks);
  return out;
}

} // namespace solver_state::dynamodb
