#include "workflows/rules.hpp"

#include <algorithm>

namespace jitbot::workflows {
namespace {

bool is_group_id(const std::string& principal) { return !principal.empty() && principal.front() == 'S'; }

std::string state_phrase(RequestState state) {
  switch (state) {
    case RequestState::pending: return "is still pending";
    case RequestState::approved: return "is already approved and being granted";
    case RequestState::active: return "is already active";
    case RequestState::expired: return "has already expired";
    case RequestState::revoked: return "has already been revoked";
    case RequestState::denied: return "has already been denied";
    case RequestState::timed_out: return "has already timed out";
    case RequestState::cancelled: return "has already been cancelled";
    case RequestState::grant_failed: return "already ended: the grant failed";
    case RequestState::revoke_failed: return "is being revoked (the last attempt failed and is retried)";
  }
  return "is in an unknown state";
}

}  // namespace

bool is_listed(const std::vector<std::string>& principals, const std::string& user, Directory& directory) {
  for (const auto& principal : principals) {
    if (principal == "*" || principal == user) return true;
  }
  // Group lookups may cost a network round trip, so only after every direct entry missed.
  return std::any_of(principals.begin(), principals.end(), [&](const std::string& principal) {
    return is_group_id(principal) && directory.is_member(user, principal);
  });
}

Refusal check_new_request(const Policy& policy, Directory& directory, const std::string& requester,
                          const NewRequest& draft, const Role*& role_out) {
  const Role* role = policy.find_role(draft.provider, draft.role);
  if (role == nullptr) {
    std::string known;
    for (const auto& candidate : policy.roles) {
      if (candidate.provider != draft.provider) continue;
      known += (known.empty() ? "" : ", ") + candidate.name;
    }
    if (known.empty()) {
      for (const auto& candidate : policy.roles) {
        known += (known.empty() ? "" : ", ") + candidate.provider + "/" + candidate.name;
      }
    }
    return "Unknown role " + draft.provider + "/" + draft.role +
           ". Roles you can request: " + (known.empty() ? "none are configured" : known) + ".";
  }
  bool scope_allowed = std::any_of(role->scopes.begin(), role->scopes.end(),
                                   [&](const std::string& pattern) { return glob_match(pattern, draft.scope); });
  if (!scope_allowed) {
    std::string allowed;
    for (const auto& pattern : role->scopes) allowed += (allowed.empty() ? "" : ", ") + pattern;
    return "Scope " + draft.scope + " is not allowed for " + role->provider + "/" + role->name +
           ". Allowed scopes: " + allowed + ".";
  }
  if (draft.duration > role->max_duration) {
    return "Duration " + format_duration(draft.duration) + " is longer than the maximum of " +
           format_duration(role->max_duration) + " for " + role->provider + "/" + role->name + ".";
  }
  if (role->min_duration && draft.duration < *role->min_duration) {
    return "Duration " + format_duration(draft.duration) + " is shorter than the minimum of " +
           format_duration(*role->min_duration) + " for " + role->provider + "/" + role->name + ".";
  }
  if (draft.reason.empty()) return "A reason is required (--reason \"…\"), so approvers and auditors know why.";
  if (draft.break_glass) {
    if (role->break_glass_requesters.empty()) {
      return "Break-glass is not enabled for " + role->provider + "/" + role->name +
             ". Submit a normal request instead.";
    }
    if (!is_listed(role->break_glass_requesters, requester, directory)) {
      return "You are not allowed to break glass for " + role->provider + "/" + role->name +
             ". Submit a normal request, or ask an admin to add you to break_glass_requesters.";
    }
  } else if (!is_listed(role->requesters, requester, directory)) {
    return "You are not allowed to request " + role->provider + "/" + role->name + ".";
  }
  role_out = role;
  return std::nullopt;
}

Refusal check_decision(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                       Decision decision, Instant now) {
  if (request.state != RequestState::pending) return "Request " + request.id + " " + state_phrase(request.state) + ".";
  if (now >= request.pending_deadline) return "Request " + request.id + " has timed out; the requester must ask again.";
  if (actor == request.requester) return "You cannot approve or deny your own request.";
  if (!is_listed(role.approvers, actor, directory)) {
    return "You are not an approver for " + role.provider + "/" + role.name + ".";
  }
  // An approver who approved may still deny (they spotted a problem); approving twice counts once.
  if (decision == Decision::approve && request.approved_by(actor)) {
    return "You have already approved " + request.id + "; it needs another approver.";
  }
  return std::nullopt;
}

Refusal check_revoke(const Role& role, Directory& directory, const std::string& actor, const Request& request) {
  bool may = actor == request.requester || is_listed(role.approvers, actor, directory);
  if (!may) return "Only the requester or an approver of " + role.provider + "/" + role.name + " can revoke.";
  if (request.state == RequestState::revoke_failed) return std::nullopt;  // retry now
  if (request.state != RequestState::active) return "Request " + request.id + " " + state_phrase(request.state) + ".";
  if (request.ending_as) return "Request " + request.id + " is already being revoked.";
  return std::nullopt;
}

Refusal check_cancel(const std::string& actor, const Request& request) {
  if (actor != request.requester) return "Only the requester can cancel " + request.id + ".";
  if (request.state != RequestState::pending) return "Request " + request.id + " " + state_phrase(request.state) + ".";
  return std::nullopt;
}

}  // namespace jitbot::workflows
