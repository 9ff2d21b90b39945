#pragma once

#include <memory>
#include <nlohmann/json.hpp>

#include "adapters/credentials/cloud.hpp"
#include "config/config.hpp"

namespace jitbot::adapters {

/// Where and how to reach the API server, from a kubeconfig or the in-cluster service account.
struct KubernetesAccess {
  std::string server;
  std::string ca_pem;
  std::string ca_file;
  std::string token;
  std::string token_file;  ///< re-read on every call: in-cluster tokens rotate
};

/// Reads `kubeconfig` (or $KUBECONFIG, ~/.kube/config, then the in-cluster account); `context`
/// empty means current-context. Throws std::runtime_error saying what is wrong.
KubernetesAccess load_kubernetes_access(const std::string& kubeconfig, const std::string& context);

/// RoleBindings (ClusterRoleBindings for scope "*") to the ClusterRole named by the role,
/// labelled with the request ID so a restarted bot can recognise its own.
class KubernetesBackend final : public workflows::CredentialBackend {
 public:
  explicit KubernetesBackend(const config::BackendConfig& config);

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

  /// "jitbot-" + the request ID in the lower-case letters, digits and '-' that names allow.
  static std::string binding_name(const std::string& request_id);

 private:
  workflows::BackendResult do_grant(const workflows::BackendCall& call);
  workflows::BackendResult do_revoke(const workflows::BackendCall& call);
  /// Rewrites the binding's jitbot.dev/expires-at annotation (a PUT guarded by resourceVersion).
  workflows::BackendResult do_extend(const workflows::BackendCall& call);
  /// A ClusterRoleBinding instead of a RoleBinding in the scope's namespace.
  static bool cluster_wide(const workflows::BackendCall& call);
  nlohmann::json binding(const workflows::BackendCall& call) const;
  std::string collection(const workflows::BackendCall& call) const;
  http::HttpResponse send(const std::string& method, const std::string& url, const std::string& body,
                          cloud::Attempts& attempts);

  config::BackendConfig config_;
  KubernetesAccess access_;
  std::string load_error_;  ///< why the kubeconfig could not be read; every call reports it
  std::unique_ptr<cloud::CloudHttp> http_;
};

}  // namespace jitbot::adapters
