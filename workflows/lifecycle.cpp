#include "workflows/lifecycle.hpp"

#include <algorithm>
#include <iterator>
#include <set>
#include <stdexcept>

#include "workflows/outbox.hpp"
#include "workflows/tickets.hpp"

namespace jitbot::workflows {
namespace {

constexpr int max_commit_attempts = 3;
constexpr std::chrono::seconds first_revoke_retry{30};
constexpr std::chrono::seconds max_revoke_retry{30 * 60};
// A job that threw (not a backend's answer, but our own trouble: a locked database, a bug)
// is retried sooner: the cause is usually gone in seconds.
constexpr std::chrono::seconds first_job_retry{5};
constexpr std::chrono::seconds max_job_retry{5 * 60};

/// How long a card redraw that shows a backend call under way ("granting…", "revoking…") is
/// held back. Most calls end sooner, and the card their outcome draws replaces the held one (see
/// Change::notices): approvers see the card change once instead of twice, and Slack gets one
/// chat.update instead of two. A slower call's card says so this much later. Whoever clicked is
/// answered at once anyway, by the reply to the click.
constexpr std::chrono::seconds redraw_hold{1};

/// Holds `change`'s card redraws for redraw_hold when it starts a backend call. Never a card's
/// first post (a new request, a break-glass grant): approvers and responders need that at once.
void hold_redraws_behind_jobs(Change& change, Instant now) {
  if (change.jobs.empty()) return;
  for (auto& notice : change.notices) {
    bool first_post = notice.event == NoticeEvent::submitted || notice.event == NoticeEvent::break_glass;
    if (only_redraws_card(notice) && !first_post) notice.next_attempt_at = now + redraw_hold;
  }
}

/// first, doubled per earlier attempt, capped.
std::chrono::seconds backoff(int attempts, std::chrono::seconds first, std::chrono::seconds cap) {
  auto delay = first;
  for (int i = 1; i < attempts && delay < cap; ++i) delay *= 2;
  return std::min(delay, cap);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

std::vector<std::string> approver_ids(const Request& request) {
  std::vector<std::string> ids;
  for (const auto& approval : request.approvals) ids.push_back(approval.approver);
  return ids;
}

Refusal refusal_for(RefusalReason reason, const Request& request) {
  Refusal refusal;
  refusal.reason = reason;
  refusal.request_id = request.id;
  refusal.role = request.provider + "/" + request.role;
  refusal.state = request.state;
  return refusal;
}

/// A job whose request is gone or has moved on is finished; any other refusal while recording
/// (lost races) is trouble to retry, never a reason to drop the job.
bool moved_on(const Outcome& outcome) {
  return outcome.refusal == RefusalReason::wrong_state || outcome.refusal == RefusalReason::no_such_request;
}

void finish_or_retry(RequestStore& store, const Job& job, const Outcome& outcome) {
  if (outcome.ok) return;
  if (!moved_on(outcome)) throw std::runtime_error("could not record the result: " + outcome.message);
  store.settle_job({job.id, std::nullopt, {}}, std::nullopt);
}

std::string describe_access(const Request& request) {
  return request.provider + "/" + request.role + " on " + request.scope + " for " + format_duration(request.duration);
}

/// Trouble that needs a human, whatever the request: every sink hears of it.
bool is_trouble(NoticeEvent event) {
  return event == NoticeEvent::revoke_failed || event == NoticeEvent::cleanup_failed ||
         event == NoticeEvent::notice_parked;
}

/// Whether `sink` is told about `event` on `request`. Slack channels show one alert per
/// break-glass, kept current; webhooks hear everything; PagerDuty is paged once and resolved when
/// the config says (the review, or the end of access), so it is not paged for every update.
bool alert_sink_takes(const AlertSink& sink, const Request& request, NoticeEvent event) {
  if (is_trouble(event)) return true;
  bool news = request.break_glass && is_break_glass_news(event);
  switch (sink.type) {
    case AlertSink::Type::slack: return news;
    case AlertSink::Type::webhook: return news || event == NoticeEvent::revoke_done;
    case AlertSink::Type::pagerduty:
      if (event == NoticeEvent::revoke_done) return true;
      if (!request.break_glass) return false;
      if (event == NoticeEvent::break_glass || event == NoticeEvent::grant_failed) return true;
      if (event == NoticeEvent::reviewed) {
        return sink.resolve_on == AlertSink::ResolveOn::acknowledge || is_final(request.state);
      }
      if (event == NoticeEvent::revoked || event == NoticeEvent::expired) {
        return sink.resolve_on == AlertSink::ResolveOn::end;
      }
      return false;
  }
  return false;
}

}  // namespace

AccessWorkflow::AccessWorkflow(const Policy& policy, RequestStore& store, Directory& directory, const Clock& clock,
                               IdSource& ids)
    : policy_(policy), store_(store), directory_(directory), clock_(clock), ids_(ids) {}

AuditEntry AccessWorkflow::audit(const Request& before, const std::string& actor, const std::string& action,
                                 RequestState to, const std::string& detail) const {
  AuditEntry entry;
  entry.request_id = before.id;
  entry.at = clock_.now();
  entry.actor = actor;
  entry.action = action;
  entry.from_state = before.version == 0 ? "" : std::string{to_string(before.state)};
  entry.to_state = std::string{to_string(to)};
  entry.detail = detail;
  return entry;
}

Notice AccessWorkflow::card_notice(const Request& request, NoticeEvent event) const {
  Notice notice;
  notice.kind = NoticeKind::approval_card;
  notice.event = event;
  notice.request_id = request.id;
  const Role* role = policy_.find_role(request.provider, request.role);
  notice.target = role ? policy_.approvals_channel_for(*role) : policy_.approvals_channel;
  return notice;
}

Notice AccessWorkflow::dm_notice(const Request& request, NoticeEvent event, const std::string& detail) const {
  Notice notice;
  notice.kind = NoticeKind::requester_dm;
  notice.event = event;
  notice.request_id = request.id;
  notice.target = request.requester;
  notice.detail = detail;
  return notice;
}

std::vector<Notice> AccessWorkflow::alert_notices(const Request& request, NoticeEvent event,
                                                  const std::string& detail) const {
  std::vector<Notice> alerts;
  std::set<std::string> channels;  // two sinks on one channel still get one message there
  for (const auto& sink : policy_.alert_sinks()) {
    if (!alert_sink_takes(sink, request, event)) continue;
    Notice alert = card_notice(request, event);
    alert.detail = detail;
    if (sink.type != AlertSink::Type::slack) {
      alert.kind = NoticeKind::external_alert;
      alert.target = sink.name;
      alerts.push_back(alert);
      continue;
    }
    alert.kind = NoticeKind::incident_alert;
    for (const auto& channel : sink.channels) {
      if (!channels.insert(channel).second) continue;
      alert.target = channel;
      alerts.push_back(alert);
    }
  }
  return alerts;
}

static void append(std::vector<Notice>& to, std::vector<Notice> more) {
  to.insert(to.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
}

Job AccessWorkflow::job_for(const Request& request, BackendCall::Action action, Instant not_before) const {
  Job job;
  job.request_id = request.id;
  job.action = action;
  job.backend = request.backend;
  job.not_before = not_before;
  return job;
}

bool AccessWorkflow::commit(Change& change) {
  change.consumes_input = input_id_;
  hold_redraws_behind_jobs(change, clock_.now());
  if (!store_.commit(change)) return false;
  input_id_.reset();
  return true;
}

Outcome AccessWorkflow::audited(const std::string& actor, const std::string& action, const std::string& request_id,
                                Outcome outcome) {
  if (outcome.ok || !outcome.refusal) return outcome;
  note_refusal(actor, action, request_id, outcome.message);
  return outcome;
}

void AccessWorkflow::note_refusal(const std::string& actor, const std::string& action, const std::string& request_id,
                                  const std::string& why) {
  AuditEntry entry;
  entry.request_id = request_id;
  entry.at = clock_.now();
  entry.actor = actor;
  entry.action = "refused_" + action;
  entry.detail = why;
  store_.record_refusal(entry);
}

Outcome AccessWorkflow::submit(const std::string& requester, const NewRequest& draft) {
  const Role* role = nullptr;
  if (auto refusal = check_new_request(policy_, directory_, requester, draft, role)) {
    return audited(requester, "request", {}, Outcome::refused(*refusal));
  }

  if (auto open = open_duplicate(requester, draft)) {
    return audited(requester, "request", open->id, Outcome::refused(duplicate_of(*open)));
  }

  Request request;
  if (!draft.break_glass && !role->require_ticket.empty()) {
    if (auto refusal = check_ticket(*role, draft.reason, request)) {
      return audited(requester, "request", {}, Outcome::refused(*refusal));
    }
  }
  request.id = ids_.next_request_id();
  request.provider = draft.provider;
  request.role = draft.role;
  request.scope = draft.scope;
  request.duration = draft.duration;
  request.reason = draft.reason;
  request.break_glass = draft.break_glass;
  request.whole_target = role->whole_target;
  request.requester = requester;
  request.backend = role->backend;
  request.created_at = clock_.now();
  request.pending_deadline = request.created_at + policy_.pending_timeout;

  Change change;
  Outcome outcome{true, {}, request.id, std::nullopt};
  std::string downgraded = draft.break_glass ? break_glass_limit_reached(requester, draft) : std::string{};
  if (!downgraded.empty()) request.break_glass = false;
  if (request.break_glass) {
    // Break-glass skips approval: it is approved on creation, granted at once, and every alert
    // sink hears about it; it is alerted again until a human reviews it.
    request.state = RequestState::approved;
    request.decided_at = request.created_at;
    request.next_realert_at = request.created_at + policy_.break_glass.realert_after;
    change.audit.push_back(audit(request, requester, "break_glass", RequestState::approved, draft.reason));
    change.notices.push_back(card_notice(request, NoticeEvent::break_glass));
    append(change.notices, alert_notices(request, NoticeEvent::break_glass));
    change.jobs.push_back(job_for(request, BackendCall::Action::grant, request.created_at));
    outcome.message = "Break-glass request " + request.id + " for " + describe_access(request) +
                      " is being granted now. The incident channels have been alerted and it will be reviewed.";
  } else {
    request.state = RequestState::pending;
    change.audit.push_back(
        audit(request, requester, "request", RequestState::pending,
              downgraded.empty() ? draft.reason : draft.reason + " (break-glass refused: " + downgraded + ")"));
    std::string on_call_note;
    auto on_call = role->auto_approve_oncall.empty() ? std::nullopt : on_call_approval(*role, requester, on_call_note);
    if (on_call) {
      Request before = request;
      before.version = 1;  // audited as a step after the submission
      request.approvals.push_back(*on_call);
      bool enough = static_cast<int>(request.approvals.size()) >= role->approvals_required;
      if (enough) {
        request.state = RequestState::approved;
        request.decided_at = request.created_at;
        change.jobs.push_back(job_for(request, BackendCall::Action::grant, request.created_at));
      }
      change.audit.push_back(audit(before, system_actor, "approve", request.state,
                                   "auto-approved: the requester is " + on_call->approver));
    }
    if (request.state == RequestState::pending) schedule_nudges(*role, request);
    change.notices.push_back(card_notice(request, NoticeEvent::submitted));
    if (request.state == RequestState::approved) {
      outcome.message = "Request " + request.id + " approved: " + describe_access(request) + ". You are " +
                        on_call->approver + ", so jitbot approved it; access is being granted now.";
    } else {
      int needed = role->approvals_required - static_cast<int>(request.approvals.size());
      outcome.message = "Request " + request.id + " submitted: " + describe_access(request) + ". It needs " +
                        std::to_string(needed) + (on_call ? " more" : "") + " approval" + (needed == 1 ? "" : "s") +
                        " from " + join(role->approvers) + ".";
    }
    if (!on_call_note.empty()) outcome.message += " " + on_call_note;
    if (!request.ticket.empty() && !request.ticket_verified) {
      outcome.message += " Ticket " + request.ticket +
                         " could not be checked just now; the card marks it as not verified for the approvers.";
    }
    if (!downgraded.empty()) outcome.message = "Break-glass was not used: " + downgraded + " " + outcome.message;
  }
  request.version = 1;
  change.request = request;
  change.only_identical_pending = request.state == RequestState::pending && !request.break_glass;
  if (!commit(change)) {
    // The same request, sent twice at once, got in first: point to it as to any duplicate.
    if (auto open = open_duplicate(requester, draft)) {
      return audited(requester, "request", open->id, Outcome::refused(duplicate_of(*open)));
    }
    return Outcome::refused(refusal_for(RefusalReason::changed_meanwhile, request));
  }
  return outcome;
}

Refusal AccessWorkflow::duplicate_of(const Request& open) const {
  Refusal refusal = refusal_for(RefusalReason::duplicate_request, open);
  refusal.asked = open.scope;
  refusal.problem = state_summary(open, policy_);
  return refusal;
}

std::optional<Request> AccessWorkflow::open_duplicate(const std::string& requester, const NewRequest& draft) {
  // Break-glass is for emergencies: a second one while the first waits for its grant is allowed.
  if (draft.break_glass) return std::nullopt;
  // Identical: the same access for the same time and reason (a command sent twice, a paste
  // repeated). A different reason or duration may be a separate need, and approvers see both.
  RequestFilter filter;
  filter.requester = requester;
  filter.states = {RequestState::pending};
  filter.same_as = draft;
  filter.limit = 1;
  auto identical = store_.list(filter);
  if (identical.empty()) return std::nullopt;
  return std::move(identical.front());
}

Check AccessWorkflow::check_ticket(const Role& role, const std::string& reason, Request& request) {
  Refusal refusal;
  refusal.role = role.provider + "/" + role.name;
  const TicketSystem* system = policy_.find_ticket_system(role.require_ticket);
  auto key = system ? cited_ticket(*system, reason) : std::nullopt;
  if (!key) {
    refusal.reason = RefusalReason::ticket_missing;
    refusal.expected = system ? ticket_example(*system) : role.require_ticket + " ticket";
    return refusal;
  }
  refusal.asked = *key;
  TicketAnswer answer = tickets_ ? tickets_->check(system->name, *key)
                                 : TicketAnswer{false, false, {}, {}, "ticket checks are not set up"};
  request.ticket = *key;
  if (!answer.error.empty()) {
    if (!system->refuse_on_error) return std::nullopt;  // goes on, marked as not verified
    refusal.reason = RefusalReason::ticket_unverified;
    refusal.problem = answer.error;
    return refusal;
  }
  if (!answer.found) {
    refusal.reason = RefusalReason::ticket_not_found;
    refusal.problem = system->name == "jira" ? "Jira has no such issue, or jitbot may not see it"
                                             : "GitHub has no such issue, or jitbot may not see it";
    return refusal;
  }
  if (answer.closed) {
    refusal.reason = RefusalReason::ticket_closed;
    return refusal;
  }
  request.ticket_title = answer.title;
  request.ticket_url = answer.url;
  request.ticket_verified = true;
  return std::nullopt;
}

std::string AccessWorkflow::break_glass_limit_reached(const std::string& requester, const NewRequest& draft) {
  const BreakGlassRules& rules = policy_.break_glass;
  if (rules.max_duration && draft.duration > *rules.max_duration) {
    return "break-glass access lasts at most " + format_duration(*rules.max_duration) + ", and you asked for " +
           format_duration(draft.duration) + ". Ask for " + format_duration(*rules.max_duration) +
           " or less to break glass.";
  }
  if (rules.max_per_user > 0) {
    int used = store_.count_break_glass(requester, clock_.now() - rules.window);
    if (used >= rules.max_per_user) {
      return "you have broken glass " + std::to_string(used) + " time" + (used == 1 ? "" : "s") + " in the last " +
             format_duration(rules.window) + " (the limit is " + std::to_string(rules.max_per_user) + ").";
    }
  }
  return {};
}

std::optional<Approval> AccessWorkflow::on_call_approval(const Role& role, const std::string& requester,
                                                         std::string& note) {
  const std::string schedules = join(role.auto_approve_oncall);
  if (on_call_ == nullptr) {
    note = "On-call approval (" + schedules + ") is not set up in jitbot's config, so a person must approve.";
    return std::nullopt;
  }
  UserProfile person = directory_.profile(requester);
  if (person.email.empty()) {
    note =
        "Your chat profile shows no email, so jitbot could not match you in " + schedules + "; a person must approve.";
    return std::nullopt;
  }
  std::string unreadable;
  for (const auto& schedule : role.auto_approve_oncall) {
    OnCallAnswer answer = on_call_->check(schedule, person);
    if (answer.on_call) return Approval{on_call_approver(schedule), clock_.now()};
    if (!answer.error.empty()) unreadable += (unreadable.empty() ? "" : "; ") + schedule + ": " + answer.error;
  }
  // Never approve on an error: the request simply waits for people, and says why.
  note = unreadable.empty()
             ? "You are not on call in " + schedules + " right now."
             : "jitbot could not read the on-call schedule (" + unreadable + "), so it waits for a person to approve.";
  return std::nullopt;
}

Outcome AccessWorkflow::transition(const std::string& request_id, const Decide& decide) {
  return transition(request_id, decide, std::nullopt);
}

Outcome AccessWorkflow::transition(const std::string& request_id, const Decide& decide, std::optional<Request> known) {
  for (int attempt = 0; attempt < max_commit_attempts; ++attempt) {
    auto current = attempt == 0 && known ? std::move(known) : store_.find(request_id);
    if (!current) {
      Refusal missing;
      missing.reason = RefusalReason::no_such_request;
      missing.request_id = request_id;
      return Outcome::refused(missing);
    }
    Request next = *current;
    Change change;
    change.expected_version = current->version;
    change.stored_approvals = current->approvals.size();  // the compare-and-set makes this exact
    if (auto refusal = decide(next, change)) {
      if (refusal->request_id.empty()) refusal->request_id = request_id;
      return Outcome::refused(*refusal);
    }
    next.version = current->version + 1;
    if (next.state != RequestState::pending) {
      // Decided: nobody needs reminding any more.
      next.next_reminder_at.reset();
      next.escalate_at.reset();
    }
    if (next.state == RequestState::approved && current->state != RequestState::approved) {
      change.jobs.push_back(job_for(next, BackendCall::Action::grant, clock_.now()));
    }
    change.request = next;
    // The compare-and-set: if another click or replica got there first, decide again on
    // what it left, so the rules see the real current state.
    if (commit(change)) return {true, {}, request_id, std::nullopt};
  }
  Refusal raced;
  raced.reason = RefusalReason::changed_meanwhile;
  raced.request_id = request_id;
  return Outcome::refused(raced);
}

Outcome AccessWorkflow::approve(const std::string& actor, const std::string& request_id) {
  std::string message;
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return refusal_for(RefusalReason::role_gone, request);
    if (request.state == RequestState::active && request.extension.status == Extension::Status::pending) {
      return approve_extension(*role, actor, request, change, message);
    }
    if (auto refusal = check_decision(*role, directory_, actor, request, Decision::approve, clock_.now())) {
      return refusal;
    }
    Request before = request;
    request.approvals.push_back({actor, clock_.now()});
    int have = static_cast<int>(request.approvals.size());
    if (have >= role->approvals_required) {
      request.state = RequestState::approved;
      request.decided_at = clock_.now();
      change.audit.push_back(audit(before, actor, "approve", RequestState::approved));
      message = "You approved " + request.id + "; access is being granted.";
    } else {
      change.audit.push_back(audit(before, actor, "approve", RequestState::pending));
      message = "You approved " + request.id + " (" + std::to_string(have) + " of " +
                std::to_string(role->approvals_required) + "); it needs more approvals.";
    }
    change.notices.push_back(card_notice(request, NoticeEvent::approval_added));
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = message;
  return audited(actor, "approve", request_id, std::move(outcome));
}

Outcome AccessWorkflow::deny(const std::string& actor, const std::string& request_id, const std::string& note) {
  std::string message;
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return refusal_for(RefusalReason::role_gone, request);
    if (request.state == RequestState::active && request.extension.status == Extension::Status::pending) {
      message = "You denied the extension of " + request_id + "; access still ends at " +
                format_rfc3339(request.expires_at.value_or(clock_.now())) + ".";
      return deny_extension(*role, actor, note, request, change);
    }
    if (auto refusal = check_decision(*role, directory_, actor, request, Decision::deny, clock_.now())) {
      return refusal;
    }
    close_undecided(request, change, {actor, RequestState::denied, "deny", NoticeEvent::denied, note, true});
    message = "You denied " + request_id + ".";
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = message;
  return audited(actor, "deny", request_id, std::move(outcome));
}

std::vector<AccessWorkflow::RequestableRole> AccessWorkflow::requestable_roles(const std::string& actor) {
  std::vector<RequestableRole> roles;
  // A role whose user group cannot be read now is left out, unless that leaves nothing to offer:
  // then the person hears that jitbot cannot tell, not that there is no role for them.
  std::optional<DirectoryUnavailable> unknown;
  auto listed = [&](const std::vector<std::string>& principals) {
    try {
      return is_listed(principals, actor, directory_);
    } catch (const DirectoryUnavailable& e) {
      if (!unknown) unknown = e;
      return false;
    }
  };
  for (const auto& role : policy_.roles) {
    bool break_glass = !role.break_glass_requesters.empty() && listed(role.break_glass_requesters);
    if (break_glass || listed(role.requesters)) roles.push_back({&role, break_glass});
  }
  if (roles.empty() && unknown) throw *unknown;
  return roles;
}

Outcome AccessWorkflow::may_decide(const std::string& actor, const std::string& request_id) {
  auto request = store_.find(request_id);
  Outcome outcome{true, {}, request_id, std::nullopt};
  if (!request) {
    Refusal missing;
    missing.reason = RefusalReason::no_such_request;
    missing.request_id = request_id;
    outcome = Outcome::refused(missing);
  } else if (const Role* role = policy_.find_role(request->provider, request->role); role == nullptr) {
    outcome = Outcome::refused(refusal_for(RefusalReason::role_gone, *request));
  } else if (auto refusal =
                 request->state == RequestState::active
                     ? check_extension_decision(*role, directory_, actor, *request, Decision::deny, clock_.now())
                     : check_decision(*role, directory_, actor, *request, Decision::deny, clock_.now())) {
    if (refusal->request_id.empty()) refusal->request_id = request_id;
    outcome = Outcome::refused(*refusal);
  }
  return audited(actor, "deny", request_id, std::move(outcome));
}

Outcome AccessWorkflow::cancel(const std::string& actor, const std::string& request_id) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    if (auto refusal = check_cancel(actor, request)) return refusal;
    // The requester cancelled: no need to tell them.
    close_undecided(request, change, {actor, RequestState::cancelled, "cancel", NoticeEvent::cancelled, {}, false});
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "You cancelled " + request_id + ".";
  return audited(actor, "cancel", request_id, std::move(outcome));
}

void AccessWorkflow::close_undecided(Request& request, Change& change, const Closing& closing) {
  Request before = request;
  request.state = closing.state;
  request.decided_by = closing.actor;
  request.decision_note = closing.note;
  request.decided_at = clock_.now();
  request.ended_at = clock_.now();
  change.audit.push_back(audit(before, closing.actor, closing.action, closing.state, closing.note));
  change.notices.push_back(card_notice(request, closing.event));
  if (closing.tell_requester) change.notices.push_back(dm_notice(request, closing.event, closing.note));
}

void AccessWorkflow::start_revoke(Request& request, Change& change, const std::string& actor, RequestState ending_as,
                                  const std::string& note) {
  Request before = request;
  request.ending_as = ending_as;
  request.warn_at.reset();
  if (request.extension.is_open()) {
    // The revoke has the last word: an extension not yet applied is dropped, with a reason.
    request.extension.status = Extension::Status::failed;
    request.extension.note = "access ended before the extension could be applied";
    change.audit.push_back(audit(before, actor, "extension_dropped", request.state,
                                 "+" + format_duration(request.extension.by) + ": " + request.extension.note));
  }
  if (ending_as == RequestState::revoked) {
    request.decided_by = actor;
    request.decided_at = clock_.now();
    if (!note.empty()) request.decision_note = note;
  }
  // The state stays ACTIVE (or REVOKE_FAILED) until the backend confirms: access may still exist.
  change.audit.push_back(audit(before, actor, ending_as == RequestState::revoked ? "revoke" : "expire", request.state,
                               note.empty() ? "revoke started" : "revoke started: " + note));
  change.notices.push_back(card_notice(request, NoticeEvent::revoking));
  change.jobs.push_back(job_for(request, BackendCall::Action::revoke, clock_.now()));
}

void AccessWorkflow::retry_revoke_now(Request& request, Change& change, const std::string& actor,
                                      const std::string& note) {
  request.next_revoke_attempt = clock_.now();
  change.audit.push_back(audit(request, actor, "retry_revoke", request.state, note));
  // Brings the waiting revoke job forward; one already running keeps its lease.
  change.jobs.push_back(job_for(request, BackendCall::Action::revoke, clock_.now()));
}

Outcome AccessWorkflow::revoke(const std::string& actor, const std::string& request_id) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return refusal_for(RefusalReason::role_gone, request);
    if (auto refusal = check_revoke(*role, directory_, actor, request, policy_.admins)) return refusal;
    if (request.state == RequestState::revoke_failed) {
      retry_revoke_now(request, change, actor, {});  // already ending: an explicit revoke means "now"
      return std::nullopt;
    }
    start_revoke(request, change, actor, RequestState::revoked);
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "Revoking " + request_id + " now.";
  return audited(actor, "revoke", request_id, std::move(outcome));
}

Outcome AccessWorkflow::acknowledge(const std::string& actor, const std::string& request_id, const std::string& note) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (auto refusal = check_review(role, directory_, actor, request, policy_.admins)) return refusal;
    request.reviewed_by = actor;
    request.reviewed_at = clock_.now();
    request.review_note = note;
    request.next_realert_at.reset();
    change.audit.push_back(audit(request, actor, "review", request.state, note));
    change.notices.push_back(card_notice(request, NoticeEvent::reviewed));
    append(change.notices, alert_notices(request, NoticeEvent::reviewed, note));
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "You reviewed break-glass request " + request_id + "; the alerts now say so.";
  return audited(actor, "review", request_id, std::move(outcome));
}

Outcome AccessWorkflow::extend(const std::string& actor, const std::string& request_id, Seconds by,
                               const std::string& reason) {
  std::string message;
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return refusal_for(RefusalReason::role_gone, request);
    if (auto refusal = check_extension(*role, directory_, actor, request, by, clock_.now())) return refusal;
    Request before = request;
    request.extension = Extension{};
    request.extension.by = by;
    request.extension.reason = reason;
    request.extension.requested_at = clock_.now();
    std::string until = format_rfc3339(*request.expires_at + by);
    std::string detail = "+" + format_duration(by) + " until " + until + (reason.empty() ? "" : ": " + reason);
    change.audit.push_back(audit(before, actor, "request_extension", request.state, detail));
    if (role->self_extend && !request.break_glass) {
      // The role trusts its requesters with more time: no approvers are asked. Break-glass access
      // skipped approval once already; more of it is for the approvers to decide.
      request.extension.status = Extension::Status::approved;
      change.audit.push_back(audit(before, system_actor, "approve_extension", request.state,
                                   "self_extend: the role lets its requesters extend"));
      change.jobs.push_back(job_for(request, BackendCall::Action::extend, clock_.now()));
      change.notices.push_back(card_notice(request, NoticeEvent::extension_requested));
      message = "Extending " + request.id + " by " + format_duration(by) + ", until " + until +
                ". You will get a message when it is done.";
      return std::nullopt;
    }
    request.extension.status = Extension::Status::pending;
    change.notices.push_back(card_notice(request, NoticeEvent::extension_requested));
    message = "Asked to extend " + request.id + " by " + format_duration(by) + ", until " + until + ". It needs " +
              std::to_string(role->approvals_required) + " approval" + (role->approvals_required == 1 ? "" : "s") +
              " from " + join(role->approvers) + "; your access still ends at " + format_rfc3339(*request.expires_at) +
              " unless it is approved before then.";
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = message;
  return audited(actor, "extend", request_id, std::move(outcome));
}

Outcome AccessWorkflow::extend_by_offer(const std::string& actor, const std::string& request_id) {
  auto request = store_.find(request_id);
  const Role* role = request ? policy_.find_role(request->provider, request->role) : nullptr;
  auto offer = request && role ? extension_offer(*role, *request) : std::nullopt;
  // With nothing left to offer, asking for as long again is refused with the role's limit.
  return extend(actor, request_id, offer.value_or(request ? request->duration : Seconds{0}), {});
}

Check AccessWorkflow::approve_extension(const Role& role, const std::string& actor, Request& request, Change& change,
                                        std::string& message) {
  if (auto refusal = check_extension_decision(role, directory_, actor, request, Decision::approve, clock_.now())) {
    return refusal;
  }
  request.extension.approvers.push_back(actor);
  int have = static_cast<int>(request.extension.approvers.size());
  std::string detail = "extension +" + format_duration(request.extension.by);
  if (have >= role.approvals_required) {
    request.extension.status = Extension::Status::approved;
    change.jobs.push_back(job_for(request, BackendCall::Action::extend, clock_.now()));
    message = "You approved the extension of " + request.id + " by " + format_duration(request.extension.by) +
              "; the expiry is being moved.";
  } else {
    message = "You approved the extension of " + request.id + " (" + std::to_string(have) + " of " +
              std::to_string(role.approvals_required) + "); it needs more approvals.";
  }
  change.audit.push_back(audit(request, actor, "approve_extension", request.state, detail));
  change.notices.push_back(card_notice(request, NoticeEvent::approval_added));
  return std::nullopt;
}

Check AccessWorkflow::deny_extension(const Role& role, const std::string& actor, const std::string& note,
                                     Request& request, Change& change) {
  if (auto refusal = check_extension_decision(role, directory_, actor, request, Decision::deny, clock_.now())) {
    return refusal;
  }
  request.extension.status = Extension::Status::denied;
  request.extension.decided_by = actor;
  request.extension.note = note;
  change.audit.push_back(audit(request, actor, "deny_extension", request.state, note));
  change.notices.push_back(card_notice(request, NoticeEvent::extension_denied));
  change.notices.push_back(dm_notice(request, NoticeEvent::extension_denied, note));
  return std::nullopt;
}

void AccessWorkflow::record_extension(const Job& job, const BackendResult& result) {
  auto outcome = transition(job.request_id, [&](Request& request, Change& change) -> Check {
    bool applying = request.state == RequestState::active && !request.ending_as && request.expires_at &&
                    request.extension.status == Extension::Status::approved;
    if (!applying) return refusal_for(RefusalReason::wrong_state, request);  // the revoke came first
    Request before = request;
    change.settles = JobSettlement{job.id, std::nullopt, {}};
    if (!result.ok) {
      request.extension.status = Extension::Status::failed;
      request.extension.note = result.error;
      change.audit.push_back(audit(before, system_actor, "extend_failed", request.state, result.error));
      change.notices.push_back(card_notice(request, NoticeEvent::extension_failed));
      change.notices.push_back(dm_notice(request, NoticeEvent::extension_failed, result.error));
      return std::nullopt;
    }
    Instant previous = *request.expires_at;
    Instant until = previous + request.extension.by;
    if (result.expires_at && *result.expires_at <= previous) {
      // The backend says the access ends no later than before: nothing was extended.
      request.extension.status = Extension::Status::failed;
      request.extension.note = "the backend's access still ends at " + format_rfc3339(*result.expires_at);
      change.audit.push_back(audit(before, system_actor, "extend_failed", request.state, request.extension.note));
      change.notices.push_back(card_notice(request, NoticeEvent::extension_failed));
      change.notices.push_back(dm_notice(request, NoticeEvent::extension_failed, request.extension.note));
      return std::nullopt;
    }
    // As with grants, a backend whose access ends sooner on its own wins: never claim longer.
    if (result.expires_at && until > *result.expires_at) until = *result.expires_at;
    request.expires_at = until;
    request.extended_by += std::chrono::duration_cast<Seconds>(until - previous);
    // Only a backend that replaced the grant (a fresh DuploCloud session) gives the revoke a new
    // handle; otherwise the revoke must still undo the original grant.
    if (result.replaces_grant && !result.grant_id.empty()) request.grant_id = result.grant_id;
    request.extension.status = Extension::Status::done;
    schedule_warning(request);
    change.audit.push_back(audit(before, system_actor, "extend", request.state,
                                 "until " + format_rfc3339(until) + " (was " + format_rfc3339(previous) + ")"));
    change.notices.push_back(card_notice(request, NoticeEvent::extended));
    Notice dm = dm_notice(request, NoticeEvent::extended, result.message);
    dm.console_url = result.console_url;
    change.notices.push_back(dm);
    append(change.notices, alert_notices(request, NoticeEvent::extended));
    return std::nullopt;
  });
  finish_or_retry(store_, job, outcome);
}

void AccessWorkflow::schedule_warning(Request& request) const {
  request.warn_at.reset();
  const Role* role = policy_.find_role(request.provider, request.role);
  if (role == nullptr || !request.expires_at) return;
  Seconds before = policy_.warn_before_for(*role);
  if (before.count() <= 0) return;  // warn_before = "0s": no warnings
  Instant at = *request.expires_at - before;
  // Access that ends sooner than the warning would come needs no warning: its end was just said.
  if (at > clock_.now()) request.warn_at = at;
}

void AccessWorkflow::warn_one(const Request& request, Instant now) {
  transition(request.id, [&](Request& r, Change& change) -> Check {
    if (!r.warn_at || *r.warn_at > now) return refusal_for(RefusalReason::wrong_state, r);
    r.warn_at.reset();
    if (r.state != RequestState::active || r.ending_as) return std::nullopt;  // ending anyway: just stop warning
    const Role* role = policy_.find_role(r.provider, r.role);
    auto offer = role ? extension_offer(*role, r) : std::nullopt;
    // The detail is the extension the Extend button offers; none when no more is allowed.
    std::string detail = offer && !r.extension.is_open() ? format_duration(*offer) : "";
    change.audit.push_back(
        audit(r, system_actor, "warn_expiry", r.state, "ends at " + format_rfc3339(r.expires_at.value_or(now))));
    change.notices.push_back(dm_notice(r, NoticeEvent::expiry_warning, detail));
    return std::nullopt;
  });
}

Outcome AccessWorkflow::revoke_by_operator(const std::string& operator_name, const std::string& request_id,
                                           const std::string& note) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    if (request.ending_as) {
      // Already ending (revoking, retrying, or cleaning up a failed grant): retry now.
      retry_revoke_now(request, change, operator_name, note);
      return std::nullopt;
    }
    if (request.state != RequestState::active) return refusal_for(RefusalReason::wrong_state, request);
    start_revoke(request, change, operator_name, RequestState::revoked, note);
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "Revoking " + request_id + ".";
  return audited(operator_name, "operator_revoke", request_id, std::move(outcome));
}

Outcome AccessWorkflow::cancel_by_operator(const std::string& operator_name, const std::string& request_id,
                                           const std::string& note) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    if (request.state != RequestState::pending) return refusal_for(RefusalReason::wrong_state, request);
    close_undecided(request, change,
                    {operator_name, RequestState::cancelled, "cancel", NoticeEvent::cancelled, note, true});
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "Cancelled " + request_id + ".";
  return audited(operator_name, "operator_cancel", request_id, std::move(outcome));
}

Outcome AccessWorkflow::resolve_by_operator(const std::string& operator_name, const std::string& request_id,
                                            const std::string& note) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> Check {
    bool access_may_exist = request.state == RequestState::active || request.state == RequestState::revoke_failed ||
                            request.ending_as.has_value();
    if (!access_may_exist) return refusal_for(RefusalReason::nothing_to_resolve, request);
    Request before = request;
    bool failed_grant = request.state == RequestState::grant_failed;
    if (!failed_grant) {
      request.state = RequestState::revoked;
      request.decided_by = operator_name;
      request.decided_at = clock_.now();
      request.decision_note = "resolved by hand: " + note;
    }
    request.ending_as.reset();
    request.next_revoke_attempt.reset();
    request.ended_at = clock_.now();
    change.audit.push_back(audit(before, operator_name, "resolve", request.state, "access removed by hand: " + note));
    change.notices.push_back(card_notice(request, failed_grant ? NoticeEvent::grant_failed : NoticeEvent::revoked));
    if (!failed_grant) {
      change.notices.push_back(dm_notice(request, NoticeEvent::revoked, note));
      append(change.notices, alert_notices(request, NoticeEvent::revoked));
    }
    if (before.state == RequestState::revoke_failed || before.revoke_attempts > 0) {
      append(change.notices, alert_notices(request, NoticeEvent::revoke_done, "resolved by hand: " + note));
    }
    // No more revoke retries: the operator says the access is gone.
    for (const auto& job : store_.jobs_of(request.id)) {
      if (job.action == BackendCall::Action::revoke) change.settles = JobSettlement{job.id, std::nullopt, {}};
    }
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "Resolved " + request_id + ": recorded that access was removed by hand.";
  return audited(operator_name, "operator_resolve", request_id, std::move(outcome));
}

std::optional<BackendCall> AccessWorkflow::start_job(const Job& job) {
  return start_job(job, store_.find(job.request_id));
}

std::optional<JobClaim> RequestStore::claim_job_with_request(Instant now, Instant lease_until,
                                                             const JobFilter& filter) {
  auto job = claim_job(now, lease_until, filter);
  if (!job) return std::nullopt;
  JobClaim claim{std::move(*job), std::nullopt};
  try {
    claim.request = find(claim.job.request_id);
  } catch (const std::exception&) {
    claim.request_read = false;  // run_job reads it again, and handles a failure as this job's
  }
  return claim;
}

std::optional<BackendCall> AccessWorkflow::start_job(const Job& job, std::optional<Request> request) {
  bool grant = job.action == BackendCall::Action::grant;
  bool still_wanted = false;
  if (request) {
    switch (job.action) {
      case BackendCall::Action::grant: still_wanted = request->state == RequestState::approved; break;
      case BackendCall::Action::revoke: still_wanted = request->ending_as.has_value(); break;
      case BackendCall::Action::extend: {
        const Role* role = policy_.find_role(request->provider, request->role);
        still_wanted = request->extension.status == Extension::Status::approved && role != nullptr &&
                       extension_applicable(*role, *request, clock_.now());
        break;
      }
    }
  }
  if (!still_wanted) {
    store_.settle_job({job.id, std::nullopt, {}}, std::nullopt);
    return std::nullopt;
  }
  if (grant && !request->grant_started_at) {
    // Remember the first start, so a grant re-run after a crash still expires on time.
    // Synced: the approval and this start are on disk before the backend hears of the grant.
    Request started;
    auto outcome = transition(
        request->id,
        [&](Request& r, Change& change) -> Check {
          if (r.state != RequestState::approved) return refusal_for(RefusalReason::wrong_state, r);
          if (!r.grant_started_at) r.grant_started_at = clock_.now();
          change.reach_disk = true;
          started = r;  // the last decision is the one committed
          return std::nullopt;
        },
        request);
    if (!outcome.ok) {
      finish_or_retry(store_, job, outcome);  // throws unless the request moved on
      return std::nullopt;
    }
    request = started;
  }

  BackendCall call;
  call.action = job.action;
  call.backend = request->backend;
  call.request_id = request->id;
  call.provider = request->provider;
  call.role = request->role;
  call.scope = request->scope;
  call.whole_target = request->whole_target;
  call.duration = request->duration;
  call.expires_at = request->expires_at.value_or(request->grant_started_at.value_or(clock_.now()) + request->duration);
  call.reason = request->reason;
  call.break_glass = request->break_glass;
  call.requester = directory_.profile(request->requester);
  call.approvers = approver_ids(*request);
  call.grant_id = request->grant_id;
  if (job.action == BackendCall::Action::extend) {
    // Computed from the expiry as it stands until the result is recorded, so a re-run after a
    // crash asks for the same new expiry.
    call.previous_expires_at = request->expires_at;
    call.expires_at = *request->expires_at + request->extension.by;
    call.duration = request->duration + request->extended_by + request->extension.by;
    call.approvers = request->extension.approvers;  // who approved this extension (none for self_extend)
    // The backend records why (Azure's justification, an http receiver's log): the extension's own reason.
    if (!request->extension.reason.empty()) call.reason = request->extension.reason;
  }
  return call;
}

void AccessWorkflow::record_result(const Job& job, const BackendResult& result) {
  switch (job.action) {
    case BackendCall::Action::grant: record_grant(job, result); break;
    case BackendCall::Action::revoke: record_revoke(job, result); break;
    case BackendCall::Action::extend: record_extension(job, result); break;
  }
}

void AccessWorkflow::job_failed(const Job& job, const std::string& error) {
  Instant retry_at = clock_.now() + backoff(job.attempts + 1, first_job_retry, max_job_retry);
  AuditEntry entry;
  entry.request_id = job.request_id;
  entry.at = clock_.now();
  entry.actor = system_actor;
  entry.action = std::string{to_string(job.action)} + "_job_error";
  entry.detail = error + " (retry at " + format_rfc3339(retry_at) + ")";
  store_.settle_job({job.id, retry_at, error}, entry);
}

void AccessWorkflow::record_grant(const Job& job, const BackendResult& result) {
  auto outcome = transition(job.request_id, [&](Request& request, Change& change) -> Check {
    if (request.state != RequestState::approved) return refusal_for(RefusalReason::wrong_state, request);
    Request before = request;
    change.settles = JobSettlement{job.id, std::nullopt, {}};
    if (result.ok) {
      request.state = RequestState::active;
      request.granted_at = clock_.now();
      // The expiry counts from the first attempt: a re-run after a crash does not extend access.
      request.expires_at = request.grant_started_at.value_or(clock_.now()) + request.duration;
      // A backend whose grants end sooner on their own (a session limit) wins: never claim longer.
      if (result.expires_at && *result.expires_at < *request.expires_at) request.expires_at = result.expires_at;
      request.grant_id = result.grant_id;
      request.last_error.clear();
      schedule_warning(request);
      change.audit.push_back(
          audit(before, system_actor, "grant", RequestState::active, "until " + format_rfc3339(*request.expires_at)));
      change.notices.push_back(card_notice(request, NoticeEvent::granted));
      Notice dm = dm_notice(request, NoticeEvent::granted, result.message);
      dm.console_url = result.console_url;
      change.notices.push_back(dm);
      append(change.notices, alert_notices(request, NoticeEvent::granted));
    } else {
      // A grant that failed late (a timeout, garbage after success) may have left access behind,
      // so the request is not over until a clean-up revoke, idempotent on the ID, succeeds.
      request.state = RequestState::grant_failed;
      request.last_error = result.error;
      request.ending_as = RequestState::grant_failed;
      change.audit.push_back(audit(before, system_actor, "grant", RequestState::grant_failed, result.error));
      change.notices.push_back(card_notice(request, NoticeEvent::grant_failed));
      change.notices.push_back(dm_notice(request, NoticeEvent::grant_failed, result.error));
      // A break-glass announced as being granted is announced as failed wherever it was announced.
      append(change.notices, alert_notices(request, NoticeEvent::grant_failed, result.error));
      change.jobs.push_back(job_for(request, BackendCall::Action::revoke, clock_.now()));
    }
    return std::nullopt;
  });
  finish_or_retry(store_, job, outcome);
}

void AccessWorkflow::record_revoke(const Job& job, const BackendResult& result) {
  auto outcome = transition(job.request_id, [&](Request& request, Change& change) -> Check {
    if (!request.ending_as) return refusal_for(RefusalReason::wrong_state, request);
    change.settles = JobSettlement{job.id, std::nullopt, {}};
    if (request.state == RequestState::grant_failed) {
      record_cleanup(request, change, result);
      return std::nullopt;
    }
    Request before = request;
    if (result.ok) {
      RequestState final_state = *request.ending_as;
      request.state = final_state;
      request.ending_as.reset();
      request.next_revoke_attempt.reset();
      request.last_error.clear();
      request.ended_at = clock_.now();
      if (result.lingers_until && *result.lingers_until > *request.ended_at) {
        request.lingers_until = result.lingers_until;
      }
      auto event = final_state == RequestState::expired ? NoticeEvent::expired : NoticeEvent::revoked;
      change.audit.push_back(audit(before, system_actor, "revoke_done", final_state));
      change.notices.push_back(card_notice(request, event));
      // The backend's own words ride along: some (DuploCloud) cannot end a session early and say so.
      change.notices.push_back(dm_notice(request, event, result.message));
      append(change.notices, alert_notices(request, event));
      if (before.state == RequestState::revoke_failed)
        append(change.notices, alert_notices(request, NoticeEvent::revoke_done));
      return std::nullopt;
    }
    request.state = RequestState::revoke_failed;
    request.revoke_attempts += 1;
    request.last_error = result.error;
    request.next_revoke_attempt = clock_.now() + backoff(request.revoke_attempts, first_revoke_retry, max_revoke_retry);
    change.settles->retry_at = request.next_revoke_attempt;
    change.settles->error = result.error;
    change.audit.push_back(audit(before, system_actor, "revoke_failed", RequestState::revoke_failed,
                                 result.error + " (retry at " + format_rfc3339(*request.next_revoke_attempt) + ")"));
    // The card always shows the current attempt and next try; people are alerted once.
    change.notices.push_back(card_notice(request, NoticeEvent::revoke_failed));
    if (before.state != RequestState::revoke_failed) {
      append(change.notices, alert_notices(request, NoticeEvent::revoke_failed, result.error));
      change.notices.push_back(dm_notice(request, NoticeEvent::revoke_failed, result.error));
    }
    return std::nullopt;
  });
  finish_or_retry(store_, job, outcome);
}

void AccessWorkflow::record_cleanup(Request& request, Change& change, const BackendResult& result) {
  Request before = request;
  if (result.ok) {
    request.ending_as.reset();
    request.next_revoke_attempt.reset();
    request.ended_at = clock_.now();
    change.audit.push_back(audit(before, system_actor, "cleanup_done", RequestState::grant_failed));
    change.notices.push_back(card_notice(request, NoticeEvent::grant_failed));
    return;
  }
  request.revoke_attempts += 1;
  request.next_revoke_attempt = clock_.now() + backoff(request.revoke_attempts, first_revoke_retry, max_revoke_retry);
  change.settles->retry_at = request.next_revoke_attempt;
  change.settles->error = result.error;
  // last_error keeps the grant's failure, which is what people need to fix; this one is audited.
  change.audit.push_back(audit(before, system_actor, "cleanup_failed", RequestState::grant_failed,
                               result.error + " (retry at " + format_rfc3339(*request.next_revoke_attempt) + ")"));
  change.notices.push_back(card_notice(request, NoticeEvent::cleanup_failed));
  if (request.revoke_attempts == 1) {
    append(change.notices, alert_notices(request, NoticeEvent::cleanup_failed, result.error));
    change.notices.push_back(dm_notice(request, NoticeEvent::cleanup_failed, result.error));
  }
}

void AccessWorkflow::tick() {
  const Instant now = clock_.now();
  std::string trouble;
  for (const auto& request : store_.due_requests(now)) {
    try {
      tick_one(request, now);
    } catch (const std::exception& e) {
      // One request's trouble (a locked database) must not hold up every other timeout and
      // expiry; it is still due and is tried again on the next pass.
      if (trouble.empty()) trouble = request.id + ": " + e.what();
    }
  }
  if (!trouble.empty()) throw std::runtime_error("a scheduled transition failed (retrying): " + trouble);
}

void AccessWorkflow::tick_one(const Request& request, Instant now) {
  if (request.state == RequestState::pending && request.pending_deadline <= now) {
    transition(request.id, [&](Request& r, Change& change) -> Check {
      if (r.state != RequestState::pending) return refusal_for(RefusalReason::wrong_state, r);
      Request before = r;
      r.state = RequestState::timed_out;
      r.ended_at = now;
      change.audit.push_back(audit(before, system_actor, "time_out", RequestState::timed_out));
      change.notices.push_back(card_notice(r, NoticeEvent::timed_out));
      change.notices.push_back(dm_notice(r, NoticeEvent::timed_out));
      return std::nullopt;
    });
  } else if (request.state == RequestState::active && !request.ending_as && request.expires_at &&
             *request.expires_at <= now) {
    transition(request.id, [&](Request& r, Change& change) -> Check {
      // Decided on the fresh row: an extension committed since the due list was read moved the end.
      if (r.state != RequestState::active || r.ending_as || !r.expires_at || *r.expires_at > now) {
        return refusal_for(RefusalReason::wrong_state, r);
      }
      start_revoke(r, change, system_actor, RequestState::expired);
      return std::nullopt;
    });
  }
  if (request.next_realert_at && *request.next_realert_at <= now) realert_one(request, now);
  if (request.warn_at && *request.warn_at <= now) warn_one(request, now);
  bool pending = request.state == RequestState::pending && request.pending_deadline > now;
  if (pending && request.escalate_at && *request.escalate_at <= now) escalate_one(request, now);
  if (pending && request.next_reminder_at && *request.next_reminder_at <= now) remind_one(request, now);
}

void AccessWorkflow::schedule_nudges(const Role& role, Request& request) const {
  if (auto every = policy_.remind_after_for(role); every && policy_.max_reminders_for(role) > 0) {
    request.next_reminder_at = request.created_at + *every;
  }
  if (role.escalate_after && !role.escalation_approvers.empty()) {
    request.escalate_at = request.created_at + *role.escalate_after;
  }
}

void AccessWorkflow::remind_one(const Request& request, Instant now) {
  transition(request.id, [&](Request& r, Change& change) -> Check {
    const Role* role = policy_.find_role(r.provider, r.role);
    if (r.state != RequestState::pending || !r.next_reminder_at || *r.next_reminder_at > now || role == nullptr) {
      return refusal_for(RefusalReason::wrong_state, r);
    }
    r.reminders_sent += 1;
    auto every = policy_.remind_after_for(*role);
    bool more = every && r.reminders_sent < policy_.max_reminders_for(*role);
    if (more) {
      r.next_reminder_at = now + *every;
    } else {
      r.next_reminder_at.reset();
    }
    change.audit.push_back(audit(
        r, system_actor, "remind", r.state,
        "reminder " + std::to_string(r.reminders_sent) + " of " + std::to_string(policy_.max_reminders_for(*role))));
    change.notices.push_back(card_notice(r, NoticeEvent::reminder));
    return std::nullopt;
  });
}

void AccessWorkflow::escalate_one(const Request& request, Instant now) {
  transition(request.id, [&](Request& r, Change& change) -> Check {
    const Role* role = policy_.find_role(r.provider, r.role);
    if (r.state != RequestState::pending || !r.escalate_at || *r.escalate_at > now || role == nullptr) {
      return refusal_for(RefusalReason::wrong_state, r);
    }
    r.escalate_at.reset();
    r.escalated_at = now;
    change.audit.push_back(
        audit(r, system_actor, "escalate", r.state, "escalation approvers added: " + join(role->escalation_approvers)));
    change.notices.push_back(card_notice(r, NoticeEvent::escalated));
    for (const auto& principal : role->escalation_approvers) {
      // People are asked in a DM; groups are mentioned in the card's thread.
      if (principal.empty() || principal.front() == 'S' || principal == r.requester) continue;
      change.notices.push_back(dm_notice(r, NoticeEvent::escalated));
      change.notices.back().target = principal;
    }
    return std::nullopt;
  });
}

void AccessWorkflow::realert_one(const Request& request, Instant now) {
  transition(request.id, [&](Request& r, Change& change) -> Check {
    if (!r.next_realert_at || *r.next_realert_at > now || r.reviewed_at) {
      return refusal_for(RefusalReason::wrong_state, r);  // reviewed meanwhile: nothing to do
    }
    // From now, not from the missed time: after downtime people get one reminder, not a burst.
    r.next_realert_at = now + policy_.break_glass.realert_after;
    std::string waited = "not reviewed " + format_duration(std::chrono::duration_cast<Seconds>(now - r.created_at)) +
                         " after it was used";
    change.audit.push_back(audit(r, system_actor, "realert", r.state, waited));
    append(change.notices, alert_notices(r, NoticeEvent::realert, waited));
    return std::nullopt;
  });
}

std::optional<Instant> AccessWorkflow::next_due() { return store_.next_due_at(); }

}  // namespace jitbot::workflows
