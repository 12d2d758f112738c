#pragma once

// Decimal fields of a ':'-separated text, as the engines' change messages
// carry them ("p<version>:<expires>:...").

#include <charconv>
#include <cstddef>
#include <string_view>

namespace solver_state {

/// Reads the decimal number of `text` from `pos` up to the next ':' into
/// `out` and moves `pos` past that ':'; false (pos unchanged) when there is
/// no ':' or the text before it is not a number of `Int`.
template <class Int>
bool read_decimal_field(std::string_view text, size_t& pos, Int& out) {
  auto colon = text.find(':', pos);
  if (colon == std::string_view::npos)
    return false;
  auto [end, ec] = std::from_chars(text.data() + pos, text.data() + colon, out);
  if (ec != std::errc{} || end != text.data() + colon)
    return false;
  pos = colon + 1;
  return true;
}

} // namespace solver_state
