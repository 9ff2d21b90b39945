#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/time.hpp"

namespace jitbot::workflows {

/// The lifecycle (README, "How a request lives"):
///   PENDING -> APPROVED -> ACTIVE -> EXPIRED | REVOKED
///   PENDING -> DENIED | TIMED_OUT | CANCELLED
///   APPROVED -> GRANT_FAILED
///   ACTIVE -> REVOKE_FAILED -> (retried) -> EXPIRED | REVOKED
enum class RequestState {
  pending,
  approved,
  active,
  expired,
  revoked,
  denied,
  timed_out,
  cancelled,
  grant_failed,
  revoke_failed,
};

std::string_view to_string(RequestState state);
std::optional<RequestState> parse_request_state(std::string_view text);

/// True once nothing more will happen to the request and no access can exist.
bool is_final(RequestState state);

struct Approval {
  std::string approver;  ///< a user ID, or on_call_approver(schedule) when jitbot approved by schedule
  Instant at;
};

/// The approver recorded when a requester on call in `schedule` ("pagerduty:P1ABCDE") is approved
/// by jitbot itself; no Slack ID looks like it.
std::string on_call_approver(std::string_view schedule);
/// The schedule of an on-call approval, or nullopt for a person's approval.
std::optional<std::string> on_call_schedule(std::string_view approver);

/// A request to keep ACTIVE access longer (`/jit extend`, the Extend button). It is a new decision
/// on the same request: the role's approvers decide it on the same card, unless the role lets
/// the requester extend alone (self_extend). Approved, it becomes an `extend` backend job.
struct Extension {
  enum class Status {
    none,      ///< never asked for
    pending,   ///< waits for approvals
    approved,  ///< the backend is moving the expiry
    done,      ///< the expiry moved
    denied,    ///< decided_by said no (note: why)
    failed,    ///< could not be applied (note: why); access ends at the old expiry
  };
  Status status = Status::none;
  Seconds by{0};       ///< how much longer than the expiry when it was asked for
  std::string reason;  ///< "" means the request's own reason still holds
  std::optional<Instant> requested_at;
  std::vector<std::string> approvers;  ///< who approved it so far
  std::string decided_by;              ///< who denied it
  std::string note;                    ///< the deny reason, or why it could not be applied

  bool is_open() const { return status == Status::pending || status == Status::approved; }
};

std::string_view to_string(Extension::Status status);
std::optional<Extension::Status> parse_extension_status(std::string_view text);

/// What someone asks for with `/jit request`, before any rule has looked at it.
struct NewRequest {
  std::string provider;
  std::string role;
  std::string scope;
  Seconds duration{0};
  std::string reason;
  bool break_glass = false;
};

struct Request {
  std::string id;
  std::int64_t version = 0;  ///< bumped by every transition; the compare-and-set key
  RequestState state = RequestState::pending;

  std::string provider;
  std::string role;
  std::string scope;
  Seconds duration{0};
  std::string reason;
  bool break_glass = false;
  std::string requester;

  Instant created_at;
  Instant pending_deadline;  ///< an undecided request times out here
  std::vector<Approval> approvals;

  std::string decided_by;     ///< who denied, cancelled or revoked
  std::string decision_note;  ///< the deny reason, if one was given
  std::optional<Instant> decided_at;

  /// When the first grant attempt began: a grant re-run after a crash still ends on time.
  std::optional<Instant> grant_started_at;

  /// For the whole of the backend's target (Role::whole_target as it was when requested), so
  /// the revoke undoes exactly what the grant did, whatever the config says by then.
  bool whole_target = false;
  std::optional<Instant> granted_at;
  std::optional<Instant> expires_at;
  std::optional<Instant> ended_at;
  /// Access the backend could not end with the revoke (a console session) lasts until then.
  std::optional<Instant> lingers_until;
  std::string grant_id;  ///< the backend's handle for the grant, sent back on revoke
  std::string backend;   ///< the backend chosen at submission; revokes go to it even if the role changes

  /// While a revoke is in flight or being retried: what the request becomes when it succeeds
  /// (expired or revoked). Set in the same transaction that decides to revoke, so a crash
  /// mid-revoke is finished at start-up.
  std::optional<RequestState> ending_as;
  int revoke_attempts = 0;
  std::optional<Instant> next_revoke_attempt;
  std::string last_error;  ///< the backend's last failure reason, shown to people

  /// While pending: reminders sent to the approvers, when the next is due, and when the request
  /// escalates (or did: escalated_at), adding the role's escalation approvers.
  int reminders_sent = 0;
  std::optional<Instant> next_reminder_at;
  std::optional<Instant> escalate_at;
  std::optional<Instant> escalated_at;

  /// The ticket the reason cites, when the role requires one: its key ("INC-7", "acme/ops#12"),
  /// title and link as the ticket system gave them, and whether it could be checked at all.
  std::string ticket;
  std::string ticket_title;
  std::string ticket_url;
  bool ticket_verified = false;

  /// Break-glass only: the human review after the fact (`/jit ack`, the alert's Acknowledge).
  std::string reviewed_by;
  std::optional<Instant> reviewed_at;
  std::string review_note;
  /// Break-glass only: when the unreviewed request is alerted again; cleared by the review.
  std::optional<Instant> next_realert_at;

  /// The latest extension asked for, and how much longer than `duration` the access now lasts
  /// through the extensions applied so far.
  Extension extension;
  Seconds extended_by{0};
  /// While ACTIVE: when the requester is warned that access ends soon (with an Extend button).
  std::optional<Instant> warn_at;

  bool approved_by(std::string_view user) const;
};

/// One line of the audit trail: who did what to which request, from which state.
struct AuditEntry {
  std::int64_t sequence = 0;
  std::string request_id;
  Instant at;
  std::string actor;  ///< a Slack user ID, or "jitbot" for the scheduler and backends
  std::string action;
  std::string from_state;
  std::string to_state;
  std::string detail;
};

/// What the chat adapter must show; written to the outbox in the transition's own
/// transaction so a chat outage or crash delays a message but never loses it.
enum class NoticeKind {
  approval_card,   ///< post or refresh the request's card in its approvals channel
  requester_dm,    ///< a direct message to the requester
  incident_alert,  ///< an alert to one incident channel of a Slack alert sink
  external_alert,  ///< an alert to a webhook or PagerDuty sink; the target is the sink's name
};

enum class NoticeEvent {
  submitted,
  approval_added,
  granted,
  grant_failed,
  denied,
  timed_out,
  cancelled,
  revoking,
  revoked,
  expired,
  revoke_failed,
  break_glass,
  cleanup_failed,       ///< a failed grant's clean-up revoke failed: access may exist
  notice_parked,        ///< another notice could not be delivered and was set aside
  reviewed,             ///< a break-glass request was acknowledged by a reviewer
  realert,              ///< a break-glass request is still not reviewed
  revoke_done,          ///< external sinks: a revoke that had failed finally succeeded
  reminder,             ///< card: a reply in its thread reminding the approvers
  escalated,            ///< card: escalation approvers added (and mentioned); DM: one of them is asked
  extension_requested,  ///< card: an extension waits for approvals
  extended,             ///< card and DM: the expiry moved
  extension_denied,     ///< card and DM: an approver said no
  extension_failed,     ///< card and DM: the extension could not be applied; the old expiry holds
  expiry_warning,       ///< DM: access ends soon; offers an Extend button
};

/// Events that change what a break-glass alert says: in each channel it is one message, posted
/// once and then kept current (a re-alert answers in its thread).
bool is_break_glass_news(NoticeEvent event);

std::string_view to_string(NoticeKind kind);
std::string_view to_string(NoticeEvent event);
std::optional<NoticeKind> parse_notice_kind(std::string_view text);
std::optional<NoticeEvent> parse_notice_event(std::string_view text);

struct Notice {
  std::int64_t id = 0;  ///< the outbox row, assigned by the store
  NoticeKind kind = NoticeKind::approval_card;
  NoticeEvent event = NoticeEvent::submitted;
  std::string target;  ///< channel ID for cards and alerts, user ID for DMs
  std::string request_id;
  std::string detail;       ///< a failure reason or deny note, shown as given (escaped by adapters)
  std::string console_url;  ///< only ever in a requester DM
  int attempts = 0;
  std::string last_error;  ///< why the last delivery failed
  bool parked = false;     ///< given up on until an operator retries it (`jitbot outbox retry`)
  std::optional<Instant> next_attempt_at;
};

}  // namespace jitbot::workflows
