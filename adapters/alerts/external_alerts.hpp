#pragma once

#include <map>
#include <string>

#include "adapters/http/web_client.hpp"
#include "config/config.hpp"
#include "workflows/policy.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// Delivers external_alert notices to the webhook and PagerDuty [[alerts]] sinks. One HTTP
/// attempt per delivery: the outbox retries with backoff, one row per sink and event, so a sink
/// that is down holds up nothing but its own alerts.
class ExternalAlerts {
 public:
  ExternalAlerts(const std::vector<config::AlertSinkConfig>& sinks, const workflows::Policy& policy);

  workflows::Delivery deliver(const workflows::Notice& notice, const workflows::Request& request);

  /// The JSON a webhook sink receives. `delivery_id` is the same on every retry of one notice,
  /// so a receiver can drop repeats.
  static std::string webhook_document(const workflows::Notice& notice, const workflows::Request& request,
                                      const workflows::Policy& policy);
  /// The PagerDuty Events API v2 event for `notice`, or "" when PagerDuty has nothing to do with it.
  /// The dedup_key is the request ID (with "/revoke" or "/notice" for trouble of those kinds), so a
  /// retried trigger never opens a second incident and a resolve finds the first.
  /// "trigger", "resolve", or "" when PagerDuty is not told about this event.
  static std::string pagerduty_action(workflows::NoticeEvent event);
  static std::string pagerduty_event(const workflows::Notice& notice, const workflows::Request& request,
                                     const workflows::Policy& policy, const std::string& routing_key,
                                     const std::string& severity);

 private:
  workflows::Delivery post(const config::AlertSinkConfig& sink, const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers);

  const workflows::Policy& policy_;
  std::map<std::string, config::AlertSinkConfig> sinks_;
  std::map<std::string, std::unique_ptr<http::WebClient>> clients_;  ///< per sink: each may trust its own CA
};

}  // namespace jitbot::adapters
