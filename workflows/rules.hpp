#pragma once

#include <initializer_list>

#include <optional>
#include <string>
#include <vector>

#include "workflows/policy.hpp"
#include "workflows/ports.hpp"
#include "workflows/refusal.hpp"
#include "workflows/request.hpp"

namespace jitbot::workflows {

/// Why the rules say no; empty: allowed.
using Check = std::optional<Refusal>;

/// True when `user` is named in `principals` directly, through a group (S…), or by "*". Throws
/// DirectoryUnavailable when nothing admits them and a group among `principals` could not be read.
bool is_listed(const std::vector<std::string>& principals, const std::string& user, Directory& directory);

/// is_listed over several lists at once (a null one is skipped): every direct entry of every list
/// is looked at before any group, so a group that cannot be read in one list never hides a direct
/// entry, or a readable group, in another.
bool is_listed_in_any(std::initializer_list<const std::vector<std::string>*> lists, const std::string& user,
                      Directory& directory);

/// Who may read a request's details (reason, backend errors, who approved): its requester, the
/// approvers of its role, and [bot] admins. Everyone else is told it is not theirs to see.
bool may_see(const Policy& policy, Directory& directory, const std::string& actor, const Request& request);

/// True when `actor` may approve `request` now, or could have: an approver of its role other
/// than the requester. For showing approvers what waits on them.
bool waits_on(const Policy& policy, Directory& directory, const std::string& actor, const Request& request);

/// Checks what a new request asks for against the role it names (role, scope, duration, reason,
/// break-glass enabled), without asking who asks: needs no directory, so a form can be checked
/// before Slack is answered. On success `role_out` points at the role.
Check check_request_fields(const Policy& policy, const NewRequest& draft, const Role*& role_out);

/// Checks a new request against the role it names; on success `role_out` points at it.
Check check_new_request(const Policy& policy, Directory& directory, const std::string& requester,
                        const NewRequest& draft, const Role*& role_out);

/// The role's approvers, and once the request has escalated, its escalation approvers too.
bool is_approver_now(const Role& role, Directory& directory, const std::string& actor, const Request& request);

enum class Decision { approve, deny };

/// Checks an approve or deny click/command by `actor` on `request` at `now`. A request past its
/// pending deadline is refused even if the scheduler has not timed it out yet.
Check check_decision(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                     Decision decision, Instant now);

/// Checks `/jit revoke` (and the card's Revoke button): approvers and the requester may end access
/// early; so may [bot] admins (`admins`), who answer break-glass alerts.
Check check_revoke(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                   const std::vector<std::string>& admins = {});

/// Checks `/jit ack` (and the alert's Acknowledge button): a break-glass request not yet reviewed,
/// reviewed by an approver of its role (`role` may be null when it left the config) or an admin,
/// never by its requester.
Check check_review(const Role* role, Directory& directory, const std::string& actor, const Request& request,
                   const std::vector<std::string>& admins);

/// Checks `/jit extend` (and the Extend button) for `by` more at `now`: only the requester, still
/// one of the role's requesters, only while ACTIVE, not ending and not past its end, one extension
/// at a time, never past the role's longest_with_extensions().
Check check_extension(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                      Seconds by, Instant now);

/// What the pre-expiry warning offers: as long again as the request asked for, within what the
/// role still allows; nullopt when the access may not be extended any further.
std::optional<Seconds> extension_offer(const Role& role, const Request& request);

/// check_decision for a pending extension of ACTIVE access at `now`: an approver of the role, not
/// the requester, approving once, while the access has not reached its end and the extension
/// still fits the role (its limits may have changed since it was asked for).
Check check_extension_decision(const Role& role, Directory& directory, const std::string& actor, const Request& request,
                               Decision decision, Instant now);

/// Whether `request`'s pending or approved extension may still be applied at `now`.
bool extension_applicable(const Role& role, const Request& request, Instant now);

/// Checks `/jit cancel`: only the requester, only while pending.
Check check_cancel(const std::string& actor, const Request& request);

}  // namespace jitbot::workflows
