// watch: follows GET /v1/watch as it streams, one line per change, until
// interrupted or until the service ends the stream.

#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/record_splitter.hpp"
#include "cli/reply_failure.hpp"
#include "util/percent.hpp"

namespace solver_state::cli {

namespace {

/// How long the stream may stay silent: the service sends a heartbeat every
/// state.watch.heartbeat (10 s unless configured longer).
constexpr std::chrono::seconds watch_idle_limit{90};

/// One server-sent event: its id, its type and its data.
struct sse_block {
  std::string id;
  std::string event;
  std::string data;
};

/// Splits the stream into events as it arrives; comment lines (heartbeats)
/// are skipped.
class sse_reader {
public:
  template <class OnEvent>
  maybe_failure feed(std::string_view piece, OnEvent on_event) {
    maybe_failure failed;
    auto got = events_.feed(piece, [&](std::string_view text) {
      auto block = parse(text);
      if (!block.event.empty() || !block.id.empty())
        failed = on_event(block);
      return !failed;
    });
    if (got == record_splitter::status::too_long)
      return odd_answer("an event longer than "
                        + std::to_string(max_record_bytes) + " bytes");
    return failed;
  }

private:
  static sse_block parse(std::string_view text) {
    sse_block out;
    while (!text.empty()) {
      auto nl = text.find('\n');
      auto line = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{}
                                          : text.substr(nl + 1);
      auto colon = line.find(": ");
      if (line.empty() || line[0] == ':' || colon == std::string_view::npos)
        continue;
      auto field = line.substr(0, colon);
      auto value = std::string{line.substr(colon + 2)};
      if (field == "id")
        out.id = value;
      else if (field == "event")
        out.event = value;
      else if (field == "data")
        out.data = value;
    }
    return out;
  }

  record_splitter events_{"\n\n"};
};

std::string text_of(const boost::json::value* v) {
  return v && v->is_string() ? std::string{v->as_string()} : std::string{};
}

/// The line of `block`: "EVENT<TAB>KEY<TAB>ETAG" (a resync: "resync<TAB>
/// REASON"), or with --json the event as one JSON object.
expected<std::string> line_of(const sse_block& block, bool json) {
  boost::json::error_code ec;
  auto doc = boost::json::parse(block.data, ec);
  auto* obj = doc.if_object();
  if (ec || !obj)
    return odd_answer("event data " + block.data.substr(0, 200));
  if (json) {
    boost::json::object out = *obj;
    out["event"] = block.event;
    if (!block.id.empty())
      out["id"] = block.id;
    return boost::json::serialize(out) + "\n";
  }
  if (block.event == "resync")
    return "resync\t" + text_of(obj->if_contains("reason")) + "\n";
  auto key = item_key(*obj).value_or("");
  auto etag = text_of(obj->if_contains("etag"));
  return block.event + "\t" + key + "\t" + (etag.empty() ? "-" : etag) + "\n";
}

} // namespace

int run_watch(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 1, "watch [PREFIX] [--from ID]"))
    return report(*f, cx.json);
  auto prefix = args.positionals.empty() ? std::string{} : args.positionals[0];
  stream_options options;
  options.idle = watch_idle_limit;
  options.as_it_arrives = true;
  if (auto* from = args.value("--from"))
    options.headers.emplace_back("Last-Event-ID", *from);
  sse_reader reader;
  // The id to resume from: that of the last event whose line reached
  // stdout (written and flushed), so a resume never skips one unprinted.
  std::string last_id;
  bool streaming = false;
  // A failure of the sink (stdout, an event this client cannot read) is
  // reported as itself: the stream did not break off.
  bool sink_failed = false;
  auto sink = [&](std::string_view piece) -> maybe_failure {
    streaming = true;
    auto written_id = last_id;
    auto f = reader.feed(piece, [&](const sse_block& block) -> maybe_failure {
      if (block.event.empty()) {
        written_id = block.id; // a position only (the stream's start)
        return {};
      }
      auto line = line_of(block, cx.json);
      if (!line)
        return line.error(); // --from the last good id gets this one again
      if (auto w = write_stdout(*line))
        return w;
      if (!block.id.empty())
        written_id = block.id;
      return {};
    });
    // What was written goes out now, also before a failure: a pipe sees
    // each change as it comes.
    auto flushed = flush_stdout();
    if (!flushed)
      last_id = written_id;
    if (!f)
      f = flushed;
    sink_failed = f.has_value();
    return f;
  };
  auto r = cx.http.stream("/v1/watch?prefix=" + percent_encode(prefix), sink,
                          options);
  auto resume = last_id.empty() ? std::string{}
                                 : "; resume with --from " + last_id;
  if (!r) {
    if (sink_failed) {
      auto f = r.error();
      f.message += resume;
      return report(f, cx.json);
    }
    if (!streaming)
      return report(r.error(), cx.json);
    // A stream that breaks off (the service stopped, the network) ends the
    // watch like one the service ended.
    return report(failure{exit_unavailable, "watch_ended",
                          "the watch stream broke off (" + r.error().message
                            + ")" + resume},
                  cx.json);
  }
  if (r->status != 200)
    return report(route_failure_of(*r), cx.json);
  // The service ends a stream only when it drops the watcher or stops.
  return report(failure{exit_unavailable, "watch_ended",
                        "the service ended the watch" + resume},
                cx.json);
}

} // namespace solver_state::cli
