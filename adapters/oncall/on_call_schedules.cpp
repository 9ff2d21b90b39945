#include "adapters/oncall/on_call_schedules.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "workflows/text.hpp"
#include "workflows/time.hpp"

namespace jitbot::adapters {
namespace {

using json = nlohmann::json;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("oncall");
  return instance;
}

/// Short: a requester waits for this answer, and on an error a person approves instead.
constexpr std::chrono::seconds lookup_timeout{5};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string percent_encode(std::string_view text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

workflows::Instant now() {
  return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
}

bool looks_like_uuid(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

std::string token_from(const config::OnCallProviderConfig& provider) {
  const char* value = std::getenv(provider.token_env.c_str());
  if (value == nullptr || *value == '\0') throw std::runtime_error(provider.token_env + " is not set");
  return value;
}

}  // namespace

OnCallDirectory::OnCallDirectory(const config::OnCallConfig& config) : config_(config) {
  if (config_.pagerduty.configured) {
    pagerduty_client_ = std::make_unique<http::WebClient>(http::TlsTrust{config_.pagerduty.ca_file.string(), {}});
  }
  if (config_.opsgenie.configured) {
    opsgenie_client_ = std::make_unique<http::WebClient>(http::TlsTrust{config_.opsgenie.ca_file.string(), {}});
  }
}

workflows::OnCallAnswer OnCallDirectory::check(const std::string& schedule, const workflows::UserProfile& person) {
  std::string email = lower(person.email);
  {
    std::lock_guard lock(mutex_);
    auto cached = cache_.find(schedule);
    if (cached != cache_.end() && std::chrono::steady_clock::now() - cached->second.fetched < config_.cache_for) {
      return {cached->second.emails.count(email) > 0, {}};
    }
  }
  try {
    auto emails = fetch(schedule);  // outside the lock: one slow schedule holds up nobody else's
    bool on_call = emails.count(email) > 0;
    std::lock_guard lock(mutex_);
    cache_[schedule] = {std::move(emails), std::chrono::steady_clock::now()};
    return {on_call, {}};
  } catch (const std::exception& e) {
    // The requester is told a person must approve; the operator needs to know why.
    logger()->warn("could not read on-call schedule {}: {}", schedule, e.what());
    return {false, e.what()};
  }
}

std::set<std::string> OnCallDirectory::fetch(const std::string& schedule) {
  auto colon = schedule.find(':');
  std::string provider = schedule.substr(0, colon);
  std::string id = colon == std::string::npos ? std::string{} : schedule.substr(colon + 1);
  if (provider == "pagerduty" && pagerduty_client_) return fetch_pagerduty(id);
  if (provider == "opsgenie" && opsgenie_client_) return fetch_opsgenie(id);
  throw std::runtime_error("no [oncall." + provider + "] is configured");
}

std::string OnCallDirectory::get(const config::OnCallProviderConfig& provider, http::WebClient& client,
                                 const std::string& url_text, const std::string& authorization,
                                 const std::string& accept) {
  auto url = http::parse_url(url_text);
  if (!url) throw std::runtime_error("its api_url is not an http(s) URL");
  http::HttpRequest request{"GET", {}, {}, {}, {{"Authorization", authorization}, {"Accept", accept}}};
  http::HttpResponse response;
  try {
    response = client.send(*url, request, lookup_timeout);
  } catch (const http::NetworkError& e) {
    throw std::runtime_error(std::string{"not reachable ("} + e.what() + ")");
  }
  if (response.status == 401 || response.status == 403) {
    throw std::runtime_error("HTTP " + std::to_string(response.status) + ": check " + provider.token_env);
  }
  if (response.status == 404) throw std::runtime_error("no such schedule (HTTP 404)");
  if (response.status != 200) throw std::runtime_error("HTTP " + std::to_string(response.status));
  return response.body;
}

std::set<std::string> OnCallDirectory::fetch_pagerduty(const std::string& schedule_id) {
  const auto& provider = config_.pagerduty;
  // A one-minute window from now: who holds the shift at this moment (PagerDuty wants until > since).
  auto since = now();
  std::string url = provider.api_url + "/oncalls?schedule_ids%5B%5D=" + percent_encode(schedule_id) +
                    "&include%5B%5D=users&since=" + percent_encode(workflows::format_rfc3339(since)) +
                    "&until=" + percent_encode(workflows::format_rfc3339(since + std::chrono::minutes{1}));
  std::string body = get(provider, *pagerduty_client_, url, "Token token=" + token_from(provider),
                         "application/vnd.pagerduty+json;version=2");
  auto reply = json::parse(body, nullptr, false);
  if (!reply.is_object() || !reply.contains("oncalls") || !reply["oncalls"].is_array()) {
    throw std::runtime_error("PagerDuty's answer has no oncalls list");
  }
  std::set<std::string> emails;
  for (const auto& entry : reply["oncalls"]) {
    if (!entry.is_object() || !entry.contains("user") || !entry["user"].is_object()) continue;
    const auto& user = entry["user"];
    if (user.contains("email") && user["email"].is_string()) emails.insert(lower(user["email"].get<std::string>()));
  }
  return emails;
}

std::set<std::string> OnCallDirectory::fetch_opsgenie(const std::string& schedule_name) {
  const auto& provider = config_.opsgenie;
  std::string type = looks_like_uuid(schedule_name) ? "id" : "name";
  std::string url = provider.api_url + "/v2/schedules/" + percent_encode(schedule_name) +
                    "/on-calls?scheduleIdentifierType=" + type + "&flat=true";
  std::string body = get(provider, *opsgenie_client_, url, "GenieKey " + token_from(provider), "application/json");
  auto reply = json::parse(body, nullptr, false);
  if (!reply.is_object() || !reply.contains("data") || !reply["data"].is_object()) {
    throw std::runtime_error("Opsgenie's answer has no data");
  }
  std::set<std::string> emails;
  const auto& data = reply["data"];
  if (data.contains("onCallRecipients") && data["onCallRecipients"].is_array()) {
    for (const auto& recipient : data["onCallRecipients"]) {
      if (recipient.is_string()) emails.insert(lower(recipient.get<std::string>()));
    }
  }
  return emails;
}

}  // namespace jitbot::adapters
