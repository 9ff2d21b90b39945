#include "bot/assembly.hpp"

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <stdexcept>

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

namespace jitbot::bot {

std::string audit_key(const config::Config& config, bool required) {
  if (config.unkeyed_audit) return {};
  std::string key;
  std::string source;
  if (const char* from_env = std::getenv("JITBOT_AUDIT_KEY"); from_env != nullptr && *from_env != '\0') {
    key = from_env;
    source = "JITBOT_AUDIT_KEY";
  } else if (!config.audit_key_file.empty()) {
    std::ifstream in(config.audit_key_file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read the audit key file " + config.audit_key_file.string());
    key.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    while (!key.empty() && (key.back() == '\n' || key.back() == '\r')) key.pop_back();
    source = config.audit_key_file.string();
  }
  if (key.empty()) {
    if (!required) return {};
    throw std::runtime_error(
        "no audit key: set JITBOT_AUDIT_KEY or [bot] audit_key_file to a secret of at least 32 bytes kept outside "
        "the database (for example: openssl rand -hex 32), so nobody who can write the database can rewrite "
        "the audit trail. For a throwaway test only, set [bot] unkeyed_audit = true.");
  }
  if (key.size() < 32) {
    throw std::runtime_error("the audit key from " + source + " is " + std::to_string(key.size()) +
                             " bytes; it must be at least 32 (for example: openssl rand -hex 32)");
  }
  return key;
}

}  // namespace jitbot::bot
