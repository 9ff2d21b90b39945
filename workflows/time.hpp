#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace jitbot::workflows {

/// Every instant in jitbot: UTC wall-clock time with millisecond resolution.
using Instant = std::chrono::sys_time<std::chrono::milliseconds>;
using Seconds = std::chrono::seconds;

/// Parses a Go-style duration ("90s", "30m", "2h30m", "1h0m5s"); nullopt when malformed,
/// zero, negative or absurdly large (over a year).
std::optional<Seconds> parse_duration(std::string_view text);

/// The longest duration parse_duration accepts.
inline constexpr Seconds longest_duration{366LL * 24 * 3600};

/// True when `text` is written like a duration (numbers with units) but is longer than
/// longest_duration, so that "9000h" can be called too long rather than not a duration.
bool is_too_long_duration(std::string_view text);

/// The inverse of parse_duration, in its shortest form: 9000s -> "2h30m".
std::string format_duration(Seconds duration);

/// RFC 3339 in UTC with a Z suffix, e.g. "2026-11-21T10:07:00Z" (sub-second part dropped).
std::string format_rfc3339(Instant instant);

/// Parses RFC 3339 timestamps with a Z or numeric offset; nullopt when malformed.
std::optional<Instant> parse_rfc3339(std::string_view text);

std::int64_t to_unix_millis(Instant instant);
Instant from_unix_millis(std::int64_t millis);

/// The clock port: the scheduler and every transition read time through it, so tests
/// and the terminal demo can move time by hand.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Instant now() const = 0;
};

/// A clock that only moves when told to.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(Instant start) : now_(start) {}
  Instant now() const override { return now_; }
  void advance(std::chrono::milliseconds by) { now_ += by; }
  void set(Instant to) { now_ = to; }

 private:
  Instant now_;
};

}  // namespace jitbot::workflows
