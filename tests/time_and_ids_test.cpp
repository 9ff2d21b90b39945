// Go-style durations, RFC 3339 and request IDs.
#include <catch2/catch.hpp>

#include <set>

#include "workflows/request_id.hpp"
#include "workflows/time.hpp"

using namespace jitbot::workflows;
using namespace std::chrono_literals;

TEST_CASE("Go-style durations parse and print", "[time]") {
  CHECK(parse_duration("90s") == Seconds{90});
  CHECK(parse_duration("30m") == Seconds{1800});
  CHECK(parse_duration("2h30m") == Seconds{9000});
  CHECK(parse_duration("1h0m5s") == Seconds{3605});
  CHECK(parse_duration("1d") == Seconds{86400});
  for (const char* bad : {"", "2", "h", "2x", "-1h", "1.5h", "0s", "0h0m", "2h 30m", "9999999h"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration(bad).has_value());
  }
  CHECK(format_duration(Seconds{9000}) == "2h30m");
  CHECK(format_duration(Seconds{90}) == "1m30s");
  CHECK(format_duration(Seconds{7200}) == "2h");
}

TEST_CASE("RFC 3339 round trip, with offsets", "[time]") {
  auto instant = parse_rfc3339("2026-11-21T10:07:00Z").value();
  CHECK(format_rfc3339(instant) == "2026-11-21T10:07:00Z");
  CHECK(parse_rfc3339("2026-11-21T12:07:00+02:00") == instant);
  CHECK(parse_rfc3339("2026-11-21T10:07:00.250Z") == instant + 250ms);
  CHECK_FALSE(parse_rfc3339("2026-11-21 10:07:00").has_value());
  CHECK_FALSE(parse_rfc3339("2026-13-01T00:00:00Z").has_value());
}

TEST_CASE("request IDs are req_ + a 26-character ULID that sorts by time", "[ids]") {
  std::array<std::uint8_t, 10> zero{};
  std::array<std::uint8_t, 10> ones{};
  ones.fill(0xff);
  auto epoch = make_request_id(from_unix_millis(0), zero);
  CHECK(epoch == "req_00000000000000000000000000");
  CHECK(make_request_id(from_unix_millis(0), ones) == "req_0000000000ZZZZZZZZZZZZZZZZ");
  // The ULID spec's maximum timestamp encodes as 7ZZZZZZZZZ.
  CHECK(make_request_id(from_unix_millis(281474976710655), zero).substr(4, 10) == "7ZZZZZZZZZ");
  auto earlier = make_request_id(from_unix_millis(1'800'000'000'000), ones);
  auto later = make_request_id(from_unix_millis(1'800'000'000'001), zero);
  CHECK(earlier < later);
  CHECK(looks_like_request_id(earlier));
  CHECK(earlier.size() == 30);
  CHECK_FALSE(looks_like_request_id("req_0000000000000000000000000"));   // 25 characters
  CHECK_FALSE(looks_like_request_id("req_0000000000000000000000000U"));  // U is not Crockford
  CHECK_FALSE(looks_like_request_id("abc_00000000000000000000000000"));
}
