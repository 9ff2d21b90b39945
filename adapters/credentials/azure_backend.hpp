#pragma once

#include <nlohmann/json.hpp>

#include "adapters/credentials/cloud.hpp"
#include "config/config.hpp"

namespace jitbot::adapters {

/// Azure PIM: role assignment schedule requests (AdminAssign with an end, AdminRemove).
class AzureBackend final : public workflows::CredentialBackend {
 public:
  explicit AzureBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

  /// A GUID derived from the request ID and the action, so a repeated call reuses its name.
  static std::string request_guid(const std::string& request_id, const std::string& action);

 private:
  workflows::BackendResult submit(const workflows::BackendCall& call, const std::string& request_type);
  /// The result for a request ARM took (its answer now, or on a later GET).
  workflows::BackendResult accepted(const workflows::BackendCall& call, const std::string& request_type,
                                    const http::HttpResponse& response) const;
  std::string scope(const workflows::BackendCall& call) const;
  std::string role_definition_id(const workflows::BackendCall& call) const;
  std::string principal_id(const workflows::BackendCall& call) const;

  config::BackendConfig config_;
  std::string api_url_;
  cloud::TokenSource token_;
  cloud::CloudHttp http_;
};

}  // namespace jitbot::adapters
