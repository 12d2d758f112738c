#pragma once

// The metric names a PromQL expression reads, for the tests that check the
// alerting rules (docs/alerts.yaml) and the Grafana dashboard
// (docs/grafana/solver-state.json) against what /metrics exports.
//
// A metric name is an identifier that is not a function (an identifier
// followed by '('), not an aggregation or keyword (sum, by, bool, ...) and
// not a label: names inside {...} matchers and in the label lists after
// by/without/on/ignoring/group_left/group_right are labels. String literals,
// [...] ranges, numbers, durations and Grafana variables ($instance,
// ${DS_PROMETHEUS}, $__rate_interval) are skipped. This is a scanner, not a
// parser: enough for the expressions we write, and strict in the direction
// that matters (a name it cannot place counts as a metric).

#include <cctype>
#include <set>
#include <string>
#include <string_view>

namespace solver_state::testing {

inline std::set<std::string> promql_metric_names(std::string_view expr) {
  // Aggregations too: in `sum by (x) (...)` no '(' follows the name.
  static const std::set<std::string, std::less<>> keywords{
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "and", "or", "unless", "offset", "atan2", "inf", "nan", "start", "end",
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile", "limitk",
    "limit_ratio"};
  static const std::set<std::string, std::less<>> label_lists{
    "by", "without", "on", "ignoring", "group_left", "group_right"};
  auto ident_start = [](char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':';
  };
  auto ident_char = [&](char c) {
    return ident_start(c) || std::isdigit(static_cast<unsigned char>(c));
  };
  std::set<std::string> names;
  size_t i = 0;
  auto skip_space = [&] {
    while (i < expr.size() && std::isspace(static_cast<unsigned char>(expr[i])))
      ++i;
  };
  auto skip_string = [&] { // at the opening quote
    char quote = expr[i++];
    while (i < expr.size() && expr[i] != quote)
      i += expr[i] == '\\' && quote != '`' ? 2 : 1;
    ++i;
  };
  // Skips from an opening bracket to its closing one, strings included.
  auto skip_until = [&](char close) {
    ++i;
    while (i < expr.size() && expr[i] != close) {
      if (expr[i] == '"' || expr[i] == '\'' || expr[i] == '`')
        skip_string();
      else
        ++i;
    }
    ++i;
  };
  while (i < expr.size()) {
    char c = expr[i];
    if (c == '"' || c == '\'' || c == '`') {
      skip_string();
    } else if (c == '{') {
      skip_until('}'); // label matchers
    } else if (c == '[') {
      skip_until(']'); // a range or subquery
    } else if (c == '#') {
      while (i < expr.size() && expr[i] != '\n') // a comment
        ++i;
    } else if (c == '$') { // a Grafana variable
      ++i;
      if (i < expr.size() && expr[i] == '{')
        skip_until('}');
      else
        while (i < expr.size() && ident_char(expr[i]))
          ++i;
    } else if (std::isdigit(static_cast<unsigned char>(c))
               || (c == '.' && i + 1 < expr.size()
                   && std::isdigit(static_cast<unsigned char>(expr[i + 1])))) {
      // A number or a duration (0.99, 1e3, 5m, 0x1f).
      while (i < expr.size() && (ident_char(expr[i]) || expr[i] == '.'))
        ++i;
    } else if (ident_start(c)) {
      auto start = i;
      while (i < expr.size() && ident_char(expr[i]))
        ++i;
      std::string word{expr.substr(start, i - start)};
      skip_space();
      bool call = i < expr.size() && expr[i] == '(';
      if (label_lists.count(word)) {
        if (call)
          skip_until(')'); // by (instance, le): labels
      } else if (!call && !keywords.count(word)) {
        names.insert(word);
      }
    } else {
      ++i;
    }
  }
  return names;
}

/// A histogram's series name (`x_bucket`, `x_sum`, `x_count`) stands for
/// its family `x`; any other name for itself.
inline std::string metric_family_of(const std::string& name) {
  for (std::string suffix : {"_bucket", "_sum", "_count"})
    if (name.size() > suffix.size()
        && name.compare(name.size() - suffix.size(), suffix.size(), suffix)
             == 0)
      return name.substr(0, name.size() - suffix.size());
  return name;
}

} // namespace solver_state::testing
