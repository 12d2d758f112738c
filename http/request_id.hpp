#pragma once

// X-Request-Id: the client's id echoed back when it is usable, a generated
// one otherwise, on the response and in every log line about the request.

#include <cstddef>
#include <string>
#include <string_view>

namespace solver_state::gateway {

/// The longest client id echoed back.
constexpr size_t max_request_id_bytes = 128;

/// True for 1..128 visible ASCII characters (0x21-0x7E). Spaces are
/// refused as well as control bytes, so the id stays one token in a
/// key=value log line and cannot forge another field there.
bool acceptable_request_id(std::string_view id);

/// 16 random hex digits from this thread's generator: cheap, no lock, and
/// unique enough to tell requests apart in logs (not a secret).
std::string generate_request_id();

/// `client` when acceptable, else a generated id. nullptr: none was sent.
std::string request_id_for(const std::string_view* client);

} // namespace solver_state::gateway
