#pragma once

// Command-line parsing: options may come before or after the positional
// arguments, as "--name value" or "--name=value"; "--" ends the options and
// "-" alone is a positional (stdin).

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cli/failure.hpp"

namespace solver_state::cli {

struct option_spec {
  /// "--ttl"; an alias such as "-o" is a spec of its own with the same
  /// `canonical` name.
  std::string name;
  bool takes_value = false;
  /// The name it is stored under; empty means `name`.
  std::string canonical = {};
};

class parsed_args {
public:
  std::vector<std::string> positionals;

  bool has(std::string_view option) const {
    return options_.count(std::string{option}) > 0;
  }
  /// The option's value (its last, when given more than once), or nullptr
  /// when it was not given.
  const std::string* value(std::string_view option) const;
  /// Every value of an option that may be repeated, in order.
  std::vector<std::string> values(std::string_view option) const;
  void set(const std::string& option, std::string value) {
    options_[option].push_back(std::move(value));
  }

private:
  std::map<std::string, std::vector<std::string>> options_;
};

/// Parses `args` against `specs`; an option not in `specs`, or one missing
/// its value, is a usage failure.
expected<parsed_args> parse_args(const std::vector<std::string>& args,
                                 const std::vector<option_spec>& specs);

/// A usage failure quoting `usage` ("get KEY") unless there are `min` to
/// `max` positionals.
maybe_failure check_arity(const parsed_args& args, size_t min, size_t max,
                          const char* usage);

/// How a paged command reads its answer: --limit N keys in all (none: to
/// the end) and --page-size N per request.
struct paging {
  std::optional<long long> limit;
  long long page_size = 0;
};

/// --limit (1 or more) and --page-size (1..max_page, else default_page).
expected<paging> paging_of(const parsed_args& args, long long default_page,
                           long long max_page);

/// Parses a whole number in [min, max] given to `option`; a usage failure
/// otherwise.
expected<long long> parse_count(std::string_view option,
                                const std::string& text, long long min,
                                long long max);

} // namespace solver_state::cli
