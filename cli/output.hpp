#pragma once

// Everything the client prints goes through here: results to stdout (raw
// bytes, lines, or one JSON document with --json), errors to stderr as
// "solver-state-cli: <message>".

#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "cli/failure.hpp"

namespace solver_state::cli {

/// Prints the failure on stderr and, with `json`, as
/// {"error":{"code","message"}} on stdout too, so a script that reads stdout
/// always gets one document. Returns its exit code.
int report(const failure& f, bool json);

/// Writes `bytes` to stdout as they are; a failure when stdout cannot take
/// them (a full disk behind a redirect).
maybe_failure write_stdout(std::string_view bytes);

/// One JSON document and a newline on stdout.
maybe_failure write_json(const boost::json::value& doc);

/// A value for a human: as it is when it is one line of text, else marked
/// base64 (binary bytes would garble the terminal and the line structure).
std::string human_value(std::string_view value);

/// Flushes stdout; a failure when what was written could not all go out.
maybe_failure flush_stdout();

} // namespace solver_state::cli
