#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/time.hpp"

namespace jitbot::workflows {

/// A role that can be requested: who may ask, who approves, on which scopes, for how long.
struct Role {
  std::string provider;
  std::string name;
  std::vector<std::string> scopes;  ///< exact values, globs ("dev-*", "prod-?"), or "*"
  std::string backend;
  std::vector<std::string> requesters;  ///< user IDs, group IDs, or "*"
  std::vector<std::string> approvers;
  int approvals_required = 1;
  Seconds max_duration{3600};
  std::optional<Seconds> min_duration;
  std::vector<std::string> break_glass_requesters;
  std::optional<std::string> approvals_channel;
};

/// The rules as configured: roles plus the channels and timeouts that apply to all of them.
struct Policy {
  std::vector<Role> roles;
  Seconds pending_timeout{1800};
  std::string approvals_channel;
  std::vector<std::string> incident_channels;

  const Role* find_role(std::string_view provider, std::string_view name) const;
  std::string approvals_channel_for(const Role& role) const;
};

/// Shell-style glob: '*' any run of characters, '?' one character; everything else literal.
bool glob_match(std::string_view pattern, std::string_view text);

}  // namespace jitbot::workflows
