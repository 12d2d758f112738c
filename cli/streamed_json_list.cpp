// A JSON list written as it grows.

#include "cli/streamed_json_list.hpp"

#include <boost/json.hpp>

#include "cli/output.hpp"

namespace solver_state::cli {

streamed_json_list::streamed_json_list(bool enabled, const char* member)
  : enabled_(enabled) {
  if (enabled_)
    write_stdout(std::string{"{\""} + member + "\":[");
}

maybe_failure streamed_json_list::add(const std::string& serialized) {
  if (!enabled_)
    return std::nullopt;
  auto f = write_stdout(first_ ? serialized : "," + serialized);
  first_ = false;
  return f;
}

int streamed_json_list::finish(const maybe_failure& f) {
  if (enabled_) {
    std::string tail = "]";
    if (f) {
      boost::json::object err;
      err["code"] = f->error;
      err["message"] = f->message;
      tail += ",\"error\":" + boost::json::serialize(err);
    }
    write_stdout(tail + "}\n");
  }
  if (f)
    return report(*f, false);
  if (auto out = flush_stdout())
    return report(*out, false);
  return exit_ok;
}

} // namespace solver_state::cli
