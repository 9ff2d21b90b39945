#include "adapters/credentials/duplocloud_backend.hpp"

#include "adapters/credentials/aws/sigv4.hpp"

namespace jitbot::adapters {
namespace {

using workflows::BackendCall;
using workflows::BackendResult;

std::string advice_for(int status) {
  if (status == 401) return " Check the DuploCloud API token jitbot uses.";
  if (status == 403) return " Check that jitbot's DuploCloud user may get JIT access for this role or tenant.";
  return "";
}

}  // namespace

DuploCloudBackend::DuploCloudBackend(const config::BackendConfig& config)
    : config_(config),
      token_env_(config.setting("token_env").empty() ? "DUPLO_TOKEN" : config.setting("token_env")),
      http_("DuploCloud (backend " + config.name + ")", http::TlsTrust{config.ca_file.string(), {}}) {}

nlohmann::json DuploCloudBackend::get(const std::string& path, cloud::Attempts& attempts) {
  std::string token = cloud::required_env(config_.name, token_env_, "a DuploCloud API token");
  auto response =
      http_.send(cloud::join_url(config_.setting("url"), path), http::HttpRequest{"GET", "", "", token, {}}, attempts);
  if (response.status < 200 || response.status >= 300) {
    // The body may echo credentials on some errors; only the status is reported.
    throw cloud::CloudError("DuploCloud refused GET " + path + ": HTTP " + std::to_string(response.status) + "." +
                                advice_for(response.status),
                            false);
  }
  auto reply = nlohmann::json::parse(response.body, nullptr, false);
  if (reply.is_discarded())
    throw cloud::CloudError("DuploCloud answered GET " + path + " with something that is not JSON", false);
  return reply;
}

std::string DuploCloudBackend::tenant_id(const std::string& scope, cloud::Attempts& attempts) {
  auto tenants = get("admin/GetTenantsForUser", attempts);
  if (tenants.is_array()) {
    for (const auto& tenant : tenants) {
      if (tenant.value("AccountName", "") == scope || tenant.value("TenantId", "") == scope) {
        return tenant.value("TenantId", "");
      }
    }
  }
  throw cloud::CloudError("DuploCloud has no tenant named \"" + scope + "\" that jitbot's user may access", false);
}

BackendResult DuploCloudBackend::do_grant(const BackendCall& call) {
  return cloud::retrying(config_.timeout, [&](cloud::Attempts& attempts) {
    std::string path = call.whole_target ? "v3/admin/aws/jitAccess/" + aws::uri_encode(call.role)
                                         : "subscriptions/" + aws::uri_encode(tenant_id(call.scope, attempts)) +
                                               "/GetAwsConsoleTokenUrl";
    auto session = get(path, attempts);
    std::string console = session.is_object() ? session.value("ConsoleUrl", "") : "";
    if (console.empty()) throw cloud::CloudError("DuploCloud gave no ConsoleUrl for " + path, false);
    BackendResult result;
    result.ok = true;
    result.console_url = console;
    int validity = session.value("Validity", 3600);
    workflows::Seconds lasts{validity > 0 ? validity : 3600};
    auto ends = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()) + lasts;
    // The session ends when DuploCloud says, whatever jitbot does: the grant never claims longer,
    // and the revoke reads the session's end back from the grant ID.
    result.expires_at = ends;
    result.grant_id = "session-until " + workflows::format_rfc3339(ends);
    result.message = "DuploCloud opened a JIT console session, valid until " + workflows::format_rfc3339(ends) +
                     " on DuploCloud's side.";
    return result;
  });
}

BackendResult DuploCloudBackend::grant(const BackendCall& call) {
  return cloud::guarded("duplocloud", config_.name, call, [&] { return do_grant(call); });
}

BackendResult DuploCloudBackend::revoke(const BackendCall& call) {
  return cloud::guarded("duplocloud", config_.name, call, [&] {
    // DuploCloud has no call to end a JIT session: it expires it itself, so the revoke records
    // when that happens.
    BackendResult result;
    result.ok = true;
    result.lingers_until = session_end(call);
    result.message = "DuploCloud cannot end a JIT console session early.";
    return result;
  });
}

BackendResult DuploCloudBackend::extend(const BackendCall& call) {
  return cloud::guarded("duplocloud", config_.name, call, [&] {
    // A JIT console session cannot be lengthened; a fresh one (the same as a grant) serves the
    // rest of the extended access, and its end is again what the access may claim.
    BackendResult result = do_grant(call);
    result.replaces_grant = result.ok;
    return result;
  });
}

std::optional<workflows::Instant> DuploCloudBackend::session_end(const BackendCall& call) {
  constexpr std::string_view prefix = "session-until ";
  if (call.grant_id.rfind(prefix, 0) == 0) {
    return workflows::parse_rfc3339(std::string_view{call.grant_id}.substr(prefix.size()));
  }
  // Granted before jitbot kept the session's end: DuploCloud's default, an hour from the grant.
  return call.expires_at - call.duration + workflows::Seconds{3600};
}

}  // namespace jitbot::adapters
