#include "adapters/credentials/azure_backend.hpp"

#include <set>

#include "adapters/credentials/digest.hpp"
#include "workflows/time.hpp"

namespace jitbot::adapters {
namespace {

using config::looks_like_guid;
using workflows::BackendCall;
using workflows::BackendResult;

constexpr const char* api_version = "2020-10-01";
/// The grant_id of a grant that found the role already assigned outside jitbot.
constexpr const char* standing_assignment = "standing-assignment";

/// ARM's error JSON: {"error": {"code", "message"}}.
std::pair<std::string, std::string> arm_error(const http::HttpResponse& response) {
  auto reply = nlohmann::json::parse(response.body, nullptr, false);
  if (reply.is_object() && reply.contains("error") && reply["error"].is_object()) {
    return {reply["error"].value("code", ""), reply["error"].value("message", "")};
  }
  return {"HTTP " + std::to_string(response.status), ""};
}

std::string advice_for(int status, const std::string& code) {
  if (status == 401) return " Check jitbot's Azure access token (token_env or token_command).";
  if (status == 403 || code == "AuthorizationFailed") {
    return " Check that jitbot's identity may manage role assignments on this scope (e.g. User Access Administrator).";
  }
  if (code == "RoleDefinitionDoesNotExist") return " Check role_definition_id in [backends.roles].";
  return "";
}

}  // namespace

AzureBackend::AzureBackend(const config::BackendConfig& config)
    : config_(config),
      api_url_(config.setting("api_url").empty() ? "https://management.azure.com/" : config.setting("api_url")),
      token_(config.name, config.setting("token_env").empty() ? "AZURE_ACCESS_TOKEN" : config.setting("token_env"),
             config.token_command, config.env),
      http_("Azure Resource Manager (backend " + config.name + ")", http::TlsTrust{config.ca_file.string(), {}}) {}

std::string AzureBackend::request_guid(const std::string& request_id, const std::string& action) {
  // A name-based (version 5 style) UUID: stable for one request and action, unique across them.
  auto hash = sha256("jitbot:" + request_id + ":" + action).substr(0, 16);
  hash[6] = static_cast<char>((hash[6] & 0x0f) | 0x50);
  hash[8] = static_cast<char>((hash[8] & 0x3f) | 0x80);
  auto hex = to_hex(hash);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20, 12);
}

std::string AzureBackend::scope(const BackendCall& call) const {
  if (looks_like_guid(call.scope)) return "/subscriptions/" + call.scope;
  // Checked against the resource-ID grammar at request time; each segment is encoded anyway, so
  // a value from an older database still cannot add a query or climb out of its path.
  std::string path;
  std::string_view rest{call.scope};
  while (!rest.empty()) {
    while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
    auto end = rest.find('/');
    auto segment = rest.substr(0, end);
    if (!segment.empty() && segment != "." && segment != "..") path += "/" + cloud::path_segment(segment);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  }
  return path;
}

std::string AzureBackend::role_definition_id(const BackendCall& call) const {
  auto mapped = config_.roles.find(call.role);
  std::string id = mapped != config_.roles.end() ? mapped->second.role_definition_id : call.role;
  if (id.find('/') != std::string::npos) return id;  // already a full resource ID
  if (!looks_like_guid(id)) {
    throw cloud::CloudError("backend " + config_.name + " has no role_definition_id for role " + call.role +
                                "; add [backends.roles.\"" + call.role + "\"]",
                            false);
  }
  return scope(call) + "/providers/Microsoft.Authorization/roleDefinitions/" + id;
}

std::string AzureBackend::principal_id(const BackendCall& call) const {
  std::string principal = cloud::principal_for(config_.principals, call.requester);
  if (!looks_like_guid(principal)) {
    throw cloud::CloudError("jitbot does not know the Entra ID object ID of " + call.requester.user_id +
                                (call.requester.email.empty() ? "" : " (" + call.requester.email + ")") +
                                "; an admin should add it to [backends.principals] of backend " + config_.name,
                            false);
  }
  return principal;
}

BackendResult AzureBackend::submit(const BackendCall& call, const std::string& request_type) {
  bool assign = request_type == "AdminAssign";
  bool extend = request_type == "AdminExtend";
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  nlohmann::json properties{{"principalId", principal_id(call)},
                            {"roleDefinitionId", role_definition_id(call)},
                            {"requestType", request_type},
                            {"justification", call.reason}};
  if (assign) {
    properties["scheduleInfo"] = {
        {"startDateTime", workflows::format_rfc3339(now)},
        {"expiration", {{"type", "AfterDuration"}, {"duration", "PT" + std::to_string(call.duration.count()) + "S"}}}};
  }
  if (extend) {
    properties["scheduleInfo"] = {
        {"startDateTime", workflows::format_rfc3339(now)},
        {"expiration", {{"type", "AfterDateTime"}, {"endDateTime", workflows::format_rfc3339(call.expires_at)}}}};
  }
  // Each extension is a request of its own, named after its new end, so a retry finds it again.
  std::string purpose = assign ? "grant" : extend ? "extend " + workflows::format_rfc3339(call.expires_at) : "revoke";
  std::string url = cloud::join_url(
      api_url_, scope(call).substr(1) + "/providers/Microsoft.Authorization/roleAssignmentScheduleRequests/" +
                    request_guid(call.request_id, purpose) + "?api-version=" + api_version);
  std::string body = cloud::json_text(nlohmann::json{{"properties", properties}});
  return cloud::retrying(config_.timeout, [&](cloud::Attempts& attempts) {
    auto response = http_.send(url, http::HttpRequest{"PUT", body, "application/json", token_.token(), {}}, attempts);
    if (response.status >= 200 && response.status < 300) return accepted(call, request_type, response);
    auto [code, message] = arm_error(response);
    if (code == "RoleAssignmentRequestExists") {
      // Our own request (its name comes from the request ID) went through before and only its
      // answer was lost: ARM will not take the name twice, so ask how that one ended.
      auto earlier = http_.send(url, http::HttpRequest{"GET", "", "", token_.token(), {}}, attempts);
      if (earlier.status >= 200 && earlier.status < 300) return accepted(call, request_type, earlier);
    }
    BackendResult result;
    if (assign && code == "RoleAssignmentExists") {
      // Someone gave them this role outside jitbot; it is not jitbot's to take away at expiry.
      result.ok = true;
      result.grant_id = standing_assignment;
      result.message = "They already hold " + call.role + " on " + scope(call) +
                       " outside jitbot; that assignment stays when this access ends.";
      return result;
    }
    if (extend && code == "RoleAssignmentDoesNotExist") {
      result.error = "Azure has no assignment of " + call.role + " on " + scope(call) +
                     " to extend: it was removed outside jitbot";
      return result;
    }
    if (!assign && code == "RoleAssignmentDoesNotExist") {
      result.ok = true;
      result.message = "The assignment was already gone.";
      return result;
    }
    result.error = "Azure " + request_type + " on " + scope(call) +
                   " failed: " + cloud::sentence(code + (message.empty() ? "" : ": " + message)) +
                   advice_for(response.status, code);
    return result;
  });
}

BackendResult AzureBackend::accepted(const BackendCall& call, const std::string& request_type,
                                     const http::HttpResponse& response) const {
  bool assign = request_type == "AdminAssign", extend = request_type == "AdminExtend";
  auto reply = nlohmann::json::parse(response.body, nullptr, false);
  std::string status = reply.is_object() ? reply.value("properties", nlohmann::json::object()).value("status", "") : "";
  BackendResult result;
  // Statuses of a request that did what it asked, or is provisioning it with nothing left to
  // decide. Anything else (Failed, Denied, Canceled, AdminDenied, TimedOut, and PendingApproval or
  // PendingAdminDecision: someone in Azure would still have to approve) is not access granted.
  static const std::set<std::string> done{"",
                                          "Accepted",
                                          "Granted",
                                          "Provisioned",
                                          "AdminApproved",
                                          "ScheduleCreated",
                                          "PendingProvisioning",
                                          "ProvisioningStarted",
                                          "PendingScheduleCreation",
                                          "PendingExternalProvisioning"};
  bool removal = !assign && !extend;
  if (!done.count(status) && !(removal && (status == "Revoked" || status == "PendingRevocation"))) {
    result.error = std::string("Azure PIM did not ") +
                   (assign   ? "assign "
                    : extend ? "extend "
                             : "remove ") +
                   call.role + " on " + scope(call) + ": the request is " + status +
                   (status.rfind("Pending", 0) == 0
                        ? ", waiting for a decision in Azure; have the role's PIM settings let jitbot assign it "
                          "without approval"
                        : "");
    return result;
  }
  result.ok = true;
  result.grant_id = assign ? request_guid(call.request_id, "grant") : "";
  result.message = std::string(assign   ? "Azure PIM assigned "
                               : extend ? "Azure PIM extended "
                                        : "Azure PIM removed ") +
                   call.role + " on " + scope(call) +
                   (extend ? " until " + workflows::format_rfc3339(call.expires_at) : "") +
                   (status.empty() ? "" : " (" + status + ")") + ".";
  return result;
}

BackendResult AzureBackend::grant(const BackendCall& call) {
  return cloud::guarded("azure", config_.name, call, [&] { return submit(call, "AdminAssign"); });
}

BackendResult AzureBackend::extend(const BackendCall& call) {
  return cloud::guarded("azure", config_.name, call, [&] {
    if (call.grant_id == standing_assignment) {
      BackendResult kept;
      kept.ok = true;
      kept.message = "Their assignment from outside jitbot has its own end; jitbot's expiry moved.";
      return kept;
    }
    return submit(call, "AdminExtend");
  });
}

BackendResult AzureBackend::revoke(const BackendCall& call) {
  return cloud::guarded("azure", config_.name, call, [&] {
    if (call.grant_id == standing_assignment) {
      BackendResult kept;
      kept.ok = true;
      kept.message = "Their assignment from outside jitbot stays in place.";
      return kept;
    }
    return submit(call, "AdminRemove");
  });
}

}  // namespace jitbot::adapters
