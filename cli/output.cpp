// Printing results and errors.

#include "cli/output.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/json.hpp>

#include "util/base64.hpp"

namespace solver_state::cli {

namespace {

failure stdout_failure() {
  // Not the service's fault, but no other code fits a command that half
  // happened; docs/cli.md lists it under 5.
  return {exit_server_error, "io_error",
          std::string{"cannot write to stdout: "} + std::strerror(errno)};
}

} // namespace

std::string human_value(std::string_view value) {
  bool text = std::all_of(value.begin(), value.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c >= 0x20 && c != 0x7F;
  });
  return text ? std::string{value} : "base64:" + base64_encode(value);
}

int report(const failure& f, bool json) {
  std::fprintf(stderr, "solver-state-cli: %s\n", f.message.c_str());
  if (json) {
    boost::json::object err;
    err["code"] = f.error;
    err["message"] = f.message;
    boost::json::object doc;
    doc["error"] = std::move(err);
    write_json(doc);
  }
  std::fflush(stdout);
  return f.code;
}

maybe_failure write_stdout(std::string_view bytes) {
  if (bytes.empty())
    return std::nullopt;
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size())
    return stdout_failure();
  return std::nullopt;
}

maybe_failure write_json(const boost::json::value& doc) {
  return write_stdout(boost::json::serialize(doc) + "\n");
}

maybe_failure flush_stdout() {
  if (std::fflush(stdout) != 0)
    return stdout_failure();
  return std::nullopt;
}

} // namespace solver_state::cli
