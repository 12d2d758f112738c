#pragma once

// Base64 (RFC 4648): standard alphabet with padding for values in JSON bodies,
// URL-safe without padding for opaque list cursors.

#include <optional>
#include <string>
#include <string_view>

namespace solver_state {

std::string base64_encode(std::string_view bytes);

/// Decodes padded standard base64; nullopt when malformed.
std::optional<std::string> base64_decode(std::string_view text);

std::string base64url_encode(std::string_view bytes);

/// Decodes unpadded URL-safe base64; nullopt when malformed.
std::optional<std::string> base64url_decode(std::string_view text);

} // namespace solver_state
