#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/scope.hpp"
#include "workflows/time.hpp"

namespace jitbot::workflows {

/// A role that can be requested: who may ask, who approves, on which scopes, for how long.
struct Role {
  std::string provider;
  std::string name;
  std::vector<std::string> scopes;  ///< exact values or patterns ("dev-*", "prod-?"); see scope_matches
  ScopeGrammar scope_grammar;       ///< what its backend accepts as a scope
  /// The role's explicit opt-in to all of its backend's target instead of one scope: a Kubernetes
  /// ClusterRoleBinding (cluster_wide = true) or DuploCloud admin access (admin = true). Never
  /// reachable through a scope pattern.
  bool whole_target = false;
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
  std::vector<std::string> admins;  ///< [bot] admins: user or group IDs who may see every request

  const Role* find_role(std::string_view provider, std::string_view name) const;
  std::string approvals_channel_for(const Role& role) const;
};

}  // namespace jitbot::workflows
