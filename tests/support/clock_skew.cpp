// A stand-in for a system clock that steps: loaded with LD_PRELOAD, it adds
// to every CLOCK_REALTIME reading the milliseconds written in the file
// CLOCK_SKEW_FILE names (re-read every 20 ms; a missing file is 0). A test
// starts the service with its clock an hour off, then "fixes" it by
// rewriting the file, as NTP or an operator steps a clock. The monotonic
// clocks are left alone, as a real step leaves them. Test-only: no user runs
// the service this way.

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include <dlfcn.h>
#include <sys/time.h>
#include <time.h>

namespace {

using clock_gettime_fn = int (*)(clockid_t, timespec*);

clock_gettime_fn real_clock_gettime() {
  static std::atomic<clock_gettime_fn> real{nullptr};
  auto fn = real.load(std::memory_order_acquire);
  if (!fn) {
    fn = reinterpret_cast<clock_gettime_fn>(
      dlsym(RTLD_NEXT, "clock_gettime"));
    real.store(fn, std::memory_order_release);
  }
  return fn;
}

long long skew_ms() {
  static std::atomic<long long> cached{0};
  static std::atomic<long long> read_at_ns{-1};
  timespec mono{};
  real_clock_gettime()(CLOCK_MONOTONIC, &mono);
  long long now_ns = mono.tv_sec * 1'000'000'000LL + mono.tv_nsec;
  auto last = read_at_ns.load(std::memory_order_relaxed);
  if (last >= 0 && now_ns - last < 20'000'000LL)
    return cached.load(std::memory_order_relaxed);
  read_at_ns.store(now_ns, std::memory_order_relaxed);
  long long value = 0;
  const char* path = std::getenv("CLOCK_SKEW_FILE");
  if (FILE* f = path ? std::fopen(path, "r") : nullptr) {
    if (std::fscanf(f, "%lld", &value) != 1)
      value = 0;
    std::fclose(f);
  }
  cached.store(value, std::memory_order_relaxed);
  return value;
}

void shift(timespec& ts, long long ms) {
  long long ns = ts.tv_sec * 1'000'000'000LL + ts.tv_nsec + ms * 1'000'000LL;
  ts.tv_sec = ns / 1'000'000'000LL;
  ts.tv_nsec = ns % 1'000'000'000LL;
}

} // namespace

extern "C" int clock_gettime(clockid_t id, timespec* ts) {
  int rc = real_clock_gettime()(id, ts);
  if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
    shift(*ts, skew_ms());
  return rc;
}

extern "C" int gettimeofday(timeval* tv, void*) {
  timespec ts{};
  int rc = clock_gettime(CLOCK_REALTIME, &ts);
  if (rc == 0 && tv) {
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
  }
  return rc;
}
