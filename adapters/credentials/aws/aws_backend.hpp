#pragma once

#include "adapters/credentials/aws/aws_api.hpp"
#include "config/config.hpp"

namespace jitbot::adapters::aws {

/// IAM Identity Center account assignments, plus an STS console sign-in link where a role asks.
class AwsBackend final : public workflows::CredentialBackend {
 public:
  explicit AwsBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;

 private:
  workflows::BackendResult do_grant(const workflows::BackendCall& call);
  workflows::BackendResult do_revoke(const workflows::BackendCall& call);
  const config::BackendRoleConfig& role_for(const workflows::BackendCall& call) const;
  std::string principal_id(const workflows::BackendCall& call, cloud::Attempts& attempts);
  nlohmann::json assignment(const workflows::BackendCall& call, const std::string& principal) const;
  /// Asks `describe` until the operation leaves IN_PROGRESS; returns the final status object.
  nlohmann::json wait_until_done(const std::string& describe, const std::string& id_field,
                                 const std::string& status_field, nlohmann::json status, cloud::Attempts& attempts);
  bool still_assigned(const workflows::BackendCall& call, const std::string& principal, cloud::Attempts& attempts);
  std::string console_url(const workflows::BackendCall& call, const config::BackendRoleConfig& role,
                          cloud::Attempts& attempts);

  config::BackendConfig config_;
  AwsService sso_, identity_store_, sts_;
  std::string signin_url_;
  AwsApi api_;
};

}  // namespace jitbot::adapters::aws
