// CAF's own errors as clients see them: each maps onto one of our codes and
// reads as what happened in the service, with CAF's name kept.

#include <catch2/catch.hpp>

#include <caf/error.hpp>
#include <caf/sec.hpp>

#include "messages/errors.hpp"

using namespace solver_state;

TEST_CASE("a request whose actor stopped says so, not only CAF's name") {
  auto err = caf::make_error(caf::sec::request_receiver_down);
  CHECK(code_of(err) == state_errc::backend_unavailable);
  auto text = message_of(err);
  CHECK(text.find("stopped before answering") != std::string::npos);
  CHECK(text.find("request_receiver_down") != std::string::npos);
}

TEST_CASE("a timeout and a lost peer are explained") {
  auto timeout = caf::make_error(caf::sec::request_timeout);
  CHECK(code_of(timeout) == state_errc::timeout);
  CHECK(message_of(timeout).find("deadline") != std::string::npos);
  auto lost = caf::make_error(caf::sec::cannot_connect_to_node);
  CHECK(code_of(lost) == state_errc::backend_unavailable);
  CHECK(message_of(lost).find("cluster peer is unreachable")
        != std::string::npos);
}

TEST_CASE("other CAF errors keep their name") {
  CHECK(message_of(caf::make_error(caf::sec::invalid_argument))
        == "invalid_argument");
  CHECK(message_of(make_state_error(state_errc::not_found, "no such key"))
        == "no such key");
}
