#pragma once

// The command line of build/solver-state.

#include <string>
#include <vector>

namespace solver_state {

struct cli_options {
  std::string config_path; // empty: built-in defaults
  std::string listen;      // overrides http.listen when set
  bool help = false;
  bool check_config = false;
  std::string error;       // set when the command line is malformed
};

cli_options parse_cli(const std::vector<std::string>& args);

/// The --help text.
std::string cli_usage();

} // namespace solver_state
