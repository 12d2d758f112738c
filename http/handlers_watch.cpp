// GET /v1/watch?prefix=P: checks the query and Last-Event-ID, opens the
// event stream and hands it to a stream actor (watch_stream.hpp).

#include "http/handlers.hpp"

#include <memory>

#include "http/responses.hpp"
#include "http/sse_event.hpp"
#include "http/watch_stream.hpp"

namespace solver_state::gateway {

void watch_changes(const handler_env& env, request_t& req,
                   const route_match& m, const sink_ptr& sink) {
  auto prefix = prefix_param(m, sink);
  if (!prefix)
    return;
  watch_request w;
  w.prefix = std::move(*prefix);
  if (auto it = req.find("Last-Event-ID"); it != req.end()) {
    auto text = it->value();
    auto pos = parse_event_id({text.data(), text.size()});
    if (!pos)
      return sink->reply(error_response(
        state_errc::bad_request,
        "Last-Event-ID must be an event id of this API (<stream>-<seq>), "
        "as the id: lines of a watch give it"));
    w.resume = true;
    w.stream = pos->stream;
    w.after = pos->seq;
  }
  auto& watch = env.watch;
  if (!watch.hub || watch.sys == nullptr || watch.links == nullptr)
    return sink->reply(error_response(state_errc::backend_unavailable,
                                      "this gateway serves no watches"));
  auto head = make_response(200, {}, "text/event-stream");
  head.set(bhttp::field::cache_control, "no-cache");
  // Proxies that buffer answers (nginx) would hold the events back.
  head.set("X-Accel-Buffering", "no");
  sink->open_stream(std::move(head));
  auto link = std::make_shared<watch_link>(sink);
  watch.links->add(link);
  start_watch_stream(*watch.sys, watch.hub, std::move(link), std::move(w),
                     watch_stream_settings{watch.heartbeat, watch.write_limit,
                                           watch.links->open_streams()});
}

} // namespace solver_state::gateway
