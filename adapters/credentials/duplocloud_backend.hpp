#pragma once

#include <nlohmann/json.hpp>

#include "adapters/credentials/cloud.hpp"
#include "config/config.hpp"

namespace jitbot::adapters {

/// DuploCloud's JIT API (as duplo-jit uses it): an AWS console session for an admin role or a
/// tenant. Only the console link leaves this class; the AWS keys in the reply are dropped.
class DuploCloudBackend final : public workflows::CredentialBackend {
 public:
  explicit DuploCloudBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

 private:
  workflows::BackendResult do_grant(const workflows::BackendCall& call);
  nlohmann::json get(const std::string& path, cloud::Attempts& attempts);
  std::string tenant_id(const std::string& scope, cloud::Attempts& attempts);
  /// When the console session of this grant ends on DuploCloud's side.
  static std::optional<workflows::Instant> session_end(const workflows::BackendCall& call);

  config::BackendConfig config_;
  std::string token_env_;
  cloud::CloudHttp http_;
};

}  // namespace jitbot::adapters
