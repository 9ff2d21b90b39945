#pragma once

#include <nlohmann/json.hpp>

#include "adapters/credentials/cloud.hpp"
#include "config/config.hpp"

namespace jitbot::adapters {

/// Time-bound IAM bindings on a GCP project: a binding whose condition ends at the expiry,
/// added and removed with the policy's read-modify-write (etag) protocol.
class GcpBackend final : public workflows::CredentialBackend {
 public:
  explicit GcpBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

 private:
  /// Reads the policy, lets `edit` change it (false: nothing to write), writes it back with the
  /// etag; a concurrent change (409/412) starts over.
  void update_policy(const workflows::BackendCall& call, const std::function<bool(nlohmann::json&)>& edit);
  nlohmann::json post(const workflows::BackendCall& call, const std::string& method, const nlohmann::json& body,
                      cloud::Attempts& attempts);
  std::string member(const workflows::BackendCall& call) const;

  config::BackendConfig config_;
  std::string api_url_;
  cloud::TokenSource token_;
  cloud::CloudHttp http_;
};

}  // namespace jitbot::adapters
