// The JSON log line: one object, time in UTC with milliseconds, the level,
// the whole message, and its key=value fields.

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>

#include "app/log_output.hpp"

using namespace solver_state;
namespace json = boost::json;

namespace {

json::object line_of(std::string_view message,
                     spdlog::level::level_enum level = spdlog::level::info) {
  auto time = std::chrono::system_clock::time_point{}
              + std::chrono::milliseconds{1'764'623'045'007};
  auto text = json_log_line(time, level, message);
  REQUIRE(text.back() == '\n');
  REQUIRE(text.find('\n') == text.size() - 1); // one line, whatever the text
  return json::parse(text).as_object();
}

} // namespace

TEST_CASE("a JSON log line carries time, level, message and fields") {
  auto line = line_of("http: access client=127.0.0.1:5000 method=GET "
                      "target=\"/v1/state/a b\" status=404 request_id=r-1",
                      spdlog::level::warn);
  CHECK(line.at("time").as_string() == "2025-12-01T21:04:05.007Z");
  CHECK(line.at("level").as_string() == "warning");
  CHECK(line.at("message").as_string()
        == "http: access client=127.0.0.1:5000 method=GET "
           "target=\"/v1/state/a b\" status=404 request_id=r-1");
  auto& fields = line.at("fields").as_object();
  CHECK(fields.at("client").as_string() == "127.0.0.1:5000");
  CHECK(fields.at("method").as_string() == "GET");
  CHECK(fields.at("target").as_string() == "/v1/state/a b");
  CHECK(fields.at("status").as_string() == "404");
  CHECK(fields.at("request_id").as_string() == "r-1");
  CHECK(fields.size() == 5);
}

TEST_CASE("a JSON log line escapes what JSON must, and takes odd messages") {
  auto line = line_of("quote \" backslash \\ newline \n tab \t bell \a");
  CHECK(line.at("message").as_string()
        == "quote \" backslash \\ newline \n tab \t bell \a");
  CHECK(line.at("fields").as_object().empty());
  // '=' after a non-name character, at the start, a name given twice.
  auto odd = line_of("a:b=c =x k=1 k=2 url=http://h/?q=1 end=");
  auto& fields = odd.at("fields").as_object();
  CHECK(fields.at("k").as_string() == "1");
  CHECK(fields.at("url").as_string() == "http://h/?q=1");
  CHECK(fields.at("end").as_string() == "");
  CHECK_FALSE(fields.contains("b"));
  CHECK(fields.size() == 3);
}
