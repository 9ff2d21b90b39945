#include "adapters/tickets/ticket_lookup.hpp"

#include <spdlog/spdlog.h>
#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "adapters/credentials/digest.hpp"
#include "workflows/text.hpp"

namespace jitbot::adapters {
namespace {

using json = nlohmann::json;
using workflows::TicketAnswer;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("tickets");
  return instance;
}

/// Short: the requester waits for this answer.
constexpr std::chrono::seconds lookup_timeout{5};

TicketAnswer failed(std::string error) {
  TicketAnswer answer;
  answer.error = std::move(error);
  return answer;
}

/// A link fit for a Slack <url|label>: https, and none of the characters that would end it early.
std::string safe_link(const std::string& url) {
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) return {};
  for (unsigned char c : url) {
    if (c <= ' ' || c == '|' || c == '<' || c == '>' || c == '"' || c == 0x7f) return {};
  }
  return url;
}

std::string text_at(const json& object, std::initializer_list<const char*> path) {
  const json* node = &object;
  for (const char* key : path) {
    if (!node->is_object() || !node->contains(key)) return {};
    node = &(*node)[key];
  }
  return node->is_string() ? workflows::cut_utf8(node->get<std::string>(), 300) : std::string{};
}

}  // namespace

TicketLookup::TicketLookup(const std::vector<config::TicketApiConfig>& apis) {
  for (const auto& api : apis) {
    apis_[api.name] = api;
    clients_[api.name] = std::make_unique<http::WebClient>(http::TlsTrust{api.ca_file.string(), {}});
  }
}

TicketAnswer TicketLookup::check(const std::string& system, const std::string& key) {
  auto found = apis_.find(system);
  if (found == apis_.end()) return failed("no [tickets." + system + "] is configured");
  auto answer = system == "jira" ? check_jira(found->second, key) : check_github(found->second, key);
  // With on_error = "allow" the requester sees only "not verified": the operator needs the why.
  if (!answer.error.empty()) logger()->warn("could not check ticket {} in {}: {}", key, system, answer.error);
  return answer;
}

std::optional<http::HttpResponse> TicketLookup::get(const config::TicketApiConfig& api, const std::string& url_text,
                                                    const std::vector<std::pair<std::string, std::string>>& headers,
                                                    TicketAnswer& failure) {
  auto url = http::parse_url(url_text);
  if (!url) {
    failure = failed("its URL is not an http(s) URL");
    return std::nullopt;
  }
  http::HttpRequest request{"GET", {}, {}, {}, headers};
  http::HttpResponse response;
  try {
    response = clients_.at(api.name)->send(*url, request, lookup_timeout);
  } catch (const http::NetworkError& e) {
    failure = failed(api.name + " not reachable (" + e.what() + ")");
    return std::nullopt;
  }
  if (response.status == 401 || response.status == 403) {
    failure =
        failed(api.name + " refused jitbot (HTTP " + std::to_string(response.status) + "): check " + api.token_env);
    return std::nullopt;
  }
  // 404: no such ticket (or none jitbot may see); 410: GitHub's answer for a deleted issue.
  if (response.status != 200 && response.status != 404 && response.status != 410) {
    failure = failed(api.name + " answered HTTP " + std::to_string(response.status));
    return std::nullopt;
  }
  return response;
}

TicketAnswer TicketLookup::check_jira(const config::TicketApiConfig& api, const std::string& key) {
  const char* token = std::getenv(api.token_env.c_str());
  if (token == nullptr || *token == '\0') return failed(api.token_env + " is not set");
  std::string authorization = "Bearer " + std::string{token};
  if (!api.email_env.empty()) {
    const char* email = std::getenv(api.email_env.c_str());
    if (email == nullptr || *email == '\0') return failed(api.email_env + " is not set");
    authorization = "Basic " + base64_encode(std::string{email} + ":" + token);
  }
  TicketAnswer answer;
  // The key was matched as PROJECT-DIGITS, so it needs no escaping in the path.
  auto response = get(api, api.api_url + "/rest/api/2/issue/" + key + "?fields=status,summary",
                      {{"Authorization", authorization}, {"Accept", "application/json"}}, answer);
  if (!response) return answer;
  if (response->status != 200) return answer;  // found = false
  auto body = json::parse(response->body, nullptr, false);
  if (!body.is_object() || !body.contains("fields")) return failed("Jira's answer has no fields");
  answer.found = true;
  answer.title = text_at(body, {"fields", "summary"});
  answer.closed = text_at(body, {"fields", "status", "statusCategory", "key"}) == "done";
  answer.url = safe_link(api.api_url + "/browse/" + key);
  return answer;
}

TicketAnswer TicketLookup::check_github(const config::TicketApiConfig& api, const std::string& key) {
  const char* token = std::getenv(api.token_env.c_str());
  if (token == nullptr || *token == '\0') return failed(api.token_env + " is not set");
  auto hash = key.find('#');
  if (hash == std::string::npos) return failed("not an OWNER/REPO#NUMBER reference");
  TicketAnswer answer;
  // The repo was matched against the configured list and the number is digits only.
  auto response = get(api, api.api_url + "/repos/" + key.substr(0, hash) + "/issues/" + key.substr(hash + 1),
                      {{"Authorization", "Bearer " + std::string{token}},
                       {"Accept", "application/vnd.github+json"},
                       {"X-GitHub-Api-Version", "2022-11-28"},
                       {"User-Agent", "jitbot"}},
                      answer);
  if (!response) return answer;
  if (response->status != 200) return answer;  // found = false
  auto body = json::parse(response->body, nullptr, false);
  if (!body.is_object() || !body.contains("state")) return failed("GitHub's answer has no state");
  answer.found = true;
  answer.title = text_at(body, {"title"});
  answer.closed = text_at(body, {"state"}) == "closed";
  answer.url = safe_link(text_at(body, {"html_url"}));
  return answer;
}

}  // namespace jitbot::adapters
