#pragma once

// The two pieces of the Prometheus text format 0.0.4 that every renderer
// needs: escaped label values and the HELP/TYPE lines of a metric family.

#include <string>

namespace solver_state {

/// `value` with backslash, double quote and newline escaped for a label.
std::string escape_label(const std::string& value);

/// Appends "# HELP name help" and "# TYPE name type" lines to `out`.
void append_family_header(std::string& out, const char* name,
                          const char* help, const char* type);

} // namespace solver_state
