#pragma once

// Which malloc serves this process, and what it holds. The service and the
// benchmarks link jemalloc (cmake/SolverStateAllocator.cmake): CAF hands
// every message from the thread that allocates it to the one that frees it,
// and glibc's malloc serialises such frees on the allocating thread's arena
// lock. Asked at run time, not at build time, so a preloaded allocator is
// seen too and a library embedded in someone else's program reports what
// that program runs on.

#include <cstddef>
#include <optional>
#include <string>

namespace solver_state {

/// "jemalloc 5.3.0-0-g54eaed1d..." when jemalloc serves malloc,
/// "AddressSanitizer malloc" in a build under ASan, else "system malloc".
std::string allocator_name();

/// True when jemalloc serves malloc.
bool allocator_is_jemalloc();

struct allocator_usage {
  /// Bytes the program holds (allocated and not yet freed).
  size_t allocated = 0;
  /// Bytes the allocator keeps in memory for it: `allocated` plus free
  /// space not yet returned to the kernel (its fragmentation and caches).
  size_t mapped = 0;
};

/// The allocator's own count; nullopt when it cannot say (under ASan). With jemalloc,
/// refreshed at each call (a few microseconds); with glibc, summed over its
/// arenas (mallinfo2, which takes each arena's lock).
std::optional<allocator_usage> allocator_usage_now();

} // namespace solver_state
