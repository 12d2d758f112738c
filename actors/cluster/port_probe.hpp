#pragma once

// A bounded TCP connect, made before CAF dials a peer. CAF 0.17's dial runs
// a blocking connect() (no timeout) inside the middleman actor, the one
// actor that also publishes, unpublishes and dials every other peer: a
// member whose machine drops SYNs (powered off, partitioned) held that
// actor for the kernel's SYN retries (~127 s), over and over. Probing the
// port first, on the caller's thread with a deadline, lets CAF dial only a
// port that just answered, so its connect() returns at once.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace solver_state {

/// Opens and closes a TCP connection to `host:port` within `timeout`.
/// backend_unavailable naming the address when it cannot: refused, no
/// answer in time, or a name that does not resolve. Blocks the calling
/// thread up to `timeout` (plus name resolution): never call it on a CAF
/// scheduler thread.
caf::error probe_port(const std::string& host, uint16_t port,
                      std::chrono::milliseconds timeout);

} // namespace solver_state
