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
  bool print_config = false;
  bool version = false;
  bool recover_truncate_log = false;
  std::string error;       // set when the command line is malformed
};

cli_options parse_cli(const std::vector<std::string>& args);

/// The --help text.
std::string cli_usage();

/// "solver-state 0.2.0" (--version).
std::string version_text();

} // namespace solver_state
