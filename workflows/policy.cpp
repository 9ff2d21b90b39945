#include "workflows/policy.hpp"

namespace jitbot::workflows {

const Role* Policy::find_role(std::string_view provider, std::string_view name) const {
  for (const auto& role : roles) {
    if (role.provider == provider && role.name == name) return &role;
  }
  return nullptr;
}

std::string Policy::approvals_channel_for(const Role& role) const {
  return role.approvals_channel.value_or(approvals_channel);
}

}  // namespace jitbot::workflows
