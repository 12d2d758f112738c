#pragma once

// The effective configuration as YAML, in the shape config/load.cpp reads:
// what --print-config shows, and what proves config/solver-state.yaml is the
// built-in default.

#include <string>

#include "config/config.hpp"

namespace solver_state {

/// `cfg` as YAML that parse_config reads back to the same values. Unless
/// `with_secrets`, the auth token is shown as "<set>" and the passwords of
/// a backend URL (state.type) as "***", as the logs show them.
std::string to_yaml(const service_config& cfg, bool with_secrets = false);

/// A duration as the config writes it: "30s", "500ms", "2m", "1h".
std::string format_duration(milliseconds d);

} // namespace solver_state
