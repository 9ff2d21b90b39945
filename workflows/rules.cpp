#include "workflows/rules.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

namespace jitbot::workflows {
namespace {

bool is_group_id(const std::string& principal) { return !principal.empty() && principal.front() == 'S'; }

std::string label(const Role& role) { return role.provider + "/" + role.name; }

Refusal about(RefusalReason reason, const Request& request) {
  Refusal refusal;
  refusal.reason = reason;
  refusal.request_id = request.id;
  refusal.state = request.state;
  return refusal;
}

Refusal about(RefusalReason reason, const Role& role) {
  Refusal refusal;
  refusal.reason = reason;
  refusal.role = label(role);
  return refusal;
}

}  // namespace

bool is_listed(const std::vector<std::string>& principals, const std::string& user, Directory& directory) {
  return is_listed_in_any({&principals}, user, directory);
}

bool is_listed_in_any(std::initializer_list<const std::vector<std::string>*> lists, const std::string& user,
                      Directory& directory) {
  for (const auto* principals : lists) {
    if (principals == nullptr) continue;
    for (const auto& principal : *principals) {
      if (principal == "*" || principal == user) return true;
    }
  }
  // Group lookups may cost a network round trip, so only after every direct entry missed. A
  // group that cannot be read decides nothing while another group may still admit the person.
  std::optional<DirectoryUnavailable> unknown;
  for (const auto* principals : lists) {
    if (principals == nullptr) continue;
    for (const auto& principal : *principals) {
      if (!is_group_id(principal)) continue;
      try {
        if (directory.is_member(user, principal)) return true;
      } catch (const DirectoryUnavailable& e) {
        if (!unknown) unknown = e;
      }
    }
  }
  if (unknown) throw *unknown;
  return false;
}

Check check_request_fields(const Policy& policy, const NewRequest& draft, const Role*& role_out) {
  const Role* role = policy.find_role(draft.provider, draft.role);
  if (role == nullptr) {
    Refusal refusal;
    refusal.reason = RefusalReason::unknown_role;
    refusal.role = draft.provider + "/" + draft.role;
    for (const auto& candidate : policy.roles) {
      if (candidate.provider == draft.provider) refusal.options.push_back(candidate.name);
    }
    if (refusal.options.empty()) {
      for (const auto& candidate : policy.roles) refusal.options.push_back(label(candidate));
    }
    return refusal;
  }
  if (auto problem = scope_problem(role->scope_grammar, draft.scope)) {
    Refusal refusal = about(RefusalReason::scope_malformed, *role);
    refusal.asked = draft.scope;
    refusal.problem = *problem;
    refusal.expected = describe(role->scope_grammar);
    return refusal;
  }
  bool scope_allowed = std::any_of(role->scopes.begin(), role->scopes.end(),
                                   [&](const std::string& pattern) { return scope_matches(pattern, draft.scope); });
  if (!scope_allowed) {
    Refusal refusal = about(RefusalReason::scope_not_allowed, *role);
    refusal.asked = draft.scope;
    refusal.options = role->scopes;
    return refusal;
  }
  if (draft.duration > role->max_duration) {
    Refusal refusal = about(RefusalReason::duration_too_long, *role);
    refusal.requested = draft.duration;
    refusal.limit = role->max_duration;
    return refusal;
  }
  if (role->min_duration && draft.duration < *role->min_duration) {
    Refusal refusal = about(RefusalReason::duration_too_short, *role);
    refusal.requested = draft.duration;
    refusal.limit = *role->min_duration;
    return refusal;
  }
  // Spaces alone tell approvers and auditors nothing.
  bool blank =
      std::all_of(draft.reason.begin(), draft.reason.end(), [](unsigned char c) { return std::isspace(c) != 0; });
  if (blank) return about(RefusalReason::reason_missing, *role);
  if (draft.break_glass && role->break_glass_requesters.empty()) {
    return about(RefusalReason::break_glass_disabled, *role);
  }
  role_out = role;
  return std::nullopt;
}

Check check_new_request(const Policy& policy, Directory& directory, const std::string& requester,
                        const NewRequest& draft, const Role*& role_out) {
  const Role* role = nullptr;
  if (auto refusal = check_request_fields(policy, draft, role)) return refusal;
  if (draft.break_glass) {
    if (!is_listed(role->break_glass_requesters, requester, directory)) {
      return about(RefusalReason::not_a_break_glass_requester, *role);
    }
  } else if (!is_listed(role->requesters, requester, directory)) {
    Refusal refusal = about(RefusalReason::not_a_requester, *role);
    refusal.options = role->approvers;  // whom to ask
    return refusal;
  }
  role_out = role;
  return std::nullopt;
}

bool is_approver_now(const Role& role, Directory& directory, const std::string& actor, const Request& request) {
  const auto* escalation = request.escalated_at ? &role.escalation_approvers : nullptr;
  return is_listed_in_any({&role.approvers, escalation}, actor, directory);
}

Check check_decision(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                     Decision decision, Instant now) {
  if (request.state != RequestState::pending) return about(RefusalReason::wrong_state, request);
  if (now >= request.pending_deadline) return about(RefusalReason::past_deadline, request);
  if (actor == request.requester) return about(RefusalReason::own_request, request);
  if (!is_approver_now(role, directory, actor, request)) {
    Refusal refusal = about(RefusalReason::not_an_approver, role);
    refusal.options = role.approvers;  // who can, instead
    return refusal;
  }
  // An approver who approved may still deny (they spotted a problem); approving twice counts once.
  if (decision == Decision::approve && request.approved_by(actor)) {
    return about(RefusalReason::already_approved_by_you, request);
  }
  return std::nullopt;
}

Check check_revoke(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                   const std::vector<std::string>& admins) {
  // The requester gives up access without any lookup: that must work whatever Slack is doing.
  bool may = actor == request.requester || is_listed_in_any({&role.approvers, &admins}, actor, directory);
  if (!may) return about(RefusalReason::may_not_revoke, role);
  if (request.state == RequestState::revoke_failed) return std::nullopt;  // retry now
  if (request.state != RequestState::active) return about(RefusalReason::wrong_state, request);
  if (request.ending_as) return about(RefusalReason::already_revoking, request);
  return std::nullopt;
}

Check check_review(const Role* role, Directory& directory, const std::string& actor, const Request& request,
                   const std::vector<std::string>& admins) {
  if (!request.break_glass) return about(RefusalReason::not_break_glass, request);
  Refusal refusal = about(RefusalReason::own_break_glass, request);
  refusal.role = request.provider + "/" + request.role;
  if (actor == request.requester) return refusal;
  if (!is_listed_in_any({role != nullptr ? &role->approvers : nullptr, &admins}, actor, directory)) {
    refusal.reason = RefusalReason::not_a_reviewer;
    return refusal;
  }
  if (request.reviewed_at) {
    refusal.reason = RefusalReason::already_reviewed;
    refusal.problem = request.reviewed_by + " at " + format_rfc3339(*request.reviewed_at);
    return refusal;
  }
  return std::nullopt;
}

bool may_see(const Policy& policy, Directory& directory, const std::string& actor, const Request& request) {
  if (actor == request.requester) return true;
  const Role* role = policy.find_role(request.provider, request.role);
  const auto* approvers = role != nullptr ? &role->approvers : nullptr;
  const auto* escalation = role != nullptr && request.escalated_at ? &role->escalation_approvers : nullptr;
  return is_listed_in_any({approvers, escalation, &policy.admins}, actor, directory);
}

bool waits_on(const Policy& policy, Directory& directory, const std::string& actor, const Request& request) {
  if (actor == request.requester) return false;
  const Role* role = policy.find_role(request.provider, request.role);
  return role != nullptr && is_approver_now(*role, directory, actor, request);
}

namespace {

/// How much longer the role lets `request` last, beyond what it already may.
Seconds extension_left(const Role& role, const Request& request) {
  Seconds used = request.duration + request.extended_by;
  Seconds longest = role.longest_with_extensions();
  return longest > used ? longest - used : Seconds{0};
}

}  // namespace

/// ACTIVE, not ending, and before its end (the scheduler may not have ended it yet).
bool still_running(const Request& request, Instant now) {
  return request.state == RequestState::active && !request.ending_as && request.expires_at && *request.expires_at > now;
}

Check check_extension(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                      Seconds by, Instant now) {
  if (actor != request.requester) return about(RefusalReason::only_requester_extends, request);
  if (!still_running(request, now)) return about(RefusalReason::wrong_state, request);
  // Taken off the role since: no more time either.
  const auto* break_glass = request.break_glass ? &role.break_glass_requesters : nullptr;
  bool listed = is_listed_in_any({&role.requesters, break_glass}, actor, directory);
  if (!listed) {
    Refusal refusal = about(RefusalReason::not_a_requester, role);
    refusal.options = role.approvers;
    return refusal;
  }
  if (request.extension.is_open()) {
    Refusal refusal = about(RefusalReason::extension_open, request);
    refusal.problem = request.extension.status == Extension::Status::pending ? "waiting for approval" : "being applied";
    return refusal;
  }
  Seconds left = extension_left(role, request);
  if (by > left) {
    Refusal refusal = about(RefusalReason::extension_too_long, request);
    refusal.role = role.provider + "/" + role.name;
    refusal.requested = by;
    refusal.limit = role.longest_with_extensions();
    refusal.problem = left.count() > 0 ? "ask for " + format_duration(left) + " or less"
                                       : "it cannot be extended any further; request it again when it ends";
    return refusal;
  }
  return std::nullopt;
}

std::optional<Seconds> extension_offer(const Role& role, const Request& request) {
  Seconds left = extension_left(role, request);
  if (left.count() <= 0) return std::nullopt;
  return std::min(request.duration, left);
}

bool extension_applicable(const Role& role, const Request& request, Instant now) {
  return still_running(request, now) && request.extension.by <= extension_left(role, request);
}

Check check_extension_decision(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                               Decision decision, Instant now) {
  if (!still_running(request, now) || request.extension.status != Extension::Status::pending) {
    return about(RefusalReason::wrong_state, request);
  }
  if (decision == Decision::approve && request.extension.by > extension_left(role, request)) {
    Refusal refusal = about(RefusalReason::extension_too_long, request);
    refusal.role = role.provider + "/" + role.name;
    refusal.requested = request.extension.by;
    refusal.limit = role.longest_with_extensions();
    refusal.problem = "the role's limits changed since it was asked for; deny it, and the requester may ask again";
    return refusal;
  }
  if (actor == request.requester) return about(RefusalReason::own_request, request);
  if (!is_listed(role.approvers, actor, directory)) {
    Refusal refusal = about(RefusalReason::not_an_approver, role);
    refusal.options = role.approvers;
    return refusal;
  }
  const auto& approvers = request.extension.approvers;
  if (decision == Decision::approve && std::find(approvers.begin(), approvers.end(), actor) != approvers.end()) {
    return about(RefusalReason::already_approved_by_you, request);
  }
  return std::nullopt;
}

Check check_cancel(const std::string& actor, const Request& request) {
  if (actor != request.requester) return about(RefusalReason::only_requester_cancels, request);
  if (request.state != RequestState::pending) return about(RefusalReason::wrong_state, request);
  return std::nullopt;
}

}  // namespace jitbot::workflows
