#pragma once

#include <optional>
#include <string>
#include <vector>

#include "workflows/request.hpp"

namespace jitbot::workflows {

/// Why jitbot said no to someone. Decided here, worded once (describe(), in wording.cpp), so
/// tests and callers look at the reason, and every chat adapter says the same thing.
enum class RefusalReason {
  unknown_role,        ///< names the roles of that provider, or all roles
  scope_malformed,     ///< problem: what is wrong; expected: what a valid scope looks like
  scope_not_allowed,   ///< names the allowed scopes
  duration_too_long,   ///< limit: the role's max_duration
  duration_too_short,  ///< limit: the role's min_duration
  reason_missing,
  break_glass_disabled,  ///< the role has no break_glass_requesters
  not_a_break_glass_requester,
  not_a_requester,
  no_such_request,
  role_gone,      ///< the request's role left the config
  wrong_state,    ///< state: where the request stands instead
  past_deadline,  ///< undecided and past its pending deadline
  own_request,    ///< nobody approves or denies their own request
  not_an_approver,
  already_approved_by_you,
  may_not_revoke,  ///< only the requester or an approver
  already_revoking,
  only_requester_cancels,
  changed_meanwhile,   ///< lost the compare-and-set three times
  nothing_to_resolve,  ///< the operator resolved a request that holds no access
  unknown_button,
  not_yours_to_see,        ///< status of someone else's request, by neither an approver nor an admin
  not_break_glass,         ///< only break-glass requests are reviewed (/jit ack)
  own_break_glass,         ///< nobody reviews their own break-glass
  not_a_reviewer,          ///< only approvers of the role and [bot] admins review break-glass
  already_reviewed,        ///< problem: who reviewed it, and when
  ticket_missing,          ///< the role requires a ticket; expected: what a reference looks like
  ticket_not_found,        ///< asked: the key; problem: the ticket system's words
  ticket_closed,           ///< asked: the key
  ticket_unverified,       ///< on_error = "refuse" and the system could not be asked; problem: why
  duplicate_request,       ///< the same person already waits for the same access: request_id, problem = its state
  only_requester_extends,  ///< only the requester asks to extend their access
  extension_open,          ///< an extension of request_id already waits or is being applied
  extension_too_long,      ///< requested: the extension; limit: the role's longest access; problem: what is left
  directory_unavailable,   ///< a user group that decides it could not be read; problem: which, and why

  // A command that could not be read. expected: the usage line of the command meant.
  unknown_command,        ///< asked: its first word
  quote_unclosed,         ///<
  value_without_flag,     ///< asked: a word of `request` that follows no flag
  unknown_option,         ///< asked: the option, dashes included
  option_repeated,        ///< asked: the option
  option_needs_value,     ///< asked: the option
  option_takes_no_value,  ///< asked: the option
  options_missing,        ///< options: those not given, dashes included
  request_id_missing,     ///<
  request_id_malformed,   ///< asked: the word given instead
  words_after_id,         ///< a command that takes only an ID had more
  duration_missing,       ///< `extend` without one
  duration_malformed,     ///< asked: the word
  duration_beyond_limit,  ///< asked: the word; limit: the longest duration jitbot reads
  extra_after_duration,   ///< asked: a word after `extend`'s duration that is not --reason
  too_many_options,       ///< `list` takes one
};

struct Refusal {
  RefusalReason reason = RefusalReason::wrong_state;
  std::string role;        ///< "provider/name", where it matters
  std::string request_id;  ///< where it matters
  std::string asked;       ///< what was asked for that is not allowed (a scope)
  RequestState state = RequestState::pending;
  Seconds requested{0};
  Seconds limit{0};
  std::vector<std::string> options;  ///< what would have been allowed (roles, scopes)
  std::string problem;               ///< what is wrong with what was asked (a malformed scope)
  std::string expected;              ///< what a valid value looks like (or a command's usage line)
};

/// The words for a refusal, for the person refused (plain text; adapters escape it).
std::string describe(const Refusal& refusal);

}  // namespace jitbot::workflows
