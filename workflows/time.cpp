#include "workflows/time.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <limits>

namespace jitbot::workflows {
namespace {

constexpr std::int64_t max_duration_seconds = longest_duration.count();

std::optional<std::int64_t> unit_seconds(std::string_view unit) {
  if (unit == "s") return 1;
  if (unit == "m") return 60;
  if (unit == "h") return 3600;
  if (unit == "d") return 86400;  // not Go's, but people type "1d"; harmless to accept
  return std::nullopt;
}

}  // namespace

std::optional<Seconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    std::size_t digits = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      number = number * 10 + (text[pos] - '0');
      if (number > max_duration_seconds) return std::nullopt;
      ++pos;
      ++digits;
    }
    if (digits == 0) return std::nullopt;
    std::size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    auto factor = unit_seconds(text.substr(unit_start, pos - unit_start));
    if (!factor) return std::nullopt;
    total += number * *factor;
    if (total > max_duration_seconds) return std::nullopt;
  }
  if (total <= 0) return std::nullopt;
  return Seconds{total};
}

bool is_too_long_duration(std::string_view text) {
  if (text.empty()) return false;
  // Sums with a ceiling just above the limit, so no input can overflow.
  const std::int64_t ceiling = max_duration_seconds + 1;
  std::int64_t total = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t number = 0;
    std::size_t digits_start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      number = std::min(ceiling, number * 10 + (text[pos] - '0'));
      ++pos;
    }
    if (pos == digits_start) return false;
    std::size_t unit_start = pos;
    while (pos < text.size() && std::isalpha(static_cast<unsigned char>(text[pos]))) ++pos;
    auto factor = unit_seconds(text.substr(unit_start, pos - unit_start));
    if (!factor) return false;
    total = std::min(ceiling, total + std::min(ceiling, number * *factor));
  }
  return total > max_duration_seconds;
}

std::string format_duration(Seconds duration) {
  auto total = duration.count();
  if (total <= 0) return "0s";
  std::string out;
  if (auto hours = total / 3600; hours > 0) out += std::to_string(hours) + "h";
  if (auto minutes = total % 3600 / 60; minutes > 0) out += std::to_string(minutes) + "m";
  if (auto seconds = total % 60; seconds > 0) out += std::to_string(seconds) + "s";
  return out;
}

std::string format_rfc3339(Instant instant) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(instant);
  auto day = std::chrono::floor<std::chrono::days>(seconds);
  std::chrono::year_month_day ymd{day};
  std::chrono::hh_mm_ss hms{seconds - day};
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buffer;
}

std::optional<Instant> parse_rfc3339(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  std::string copy{text};
  int consumed = 0;
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &year, &month, &day, &hour, &minute, &second, &consumed) !=
      6) {
    return std::nullopt;
  }
  std::string_view rest = text.substr(static_cast<std::size_t>(consumed));
  std::chrono::milliseconds fraction{0};
  if (!rest.empty() && rest.front() == '.') {
    rest.remove_prefix(1);
    int scale = 100;
    while (!rest.empty() && std::isdigit(static_cast<unsigned char>(rest.front()))) {
      fraction += std::chrono::milliseconds{(rest.front() - '0') * scale};
      scale /= 10;
      rest.remove_prefix(1);
    }
  }
  std::chrono::minutes offset{0};
  if (rest == "Z" || rest == "z") {
    // UTC
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    if (std::sscanf(std::string{rest.substr(1)}.c_str(), "%2d:%2d", &oh, &om) != 2) return std::nullopt;
    offset = std::chrono::minutes{oh * 60 + om};
    if (rest[0] == '-') offset = -offset;
  } else {
    return std::nullopt;
  }
  std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                  std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  auto when = std::chrono::sys_days{ymd} + std::chrono::hours{hour} + std::chrono::minutes{minute} +
              std::chrono::seconds{second} - offset;
  return std::chrono::time_point_cast<std::chrono::milliseconds>(when) + fraction;
}

std::int64_t to_unix_millis(Instant instant) { return instant.time_since_epoch().count(); }

Instant from_unix_millis(std::int64_t millis) { return Instant{std::chrono::milliseconds{millis}}; }

}  // namespace jitbot::workflows
