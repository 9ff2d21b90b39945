#pragma once

#include "adapters/credentials/cloud.hpp"
#include "config/config.hpp"

namespace jitbot::adapters {

/// A control plane of the team's own: POST {url}/grant, /revoke and /extend with the exec backend's
/// JSON, signed like Slack signs its requests (X-Jitbot-Timestamp, X-Jitbot-Signature).
class HttpBackend final : public workflows::CredentialBackend {
 public:
  explicit HttpBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  /// Falls back to a fresh grant with the new expiry when the receiver has no /extend (404, 501).
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

  /// "v0=" + hex(HMAC-SHA256(secret, "v0:" + timestamp + ":" + body)).
  static std::string signature(const std::string& secret, const std::string& timestamp, const std::string& body);

 private:
  /// With `unknown_action`, a 404 or 501 sets it instead of counting as a failure.
  workflows::BackendResult post(const workflows::BackendCall& call, bool* unknown_action = nullptr);

  std::string name_;
  std::string url_;
  std::string secret_env_;
  workflows::Seconds timeout_;
  cloud::CloudHttp http_;
};

}  // namespace jitbot::adapters
