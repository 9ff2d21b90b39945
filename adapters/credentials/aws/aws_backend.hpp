#pragma once

#include "adapters/credentials/aws/aws_api.hpp"
#include "config/config.hpp"

#include <mutex>
#include <optional>

namespace jitbot::adapters::aws {

/// IAM Identity Center account assignments, plus an STS console sign-in link where a role asks.
class AwsBackend final : public workflows::CredentialBackend {
 public:
  explicit AwsBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

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
  /// A console sign-in link; `note` says so when its session ends before the access does.
  std::string console_url(const workflows::BackendCall& call, const config::BackendRoleConfig& role,
                          cloud::Attempts& attempts, std::string& note);
  /// Removes the assignment; returns what happened, for the card.
  std::string remove_assignment(const workflows::BackendCall& call, cloud::Attempts& attempts);
  /// Denies, by an inline policy on the console role, every session jitbot issued for this
  /// request before now: removing the assignment does not end STS sessions already open.
  void cut_off_console_sessions(const workflows::BackendCall& call, const config::BackendRoleConfig& role,
                                cloud::Attempts& attempts);
  /// Credentials for IAM calls in the scope's account: the role's console_iam_role_arn, assumed;
  /// nullopt means jitbot's own, which serve only when the console role is in jitbot's own account
  /// (throws a CloudError saying so otherwise).
  std::optional<AwsCredentials> iam_credentials(const workflows::BackendCall& call,
                                                const config::BackendRoleConfig& role, cloud::Attempts& attempts);
  /// The account of jitbot's own identity (STS GetCallerIdentity, asked once).
  std::string own_account(cloud::Attempts& attempts);

  config::BackendConfig config_;
  AwsService sso_, identity_store_, sts_, iam_;
  std::string signin_url_;
  AwsApi api_;
  std::mutex own_account_mutex_;
  std::string own_account_;
};

}  // namespace jitbot::adapters::aws
