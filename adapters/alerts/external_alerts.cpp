#include "adapters/alerts/external_alerts.hpp"

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "adapters/credentials/digest.hpp"
#include "workflows/text.hpp"
#include "workflows/wording.hpp"

namespace jitbot::adapters {
namespace {

using json = nlohmann::json;
using workflows::Delivery;
using workflows::NoticeEvent;

constexpr std::chrono::seconds alert_timeout{10};
constexpr std::size_t pagerduty_summary_limit = 1024;

json optional_time(const std::optional<workflows::Instant>& at) {
  return at ? json(workflows::format_rfc3339(*at)) : json(nullptr);
}

/// What a receiver or an incident responder needs to act without opening Slack.
json details(const workflows::Notice& notice, const workflows::Request& request) {
  return {{"request_id", request.id},
          {"event", std::string{workflows::to_string(notice.event)}},
          {"requester", request.requester},
          {"provider", request.provider},
          {"role", request.role},
          {"scope", request.scope},
          {"duration_seconds", request.duration.count()},
          {"reason", request.reason},
          {"break_glass", request.break_glass},
          {"state", std::string{workflows::to_string(request.state)}},
          {"expires_at", optional_time(request.expires_at)},
          {"reviewed_by", request.reviewed_by},
          {"reviewed_at", optional_time(request.reviewed_at)},
          {"review_note", request.review_note},
          {"detail", notice.detail}};
}

std::string unix_seconds_now() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

std::string dedup_key(const workflows::Notice& notice) {
  switch (notice.event) {
    case NoticeEvent::revoke_failed:
    case NoticeEvent::cleanup_failed:
    case NoticeEvent::revoke_done: return notice.request_id + "/revoke";
    case NoticeEvent::notice_parked: return notice.request_id + "/notice";
    default: return notice.request_id;
  }
}

}  // namespace

std::string ExternalAlerts::pagerduty_action(NoticeEvent event) {
  switch (event) {
    case NoticeEvent::break_glass:
    case NoticeEvent::grant_failed:
    case NoticeEvent::revoke_failed:
    case NoticeEvent::cleanup_failed:
    case NoticeEvent::notice_parked: return "trigger";
    case NoticeEvent::reviewed:
    case NoticeEvent::revoked:
    case NoticeEvent::expired:
    case NoticeEvent::revoke_done: return "resolve";
    default: return {};
  }
}

namespace {

/// The receiver's own words for a refusal, cut short: its JSON "message"/"error", else the status.
std::string refusal(const http::HttpResponse& response) {
  auto reply = json::parse(response.body, nullptr, false);
  std::string words;
  for (const char* key : {"message", "error"}) {
    if (reply.is_object() && reply.contains(key) && reply[key].is_string()) words = reply[key].get<std::string>();
  }
  if (reply.is_object() && reply.contains("errors") && reply["errors"].is_array()) {
    for (const auto& error : reply["errors"]) {
      if (error.is_string()) words += (words.empty() ? "" : "; ") + error.get<std::string>();
    }
  }
  std::string status = "HTTP " + std::to_string(response.status);
  return words.empty() ? status : workflows::cut_utf8(words, 300) + " (" + status + ")";
}

}  // namespace

ExternalAlerts::ExternalAlerts(const std::vector<config::AlertSinkConfig>& sinks, const workflows::Policy& policy)
    : policy_(policy) {
  for (const auto& sink : sinks) {
    sinks_[sink.name] = sink;
    clients_[sink.name] = std::make_unique<http::WebClient>(http::TlsTrust{sink.ca_file.string(), {}});
  }
}

std::string ExternalAlerts::webhook_document(const workflows::Notice& notice, const workflows::Request& request,
                                             const workflows::Policy& policy) {
  json document = details(notice, request);
  document["version"] = 1;
  document["delivery_id"] = request.id + "/" + std::to_string(notice.id);
  document["summary"] = workflows::alert_summary(notice, request, policy);
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ExternalAlerts::pagerduty_event(const workflows::Notice& notice, const workflows::Request& request,
                                            const workflows::Policy& policy, const std::string& routing_key,
                                            const std::string& severity) {
  std::string action = pagerduty_action(notice.event);
  if (action.empty()) return {};
  json event = {{"routing_key", routing_key}, {"event_action", action}, {"dedup_key", dedup_key(notice)}};
  if (action == "trigger") {
    event["payload"] = {
        {"summary", workflows::cut_utf8(workflows::alert_summary(notice, request, policy), pagerduty_summary_limit)},
        {"source", "jitbot"},
        {"severity", severity},
        {"timestamp", workflows::format_rfc3339(
                          std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()))},
        {"component", request.provider + "/" + request.role},
        {"group", request.scope},
        {"class", std::string{workflows::to_string(notice.event)}},
        {"custom_details", details(notice, request)}};
    event["client"] = "jitbot";
  }
  return event.dump(-1, ' ', false, json::error_handler_t::replace);
}

Delivery ExternalAlerts::deliver(const workflows::Notice& notice, const workflows::Request& request) {
  auto found = sinks_.find(notice.target);
  // Parked at once: a sink removed from the config will not come back by retrying.
  if (found == sinks_.end()) return {false, {}, "no [[alerts]] sink is named " + notice.target, true};
  const config::AlertSinkConfig& sink = found->second;
  if (sink.type == workflows::AlertSink::Type::webhook) {
    const char* secret = std::getenv(sink.secret_env.c_str());
    if (secret == nullptr || *secret == '\0') {
      return {false, {}, sink.secret_env + " is not set: the webhook's signing secret (sink " + sink.name + ")", false};
    }
    std::string body = webhook_document(notice, request, policy_);
    std::string timestamp = unix_seconds_now();
    std::string signature = "v0=" + to_hex(hmac_sha256(secret, "v0:" + timestamp + ":" + body));
    return post(sink, body, {{"X-Jitbot-Timestamp", timestamp}, {"X-Jitbot-Signature", signature}});
  }
  const char* routing_key = std::getenv(sink.routing_key_env.c_str());
  if (routing_key == nullptr || *routing_key == '\0') {
    return {false, {}, sink.routing_key_env + " is not set: the PagerDuty routing key (sink " + sink.name + ")", false};
  }
  std::string body = pagerduty_event(notice, request, policy_, routing_key, sink.severity);
  if (body.empty()) return {true, {}, {}};  // nothing for PagerDuty in this event
  return post(sink, body, {});
}

Delivery ExternalAlerts::post(const config::AlertSinkConfig& sink, const std::string& body,
                              const std::vector<std::pair<std::string, std::string>>& headers) {
  auto url = http::parse_url(sink.url);
  if (!url) return {false, {}, "sink " + sink.name + ": its url is not an http(s) URL", true};
  http::HttpRequest request{"POST", body, "application/json", {}, headers};
  http::HttpResponse response;
  try {
    response = clients_.at(sink.name)->send(*url, request, alert_timeout);
  } catch (const http::NetworkError& e) {
    return {false, {}, "sink " + sink.name + " could not be reached (" + e.what() + ")", false};
  }
  if (response.status >= 200 && response.status < 300) return {true, {}, {}};
  std::string error = "sink " + sink.name + " refused the alert: " + refusal(response);
  // 400 and 404 say the alert or the URL is wrong, which no retry fixes; 401/403 (a secret being
  // rotated), 429 and 5xx may pass.
  bool permanent = response.status == 400 || response.status == 404 || response.status == 405 ||
                   response.status == 413 || response.status == 415 || response.status == 422;
  return {false, {}, error, permanent};
}

}  // namespace jitbot::adapters
