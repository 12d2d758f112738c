// Prometheus text format helpers shared by the metrics renderers: label
// value escaping and the # HELP / # TYPE lines of a metric family.

#include "util/prometheus_text.hpp"

namespace solver_state {

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

void append_family_header(std::string& out, const char* name,
                          const char* help, const char* type) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

} // namespace solver_state
