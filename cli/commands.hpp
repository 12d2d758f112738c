#pragma once

// The command table: every command's name, usage, options and handler, so
// the dispatcher and --help read one list. A command without a handler is
// reserved for a route the service does not have yet.

#include <string>
#include <vector>

#include "cli/arguments.hpp"
#include "cli/http_connection.hpp"

namespace solver_state::cli {

struct context {
  http_connection& http;
  /// --json: one JSON document on stdout.
  bool json = false;
};

/// Runs a command with its parsed arguments; returns the exit code, having
/// printed its results and errors.
using command_handler = int (*)(context&, const parsed_args&);

struct command {
  std::string name;
  /// "get KEY"
  std::string usage;
  std::string summary;
  /// The lines --help prints under the usage: options, behaviour.
  std::string details;
  std::vector<option_spec> options;
  command_handler run = nullptr;

  bool available() const {
    return run != nullptr;
  }
};

/// Every command, in the order --help lists them.
const std::vector<command>& commands();

/// The command called `name`, or nullptr.
const command* find_command(const std::string& name);

// -- handlers, one file per group ----------------------------------------
int run_get(context& cx, const parsed_args& args);
int run_put(context& cx, const parsed_args& args);
int run_del(context& cx, const parsed_args& args);
int run_ls(context& cx, const parsed_args& args);
int run_batch_get(context& cx, const parsed_args& args);
int run_health(context& cx, const parsed_args& args);
int run_metrics(context& cx, const parsed_args& args);
int run_export(context& cx, const parsed_args& args);
int run_import(context& cx, const parsed_args& args);
int run_txn(context& cx, const parsed_args& args);
int run_watch(context& cx, const parsed_args& args);
int run_query(context& cx, const parsed_args& args);
int run_train_dictionary(context& cx, const parsed_args& args);

} // namespace solver_state::cli
