#include "adapters/credentials/kubernetes_backend.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "adapters/credentials/digest.hpp"
#include "workflows/time.hpp"

namespace jitbot::adapters {
namespace {

namespace fs = std::filesystem;
using workflows::BackendCall;
using workflows::BackendResult;

constexpr const char* service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
constexpr const char* rbac = "/apis/rbac.authorization.k8s.io/v1";

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + file.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

/// The entry named `name` in a kubeconfig list (clusters, users, contexts).
YAML::Node named(const YAML::Node& list, const std::string& name, const std::string& what) {
  if (list.IsSequence()) {
    for (const auto& entry : list) {
      if (entry["name"] && entry["name"].as<std::string>() == name) return entry[what];
    }
  }
  throw std::runtime_error("the kubeconfig has no " + what + " named \"" + name + "\"");
}

std::string text(const YAML::Node& node, const char* key) {
  return node && node[key] ? node[key].as<std::string>() : std::string{};
}

KubernetesAccess from_kubeconfig(const fs::path& file, std::string context) {
  YAML::Node config = YAML::LoadFile(file.string());
  if (context.empty()) context = text(config, "current-context");
  if (context.empty()) throw std::runtime_error(file.string() + " has no current-context; set `context`");
  auto chosen = named(config["contexts"], context, "context");
  auto cluster = named(config["clusters"], text(chosen, "cluster"), "cluster");
  auto user = named(config["users"], text(chosen, "user"), "user");
  if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>()) {
    throw std::runtime_error("insecure-skip-tls-verify is not supported: give the cluster's certificate-authority");
  }
  auto relative = [&](const std::string& path) {
    return path.empty() || fs::path(path).is_absolute() ? path : (file.parent_path() / path).string();
  };
  KubernetesAccess access;
  access.server = text(cluster, "server");
  access.ca_file = relative(text(cluster, "certificate-authority"));
  if (auto data = text(cluster, "certificate-authority-data"); !data.empty() && !base64_decode(data, access.ca_pem)) {
    throw std::runtime_error("certificate-authority-data in " + file.string() + " is not base64");
  }
  access.token = text(user, "token");
  access.token_file = relative(text(user, "tokenFile"));
  if (access.token.empty() && access.token_file.empty()) {
    throw std::runtime_error("user \"" + text(chosen, "user") + "\" in " + file.string() +
                             " has no token or tokenFile (jitbot authenticates with a bearer token)");
  }
  if (access.server.empty()) throw std::runtime_error("cluster in " + file.string() + " has no server");
  return access;
}

KubernetesAccess in_cluster() {
  KubernetesAccess access;
  access.server = "https://" + env("KUBERNETES_SERVICE_HOST") + ":" + env("KUBERNETES_SERVICE_PORT");
  access.ca_file = std::string(service_account_dir) + "/ca.crt";
  access.token_file = std::string(service_account_dir) + "/token";
  return access;
}

/// The API server's Status object: its message, or the HTTP status.
std::string status_message(const http::HttpResponse& response) {
  auto reply = nlohmann::json::parse(response.body, nullptr, false);
  if (reply.is_object() && reply.contains("message") && reply["message"].is_string()) {
    return reply.value("reason", "HTTP " + std::to_string(response.status)) + ": " +
           reply["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(response.status);
}

std::string advice_for(int status) {
  if (status == 401) return " Check the bearer token in jitbot's kubeconfig.";
  if (status == 403) return " Check that jitbot's service account may create and delete (cluster)rolebindings.";
  return "";
}

}  // namespace

KubernetesAccess load_kubernetes_access(const std::string& kubeconfig, const std::string& context) {
  std::string file = kubeconfig;
  if (file.empty()) file = env("KUBECONFIG").substr(0, env("KUBECONFIG").find(':'));
  if (file.empty() && fs::exists(env("HOME") + "/.kube/config")) file = env("HOME") + "/.kube/config";
  if (file.empty()) {
    if (env("KUBERNETES_SERVICE_HOST").empty()) {
      throw std::runtime_error("no kubeconfig (set `kubeconfig` or KUBECONFIG) and not running in a cluster");
    }
    return in_cluster();
  }
  try {
    return from_kubeconfig(file, context);
  } catch (const YAML::Exception& e) {
    throw std::runtime_error("cannot read kubeconfig " + file + ": " + e.what());
  }
}

KubernetesBackend::KubernetesBackend(const config::BackendConfig& config) : config_(config) {
  try {
    access_ = load_kubernetes_access(config.setting("kubeconfig"), config.setting("context"));
    std::string ca_file = !config.ca_file.empty() ? config.ca_file.string() : access_.ca_file;
    http_ = std::make_unique<cloud::CloudHttp>("the Kubernetes API server (backend " + config.name + ")",
                                               http::TlsTrust{ca_file, access_.ca_pem});
  } catch (const std::exception& e) {
    load_error_ = "backend " + config.name + ": " + e.what();
  }
}

std::string KubernetesBackend::binding_name(const std::string& request_id) {
  std::string name = "jitbot-";
  for (char c : request_id) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c)))
                                                        : '-';
  }
  return name;
}

bool KubernetesBackend::cluster_wide(const BackendCall& call) {
  // The role's cluster_wide = true; "*" is how requests made before that setting existed said it.
  return call.whole_target || call.scope == "*";
}

std::string KubernetesBackend::collection(const BackendCall& call) const {
  if (cluster_wide(call)) return cloud::join_url(access_.server, std::string(rbac) + "/clusterrolebindings");
  return cloud::join_url(access_.server,
                         std::string(rbac) + "/namespaces/" + cloud::path_segment(call.scope) + "/rolebindings");
}

nlohmann::json KubernetesBackend::binding(const BackendCall& call) const {
  bool cluster_wide = KubernetesBackend::cluster_wide(call);
  std::string subject = cloud::principal_for(config_.principals, call.requester);
  if (subject.empty()) {
    throw cloud::CloudError(
        "the requester " + call.requester.user_id + " has no email address to bind; map them in [backends.principals]",
        false);
  }
  nlohmann::json metadata{
      {"name", binding_name(call.request_id)},
      {"labels", {{"app.kubernetes.io/managed-by", "jitbot"}, {"jitbot.dev/request-id", call.request_id}}},
      {"annotations",
       {{"jitbot.dev/expires-at", workflows::format_rfc3339(call.expires_at)},
        {"jitbot.dev/requester", subject},
        {"jitbot.dev/slack-user", call.requester.user_id},
        {"jitbot.dev/reason", cloud::utf8_prefix(call.reason, 1000)}}}};
  if (!cluster_wide) metadata["namespace"] = call.scope;
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", cluster_wide ? "ClusterRoleBinding" : "RoleBinding"},
          {"metadata", metadata},
          {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "ClusterRole"}, {"name", call.role}}},
          {"subjects", {{{"kind", "User"}, {"apiGroup", "rbac.authorization.k8s.io"}, {"name", subject}}}}};
}

http::HttpResponse KubernetesBackend::send(const std::string& method, const std::string& url, const std::string& body,
                                           cloud::Attempts& attempts) {
  std::string token = access_.token;
  if (!access_.token_file.empty()) {
    try {
      token = read_file(access_.token_file);
    } catch (const std::exception& e) {
      throw cloud::CloudError("backend " + config_.name + ": the kubeconfig's tokenFile: " + e.what(), false);
    }
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r')) token.pop_back();
  }
  http::HttpRequest request{method, body, body.empty() ? "" : "application/json", token, {}};
  return http_->send(url, request, attempts);
}

namespace {

std::string uid_of(const nlohmann::json& object) {
  return object.is_object() ? object.value("metadata", nlohmann::json::object()).value("uid", std::string{}) : "";
}

/// "NAME uid=UID": the binding and the uid of the very object jitbot created, so that the revoke
/// never deletes a binding re-created under that name since (from a backup or a GitOps copy).
std::string grant_id_for(const std::string& name, const std::string& uid) {
  return uid.empty() ? name : name + " uid=" + uid;
}

/// The uid recorded at grant time; empty for grants recorded before jitbot kept it.
std::string granted_uid(const std::string& grant_id) {
  auto at = grant_id.find(" uid=");
  return at == std::string::npos ? std::string{} : grant_id.substr(at + 5);
}

}  // namespace

BackendResult KubernetesBackend::do_grant(const BackendCall& call) {
  auto document = binding(call);
  std::string kind = document["kind"];
  return cloud::retrying(config_.timeout, [&](cloud::Attempts& attempts) {
    BackendResult result;
    auto created = send("POST", collection(call), cloud::json_text(document), attempts);
    std::string name = binding_name(call.request_id);
    result.grant_id = name;
    result.message = kind + " " + name + (cluster_wide(call) ? "" : " in namespace " + call.scope) +
                     " binds ClusterRole " + call.role + ".";
    if (created.status == 201 || created.status == 200) {
      result.ok = true;
      result.grant_id = grant_id_for(name, uid_of(nlohmann::json::parse(created.body, nullptr, false)));
      return result;
    }
    if (created.status == 409) {
      // Ours from before a restart, or someone else's that happens to have the name.
      auto existing = send("GET", collection(call) + "/" + result.grant_id, "", attempts);
      auto object = nlohmann::json::parse(existing.body, nullptr, false);
      bool ours = existing.status == 200 && object.is_object() &&
                  object.value("metadata", nlohmann::json::object())
                          .value("labels", nlohmann::json::object())
                          .value("jitbot.dev/request-id", "") == call.request_id;
      if (ours) {
        result.ok = true;
        result.grant_id = grant_id_for(name, uid_of(object));
        return result;
      }
      // Deleted between our POST and GET: create it again.
      if (existing.status == 404) throw cloud::CloudError(kind + " " + name + " vanished; retrying", true);
      result.error = kind + " " + name + " already exists and was not made by jitbot for this request";
      return result;
    }
    result.error = "Kubernetes refused to create " + kind + " " + name + ": " +
                   cloud::sentence(status_message(created)) + advice_for(created.status);
    return result;
  });
}

BackendResult KubernetesBackend::do_revoke(const BackendCall& call) {
  std::string name = binding_name(call.request_id), url = collection(call) + "/" + name;
  return cloud::retrying(config_.timeout, [&](cloud::Attempts& attempts) {
    BackendResult result;
    result.ok = true;
    // Only our own binding goes: after a failed grant (a foreign binding with our name) the
    // clean-up revoke must leave the other one alone.
    auto existing = send("GET", url, "", attempts);
    auto object = nlohmann::json::parse(existing.body, nullptr, false);
    auto metadata = object.is_object() ? object.value("metadata", nlohmann::json::object()) : nlohmann::json::object();
    if (existing.status == 404 ||
        (existing.status == 200 &&
         metadata.value("labels", nlohmann::json::object()).value("jitbot.dev/request-id", "") != call.request_id)) {
      result.message = existing.status == 404 ? "The binding was already gone."
                                              : "There was no binding of jitbot's for this request to delete.";
      return result;
    }
    if (auto created = granted_uid(call.grant_id);
        existing.status == 200 && !created.empty() && created != metadata.value("uid", std::string{})) {
      result.message = "There was no binding of jitbot's for this request to delete: " + name +
                       " was re-created since the grant (it is another object now), so it is left alone.";
      return result;
    }
    if (existing.status != 200) {
      result.ok = false;
      result.error = "Kubernetes refused to read " + name + ": " + cloud::sentence(status_message(existing)) +
                     advice_for(existing.status);
      return result;
    }
    // The uid precondition: if the binding was replaced since we read it, the API server says 409.
    nlohmann::json options{
        {"kind", "DeleteOptions"}, {"apiVersion", "v1"}, {"preconditions", {{"uid", metadata.value("uid", "")}}}};
    auto deleted = send("DELETE", url, cloud::json_text(options), attempts);
    if (deleted.status == 200 || deleted.status == 202 || deleted.status == 404) {
      result.message = deleted.status == 404 ? "The binding was already gone." : "Deleted " + name + ".";
      return result;
    }
    if (deleted.status == 409)
      throw cloud::CloudError("the binding " + name + " changed while jitbot deleted it", true);
    result.ok = false;
    result.error = "Kubernetes refused to delete " + name + ": " + cloud::sentence(status_message(deleted)) +
                   advice_for(deleted.status);
    return result;
  });
}

BackendResult KubernetesBackend::do_extend(const BackendCall& call) {
  std::string name = binding_name(call.request_id), url = collection(call) + "/" + name;
  std::string until = workflows::format_rfc3339(call.expires_at);
  return cloud::retrying(config_.timeout, [&](cloud::Attempts& attempts) {
    BackendResult result;
    auto existing = send("GET", url, "", attempts);
    auto object = nlohmann::json::parse(existing.body, nullptr, false);
    auto metadata = object.is_object() ? object.value("metadata", nlohmann::json::object()) : nlohmann::json::object();
    std::string created = granted_uid(call.grant_id);
    bool ours =
        existing.status == 200 &&
        metadata.value("labels", nlohmann::json::object()).value("jitbot.dev/request-id", "") == call.request_id &&
        (created.empty() || created == metadata.value("uid", std::string{}));
    if (existing.status == 404 || (existing.status == 200 && !ours)) {
      result.error = "the binding " + name + " that jitbot made is gone (removed or replaced outside jitbot), so " +
                     "there is nothing to extend";
      return result;
    }
    if (existing.status != 200) {
      result.error = "Kubernetes refused to read " + name + ": " + cloud::sentence(status_message(existing)) +
                     advice_for(existing.status);
      return result;
    }
    // The annotation is what people and tools read as the end; jitbot's revoke enforces it. The
    // object goes back with the resourceVersion it was read at, so a concurrent edit is not lost.
    object["metadata"]["annotations"]["jitbot.dev/expires-at"] = until;
    auto replaced = send("PUT", url, object.dump(), attempts);
    if (replaced.status == 200) {
      result.ok = true;
      result.message = name + " now expires at " + until + ".";
      return result;
    }
    if (replaced.status == 409)
      throw cloud::CloudError("the binding " + name + " changed while jitbot extended it", true);
    result.error = "Kubernetes refused to update " + name + ": " + cloud::sentence(status_message(replaced)) +
                   advice_for(replaced.status);
    return result;
  });
}

BackendResult KubernetesBackend::extend(const BackendCall& call) {
  return cloud::guarded("kubernetes", config_.name, call, [&] {
    if (!load_error_.empty()) throw cloud::CloudError(load_error_, false);
    return do_extend(call);
  });
}

BackendResult KubernetesBackend::grant(const BackendCall& call) {
  return cloud::guarded("kubernetes", config_.name, call, [&] {
    if (!load_error_.empty()) throw cloud::CloudError(load_error_, false);
    return do_grant(call);
  });
}

BackendResult KubernetesBackend::revoke(const BackendCall& call) {
  return cloud::guarded("kubernetes", config_.name, call, [&] {
    if (!load_error_.empty()) throw cloud::CloudError(load_error_, false);
    return do_revoke(call);
  });
}

}  // namespace jitbot::adapters
