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

const TicketSystem* Policy::find_ticket_system(std::string_view name) const {
  for (const auto& system : ticket_systems) {
    if (system.name == name) return &system;
  }
  return nullptr;
}

std::vector<AlertSink> Policy::alert_sinks() const {
  if (!alerts.empty()) return alerts;
  AlertSink incident;
  incident.name = "incident-channels";
  incident.channels = incident_channels;
  return {incident};
}

std::string Policy::alert_mention(std::string_view channel) const {
  for (const auto& sink : alerts) {
    if (sink.type != AlertSink::Type::slack || sink.mention.empty()) continue;
    for (const auto& candidate : sink.channels) {
      if (candidate == channel) return sink.mention;
    }
  }
  return {};
}

}  // namespace jitbot::workflows
