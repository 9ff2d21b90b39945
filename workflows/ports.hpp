#pragma once

#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "workflows/action.hpp"
#include "workflows/request.hpp"

namespace jitbot::workflows {

/// Who someone is, for the backend (email is how clouds know people) and for messages.
struct UserProfile {
  std::string user_id;
  std::string email;
  std::string name;
};

/// Thrown by Directory::is_member when it cannot tell (Slack did not answer for the group). It is
/// neither a yes nor a no: the person is told to try again, not that they are not allowed.
class DirectoryUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Resolves users and groups: Slack user groups in Slack, [directory] in the terminal.
class Directory {
 public:
  virtual ~Directory() = default;
  /// Throws DirectoryUnavailable when the group cannot be read now.
  virtual bool is_member(const std::string& user_id, const std::string& group_id) = 0;
  virtual UserProfile profile(const std::string& user_id) = 0;
};

/// Whether someone is on call right now in a schedule ("pagerduty:P1ABCDE", "opsgenie:platform").
struct OnCallAnswer {
  bool on_call = false;
  std::string error;  ///< non-empty: the schedule could not be read, so nothing is known
};

/// Reads on-call schedules (PagerDuty, Opsgenie). Answers within a few seconds, from a short
/// cache where it can; never throws.
class OnCallSchedules {
 public:
  virtual ~OnCallSchedules() = default;
  virtual OnCallAnswer check(const std::string& schedule, const UserProfile& person) = 0;
};

/// What a ticket system says about one ticket.
struct TicketAnswer {
  bool found = false;
  bool closed = false;
  std::string title;
  std::string url;    ///< a link for people (the web page, not the API)
  std::string error;  ///< non-empty: the system could not be asked, so nothing is known
};

/// Looks tickets up in Jira or GitHub ("jira", "INC-7"; "github", "acme/ops#12"). Answers within
/// a few seconds; never throws.
class TicketChecker {
 public:
  virtual ~TicketChecker() = default;
  virtual TicketAnswer check(const std::string& system, const std::string& key) = 0;
};

/// What a credential backend is asked to do; the request ID is its idempotency key.
struct BackendCall {
  /// extend moves the expiry of an active grant from previous_expires_at to expires_at.
  enum class Action { grant, revoke, extend };
  Action action = Action::grant;
  std::string backend;
  std::string request_id;
  std::string provider;
  std::string role;
  std::string scope;
  /// The role's explicit opt-in to all of the backend's target (see Role::whole_target).
  bool whole_target = false;
  Seconds duration{0};
  Instant expires_at;
  std::optional<Instant> previous_expires_at;  ///< extend only
  std::string reason;
  bool break_glass = false;
  UserProfile requester;
  std::vector<std::string> approvers;
  std::string grant_id;  ///< revoke only
};

struct BackendResult {
  bool ok = false;
  std::string grant_id;
  std::optional<Instant> expires_at;
  std::string console_url;
  std::string message;
  std::string error;  ///< why it failed, fit to show to the people concerned
  /// Revoke only: access the backend cannot end early (a console session) lasts until then.
  std::optional<Instant> lingers_until;
  /// Extend only: the extension replaced the grant (a fresh session), so `grant_id` is what the
  /// revoke must undo from now on. Otherwise the original grant's handle stays.
  bool replaces_grant = false;
};

class CredentialBackend {
 public:
  virtual ~CredentialBackend() = default;
  virtual BackendResult grant(const BackendCall& call) = 0;
  virtual BackendResult revoke(const BackendCall& call) = 0;
  /// Moves the expiry of the grant made for call.request_id to call.expires_at. Where the expiry
  /// lives only in jitbot (the revoke ends the access), there is nothing to change in the cloud.
  virtual BackendResult extend(const BackendCall& call) = 0;
};

std::string_view to_string(BackendCall::Action action);
std::optional<BackendCall::Action> parse_backend_action(std::string_view text);

/// A backend call to make: written in the transition that decides on it, claimed by a worker
/// with a lease, and finished or rescheduled in the transition that records its result. A job
/// whose worker died (its lease ran out) is claimed again; the request ID keeps it idempotent.
struct Job {
  std::int64_t id = 0;  ///< assigned by the store
  std::string request_id;
  BackendCall::Action action = BackendCall::Action::grant;
  std::string backend;
  int attempts = 0;  ///< runs that ended without a recorded result, or failed and wait to retry
  Instant not_before;
  std::string last_error;
};

/// Which due jobs a worker may take.
struct JobFilter {
  std::set<std::string> busy_backends;    ///< backends running as many calls as they may
  std::optional<std::string> request_id;  ///< only this request's jobs (the admin CLI)
};

/// What becomes of a claimed job: finished (deleted), or due again at `retry_at`.
struct JobSettlement {
  std::int64_t job_id = 0;
  std::optional<Instant> retry_at;
  std::string error;
};

/// A command or click as it arrived from chat, kept until it is handled, so that nothing a
/// person was told "received" (the ack) is lost to a crash.
struct Input {
  enum class Kind { command, click };
  std::int64_t id = 0;  ///< assigned by the store
  Kind kind = Kind::command;
  std::string actor;
  std::string text;      ///< a command's text as typed, or a click's name (bot::click_name)
  std::string target;    ///< the clicked request's ID
  std::string reply_to;  ///< where to answer (a Slack response_url); empty: a DM to the actor
  Instant received_at;
  int attempts = 0;
  std::string note;        ///< text a click carries (the reason typed into the Deny form)
  std::string trigger_id;  ///< Slack's handle for opening a form in answer; never stored (it lasts 3 s)
  /// What the input asks for, once read from the fields above where it entered; never stored
  /// (a row read back from the table is read again, by the same code).
  std::optional<Action> action;
  /// Set by a writer that hands the input straight to a thread of its own: the row is written
  /// already claimed, until then, so no thread has to claim it from the table.
  std::optional<Instant> lease_until;
};

/// Thrown by RequestStore::commit when the input a change consumes is gone: another thread (whose
/// claim outlived a lapsed lease) handled it first. Nothing was written.
class InputAlreadyHandled : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A message that later notices edit in place: a request's approval card, or its break-glass
/// alert in one channel.
struct PostedMessage {
  enum class Kind { card, alert };
  Kind kind = Kind::card;
  std::string request_id;
  std::string target;    ///< the alert's channel; unused for a card
  std::string location;  ///< where the chat put it (in Slack: channel/ts)
};

/// One row of the outbox as an operator sees it (`jitbot outbox list`).
struct OutboxFilter {
  bool parked_only = false;
  int limit = 100;
};

struct RequestFilter {
  std::optional<std::string> requester;
  std::vector<RequestState> states;  ///< empty: any state
  bool unreviewed_only = false;      ///< break-glass requests nobody has reviewed yet
  /// Only requests for the same access, duration and reason as this draft (a command sent
  /// twice); the store finds them through an index, however many requests the requester has.
  std::optional<NewRequest> same_as;
  int limit = 50;
};

/// One transition, applied atomically by the store or not at all.
struct Change {
  /// The request as it is after the transition. Its ID, requester, provider, role, scope and
  /// creation time are those it was created with: a store may leave them out of an update.
  Request request;
  std::optional<std::int64_t> expected_version;  ///< nullopt: a new request
  /// How many of `request.approvals`, the first ones, the store holds already (approvals are only
  /// ever added, at the end): a store writes only the rest.
  std::size_t stored_approvals = 0;
  std::vector<AuditEntry> audit;
  /// Notices to deliver. One with `next_attempt_at` set is held until then; a held card notice
  /// that no courier has tried yet is replaced (deleted) by a later card notice of its lane
  /// (request and target) written by another change. A card is drawn from the request as it is
  /// when delivered, so the later one shows everything the held one would have.
  std::vector<Notice> notices;
  /// Backend calls to make; one per request and action, so enqueueing again only brings it forward.
  std::vector<Job> jobs;
  /// The job whose result this change records.
  std::optional<JobSettlement> settles;
  /// The inbox row this change handles: removed in the same transaction, so a crash after the
  /// commit never handles it twice.
  std::optional<std::int64_t> consumes_input;
  /// On disk, even through an OS crash, before commit() returns, with every change before it.
  /// For the last change before a grant: no access is ever granted whose decision could be lost.
  bool reach_disk = false;
  /// A new pending request that must be the only identical one (same requester, access, duration
  /// and reason): checked inside the write, so two sent at once cannot both get in.
  bool only_identical_pending = false;
};

/// A leased notice and what delivering it needs to know, read when it was claimed.
struct NoticeClaim {
  Notice notice;
  std::optional<Request> request;  ///< nullopt: the request is gone (or was not read, see below)
  /// The notice only redraws a card and a later card notice of its lane waits: the request is
  /// then not read, as the notice is not drawn.
  bool superseded = false;
  /// Where the request's card, or for an incident alert its alert in that channel, already is.
  std::optional<std::string> location;
  /// Why what delivering it needs could not be read (a request row this jitbot cannot decode):
  /// the notice keeps its claim and counts a failed attempt, so it is retried, then parked,
  /// and never blocks the notices behind it.
  std::string read_error;
};

/// What became of one claimed notice, to be recorded: delivered (or superseded by a later card),
/// dropped (its request is gone), or failed: due again at `retry_at`, or parked when that is
/// nullopt, with `announcements` of the parking.
struct DeliveryRecord {
  enum class Result { delivered, dropped, failed };
  Notice notice;
  Result result = Result::delivered;
  std::optional<PostedMessage> posted;  ///< a message later notices edit in place: where it is
  std::string error;
  std::optional<Instant> retry_at;
  std::vector<Notice> announcements;
};

/// A leased job and its request as it was when the job was claimed (nullopt: it is gone).
struct JobClaim {
  Job job;
  std::optional<Request> request;
  /// False when reading the request failed: the job keeps its claim, and running it reads the
  /// request again, where a failure is that job's own (retried with backoff, audited).
  bool request_read = true;
};

/// Persistence for requests, their audit trail and the outbox of chat notices.
class RequestStore {
 public:
  virtual ~RequestStore() = default;

  /// Inserts or compare-and-sets the request; false (and nothing written) when its version
  /// moved meanwhile, i.e. someone else applied a transition first.
  virtual bool commit(const Change& change) = 0;

  virtual std::optional<Request> find(const std::string& id) = 0;
  virtual std::vector<Request> list(const RequestFilter& filter) = 0;

  /// Open requests the scheduler must act on by `now`: a pending deadline passed, a grant to
  /// (re)do (approved), an expiry reached, or a revoke to finish or retry (ending_as set).
  virtual std::vector<Request> due_requests(Instant now) = 0;

  /// When the scheduler is next needed for any open request; nullopt: never.
  virtual std::optional<Instant> next_due_at() = 0;

  virtual std::vector<AuditEntry> audit_trail(const std::string& request_id) = 0;

  /// Appends one audit record that changes no request: an action jitbot refused (who tried
  /// what, and why not). Its own transaction.
  virtual void record_refusal(const AuditEntry& entry) = 0;

  /// Leases one due job (not_before passed, no live lease) that `filter` admits, soonest
  /// first; nullopt when none is due.
  virtual std::optional<Job> claim_job(Instant now, Instant lease_until, const JobFilter& filter) = 0;
  /// claim_job, plus the job's request. A store may read it in the claim's own transaction; by
  /// default it reads after.
  virtual std::optional<JobClaim> claim_job_with_request(Instant now, Instant lease_until, const JobFilter& filter);
  /// Finishes or reschedules a job outside a transition (its request moved on, or handling it
  /// failed), appending `audit` if given.
  virtual void settle_job(const JobSettlement& settlement, const std::optional<AuditEntry>& audit) = 0;
  /// When the next job falls due (leased jobs count from when their lease runs out).
  virtual std::optional<Instant> next_job_at() = 0;
  virtual std::vector<Job> jobs_of(const std::string& request_id) = 0;

  /// Leases the next due notice whose earlier notices for the same request and target are all
  /// delivered or parked, so a card is posted before it is updated and never goes backwards.
  virtual std::optional<Notice> claim_notice(Instant now, Instant lease_until) = 0;
  /// claim_notice, plus what delivering the notice reads (read_for_delivery). A store may read
  /// it in the claim's own transaction, saving a round trip per read; by default it reads after.
  virtual std::optional<NoticeClaim> claim_notice_for_delivery(Instant now, Instant lease_until);
  virtual void mark_delivered(std::int64_t notice_id) = 0;
  /// Records a claimed notice's fate with mark_delivered, mark_posted or mark_failed_delivery.
  virtual void record_delivery(const DeliveryRecord& record);
  /// record_delivery, then claim_notice_for_delivery: what a courier does between two notices.
  /// A store may do both in one transaction; a failed claim must not undo the record.
  virtual std::optional<NoticeClaim> record_delivery_and_claim(const DeliveryRecord& record, Instant now,
                                                               Instant lease_until);
  /// mark_delivered for a notice that posted a message later notices edit in place: where it
  /// is, is saved in the same transaction.
  virtual void mark_posted(std::int64_t notice_id, const PostedMessage& posted) = 0;
  /// True when a later approval-card notice of `notice`'s lane (request and target) waits to
  /// be delivered (not parked).
  virtual bool newer_card_waits(const Notice& notice) = 0;
  /// Records a failed delivery: due again at `retry_at`, or parked when it is nullopt, with
  /// `announcements` (notices about the parking) written in the same transaction.
  virtual void mark_failed_delivery(const Notice& notice, const std::string& error,
                                    const std::optional<Instant>& retry_at,
                                    const std::vector<Notice>& announcements) = 0;
  virtual std::optional<Instant> next_notice_at() = 0;
  virtual std::vector<Notice> list_notices(const OutboxFilter& filter) = 0;
  /// Makes a parked or waiting notice due now; false when there is no such notice.
  virtual bool retry_notice(std::int64_t notice_id, Instant now) = 0;
  /// Every notice not yet delivered, parked or not, oldest first (for tests and tools).
  std::vector<Notice> undelivered_notices() { return list_notices({false, 0}); }

  /// Keeps a chat input until it is handled (see Change::consumes_input and finish_input).
  virtual std::int64_t put_input(const Input& input) = 0;
  virtual std::optional<Input> claim_input(Instant now, Instant lease_until) = 0;
  /// Drops an input that was handled without a transition (a refusal, a read-only answer).
  virtual void finish_input(std::int64_t input_id) = 0;
  /// Hands back an input whose handling failed (a locked or unreachable database): it may be
  /// claimed again from `at`, and that claim counts as another attempt.
  virtual void retry_input(std::int64_t input_id, Instant at) = 0;

  /// How many break-glass requests `requester` made at or after `since` (the abuse limit).
  virtual int count_break_glass(const std::string& requester, Instant since) = 0;

  /// Where the request's alert in one channel was posted, so it can be updated in place.
  virtual std::optional<std::string> alert_location(const std::string& request_id, const std::string& target) = 0;
  virtual void save_alert_location(const std::string& request_id, const std::string& target,
                                   const std::string& location) = 0;

  /// Where the request's approval card was posted, so it can be updated in place.
  virtual std::optional<std::string> card_location(const std::string& request_id) = 0;
  virtual void save_card_location(const std::string& request_id, const std::string& location) = 0;
};

/// Produces new request IDs ("req_" + ULID).
class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string next_request_id() = 0;
};

}  // namespace jitbot::workflows

namespace jitbot::workflows {

struct Delivery {
  bool ok = false;
  std::string card_location;  ///< for approval cards: where the card now lives
  std::string error;
  bool permanent = false;  ///< retrying cannot help (no such channel, not allowed, bad message)
};

/// Shows notices to people: approval cards (posted once, then updated in place), DMs, alerts.
class ChatSink {
 public:
  virtual ~ChatSink() = default;
  /// `card_location` is where this request's card (or, for an incident alert, its alert in
  /// that channel) already is, if it was posted before.
  virtual Delivery deliver(const Notice& notice, const Request& request,
                           const std::optional<std::string>& card_location) = 0;
};

}  // namespace jitbot::workflows
