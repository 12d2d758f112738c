#pragma once

// Bounds of settings that code outside config/ relies on.

#include <cstddef>

namespace solver_state {

/// The largest state.max_value_bytes a config may set (1 GiB). Stored values
/// are decoded against this, never against the current setting: lowering
/// the limit for new writes must not take back reads of values it let in
/// before; and it stays a bound against a frame crafted to decompress to
/// gigabytes.
constexpr size_t max_value_bytes_ceiling = size_t{1} << 30;

} // namespace solver_state
