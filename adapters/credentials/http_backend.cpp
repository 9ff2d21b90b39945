#include "adapters/credentials/http_backend.hpp"

#include <nlohmann/json.hpp>

#include "adapters/credentials/digest.hpp"
#include "adapters/credentials/exec_backend.hpp"

namespace jitbot::adapters {
namespace {

using workflows::BackendCall;
using workflows::BackendResult;

std::string unix_seconds_now() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now).count());
}

/// The receiver's own words for a refusal: its JSON "error" or "message", else the status.
std::string refusal(const http::HttpResponse& response) {
  auto reply = nlohmann::json::parse(response.body, nullptr, false);
  for (const char* key : {"error", "message"}) {
    if (reply.is_object() && reply.contains(key) && reply[key].is_string()) {
      return reply[key].get<std::string>() + " (HTTP " + std::to_string(response.status) + ")";
    }
  }
  return "HTTP " + std::to_string(response.status);
}

}  // namespace

HttpBackend::HttpBackend(const config::BackendConfig& config)
    : name_(config.name),
      url_(config.setting("url")),
      secret_env_(config.setting("secret_env").empty() ? "JITBOT_HTTP_SECRET" : config.setting("secret_env")),
      timeout_(config.timeout),
      http_("backend " + config.name, http::TlsTrust{config.ca_file.string(), {}}) {}

std::string HttpBackend::signature(const std::string& secret, const std::string& timestamp, const std::string& body) {
  return "v0=" + to_hex(hmac_sha256(secret, "v0:" + timestamp + ":" + body));
}

BackendResult HttpBackend::grant(const BackendCall& call) {
  return cloud::guarded("http", name_, call, [&] { return post(call); });
}

BackendResult HttpBackend::revoke(const BackendCall& call) {
  return cloud::guarded("http", name_, call, [&] { return post(call); });
}

BackendResult HttpBackend::extend(const BackendCall& call) {
  return cloud::guarded("http", name_, call, [&] {
    bool unknown_action = false;
    BackendResult result = post(call, &unknown_action);
    if (!unknown_action) return result;
    // A receiver written before extend existed has no /extend (404 or 501): granting again with
    // the new expiry does the same, since grants are idempotent on the request ID.
    BackendCall grant_again = call;
    grant_again.action = BackendCall::Action::grant;
    grant_again.previous_expires_at.reset();
    grant_again.duration = remaining(call.expires_at);
    BackendResult granted = post(grant_again);
    if (granted.ok)
      granted.message = "Granted again until the new end (backend " + name_ + " has no /extend). " + granted.message;
    return granted;
  });
}

BackendResult HttpBackend::post(const BackendCall& call, bool* unknown_action) {
  std::string secret = cloud::required_env(name_, secret_env_, "the request-signing secret");
  std::string body = ExecBackend::stdin_document(call);
  std::string action{workflows::to_string(call.action)};
  std::string url = cloud::join_url(url_, action);
  return cloud::retrying(timeout_, [&](cloud::Attempts& attempts) {
    // A fresh timestamp per attempt, so a retry late in the budget is not refused as stale.
    std::string timestamp = unix_seconds_now();
    http::HttpRequest request{"POST", body, "application/json", {}, {}};
    request.headers = {{"X-Jitbot-Timestamp", timestamp}, {"X-Jitbot-Signature", signature(secret, timestamp, body)}};
    auto response = http_.send(url, request, attempts);
    if (response.status >= 200 && response.status < 300) return parse_backend_reply(name_, response.body);
    BackendResult failed;
    // Only 501 says "I do not implement this"; a 404 may be a receiver's "no such grant", and
    // granting then would bring back access removed on purpose.
    if (unknown_action != nullptr && response.status == 501) {
      *unknown_action = true;
      return failed;
    }
    failed.error = "backend " + name_ + " refused the " + action + ": " + refusal(response);
    if (response.status == 401) failed.error += "; check that " + secret_env_ + " matches the receiver's secret";
    return failed;
  });
}

}  // namespace jitbot::adapters
