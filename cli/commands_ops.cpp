// health and metrics: the operations routes.

#include <sstream>

#include <boost/json.hpp>

#include "cli/answer_json.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "cli/reply_failure.hpp"

namespace solver_state::cli {

namespace {

/// The "message" of an error body, or the body itself.
std::string reason_of(const http_reply& r) {
  boost::json::error_code ec;
  auto doc = parse_answer(r.body, ec);
  if (!ec && doc.is_object())
    if (auto* err = doc.as_object().if_contains("error"))
      if (err->is_object())
        if (auto* m = err->as_object().if_contains("message"))
          if (m->is_string())
            return std::string{m->as_string()};
  return r.body;
}

/// The lines of `text` that contain `needle`.
std::string lines_containing(const std::string& text,
                             const std::string& needle) {
  std::istringstream in{text};
  std::string line;
  std::string out;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos)
      out += line + "\n";
  return out;
}

} // namespace

int run_health(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 0, "health"))
    return report(*f, cx.json);
  auto live = cx.http.send("GET", "/healthz");
  if (!live)
    return report(live.error(), cx.json);
  if (live->status != 200)
    return report(route_failure_of(*live), cx.json);
  auto ready = cx.http.send("GET", "/readyz");
  if (!ready)
    return report(ready.error(), cx.json);
  if (ready->status != 200 && ready->status != 503)
    return report(route_failure_of(*ready), cx.json);
  bool is_ready = ready->status == 200;
  auto reason = is_ready ? std::string{} : reason_of(*ready);
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["healthz"] = "ok";
    doc["readyz"] = is_ready ? "ready" : "not_ready";
    if (!is_ready)
      doc["message"] = reason;
    written = write_json(doc);
  } else {
    // The service's reason already says "not ready: ..." today.
    auto not_ready
      = reason.rfind("not ready", 0) == 0 ? reason : "not ready: " + reason;
    written = write_stdout(std::string{"healthz: ok\nreadyz: "}
                           + (is_ready ? "ready" : not_ready) + "\n");
  }
  if (!written)
    written = flush_stdout();
  if (written)
    return report(*written, cx.json);
  return is_ready ? exit_ok : exit_unavailable;
}

int run_metrics(context& cx, const parsed_args& args) {
  if (auto f = check_arity(args, 0, 0, "metrics [--grep TEXT]"))
    return report(*f, cx.json);
  auto r = cx.http.send("GET", "/metrics");
  if (!r)
    return report(r.error(), cx.json);
  if (r->status != 200)
    return report(route_failure_of(*r), cx.json);
  auto text = r->body;
  if (auto* needle = args.value("--grep"))
    text = lines_containing(text, *needle);
  maybe_failure written;
  if (cx.json) {
    boost::json::object doc;
    doc["metrics"] = text;
    written = write_json(doc);
  } else {
    written = write_stdout(text);
  }
  if (!written)
    written = flush_stdout();
  return written ? report(*written, cx.json) : exit_ok;
}

} // namespace solver_state::cli
