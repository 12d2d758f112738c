// The change recorder's expiry table (for engines that expire keys by
// themselves, Redis): bounded, and when full it keeps the soonest expiries,
// so a short-lived key still gets its expire event.

#include <string>

#include <catch2/catch.hpp>

#include "actors/watch/change_recorder.hpp"

using namespace solver_state;

namespace {

constexpr unix_ms t0 = 1'800'000'000'000;

bool staged_expire_of(const std::vector<change_event>& events,
                      const std::string& key) {
  for (auto& ev : events)
    if (ev.key == key
        && ev.cause == static_cast<uint8_t>(change_cause::expire))
      return true;
  return false;
}

/// A recorder whose table is full of keys expiring in an hour.
change_recorder full_of_late_expiries() {
  change_recorder rec{true};
  for (size_t i = 0; i < change_recorder::max_tracked_expiries; ++i)
    rec.put("late:" + std::to_string(i), 1, "v", t0 + 3'600'000);
  rec.take();
  REQUIRE(rec.tracked() == change_recorder::max_tracked_expiries);
  return rec;
}

} // namespace

TEST_CASE("a full expiry table keeps the soonest: a short TTL written last "
          "still gets its expire event") {
  auto rec = full_of_late_expiries();
  rec.put("lock", 2, "v", t0 + 1'000);
  rec.take();
  CHECK(rec.tracked() == change_recorder::max_tracked_expiries);
  CHECK(rec.untracked() == 1); // one of the hour-long keys made room
  CHECK_FALSE(rec.expire_due(t0 + 1'000, 100));
  auto events = rec.take();
  CHECK(staged_expire_of(events, "lock"));
  CHECK(events.size() == 1);
}

TEST_CASE("a full expiry table leaves out a key expiring later than every "
          "tracked one") {
  auto rec = full_of_late_expiries();
  rec.put("later", 2, "v", t0 + 7'200'000);
  rec.take();
  CHECK(rec.tracked() == change_recorder::max_tracked_expiries);
  CHECK(rec.untracked() == 1);
  rec.expire_due(t0 + 7'200'000, change_recorder::max_tracked_expiries + 1);
  auto events = rec.take();
  CHECK(events.size() == change_recorder::max_tracked_expiries);
  CHECK_FALSE(staged_expire_of(events, "later"));
}
