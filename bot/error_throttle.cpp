#include "bot/error_throttle.hpp"

#include <spdlog/spdlog.h>

namespace jitbot::bot {

ErrorThrottle::ErrorThrottle(std::chrono::seconds every, Now now)
    : every_(every), now_(now ? std::move(now) : Now{[] { return std::chrono::steady_clock::now(); }}) {}

void ErrorThrottle::error(spdlog::logger& logger, const std::string& site, const std::string& message) {
  std::int64_t unsaid = 0;
  {
    std::lock_guard lock(mutex_);
    auto now = now_();
    auto found = last_.find(site);
    if (found != last_.end() && found->second.message == message && now - found->second.at < every_) {
      ++found->second.unsaid;
      return;
    }
    if (found != last_.end() && found->second.message == message) unsaid = found->second.unsaid;
    last_[site] = Last{message, now, 0};
  }
  if (unsaid > 0) {
    logger.error("{} ({} more like it in the last {} s)", message, unsaid, every_.count());
  } else {
    logger.error("{}", message);
  }
}

}  // namespace jitbot::bot
