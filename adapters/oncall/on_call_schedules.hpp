#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "adapters/http/web_client.hpp"
#include "config/config.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// Reads who is on call now from PagerDuty (REST API v2, GET /oncalls) and Opsgenie
/// (GET /v2/schedules/{name}/on-calls), matching people by email. A schedule's answer is kept for
/// `cache_for`, so a burst of requests costs one call; an error is never cached and never
/// approves anyone.
class OnCallDirectory final : public workflows::OnCallSchedules {
 public:
  explicit OnCallDirectory(const config::OnCallConfig& config);

  workflows::OnCallAnswer check(const std::string& schedule, const workflows::UserProfile& person) override;

 private:
  struct Roster {
    std::set<std::string> emails;  ///< lower case
    std::chrono::steady_clock::time_point fetched;
  };
  /// Everyone on call in `schedule` now; throws std::runtime_error saying why it could not tell.
  std::set<std::string> fetch(const std::string& schedule);
  std::set<std::string> fetch_pagerduty(const std::string& schedule_id);
  std::set<std::string> fetch_opsgenie(const std::string& schedule_name);
  std::string get(const config::OnCallProviderConfig& provider, http::WebClient& client, const std::string& url,
                  const std::string& authorization, const std::string& accept);

  config::OnCallConfig config_;
  std::unique_ptr<http::WebClient> pagerduty_client_;
  std::unique_ptr<http::WebClient> opsgenie_client_;
  std::mutex mutex_;
  std::map<std::string, Roster> cache_;
};

}  // namespace jitbot::adapters
