// Command-line parsing into positionals and named options.

#include "cli/arguments.hpp"

#include <algorithm>

namespace solver_state::cli {

const std::string* parsed_args::value(std::string_view option) const {
  auto it = options_.find(std::string{option});
  return it == options_.end() ? nullptr : &it->second.back();
}

std::vector<std::string> parsed_args::values(std::string_view option) const {
  auto it = options_.find(std::string{option});
  return it == options_.end() ? std::vector<std::string>{} : it->second;
}

namespace {

bool looks_like_option(const std::string& arg) {
  return arg.size() > 1 && arg[0] == '-';
}

const option_spec* find_spec(const std::vector<option_spec>& specs,
                             std::string_view name) {
  auto it = std::find_if(specs.begin(), specs.end(),
                         [&](const option_spec& s) { return s.name == name; });
  return it == specs.end() ? nullptr : &*it;
}

} // namespace

expected<parsed_args> parse_args(const std::vector<std::string>& args,
                                 const std::vector<option_spec>& specs) {
  parsed_args out;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    if (arg == "--") {
      out.positionals.insert(out.positionals.end(), args.begin() + i + 1,
                             args.end());
      break;
    }
    if (!looks_like_option(arg)) {
      out.positionals.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    auto name = arg.substr(0, eq);
    auto* spec = find_spec(specs, name);
    if (!spec)
      return usage_failure("unknown option " + name);
    auto stored = spec->canonical.empty() ? spec->name : spec->canonical;
    if (!spec->takes_value) {
      if (eq != std::string::npos)
        return usage_failure(name + " takes no value");
      out.set(stored, "");
      continue;
    }
    if (eq != std::string::npos) {
      out.set(stored, arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      out.set(stored, args[++i]);
    } else {
      return usage_failure(name + " needs a value");
    }
  }
  return out;
}

maybe_failure check_arity(const parsed_args& args, size_t min, size_t max,
                          const char* usage) {
  auto n = args.positionals.size();
  if (n < min || n > max)
    return usage_failure(std::string{"usage: solver-state-cli "} + usage);
  return std::nullopt;
}

expected<long long> parse_count(std::string_view option,
                                const std::string& text, long long min,
                                long long max) {
  auto bad = [&] {
    return usage_failure(std::string{option} + " takes a whole number from "
                         + std::to_string(min) + " to " + std::to_string(max)
                         + ", not '" + text + "'");
  };
  if (text.empty() || text.size() > 18
      || !std::all_of(text.begin(), text.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    return bad();
  auto n = std::stoll(text);
  if (n < min || n > max)
    return bad();
  return n;
}

expected<paging> paging_of(const parsed_args& args, long long default_page,
                           long long max_page) {
  paging out;
  out.page_size = default_page;
  if (auto* v = args.value("--limit")) {
    auto n = parse_count("--limit", *v, 1, 1'000'000'000'000LL);
    if (!n)
      return n.error();
    out.limit = *n;
  }
  if (auto* v = args.value("--page-size")) {
    auto n = parse_count("--page-size", *v, 1, max_page);
    if (!n)
      return n.error();
    out.page_size = *n;
  }
  return out;
}

} // namespace solver_state::cli
