#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "workflows/policy.hpp"
#include "workflows/ports.hpp"
#include "workflows/rules.hpp"
#include "workflows/wording.hpp"

namespace jitbot::workflows {

/// The answer to whoever acted.
struct Outcome {
  bool ok = false;
  std::string message;  ///< plain text for the actor (adapters escape it)
  std::string request_id;
  std::optional<RefusalReason> refusal;  ///< why not, when !ok

  static Outcome refused(const Refusal& refusal) {
    return {false, describe(refusal), refusal.request_id, refusal.reason};
  }
};

/// The request lifecycle. Every method is one compare-and-set transition with its audit
/// records, outbox notices and backend jobs, so whatever a transition starts survives a crash.
/// Instances are cheap and hold no shared state: each thread (input handling, job workers,
/// the scheduler) uses its own, on its own store connection.
class AccessWorkflow {
 public:
  AccessWorkflow(const Policy& policy, RequestStore& store, Directory& directory, const Clock& clock, IdSource& ids);

  Outcome submit(const std::string& requester, const NewRequest& draft);
  Outcome approve(const std::string& actor, const std::string& request_id);
  Outcome deny(const std::string& actor, const std::string& request_id, const std::string& note);
  Outcome cancel(const std::string& actor, const std::string& request_id);
  /// Asks for `by` more of ACTIVE access (`/jit extend`); `reason` "" means the request's own still
  /// holds. The role's approvers decide it on the same card, unless the role says self_extend.
  Outcome extend(const std::string& actor, const std::string& request_id, Seconds by, const std::string& reason);
  /// The Extend button of the pre-expiry warning: the role's extension_offer(), for the same reason.
  Outcome extend_by_offer(const std::string& actor, const std::string& request_id);
  /// The roles `actor` may request, and for each whether they may break glass on it (for a form).
  struct RequestableRole {
    const Role* role = nullptr;
    bool break_glass = false;
  };
  std::vector<RequestableRole> requestable_roles(const std::string& actor);

  /// Whether `actor` may approve or deny the request now, changing nothing (to offer a form).
  /// A refusal is audited like that of a decision.
  Outcome may_decide(const std::string& actor, const std::string& request_id);
  Outcome revoke(const std::string& actor, const std::string& request_id);
  /// Reviews a break-glass request after the fact (`/jit ack`, the alert's Acknowledge): records
  /// who, when and why, updates the card and every alert, resolves pages and stops re-alerts.
  Outcome acknowledge(const std::string& actor, const std::string& request_id, const std::string& note);

  /// Where on-call schedules are read for roles with auto_approve_oncall; without it, such roles
  /// wait for human approvers and say why.
  void use_on_call(OnCallSchedules* schedules) { on_call_ = schedules; }
  /// Where tickets are looked up for roles with require_ticket; without it they count as unverified.
  void use_tickets(TicketChecker* tickets) { tickets_ = tickets; }

  /// Whether `actor` may read `request` (see rules: may_see), and whether it waits on them.
  bool may_see(const std::string& actor, const Request& request) {
    return workflows::may_see(policy_, directory_, actor, request);
  }
  /// Writes an audit record of something refused outside a transition (a button jitbot does not
  /// know, a look at someone else's request): who, what, on which request, and why not.
  void note_refusal(const std::string& actor, const std::string& action, const std::string& request_id,
                    const std::string& why);

  bool waits_on(const std::string& actor, const Request& request) {
    return workflows::waits_on(policy_, directory_, actor, request);
  }

  /// Operator actions from the admin CLI, for when chat or a backend is down. The operator is
  /// trusted (they hold the database), so no role rules apply; every step is audited.
  Outcome revoke_by_operator(const std::string& operator_name, const std::string& request_id, const std::string& note);
  Outcome cancel_by_operator(const std::string& operator_name, const std::string& request_id, const std::string& note);
  /// Records that access was removed by hand: ends the request and stops revoke retries.
  Outcome resolve_by_operator(const std::string& operator_name, const std::string& request_id, const std::string& note);

  /// The inbox row that the next committed transition handles (see Change::consumes_input).
  void handling_input(std::optional<std::int64_t> input_id) { input_id_ = input_id; }
  /// True once a committed transition has removed the input set by handling_input().
  bool input_consumed() const { return !input_id_.has_value(); }

  /// The backend call a claimed job makes, or nullopt when its request has moved on (the job is
  /// then finished). Records when a grant first started.
  std::optional<BackendCall> start_job(const Job& job);
  /// start_job with the request as it was read when the job was claimed; a request changed
  /// since is caught by the compare-and-set, and read again.
  std::optional<BackendCall> start_job(const Job& job, std::optional<Request> request);
  /// Records a job's result in one transition with the job's end or its retry.
  void record_result(const Job& job, const BackendResult& result);
  /// Reschedules a job whose handling threw (a database error, a backend bug) with backoff, and
  /// audits why; other jobs are not affected.
  void job_failed(const Job& job, const std::string& error);

  /// Times out undecided requests and starts due expiries. Run at start-up and whenever
  /// next_due() arrives; grants, revokes and their retries are jobs and run on their own.
  /// Throws after the pass when some request failed (it stays due); the others were handled.
  void tick();

  /// When tick() next has something to do; nullopt when nothing is scheduled.
  std::optional<Instant> next_due();

  const Policy& policy() const { return policy_; }

  static constexpr const char* system_actor = "jitbot";

 private:
  /// A refused action still leaves a trace in the audit trail: who tried what, on which request,
  /// and why not (the refusal's words). Returns `outcome` unchanged.
  Outcome audited(const std::string& actor, const std::string& action, const std::string& request_id, Outcome outcome);

  using Decide = std::function<Check(Request&, Change&)>;

  /// Loads the request, lets `decide` mutate it (or refuse with a message), commits with
  /// compare-and-set, and re-decides on a fresh copy if another writer won the race.
  Outcome transition(const std::string& request_id, const Decide& decide);
  /// transition, deciding first on `known`, a copy of the request read a moment ago: a stale
  /// copy fails the compare-and-set and is read again.
  Outcome transition(const std::string& request_id, const Decide& decide, std::optional<Request> known);
  bool commit(Change& change);

  AuditEntry audit(const Request& before, const std::string& actor, const std::string& action, RequestState to,
                   const std::string& detail = {}) const;
  Notice card_notice(const Request& request, NoticeEvent event) const;
  Notice dm_notice(const Request& request, NoticeEvent event, const std::string& detail = {}) const;
  /// The notices for every alert sink that takes `event` about `request` (see alert_sink_takes).
  std::vector<Notice> alert_notices(const Request& request, NoticeEvent event, const std::string& detail = {}) const;
  /// The requester's identical pending request, if any: asking twice only splits the approvers'
  /// attention.
  std::optional<Request> open_duplicate(const std::string& requester, const NewRequest& draft);
  /// The refusal pointing to `open`, the identical request already waiting.
  Refusal duplicate_of(const Request& open) const;
  /// Checks the ticket `reason` must cite for `role` and records it on `request`; a refusal when
  /// there is none, it is missing or closed, or it cannot be checked and the system says refuse.
  Check check_ticket(const Role& role, const std::string& reason, Request& request);
  /// Why a break-glass draft must go through approval instead ([break_glass] limits); "" if it need not.
  std::string break_glass_limit_reached(const std::string& requester, const NewRequest& draft);
  /// The on-call approval for a new request, if its requester is on call in one of the role's
  /// schedules; `note` says what was found (or could not be read), for the requester.
  std::optional<Approval> on_call_approval(const Role& role, const std::string& requester, std::string& note);
  void realert_one(const Request& request, Instant now);
  /// Sets when a new pending request first reminds its approvers, and when it escalates.
  void schedule_nudges(const Role& role, Request& request) const;
  void remind_one(const Request& request, Instant now);
  void escalate_one(const Request& request, Instant now);
  Job job_for(const Request& request, BackendCall::Action action, Instant not_before) const;
  void tick_one(const Request& request, Instant now);
  void record_grant(const Job& job, const BackendResult& result);
  void record_revoke(const Job& job, const BackendResult& result);
  void record_cleanup(Request& request, Change& change, const BackendResult& result);
  void record_extension(const Job& job, const BackendResult& result);
  /// Approve and deny of ACTIVE access with a pending extension decide the extension.
  Check approve_extension(const Role& role, const std::string& actor, Request& request, Change& change,
                          std::string& message);
  Check deny_extension(const Role& role, const std::string& actor, const std::string& note, Request& request,
                       Change& change);
  /// Sets when the requester of ACTIVE access is warned that it ends soon (none when too close).
  void schedule_warning(Request& request) const;
  void warn_one(const Request& request, Instant now);
  /// How an undecided request ends by someone's decision (deny, cancel).
  struct Closing {
    std::string actor;
    RequestState state;
    std::string action;  ///< for the audit trail
    NoticeEvent event;
    std::string note;
    bool tell_requester;
  };
  void close_undecided(Request& request, Change& change, const Closing& closing);
  void retry_revoke_now(Request& request, Change& change, const std::string& actor, const std::string& note);
  void start_revoke(Request& request, Change& change, const std::string& actor, RequestState ending_as,
                    const std::string& note = {});

  const Policy& policy_;
  RequestStore& store_;
  Directory& directory_;
  const Clock& clock_;
  IdSource& ids_;
  std::optional<std::int64_t> input_id_;
  OnCallSchedules* on_call_ = nullptr;
  TicketChecker* tickets_ = nullptr;
};

}  // namespace jitbot::workflows
