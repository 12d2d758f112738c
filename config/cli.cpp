// The solver-state command line: --config, --listen, --check-config,
// --print-config, --recover-truncate-log, --version and --help parsed into
// cli_options.

#include "config/cli.hpp"

#include <sstream>

#include "config/config.hpp"
#include "config/print.hpp"

namespace solver_state {

cli_options parse_cli(const std::vector<std::string>& args) {
  cli_options opts;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    // `--flag VALUE` or `--flag=VALUE`, nothing else: `--configuration`
    // is not --config. An empty value is refused: `--config "$CONF"` with
    // CONF unset would otherwise start on the built-in defaults.
    auto is = [&](const std::string& flag) {
      return arg == flag || arg.rfind(flag + "=", 0) == 0;
    };
    auto value_of = [&](const std::string& flag) -> std::string {
      std::string value;
      if (arg.size() > flag.size())
        value = arg.substr(flag.size() + 1);
      else if (i + 1 < args.size())
        value = args[++i];
      if (value.empty())
        opts.error = flag + " needs a value";
      return value;
    };
    if (arg == "--help" || arg == "-h")
      opts.help = true;
    else if (arg == "--check-config")
      opts.check_config = true;
    else if (arg == "--print-config")
      opts.print_config = true;
    else if (arg == "--version")
      opts.version = true;
    else if (arg == "--recover-truncate-log")
      opts.recover_truncate_log = true;
    else if (is("--config"))
      opts.config_path = value_of("--config");
    else if (is("--listen"))
      opts.listen = value_of("--listen");
    else
      opts.error = "unknown option '" + arg + "' (see --help)";
    if (!opts.error.empty())
      break;
  }
  return opts;
}

namespace {

std::string usage_text() {
  return R"(usage: solver-state [--config FILE] [--listen HOST:PORT] [--check-config]
                    [--print-config] [--recover-truncate-log] [--version]

A state service for cross-chain intent solvers: orders, fills, settlements and
component state over HTTP/JSON and CAF messages.

options:
  --config FILE       YAML configuration (default: built-in defaults, see
                      config/solver-state.yaml); one YAML document with at
                      least one setting ({} for the defaults); relative
                      paths in it are relative to the working directory
  --listen HOST:PORT  HTTP listen address, overrides http.listen
  --check-config      run every start-up check but connecting and exit:
                      0 = valid (warnings on stderr), 2 = not
  --print-config      print the effective configuration (the file, or the
                      built-in defaults, with every default filled in) as
                      YAML and exit; the auth token shows as "<set>",
                      the passwords in a state.type URL as "***"
  --recover-truncate-log
                      file backend: when a write-ahead log is damaged inside
                      its synced part (the start refuses, naming the offset),
                      cut it there, log every record the cut drops, and start
  --version           print the version and exit
  -h, --help          show this text

environment:
  SOLVER_STATE_AUTH_TOKEN  bearer token required on every route but /healthz
                           (overrides http.auth_token)

exit status: 0 after a clean stop, 2 for a bad command line or configuration,
  1 when the service fails while running (port in use, backend failure)

signals:
  SIGTERM, SIGINT     stop accepting, finish in-flight requests, flush and sync
                      the backend, exit 0
)";
}

/// Every config key with its built-in default, indented: printed from the
/// same config --print-config prints without --config, so the two cannot
/// drift apart.
std::string config_keys() {
  std::istringstream yaml{to_yaml(parse_config("").config)};
  std::string out = R"(
configuration keys and their defaults (--print-config without --config):
  state.shards and state.max_items depend on state.type when not set: shards
  1 for file and rocksdb, 2 for redis://, redis-sentinel:// and
  postgresql://, else 8; max_items 10000 for
  memory, else 0 (no cap). config/solver-state.yaml explains each key.

)";
  for (std::string line; std::getline(yaml, line);)
    if (!line.empty())
      out += "  " + line + "\n";
  return out;
}

} // namespace

std::string cli_usage() {
  return usage_text() + config_keys();
}

std::string version_text() {
  return "solver-state " SOLVER_STATE_VERSION "\n";
}

} // namespace solver_state
