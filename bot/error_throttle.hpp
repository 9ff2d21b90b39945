#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace spdlog {
class logger;
}

namespace jitbot::bot {

/// Logs a failure that repeats once, then at most once per interval with how many times it
/// recurred meanwhile. When the database or Slack is down, every engine thread fails the same way
/// each second; the log should still be readable in that hour.
class ErrorThrottle {
 public:
  using Now = std::function<std::chrono::steady_clock::time_point()>;
  explicit ErrorThrottle(std::chrono::seconds every = std::chrono::seconds{60}, Now now = {});

  /// Logs `message` at error level, unless `site` logged the same message within the interval.
  void error(spdlog::logger& logger, const std::string& site, const std::string& message);

 private:
  struct Last {
    std::string message;
    std::chrono::steady_clock::time_point at;
    std::int64_t unsaid = 0;  ///< repeats since, not logged
  };
  const std::chrono::seconds every_;
  const Now now_;
  std::mutex mutex_;
  std::map<std::string, Last> last_;  ///< by site: a handful of call sites, so it stays small
};

}  // namespace jitbot::bot
