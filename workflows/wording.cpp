#include "workflows/wording.hpp"

#include <algorithm>
#include <cctype>

#include "workflows/text.hpp"

namespace jitbot::workflows {
namespace {

int approvals_required(const Request& request, const Policy& policy) {
  const Role* role = policy.find_role(request.provider, request.role);
  return role ? role->approvals_required : 1;
}

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

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::string approvers_of(const Request& request) {
  std::string out;
  for (const auto& approval : request.approvals) {
    auto schedule = on_call_schedule(approval.approver);
    out += (out.empty() ? "" : ", ") + (schedule ? "jitbot (on call in " + *schedule + ")" : approval.approver);
  }
  return out;
}

/// The end of a card's state line: access removed, or what the backend could not end and when
/// that ends by itself.
std::string removal(const Request& request) {
  if (!request.lingers_until) return "; access removed";
  return "; the console session stays valid until " + format_rfc3339(*request.lingers_until) +
         " (the backend cannot end it early)";
}

/// The same for the requester's DM, as a sentence after "has expired" / "was revoked by X".
std::string removal_sentence(const Request& request) {
  if (!request.lingers_until) return std::string{request.state == RequestState::expired ? " and was removed." : "."};
  return ". The console session you opened stays valid until " + format_rfc3339(*request.lingers_until) +
         ": the backend cannot end it early.";
}

/// A command that could not be read: what is wrong, then how the command goes.
std::string with_usage(const std::string& problem, const Refusal& r) { return problem + "\nUsage: " + r.expected; }

}  // namespace

std::string describe(const Refusal& r) {
  switch (r.reason) {
    case RefusalReason::unknown_role:
      return "Unknown role " + r.role +
             ". Roles you can request: " + (r.options.empty() ? "none are configured" : joined(r.options)) + ".";
    case RefusalReason::not_yours_to_see:
      return "Request " + r.request_id +
             " is not yours to see: only its requester, the approvers of its role and jitbot admins can. Your own "
             "requests: /jit status";
    case RefusalReason::scope_malformed:
      return "\"" + cut_utf8(r.asked, 80) + "\" is not a valid scope for " + r.role + ": " + r.problem + ". Give " +
             r.expected + ".";
    case RefusalReason::scope_not_allowed:
      return "Scope " + r.asked + " is not allowed for " + r.role + ". Allowed scopes: " + joined(r.options) + ".";
    case RefusalReason::duration_too_long:
      return "Duration " + format_duration(r.requested) + " is longer than the maximum of " + format_duration(r.limit) +
             " for " + r.role + ".";
    case RefusalReason::duration_too_short:
      return "Duration " + format_duration(r.requested) + " is shorter than the minimum of " +
             format_duration(r.limit) + " for " + r.role + ".";
    case RefusalReason::reason_missing:
      return "A reason is required (--reason \"…\"), so approvers and auditors know why.";
    case RefusalReason::break_glass_disabled:
      return "Break-glass is not enabled for " + r.role + ". Submit a normal request instead.";
    case RefusalReason::not_a_break_glass_requester:
      return "You are not allowed to break glass for " + r.role +
             ". Submit a normal request, or ask an admin to add you to break_glass_requesters.";
    case RefusalReason::not_a_requester:
      return "You are not allowed to request " + r.role + "." +
             (r.options.empty()
                  ? std::string{" Ask a jitbot admin to add you to its requesters."}
                  : " Ask one of its approvers (" + joined(r.options) + ") to add you to its requesters.");
    case RefusalReason::ticket_missing:
      return r.role + " needs a ticket: cite one in --reason, such as " + r.expected + ".";
    case RefusalReason::ticket_not_found:
      return "Ticket " + r.asked + " was not found (" + r.problem +
             "). Check the key, or cite another ticket in --reason.";
    case RefusalReason::ticket_closed:
      return "Ticket " + r.asked + " is closed. Cite an open ticket for this work in --reason, or reopen it.";
    case RefusalReason::ticket_unverified:
      return "Ticket " + r.asked + " could not be checked (" + r.problem + ") and " + r.role +
             " accepts only checked tickets. Try again in a few minutes.";
    case RefusalReason::duplicate_request:
      return "You already asked for exactly this: " + r.role + " on " + r.asked + ", " + r.request_id + " (" +
             r.problem + "). See it with /jit status " + r.request_id + ", or cancel it with /jit cancel " +
             r.request_id + " before asking again.";
    case RefusalReason::only_requester_extends:
      return "Only the requester can extend " + r.request_id + ". If they need more time, they ask with /jit extend " +
             r.request_id + " DURATION.";
    case RefusalReason::extension_open:
      return "An extension of " + r.request_id + " is already " + r.problem +
             ". Wait for it to be decided; see it with /jit status " + r.request_id + ".";
    case RefusalReason::extension_too_long:
      return "Extending " + r.request_id + " by " + format_duration(r.requested) + " would take " + r.role +
             " past its limit of " + format_duration(r.limit) + " in all; " + r.problem + ".";
    case RefusalReason::no_such_request:
      return "There is no request " + r.request_id + ". Check the ID with /jit list.";
    case RefusalReason::role_gone: return "Role " + r.role + " is no longer configured.";
    case RefusalReason::wrong_state: return "Request " + r.request_id + " " + state_phrase(r.state) + ".";
    case RefusalReason::past_deadline:
      return "Request " + r.request_id + " has timed out; the requester must ask again.";
    case RefusalReason::own_request: return "You cannot approve or deny your own request.";
    case RefusalReason::not_an_approver:
      return "You are not an approver for " + r.role + "." +
             (r.options.empty() ? std::string{} : " Its approvers are " + joined(r.options) + ".");
    case RefusalReason::already_approved_by_you:
      return "You have already approved " + r.request_id + "; it needs another approver.";
    case RefusalReason::may_not_revoke: return "Only the requester or an approver of " + r.role + " can revoke.";
    case RefusalReason::already_revoking: return "Request " + r.request_id + " is already being revoked.";
    case RefusalReason::only_requester_cancels: return "Only the requester can cancel " + r.request_id + ".";
    case RefusalReason::changed_meanwhile:
      return "Request " + r.request_id + " changed while you acted on it; look at it again and retry.";
    case RefusalReason::nothing_to_resolve:
      return "Request " + r.request_id + " is " + std::string{to_string(r.state)} +
             " and holds no access; there is nothing to resolve.";
    case RefusalReason::directory_unavailable:
      return "jitbot cannot tell yet whether you may do this: " + r.problem +
             ". Nothing was changed; try again in a minute.";
    case RefusalReason::unknown_button: return "That button is not one jitbot knows; nothing was changed.";
    case RefusalReason::unknown_command:
      return with_usage("Unknown command \"" + cut_utf8(r.asked, 80) +
                            "\". The commands are request, approve, deny, extend, revoke, cancel, ack, status, list "
                            "and help.",
                        r);
    case RefusalReason::quote_unclosed:
      return with_usage("A quote is not closed; end the value with the same quote it starts with.", r);
    case RefusalReason::value_without_flag:
      return with_usage(
          "Unexpected \"" + cut_utf8(r.asked, 80) + "\". Put values after a flag, and quote text with spaces.", r);
    case RefusalReason::unknown_option: return with_usage("Unknown option " + cut_utf8(r.asked, 80) + ".", r);
    case RefusalReason::option_repeated: return with_usage(r.asked + " is given twice.", r);
    case RefusalReason::option_needs_value: return with_usage(r.asked + " needs a value.", r);
    case RefusalReason::option_takes_no_value: return with_usage(r.asked + " takes no value.", r);
    case RefusalReason::options_missing: return with_usage("Missing " + joined(r.options) + ".", r);
    case RefusalReason::request_id_missing: return with_usage("Which request? Give its ID (req_…).", r);
    case RefusalReason::request_id_malformed:
      return with_usage(
          "\"" + cut_utf8(r.asked, 80) + "\" is not a request ID; IDs look like req_01J9Z3K6X4M8V2T7Q5R1N0B3CD.", r);
    case RefusalReason::words_after_id: return with_usage("Too many words after the ID.", r);
    case RefusalReason::duration_missing: return with_usage("How much longer? Give a duration such as 1h.", r);
    case RefusalReason::duration_malformed:
      return with_usage("\"" + cut_utf8(r.asked, 80) + "\" is not a duration; use forms like 90s, 30m, 2h or 2h30m.",
                        r);
    case RefusalReason::duration_beyond_limit:
      return with_usage("\"" + cut_utf8(r.asked, 80) + "\" is too long (at most " + format_duration(r.limit) +
                            "); ask for what the work needs.",
                        r);
    case RefusalReason::extra_after_duration:
      return with_usage(
          "Unexpected \"" + cut_utf8(r.asked, 80) + "\" after the duration; give a reason with --reason \"…\".", r);
    case RefusalReason::too_many_options: return with_usage("list takes at most one option.", r);
    case RefusalReason::not_break_glass:
      return "Request " + r.request_id +
             " is not a break-glass request; only break-glass access is reviewed with /jit ack.";
    case RefusalReason::own_break_glass:
      return "You cannot review your own break-glass request " + r.request_id + ". An approver of " + r.role +
             " or a jitbot admin must.";
    case RefusalReason::not_a_reviewer:
      return "Only approvers of " + r.role + " and jitbot admins can review break-glass request " + r.request_id + ".";
    case RefusalReason::already_reviewed:
      return "Break-glass request " + r.request_id + " was already reviewed by " + r.problem + ".";
  }
  return "jitbot refused this.";
}

std::vector<std::string> people_of(const Request& request) {
  std::vector<std::string> ids{request.requester, request.decided_by, request.reviewed_by};
  for (const auto& approval : request.approvals) ids.push_back(approval.approver);
  ids.push_back(request.extension.decided_by);
  ids.insert(ids.end(), request.extension.approvers.begin(), request.extension.approvers.end());
  std::vector<std::string> out;
  for (auto& id : ids) {
    bool slack_id = id.size() >= 2 && id.size() <= 32 && std::all_of(id.begin(), id.end(), [](unsigned char c) {
                      return std::isupper(c) || std::isdigit(c);
                    });
    if (slack_id && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

std::string replace_people(const std::string& text, const std::vector<std::string>& ids,
                           const std::function<std::string(const std::string&)>& name) {
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  std::string out;
  for (std::size_t at = 0; at < text.size();) {
    bool replaced = false;
    if (at == 0 || !is_word(text[at - 1])) {
      for (const auto& id : ids) {
        std::size_t end = at + id.size();
        if (text.compare(at, id.size(), id) == 0 && (end == text.size() || !is_word(text[end]))) {
          out += name(id);
          at = end;
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[at++];
  }
  return out;
}

std::string access_summary(const Request& request) {
  std::string extended = request.extended_by.count() > 0 ? " +" + format_duration(request.extended_by) : "";
  return request.provider + "/" + request.role + " on " + request.scope + " for " + format_duration(request.duration) +
         extended;
}

std::string state_summary(const Request& request, const Policy& policy) {
  auto at = [](const std::optional<Instant>& when) { return when ? format_rfc3339(*when) : std::string{"?"}; };
  switch (request.state) {
    case RequestState::pending: {
      std::string escalated;
      const Role* role = policy.find_role(request.provider, request.role);
      if (request.escalated_at && role) {
        escalated =
            "; escalated to " + joined(role->escalation_approvers) + " at " + format_rfc3339(*request.escalated_at);
      }
      return "Pending: " + std::to_string(request.approvals.size()) + " of " +
             std::to_string(approvals_required(request, policy)) + " approvals" + escalated + "; times out at " +
             format_rfc3339(request.pending_deadline);
    }
    case RequestState::approved:
      return request.break_glass ? "Break-glass: granting now"
                                 : "Approved by " + approvers_of(request) + "; granting now";
    case RequestState::active:
      if (request.ending_as) {
        return std::string{request.ending_as == RequestState::expired ? "Expiring" : "Being revoked"} +
               ": revoke in progress, access may still exist";
      }
      return "Active until " + at(request.expires_at) + extension_summary(request, policy);
    case RequestState::expired: return "Expired at " + at(request.ended_at) + removal(request);
    case RequestState::revoked:
      return "Revoked by " + request.decided_by + " at " + at(request.ended_at) +
             (request.decision_note.empty() ? "" : " (" + request.decision_note + ")") + removal(request);
    case RequestState::denied:
      return "Denied by " + request.decided_by +
             (request.decision_note.empty() ? std::string{} : ": " + request.decision_note);
    case RequestState::timed_out: return "Timed out at " + at(request.ended_at) + " without a decision";
    case RequestState::cancelled: return "Cancelled by the requester";
    case RequestState::grant_failed:
      if (!request.ending_as) return "Grant failed: " + request.last_error + ". Nothing is granted";
      if (request.revoke_attempts == 0) {
        return "Grant failed: " + request.last_error +
               ". Removing anything the backend may have granted partly; access may still exist";
      }
      return "Grant failed: " + request.last_error + ". Clean-up failed (attempt " +
             std::to_string(request.revoke_attempts) + "), next try at " + at(request.next_revoke_attempt) +
             "; access may still exist";
    case RequestState::revoke_failed:
      return "Revoke failed (attempt " + std::to_string(request.revoke_attempts) + "): " + request.last_error +
             ". Next try at " + at(request.next_revoke_attempt) + "; access may still exist";
  }
  return "Unknown state";
}

std::string extension_summary(const Request& request, const Policy& policy) {
  const Extension& extension = request.extension;
  std::string extended =
      request.extended_by.count() > 0 ? " (extended by " + format_duration(request.extended_by) + " in all)" : "";
  std::string asked = "extension by " + format_duration(extension.by);
  switch (extension.status) {
    case Extension::Status::none:
    case Extension::Status::done: return extended;
    case Extension::Status::pending: {
      int needed = approvals_required(request, policy);
      return extended + "; " + asked + " asked for (" + std::to_string(extension.approvers.size()) + " of " +
             std::to_string(needed) + " approvals)" +
             (extension.reason.empty() ? std::string{} : ": " + extension.reason);
    }
    case Extension::Status::approved: return extended + "; " + asked + " approved, being applied";
    case Extension::Status::denied:
      return extended + "; " + asked + " denied by " + extension.decided_by +
             (extension.note.empty() ? std::string{} : ": " + extension.note);
    case Extension::Status::failed: return extended + "; " + asked + " not applied: " + extension.note;
  }
  return extended;
}

std::string ticket_summary(const Request& request) {
  if (request.ticket.empty()) return {};
  if (!request.ticket_verified) return request.ticket + " (not verified: the ticket system could not be reached)";
  return request.ticket + ": " + request.ticket_title +
         (request.ticket_url.empty() ? "" : " (" + request.ticket_url + ")");
}

std::string review_summary(const Request& request) {
  if (!request.break_glass) return {};
  if (!request.reviewed_at) return "Not reviewed yet: an approver of the role reviews it with /jit ack " + request.id;
  return "Reviewed by " + request.reviewed_by + " at " + format_rfc3339(*request.reviewed_at) +
         (request.review_note.empty() ? "" : ": " + request.review_note);
}

std::string alert_summary(const Notice& notice, const Request& request, const Policy& policy) {
  std::string who = "Break-glass by " + request.requester + ": " + access_summary(request) + " (" + request.id + ")";
  switch (notice.event) {
    case NoticeEvent::break_glass:
    case NoticeEvent::granted:
    case NoticeEvent::grant_failed:
    case NoticeEvent::revoked:
    case NoticeEvent::expired:
    case NoticeEvent::reviewed: return who + ". " + state_summary(request, policy) + ". " + review_summary(request);
    case NoticeEvent::realert:
      return "Still not reviewed: " + who + ". " + state_summary(request, policy) + ". " + review_summary(request);
    case NoticeEvent::revoke_done:
      return "Revoke of " + request.id + " (" + access_summary(request) + ") finally succeeded. " +
             state_summary(request, policy);
    default: return incident_message(notice, request);
  }
}

std::string list_line(const Request& request, const Policy& policy) {
  std::string flag;
  if (request.break_glass) flag = request.reviewed_at ? "  [break-glass, reviewed]" : "  [break-glass, NOT reviewed]";
  return request.id + "  " + std::string{to_string(request.state)} + "  " + access_summary(request) + "  by " +
         request.requester + flag + "  — " + state_summary(request, policy);
}

std::string status_details(const Request& request, const Policy& policy) {
  std::string out = "Request " + request.id + (request.break_glass ? " (break-glass)" : "") + "\n";
  out += "  Access: " + access_summary(request) + "\n";
  out += "  Requester: " + request.requester + "\n";
  out += "  Reason: " + request.reason + "\n";
  if (!request.ticket.empty()) out += "  Ticket: " + ticket_summary(request) + "\n";
  out += "  Created: " + format_rfc3339(request.created_at) + "\n";
  if (!request.approvals.empty()) out += "  Approved by: " + approvers_of(request) + "\n";
  if (request.extended_by.count() > 0) out += "  Extended by: " + format_duration(request.extended_by) + "\n";
  out += "  State: " + std::string{to_string(request.state)} + " — " + state_summary(request, policy);
  if (request.break_glass) out += "\n  Review: " + review_summary(request);
  return out;
}

std::string requester_message(const Notice& notice, const Request& request) {
  std::string access = access_summary(request);
  switch (notice.event) {
    case NoticeEvent::granted: {
      std::string text = "Your access is active: " + access + ", until " +
                         (request.expires_at ? format_rfc3339(*request.expires_at) : std::string{"?"}) + " (" +
                         request.id + ").";
      if (!notice.detail.empty()) text += " " + notice.detail;
      return text;
    }
    case NoticeEvent::grant_failed:
      return "Your request " + request.id + " (" + access + ") was approved but the grant failed: " + notice.detail +
             ". jitbot is removing anything it may have granted partly. Ask an admin to check the backend, then "
             "request again.";
    case NoticeEvent::denied:
      return "Your request " + request.id + " (" + access + ") was denied by " + request.decided_by +
             (notice.detail.empty() ? "." : ": " + notice.detail);
    case NoticeEvent::timed_out:
      return "Your request " + request.id + " (" + access +
             ") timed out without a decision. Request again if you still need it.";
    case NoticeEvent::expired:
      return "Your access " + request.id + " (" + access + ") has expired" + removal_sentence(request) +
             (notice.detail.empty() ? "" : " " + notice.detail);
    case NoticeEvent::revoked:
      return "Your access " + request.id + " (" + access + ") was revoked by " + request.decided_by +
             removal_sentence(request) + (notice.detail.empty() ? "" : " " + notice.detail);
    case NoticeEvent::revoke_failed:
      return "Your access " + request.id + " (" + access + ") could not be revoked: " + notice.detail +
             ". jitbot keeps retrying and the incident channels know; your access may still exist until it succeeds.";
    case NoticeEvent::cleanup_failed:
      return "jitbot could not clean up after the failed grant of " + request.id + " (" + access +
             "): " + notice.detail + ". It keeps retrying; some access may exist until it succeeds.";
    case NoticeEvent::escalated:
      return "Request " + request.id + " by " + request.requester + " (" + access + ", reason: " + request.reason +
             ") has waited since " + format_rfc3339(request.created_at) +
             " and was escalated to you. Approve or deny it on its card, or with /jit approve " + request.id +
             " or /jit deny " + request.id + " [reason].";
    case NoticeEvent::extended:
      return "Your access " + request.id + " (" + access + ") was extended: it now ends at " +
             (request.expires_at ? format_rfc3339(*request.expires_at) : std::string{"?"}) + "." +
             (notice.detail.empty() ? "" : " " + notice.detail);
    case NoticeEvent::extension_denied:
      return "The extension of your access " + request.id + " (" + access + ") was denied by " +
             request.extension.decided_by + (notice.detail.empty() ? "" : ": " + notice.detail) +
             ". Your access ends at " + (request.expires_at ? format_rfc3339(*request.expires_at) : std::string{"?"}) +
             " as planned.";
    case NoticeEvent::extension_failed:
      return "Your access " + request.id + " (" + access + ") could not be extended: " + notice.detail +
             ". It still ends at " + (request.expires_at ? format_rfc3339(*request.expires_at) : std::string{"?"}) +
             "; ask again with /jit extend " + request.id + " DURATION, or ask an admin to check the backend.";
    case NoticeEvent::expiry_warning:
      if (request.extension.is_open()) {
        return "Your access " + request.id + " (" + access + ") ends at " +
               (request.expires_at ? format_rfc3339(*request.expires_at) : std::string{"?"}) +
               " unless the extension by " + format_duration(request.extension.by) + " you asked for is " +
               (request.extension.status == Extension::Status::pending ? "approved and applied" : "applied") +
               " before then. See it with /jit status " + request.id + ".";
      }
      return "Your access " + request.id + " (" + access + ") ends at " +
             (request.expires_at ? format_rfc3339(*request.expires_at) : std::string{"?"}) + "." +
             (notice.detail.empty() ? " It cannot be extended any further; request it again if you still need it."
                                    : " Need more time? Extend it by " + notice.detail +
                                          " with the button, or with /jit extend " + request.id + " DURATION.");
    case NoticeEvent::cancelled:
      return "Your request " + request.id + " (" + access + ") was cancelled by " + request.decided_by +
             (notice.detail.empty() ? "." : ": " + notice.detail);
    default: return "Update on your request " + request.id + ": " + std::string{to_string(notice.event)} + ".";
  }
}

std::string incident_message(const Notice& notice, const Request& request) {
  std::string access = access_summary(request);
  switch (notice.event) {
    case NoticeEvent::revoke_failed:
      return "Access " + request.id + " (" + access + ", requested by " + request.requester +
             ") could not be revoked: " + notice.detail + ". jitbot retries with backoff; access may still exist. If " +
             "the backend cannot recover, remove the access by hand and run `jitbot requests resolve " + request.id +
             "`.";
    case NoticeEvent::cleanup_failed:
      return "The grant of " + request.id + " (" + access + ", requested by " + request.requester +
             ") failed and could not be cleaned up: " + notice.detail +
             ". jitbot retries with backoff; partial access may exist. Check the backend, or remove it by hand and "
             "run `jitbot requests resolve " +
             request.id + "`.";
    case NoticeEvent::notice_parked:
      return "jitbot could not deliver a message about " + request.id + " and set it aside: " + notice.detail +
             ". Fix the cause (a channel jitbot is not in, a user it cannot DM), then run `jitbot outbox retry` with "
             "the number after #.";
    default: return "Alert about " + request.id + " (" + access + "): " + std::string{to_string(notice.event)} + ".";
  }
}

}  // namespace jitbot::workflows
