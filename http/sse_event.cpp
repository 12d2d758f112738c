#include "http/sse_event.hpp"

#include <charconv>

#include "http/backup_line.hpp"
#include "util/base64.hpp"

namespace solver_state::gateway {

namespace {

bool read_number(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 20)
    return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                   out);
  return ec == std::errc{} && end == text.data() + text.size();
}

} // namespace

std::string event_id(uint64_t stream, uint64_t seq) {
  return std::to_string(stream) + "-" + std::to_string(seq);
}

std::optional<event_position> parse_event_id(std::string_view text) {
  auto dash = text.find('-');
  if (dash == std::string_view::npos)
    return std::nullopt;
  event_position out;
  if (!read_number(text.substr(0, dash), out.stream)
      || !read_number(text.substr(dash + 1), out.seq))
    return std::nullopt;
  return out;
}

void append_change_event(std::string& out, uint64_t stream,
                         const change_event& ev) {
  out += "id: ";
  out += event_id(stream, ev.seq);
  out += "\nevent: ";
  out += to_string(ev.why());
  out += "\ndata: {";
  append_json_key(out, ev.key);
  if (ev.why() == change_cause::put) {
    // format_etag quotes the version; inside a JSON string the quotes are
    // escaped.
    out += ",\"etag\":\"\\\"";
    out += std::to_string(ev.version);
    out += "\\\"\",\"value\":\"";
    out += base64_encode(ev.value);
    out += "\"}\n\n";
  } else {
    out += ",\"etag\":null}\n\n";
  }
}

void append_resync_event(std::string& out, std::string_view reason) {
  out += "event: resync\ndata: {\"reason\":\"";
  // A reason may quote a key that is not UTF-8 (an undecodable change).
  append_json_text(out, as_utf8_text(reason));
  out += "\"}\n\n";
}

} // namespace solver_state::gateway
