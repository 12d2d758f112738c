#include "util/allocator.hpp"

#include <dlfcn.h>
#include <malloc.h>

#include <cstdint>

namespace solver_state {

namespace {

// jemalloc's control interface, looked up rather than linked: this file is
// part of the core library, which does not choose the program's allocator.
using mallctl_fn = int (*)(const char*, void*, size_t*, void*, size_t);

mallctl_fn jemalloc_control() {
  static const auto fn = reinterpret_cast<mallctl_fn>(
    ::dlsym(RTLD_DEFAULT, "mallctl"));
  return fn;
}

template <class T>
std::optional<T> read_control(mallctl_fn ctl, const char* name) {
  T value{};
  size_t size = sizeof(value);
  if (ctl(name, &value, &size, nullptr, 0) != 0 || size != sizeof(value))
    return std::nullopt;
  return value;
}

/// jemalloc's version when it is the program's allocator.
std::optional<std::string> jemalloc_version() {
  auto ctl = jemalloc_control();
  if (!ctl)
    return std::nullopt;
  auto version = read_control<const char*>(ctl, "version");
  if (!version || !*version)
    return std::nullopt;
  return std::string{*version};
}

} // namespace

bool allocator_is_jemalloc() {
  return jemalloc_version().has_value();
}

std::string allocator_name() {
#ifdef __SANITIZE_ADDRESS__
  return "AddressSanitizer malloc";
#endif
  if (auto version = jemalloc_version())
    return "jemalloc " + *version;
  return "system malloc";
}

std::optional<allocator_usage> allocator_usage_now() {
#ifdef __SANITIZE_ADDRESS__
  return std::nullopt; // its quarantine holds what was freed: no count to show
#endif
  if (auto ctl = jemalloc_control()) {
    // The statistics are a snapshot taken when the epoch advances.
    uint64_t epoch = 1;
    size_t size = sizeof(epoch);
    if (ctl("epoch", &epoch, &size, &epoch, size) != 0)
      return std::nullopt;
    auto allocated = read_control<size_t>(ctl, "stats.allocated");
    auto mapped = read_control<size_t>(ctl, "stats.resident");
    if (!allocated || !mapped)
      return std::nullopt;
    return allocator_usage{*allocated, *mapped};
  }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 33)
  auto info = ::mallinfo2();
  return allocator_usage{info.uordblks + info.hblkhd, info.arena + info.hblkhd};
#else
  return std::nullopt;
#endif
}

} // namespace solver_state
