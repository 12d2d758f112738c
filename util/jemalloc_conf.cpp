// jemalloc's settings in the executables that link it
// (cmake/SolverStateAllocator.cmake), read at its first allocation;
// MALLOC_CONF in the environment still overrides them.
//
// background_thread: freed pages go back to the kernel from a thread of
// jemalloc's own, about ten seconds after they were freed (dirty_decay_ms),
// whether or not the service is busy. Without it, jemalloc purges only while
// the threads that freed them keep allocating: after a delete by prefix or a
// TTL sweep of 300,000 keys, an idle service still held 450 MB, against 59 MB
// eight seconds later with it (bench/README.md, "The allocator"); the store
// actors' rates did not move.

extern "C" {
__attribute__((used, visibility("default"))) const char* malloc_conf =
  "background_thread:true";
}
