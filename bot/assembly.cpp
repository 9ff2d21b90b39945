#include "bot/assembly.hpp"

#include "adapters/credentials/exec_backend.hpp"

namespace jitbot::bot {

Backends make_backends(const config::Config& config) {
  Backends backends;
  for (const auto& backend : config.backends) {
    // config validation admits only known types, so this is exhaustive.
    if (backend.type == "exec") {
      backends[backend.name] = std::make_unique<adapters::ExecBackend>(backend.name, backend.command, backend.timeout);
    }
  }
  return backends;
}

}  // namespace jitbot::bot
