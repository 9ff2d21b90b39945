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

BackendResult HttpBackend::post(const BackendCall& call) {
  std::string secret = cloud::required_env(name_, secret_env_, "the request-signing secret");
  std::string body = ExecBackend::stdin_document(call);
  std::string url = cloud::join_url(url_, call.action == BackendCall::Action::grant ? "grant" : "revoke");
  return cloud::retrying(timeout_, [&](cloud::Attempts& attempts) {
    // A fresh timestamp per attempt, so a retry late in the budget is not refused as stale.
    std::string timestamp = unix_seconds_now();
    http::HttpRequest request{"POST", body, "application/json", {}, {}};
    request.headers = {{"X-Jitbot-Timestamp", timestamp}, {"X-Jitbot-Signature", signature(secret, timestamp, body)}};
    auto response = http_.send(url, request, attempts);
    if (response.status >= 200 && response.status < 300) return parse_backend_reply(name_, response.body);
    BackendResult failed;
    failed.error = "backend " + name_ + " refused the " +
                   (call.action == BackendCall::Action::grant ? "grant" : "revoke") + ": " + refusal(response);
    if (response.status == 401) failed.error += "; check that " + secret_env_ + " matches the receiver's secret";
    return failed;
  });
}

}  // namespace jitbot::adapters
