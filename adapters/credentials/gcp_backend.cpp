#include "adapters/credentials/gcp_backend.hpp"

#include "workflows/time.hpp"

namespace jitbot::adapters {
namespace {

using workflows::BackendCall;
using workflows::BackendResult;

std::string condition_title(const BackendCall& call) { return "jitbot " + call.request_id; }

/// Google's error JSON: {"error": {"code", "message", "status"}}.
std::string google_error(const http::HttpResponse& response) {
  auto reply = nlohmann::json::parse(response.body, nullptr, false);
  if (reply.is_object() && reply.contains("error") && reply["error"].is_object()) {
    const auto& error = reply["error"];
    return error.value("status", "HTTP " + std::to_string(response.status)) + ": " + error.value("message", "");
  }
  return "HTTP " + std::to_string(response.status);
}

std::string advice_for(int status) {
  if (status == 401) return " Check jitbot's access token (token_env or token_command).";
  if (status == 403) {
    return " Check that the project exists and jitbot's identity may get and set its IAM policy "
           "(resourcemanager.projects.getIamPolicy/setIamPolicy).";
  }
  return "";
}

/// Our binding: this role, this member, our request's condition title.
bool is_ours(const nlohmann::json& binding, const std::string& role, const std::string& title) {
  return binding.value("role", "") == role && binding.contains("condition") &&
         binding["condition"].value("title", "") == title;
}

bool holds(const nlohmann::json& binding, const std::string& member) {
  if (!binding.contains("members")) return false;
  for (const auto& m : binding["members"]) {
    if (m == member) return true;
  }
  return false;
}

}  // namespace

GcpBackend::GcpBackend(const config::BackendConfig& config)
    : config_(config),
      api_url_(config.setting("api_url").empty() ? "https://cloudresourcemanager.googleapis.com/"
                                                 : config.setting("api_url")),
      token_(config.name,
             config.setting("token_env").empty() ? "GOOGLE_OAUTH_ACCESS_TOKEN" : config.setting("token_env"),
             config.token_command, config.env),
      http_("GCP Resource Manager (backend " + config.name + ")", http::TlsTrust{config.ca_file.string(), {}}) {}

std::string GcpBackend::member(const BackendCall& call) const {
  std::string principal = cloud::principal_for(config_.principals, call.requester);
  if (principal.empty()) {
    throw cloud::CloudError("the requester " + call.requester.user_id +
                                " has no email address for a GCP IAM member; map them in [backends.principals]",
                            false);
  }
  // A mapping may name any member type ("group:…", "serviceAccount:…"); a bare address is a user.
  return principal.find(':') == std::string::npos ? "user:" + principal : principal;
}

nlohmann::json GcpBackend::post(const BackendCall& call, const std::string& method, const nlohmann::json& body,
                                cloud::Attempts& attempts) {
  std::string url = cloud::join_url(api_url_, "v1/projects/" + cloud::path_segment(call.scope) + ":" + method);
  bool refreshed = false;
  for (;;) {
    http::HttpRequest request{"POST", cloud::json_text(body), "application/json", token_.token(), {}};
    auto response = http_.send(url, request, attempts);
    if (response.status == 401 && token_.from_command() && !refreshed) {
      token_.refresh();  // the cached token expired early; fetch a fresh one once
      refreshed = true;
      continue;
    }
    if (response.status >= 200 && response.status < 300) {
      auto reply = nlohmann::json::parse(response.body, nullptr, false);
      if (!reply.is_object())
        throw cloud::CloudError("GCP " + method + " answered with something that is not JSON", false);
      return reply;
    }
    // 409 ABORTED / 412: the policy changed since we read it; the caller reads it again.
    bool concurrent_change = response.status == 409 || response.status == 412;
    throw cloud::CloudError("GCP " + method + " on project " + call.scope +
                                " failed: " + cloud::sentence(google_error(response)) + advice_for(response.status),
                            concurrent_change);
  }
}

void GcpBackend::update_policy(const BackendCall& call, const std::function<bool(nlohmann::json&)>& edit) {
  cloud::retrying(config_.timeout, [&](cloud::Attempts& attempts) {
    auto policy = post(call, "getIamPolicy", {{"options", {{"requestedPolicyVersion", 3}}}}, attempts);
    if (!edit(policy)) return 0;
    // Conditions need version 3, and the etag makes a concurrent change fail instead of being lost.
    policy["version"] = 3;
    post(call, "setIamPolicy", {{"policy", policy}}, attempts);
    return 0;
  });
}

BackendResult GcpBackend::grant(const BackendCall& call) {
  return cloud::guarded("gcp", config_.name, call, [&] {
    if (config::is_gcp_basic_role(call.role)) {
      throw cloud::CloudError(call.role +
                                  " is a basic role; GCP cannot attach an IAM condition (the expiry) to it, "
                                  "so jitbot does not grant it. Use a predefined or custom role.",
                              false);
    }
    std::string who = member(call), title = condition_title(call);
    std::string expiry = workflows::format_rfc3339(call.expires_at);
    update_policy(call, [&](nlohmann::json& policy) {
      auto& bindings = policy["bindings"];
      if (!bindings.is_array()) bindings = nlohmann::json::array();
      for (const auto& binding : bindings) {
        if (is_ours(binding, call.role, title) && holds(binding, who)) return false;  // granted before a restart
      }
      bindings.push_back({{"role", call.role},
                          {"members", {who}},
                          {"condition",
                           {{"title", title},
                            {"description", "jitbot: " + cloud::utf8_prefix(call.reason, 200)},
                            {"expression", "request.time < timestamp(\"" + expiry + "\")"}}}});
      return true;
    });
    BackendResult result;
    result.ok = true;
    result.grant_id = title;
    result.message = "GCP bound " + call.role + " on project " + call.scope + " until " + expiry + ".";
    return result;
  });
}

BackendResult GcpBackend::extend(const BackendCall& call) {
  return cloud::guarded("gcp", config_.name, call, [&] {
    std::string who = member(call), title = condition_title(call);
    std::string expiry = workflows::format_rfc3339(call.expires_at);
    std::string expression = "request.time < timestamp(\"" + expiry + "\")";
    bool found = false;
    update_policy(call, [&](nlohmann::json& policy) {
      found = false;
      auto& bindings = policy["bindings"];
      if (!bindings.is_array()) return false;
      bool changed = false;
      for (auto& binding : bindings) {
        if (!is_ours(binding, call.role, title) || !holds(binding, who)) continue;
        found = true;
        // IAM ends the binding at the condition's time; rewriting it is the extension.
        if (binding["condition"].value("expression", "") != expression) {
          binding["condition"]["expression"] = expression;
          changed = true;
        }
      }
      return changed;
    });
    if (!found) {
      throw cloud::CloudError("the binding of " + call.role + " on project " + call.scope +
                                  " that jitbot made is gone (removed outside jitbot, or already expired in IAM), "
                                  "so there is nothing to extend",
                              false);
    }
    BackendResult result;
    result.ok = true;
    result.message = "GCP now ends the binding of " + call.role + " on project " + call.scope + " at " + expiry + ".";
    return result;
  });
}

BackendResult GcpBackend::revoke(const BackendCall& call) {
  return cloud::guarded("gcp", config_.name, call, [&] {
    std::string who = member(call), title = condition_title(call);
    bool removed = false;
    update_policy(call, [&](nlohmann::json& policy) {
      auto& bindings = policy["bindings"];
      if (!bindings.is_array()) return false;
      bool changed = false;
      for (auto binding = bindings.begin(); binding != bindings.end();) {
        if (is_ours(*binding, call.role, title) && holds(*binding, who)) {
          auto& members = (*binding)["members"];
          members.erase(std::remove(members.begin(), members.end(), who), members.end());
          changed = true;
          if (members.empty()) {
            binding = bindings.erase(binding);
            continue;
          }
        }
        ++binding;
      }
      removed = changed;
      return changed;
    });
    BackendResult result;
    result.ok = true;
    result.message = removed ? "GCP removed the binding of " + call.role + " on project " + call.scope + "."
                             : "The binding was already gone.";
    return result;
  });
}

}  // namespace jitbot::adapters
