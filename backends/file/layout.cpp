// The file backend's key <-> path mapping: percent-encoded ':'-segments as
// directories, a NAME.val leaf, long segments split; one-to-one and safe.

#include "backends/file/layout.hpp"

namespace solver_state {

namespace {

constexpr std::string_view leaf_suffix = ".val";

bool plain(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
         || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

void put_escaped(std::string& out, unsigned char c) {
  static constexpr char hex[] = "0123456789ABCDEF";
  out += '%';
  out += hex[c >> 4];
  out += hex[c & 0xF];
}

std::string encode_segment(std::string_view seg, bool leaf) {
  std::string out;
  if (seg.empty())
    return "%";
  bool dots = seg == "." || seg == "..";
  for (unsigned char c : seg)
    if (dots || !plain(c))
      put_escaped(out, c);
    else
      out += static_cast<char>(c);
  if (!leaf && out.size() >= leaf_suffix.size()
      && out.compare(out.size() - leaf_suffix.size(), leaf_suffix.size(),
                     leaf_suffix)
           == 0)
    out.replace(out.size() - leaf_suffix.size(), 1, "%2E");
  return out;
}

/// `end`, or the start of the %XX escape it would cut.
size_t split_before(const std::string& enc, size_t end) {
  if (enc[end - 1] == '%')
    return end - 1;
  if (enc[end - 2] == '%')
    return end - 2;
  return end;
}

bool is_dot_name(std::string_view piece) {
  return piece == "." || piece == "..";
}

/// Splits an encoded segment into pieces of at most piece_bytes, never
/// inside a %XX escape; all but the last get the continuation mark '+'.
/// The last piece of a directory segment is never "." or "..": it would
/// name the piece before it, or the directory above (another key's path),
/// where a whole segment of dots is escaped by encode_segment. A leaf's
/// last piece gets ".val" after it ("..val" is a plain name): split where
/// it always was, so that its file keeps its path.
void append_pieces(std::vector<std::string>& out, const std::string& enc,
                   bool leaf) {
  size_t pos = 0;
  while (enc.size() - pos > piece_bytes) {
    size_t end = split_before(enc, pos + piece_bytes);
    while (!leaf && is_dot_name(std::string_view{enc}.substr(end)))
      end = split_before(enc, end - 1);
    out.push_back(enc.substr(pos, end - pos) + '+');
    pos = end;
  }
  out.push_back(enc.substr(pos));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

std::optional<std::string> decode_segment(std::string_view enc) {
  if (enc == "%")
    return std::string{};
  std::string out;
  for (size_t i = 0; i < enc.size(); ++i) {
    if (enc[i] != '%') {
      out += enc[i];
      continue;
    }
    if (i + 2 >= enc.size())
      return std::nullopt;
    int hi = hex_value(enc[i + 1]);
    int lo = hex_value(enc[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

} // namespace

std::vector<std::string> key_to_path(std::string_view key) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto colon = key.find(':', start);
    bool leaf = colon == std::string_view::npos;
    auto seg = key.substr(start, leaf ? std::string_view::npos : colon - start);
    append_pieces(out, encode_segment(seg, leaf), leaf);
    if (leaf) {
      out.back() += leaf_suffix;
      return out;
    }
    start = colon + 1;
  }
}

std::optional<std::string>
path_to_key(const std::vector<std::string>& components) {
  if (components.empty())
    return std::nullopt;
  auto leaf = components.back();
  if (leaf.size() <= leaf_suffix.size()
      || leaf.compare(leaf.size() - leaf_suffix.size(), leaf_suffix.size(),
                      leaf_suffix)
           != 0)
    return std::nullopt;
  std::string key;
  std::string segment;
  bool first = true;
  for (size_t i = 0; i < components.size(); ++i) {
    std::string_view c = components[i];
    if (i + 1 == components.size())
      c.remove_suffix(leaf_suffix.size());
    if (!c.empty() && c.back() == '+') {
      segment.append(c.substr(0, c.size() - 1));
      continue;
    }
    segment.append(c);
    auto decoded = decode_segment(segment);
    if (!decoded)
      return std::nullopt;
    if (!first)
      key += ':';
    first = false;
    key += *decoded;
    segment.clear();
  }
  // Only the canonical spelling of a key is ours.
  if (key_to_path(key) != components)
    return std::nullopt;
  return key;
}

std::string join_path(const std::vector<std::string>& components) {
  std::string out;
  for (auto& c : components) {
    if (!out.empty())
      out += '/';
    out += c;
  }
  return out;
}

} // namespace solver_state
