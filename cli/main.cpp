// solver-state-cli: the command-line client of the service's HTTP API, for
// operators and scripts. Global options are read first, wherever they are
// on the line; the command then gets the rest (see docs/cli.md).

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/commands.hpp"
#include "cli/http_connection.hpp"
#include "cli/output.hpp"
#include "cli/server_url.hpp"
#include "config/auth_token.hpp"

using namespace solver_state::cli;

namespace {

constexpr long long default_timeout_ms = 10'000;

const std::vector<option_spec>& global_options() {
  static const std::vector<option_spec> specs{
    {"--url", true},         {"--json", false},
    {"--timeout-ms", true},  {"--token-file", true},
    {"--help", false},       {"-h", false, "--help"},
    {"--version", false},
  };
  return specs;
}

std::string usage_text() {
  std::string out =
    "usage: solver-state-cli [OPTIONS] COMMAND [ARGS]\n"
    "\n"
    "Commands:\n";
  for (auto& c : commands()) {
    auto name = c.name;
    name.resize(std::max<size_t>(name.size() + 1, 12), ' ');
    out += "  " + name + c.summary + "\n";
  }
  out
    += "\n"
       "Options (anywhere on the line):\n"
       "  --url URL          the service (default http://127.0.0.1:8080, or\n"
       "                     $SOLVER_STATE_URL)\n"
       "  --json             machine output: one JSON document on stdout\n"
       "  --timeout-ms N     bound on each request (default 10000)\n"
       "  --token-file FILE  the bearer token, read from FILE; otherwise\n"
       "                     $SOLVER_STATE_AUTH_TOKEN (never on the command "
       "line)\n"
       "  --help, -h         this text; COMMAND --help for a command's\n"
       "  --version          print the version\n"
       "\n"
       "Exit codes: 0 ok, 1 not found, 2 bad usage or import file, 3 conflict\n"
       "(version mismatch), 4 unavailable (connection refused, timeout, 503,\n"
       "504), 5 any other error (the service's code and message on stderr).\n";
  return out;
}

std::string command_help(const command& c) {
  return "usage: solver-state-cli " + c.usage + "\n\n" + c.summary + ".\n"
         + c.details;
}

/// Where the command name is: the first argument that is neither a global
/// option nor the value of one. args.size() when there is none.
expected<size_t> command_index(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--")
      return i + 1;
    if (a.size() < 2 || a[0] != '-')
      return i;
    auto name = a.substr(0, a.find('='));
    auto& specs = global_options();
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&](auto& s) { return s.name == name; });
    if (it == specs.end())
      return usage_failure("unknown option " + name
                           + " (before the command)");
    if (it->takes_value && a.find('=') == std::string::npos)
      ++i;
  }
  return args.size();
}

/// The token from --token-file or SOLVER_STATE_AUTH_TOKEN; a file's
/// trailing newline is not part of it.
expected<std::optional<std::string>> bearer_token(const parsed_args& args) {
  if (auto* path = args.value("--token-file")) {
    std::ifstream in{*path, std::ios::binary};
    if (!in)
      return usage_failure("cannot read --token-file " + *path);
    std::string token{std::istreambuf_iterator<char>{in}, {}};
    while (!token.empty()
           && (token.back() == '\n' || token.back() == '\r'
               || token.back() == ' ' || token.back() == '\t'))
      token.pop_back();
    if (token.empty())
      return usage_failure("--token-file " + *path + " is empty");
    if (auto why = solver_state::auth_token_problem(token); !why.empty())
      return usage_failure("--token-file " + *path + ": the token " + why);
    return std::optional<std::string>{token};
  }
  auto* env = std::getenv("SOLVER_STATE_AUTH_TOKEN");
  if (env && *env) {
    // The service refuses such a token at start; sent, it would never match
    // (or not fit in a header at all).
    if (auto why = solver_state::auth_token_problem(env); !why.empty())
      return usage_failure("SOLVER_STATE_AUTH_TOKEN: the token " + why);
    return std::optional<std::string>{std::string{env}};
  }
  return std::optional<std::string>{};
}

int run(const std::vector<std::string>& all) {
  auto json_requested = std::find(all.begin(), all.end(), "--json")
                        != all.end();
  auto index = command_index(all);
  if (!index)
    return report(index.error(), json_requested);
  const command* cmd = nullptr;
  std::vector<std::string> rest = all;
  std::vector<option_spec> specs = global_options();
  if (*index < all.size()) {
    auto name = all[*index];
    if (name == "help") {
      auto topic = *index + 1 < all.size() ? find_command(all[*index + 1])
                                           : nullptr;
      std::fputs(topic ? command_help(*topic).c_str() : usage_text().c_str(),
                 stdout);
      return exit_ok;
    }
    cmd = find_command(name);
    if (!cmd)
      return report(usage_failure("unknown command '" + name
                                  + "' (solver-state-cli --help lists them)"),
                    json_requested);
    rest.erase(rest.begin() + static_cast<long>(*index));
    specs.insert(specs.end(), cmd->options.begin(), cmd->options.end());
  }
  auto args = parse_args(rest, specs);
  if (!args)
    return report(args.error(), json_requested);
  bool json = args->has("--json");
  if (args->has("--version")) {
    std::fputs("solver-state-cli " SOLVER_STATE_VERSION "\n", stdout);
    return exit_ok;
  }
  if (args->has("--help")) {
    std::fputs(cmd ? command_help(*cmd).c_str() : usage_text().c_str(),
               stdout);
    return exit_ok;
  }
  if (!cmd) {
    auto text = "solver-state-cli: no command given\n\n" + usage_text();
    std::fputs(text.c_str(), stderr);
    return exit_usage;
  }
  if (!cmd->available())
    return report(usage_failure(cmd->name + " is not available yet: the "
                                "service has no such route so far"),
                  json);
  auto* url_arg = args->value("--url");
  auto* url_env = std::getenv("SOLVER_STATE_URL");
  std::string url_text = url_arg ? *url_arg
                         : url_env && *url_env
                           ? url_env
                           : std::string{default_server_url};
  auto url = parse_server_url(url_text);
  if (!url)
    return report(url.error(), json);
  auto timeout = default_timeout_ms;
  if (auto* v = args->value("--timeout-ms")) {
    auto n = parse_count("--timeout-ms", *v, 1, 3'600'000);
    if (!n)
      return report(n.error(), json);
    timeout = *n;
  }
  auto token = bearer_token(*args);
  if (!token)
    return report(token.error(), json);
  http_connection http{*url, *token, std::chrono::milliseconds{timeout}};
  context cx{http, json};
  return cmd->run(cx, *args);
}

} // namespace

int main(int argc, char** argv) {
  return run(std::vector<std::string>(argv + 1, argv + argc));
}
