#pragma once

#include <functional>
#include <string>
#include <vector>

#include "workflows/policy.hpp"
#include "workflows/refusal.hpp"
#include "workflows/request.hpp"

namespace jitbot::workflows {

/// Shared plain-text wording about requests, so every chat adapter says the same thing.
/// The text contains user input verbatim: adapters escape it for their medium.

/// The people a request's wording may name: requester, approvers, who decided, who reviewed.
std::vector<std::string> people_of(const Request& request);

/// `text` with each whole-word occurrence of one of `ids` replaced by `name(id)`, so adapters
/// can show people as their medium does (a Slack mention, "U0BOB (Bob Stone)").
std::string replace_people(const std::string& text, const std::vector<std::string>& ids,
                           const std::function<std::string(const std::string&)>& name);

/// "aws/prod-infra-admin on 123456789012 for 2h", "… for 2h +1h" once extended by 1h
std::string access_summary(const Request& request);

/// Where the request stands, e.g. "Pending: 1 of 2 approvals", "Active until 2026-…Z",
/// "Revoke failed (attempt 3): <reason>. Retrying at …; access may still exist."
std::string state_summary(const Request& request, const Policy& policy);

/// The extension part of an active request's state: " (extended by 1h in all)", "; extension by
/// 1h asked for (0 of 1 approvals)", "; extension by 1h denied by U…: reason"; "" for none.
std::string extension_summary(const Request& request, const Policy& policy);

/// "INC-7: db down (https://…)", or "INC-7 (not verified: …)"; "" when no ticket is cited.
std::string ticket_summary(const Request& request);

/// Where a break-glass request's review stands ("Not reviewed yet: …", "Reviewed by U… at …: note");
/// "" for other requests.
std::string review_summary(const Request& request);

/// One line for a pager or webhook about `notice`: what happened, where it stands, the review.
std::string alert_summary(const Notice& notice, const Request& request, const Policy& policy);

/// One line for /jit list.
std::string list_line(const Request& request, const Policy& policy);

/// Several lines for /jit status ID.
std::string status_details(const Request& request, const Policy& policy);

/// The message the requester gets for a DM notice (or, for `escalated`, an escalation approver).
std::string requester_message(const Notice& notice, const Request& request);

/// An alert for the incident channels about trouble that needs a human (a revoke that keeps
/// failing, a failed grant that could not be cleaned up, a notice that could not be delivered).
/// Break-glass alerts have their own layout in each adapter.
std::string incident_message(const Notice& notice, const Request& request);

}  // namespace jitbot::workflows
