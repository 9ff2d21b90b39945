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
  /// Schedules ("pagerduty:P1ABCDE", "opsgenie:platform") whose on-call person counts as one
  /// approval, given by jitbot itself after the usual checks.
  std::vector<std::string> auto_approve_oncall;
  /// Nudges for a pending request: remind the approvers after remind_after (else [bot]'s), at most
  /// max_reminders times; after escalate_after, escalation_approvers may approve too.
  std::optional<Seconds> remind_after;
  std::optional<int> max_reminders;
  std::optional<Seconds> escalate_after;
  std::vector<std::string> escalation_approvers;
  /// "jira" or "github": the reason must cite an open ticket there (not for break-glass).
  std::string require_ticket;
  /// Extensions: the requester may extend without approval (self_extend); the whole access, with
  /// every extension, lasts at most max_extended_duration (default: max_duration). The requester
  /// is warned warn_before the end (else [bot]'s).
  bool self_extend = false;
  std::optional<Seconds> max_extended_duration;
  std::optional<Seconds> warn_before;
  Seconds longest_with_extensions() const { return max_extended_duration.value_or(max_duration); }
};

/// [tickets.jira] / [tickets.github]: which tickets a reason may cite, and what a failed check means.
struct TicketSystem {
  std::string name;                   ///< "jira" or "github"
  std::vector<std::string> projects;  ///< jira: project keys ("INC")
  std::vector<std::string> repos;     ///< github: "owner/repo"
  bool refuse_on_error = false;       ///< on_error = "refuse": no request while the system is unreachable
};

/// Where alerts go ([[alerts]]). Slack sinks post to channels; webhook and PagerDuty sinks are
/// adapters of their own, reached through external_alert notices named after the sink.
struct AlertSink {
  enum class Type { slack, webhook, pagerduty };
  std::string name;
  Type type = Type::slack;
  std::vector<std::string> channels;  ///< slack: channel IDs
  std::string mention;                ///< slack: "<!here>", "<!channel>" or a user group S…; from config only
  /// pagerduty: resolve the incident when the break-glass is reviewed, or only when access ends.
  enum class ResolveOn { acknowledge, end };
  ResolveOn resolve_on = ResolveOn::acknowledge;
};

/// [break_glass]: the review loop and the limits that keep break-glass for emergencies.
struct BreakGlassRules {
  Seconds realert_after{30 * 60};  ///< an unreviewed break-glass is alerted again this often
  int max_per_user = 0;            ///< within `window`; 0: no limit
  Seconds window{24 * 60 * 60};
  std::optional<Seconds> max_duration;  ///< longer break-glass requests need approval
};

/// The rules as configured: roles plus the channels and timeouts that apply to all of them.
struct Policy {
  std::vector<Role> roles;
  Seconds pending_timeout{1800};
  std::string approvals_channel;
  std::vector<std::string> incident_channels;
  std::vector<std::string> admins;  ///< [bot] admins: user or group IDs who may see every request
  /// [bot] remind_after and max_reminders: the defaults for roles that set none; no reminders when unset.
  std::optional<Seconds> remind_after;
  int max_reminders = 3;
  /// [bot] warn_before: how long before access ends its requester is warned, for roles that set none.
  Seconds warn_before{10 * 60};
  /// Every alert sink; with no [[alerts]], one Slack sink on incident_channels.
  std::vector<AlertSink> alerts;
  BreakGlassRules break_glass;
  std::vector<TicketSystem> ticket_systems;
  const TicketSystem* find_ticket_system(std::string_view name) const;

  const Role* find_role(std::string_view provider, std::string_view name) const;
  std::string approvals_channel_for(const Role& role) const;
  std::optional<Seconds> remind_after_for(const Role& role) const {
    return role.remind_after ? role.remind_after : remind_after;
  }
  int max_reminders_for(const Role& role) const { return role.max_reminders.value_or(max_reminders); }
  Seconds warn_before_for(const Role& role) const { return role.warn_before.value_or(warn_before); }
  /// The configured sinks, or the default Slack sink on incident_channels when none are.
  std::vector<AlertSink> alert_sinks() const;
  /// The Slack mention configured for alerts to `channel` ("" when none).
  std::string alert_mention(std::string_view channel) const;
};

}  // namespace jitbot::workflows
