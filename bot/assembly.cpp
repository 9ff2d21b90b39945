#include "bot/assembly.hpp"

#include "adapters/credentials/aws/aws_backend.hpp"
#include "adapters/credentials/azure_backend.hpp"
#include "adapters/credentials/duplocloud_backend.hpp"
#include "adapters/credentials/exec_backend.hpp"
#include "adapters/credentials/gcp_backend.hpp"
#include "adapters/credentials/http_backend.hpp"
#include "adapters/credentials/kubernetes_backend.hpp"

namespace jitbot::bot {
namespace {

std::unique_ptr<workflows::CredentialBackend> make_backend(const config::BackendConfig& backend) {
  if (backend.type == "exec") {
    return std::make_unique<adapters::ExecBackend>(backend.name, backend.command, backend.timeout, backend.env);
  }
  if (backend.type == "http") return std::make_unique<adapters::HttpBackend>(backend);
  if (backend.type == "aws") return std::make_unique<adapters::aws::AwsBackend>(backend);
  if (backend.type == "gcp") return std::make_unique<adapters::GcpBackend>(backend);
  if (backend.type == "azure") return std::make_unique<adapters::AzureBackend>(backend);
  if (backend.type == "kubernetes") return std::make_unique<adapters::KubernetesBackend>(backend);
  if (backend.type == "duplocloud") return std::make_unique<adapters::DuploCloudBackend>(backend);
  // Config validation admits only the types above.
  throw std::logic_error("unknown backend type " + backend.type);
}

}  // namespace

Backends make_backends(const config::Config& config) {
  Backends backends;
  for (const auto& backend : config.backends) {
    backends[backend.name] = BackendEntry{make_backend(backend), backend.timeout, backend.max_concurrent};
  }
  return backends;
}

}  // namespace jitbot::bot
