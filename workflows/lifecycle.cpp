#include "workflows/lifecycle.hpp"

#include <algorithm>

namespace jitbot::workflows {
namespace {

constexpr int max_commit_attempts = 3;
constexpr std::chrono::seconds first_revoke_retry{30};
constexpr std::chrono::seconds max_revoke_retry{30 * 60};

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

std::string describe_access(const Request& request) {
  return request.provider + "/" + request.role + " on " + request.scope + " for " + format_duration(request.duration);
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

Outcome AccessWorkflow::submit(const std::string& requester, const NewRequest& draft) {
  const Role* role = nullptr;
  if (auto refusal = check_new_request(policy_, directory_, requester, draft, role)) return {false, *refusal, {}, {}};

  Request request;
  request.id = ids_.next_request_id();
  request.provider = draft.provider;
  request.role = draft.role;
  request.scope = draft.scope;
  request.duration = draft.duration;
  request.reason = draft.reason;
  request.break_glass = draft.break_glass;
  request.requester = requester;
  request.backend = role->backend;
  request.created_at = clock_.now();
  request.pending_deadline = request.created_at + policy_.pending_timeout;

  Change change;
  Outcome outcome{true, {}, request.id, {}};
  if (draft.break_glass) {
    // Break-glass skips approval: it is approved on creation, granted at once, and every
    // incident channel hears about it so a human reviews it after the fact.
    request.state = RequestState::approved;
    request.decided_at = request.created_at;
    change.audit.push_back(audit(request, requester, "break_glass", RequestState::approved, draft.reason));
    change.notices.push_back(card_notice(request, NoticeEvent::break_glass));
    for (const auto& channel : policy_.incident_channels) {
      Notice alert = card_notice(request, NoticeEvent::break_glass);
      alert.kind = NoticeKind::incident_alert;
      alert.target = channel;
      change.notices.push_back(alert);
    }
    outcome.work.push_back({request.id, BackendCall::Action::grant});
    outcome.message = "Break-glass request " + request.id + " for " + describe_access(request) +
                      " is being granted now. The incident channels have been alerted and it will be reviewed.";
  } else {
    request.state = RequestState::pending;
    change.audit.push_back(audit(request, requester, "request", RequestState::pending, draft.reason));
    change.notices.push_back(card_notice(request, NoticeEvent::submitted));
    outcome.message = "Request " + request.id + " submitted: " + describe_access(request) + ". It needs " +
                      std::to_string(role->approvals_required) + " approval" +
                      (role->approvals_required == 1 ? "" : "s") + " from " + join(role->approvers) + ".";
  }
  request.version = 1;
  change.request = request;
  if (!store_.commit(change)) return {false, "Could not save the request; try again.", {}, {}};
  return outcome;
}

Outcome AccessWorkflow::transition(const std::string& request_id, const Decide& decide) {
  for (int attempt = 0; attempt < max_commit_attempts; ++attempt) {
    auto current = store_.find(request_id);
    if (!current)
      return {false, "There is no request " + request_id + ". Check the ID with /jit list.", request_id, {}};
    Request next = *current;
    Change change;
    change.expected_version = current->version;
    Outcome outcome{true, {}, request_id, {}};
    if (auto refusal = decide(next, change)) return {false, *refusal, request_id, {}};
    next.version = current->version + 1;
    change.request = next;
    // The compare-and-set: if another click or replica got there first, decide again on
    // what it left, so the rules see the real current state.
    if (store_.commit(change)) {
      if (next.state == RequestState::approved && current->state != RequestState::approved) {
        outcome.work.push_back({request_id, BackendCall::Action::grant});
      }
      if (next.ending_as && !current->ending_as) outcome.work.push_back({request_id, BackendCall::Action::revoke});
      return outcome;
    }
  }
  return {
      false, "Request " + request_id + " changed while you acted on it; look at it again and retry.", request_id, {}};
}

Outcome AccessWorkflow::approve(const std::string& actor, const std::string& request_id) {
  std::string message;
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> std::optional<std::string> {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return "Role " + request.provider + "/" + request.role + " is no longer configured.";
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
  return outcome;
}

Outcome AccessWorkflow::deny(const std::string& actor, const std::string& request_id, const std::string& note) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> std::optional<std::string> {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return "Role " + request.provider + "/" + request.role + " is no longer configured.";
    if (auto refusal = check_decision(*role, directory_, actor, request, Decision::deny, clock_.now())) {
      return refusal;
    }
    Request before = request;
    request.state = RequestState::denied;
    request.decided_by = actor;
    request.decision_note = note;
    request.decided_at = clock_.now();
    request.ended_at = clock_.now();
    change.audit.push_back(audit(before, actor, "deny", RequestState::denied, note));
    change.notices.push_back(card_notice(request, NoticeEvent::denied));
    change.notices.push_back(dm_notice(request, NoticeEvent::denied, note));
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "You denied " + request_id + ".";
  return outcome;
}

Outcome AccessWorkflow::cancel(const std::string& actor, const std::string& request_id) {
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> std::optional<std::string> {
    if (auto refusal = check_cancel(actor, request)) return refusal;
    Request before = request;
    request.state = RequestState::cancelled;
    request.decided_by = actor;
    request.decided_at = clock_.now();
    request.ended_at = clock_.now();
    change.audit.push_back(audit(before, actor, "cancel", RequestState::cancelled));
    change.notices.push_back(card_notice(request, NoticeEvent::cancelled));
    return std::nullopt;
  });
  if (outcome.ok) outcome.message = "You cancelled " + request_id + ".";
  return outcome;
}

void AccessWorkflow::start_revoke(Request& request, Change& change, const std::string& actor, RequestState ending_as) {
  Request before = request;
  request.ending_as = ending_as;
  if (ending_as == RequestState::revoked) {
    request.decided_by = actor;
    request.decided_at = clock_.now();
  }
  // The state stays ACTIVE (or REVOKE_FAILED) until the backend confirms: access may still exist.
  change.audit.push_back(
      audit(before, actor, ending_as == RequestState::revoked ? "revoke" : "expire", request.state, "revoke started"));
  change.notices.push_back(card_notice(request, NoticeEvent::revoking));
}

Outcome AccessWorkflow::revoke(const std::string& actor, const std::string& request_id) {
  bool retry_only = false;
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> std::optional<std::string> {
    const Role* role = policy_.find_role(request.provider, request.role);
    if (role == nullptr) return "Role " + request.provider + "/" + request.role + " is no longer configured.";
    if (auto refusal = check_revoke(*role, directory_, actor, request)) return refusal;
    if (request.state == RequestState::revoke_failed) {
      // Already ending; an explicit revoke means "retry now".
      retry_only = true;
      request.next_revoke_attempt = clock_.now();
      change.audit.push_back(audit(request, actor, "retry_revoke", request.state));
      return std::nullopt;
    }
    start_revoke(request, change, actor, RequestState::revoked);
    return std::nullopt;
  });
  if (outcome.ok) {
    if (retry_only && !in_flight_.count(request_id)) outcome.work.push_back({request_id, BackendCall::Action::revoke});
    outcome.message = "Revoking " + request_id + " now.";
  }
  return outcome;
}

std::optional<BackendCall> AccessWorkflow::prepare(const BackendWork& work) {
  auto request = store_.find(work.request_id);
  if (!request) return std::nullopt;
  bool grant = work.action == BackendCall::Action::grant;
  if (grant && request->state != RequestState::approved) return std::nullopt;
  if (!grant && !request->ending_as) return std::nullopt;
  if (in_flight_.count(work.request_id)) return std::nullopt;

  BackendCall call;
  call.action = work.action;
  call.backend = request->backend;
  call.request_id = request->id;
  call.provider = request->provider;
  call.role = request->role;
  call.scope = request->scope;
  call.duration = request->duration;
  call.expires_at = request->expires_at.value_or(clock_.now() + request->duration);
  call.reason = request->reason;
  call.break_glass = request->break_glass;
  call.requester = directory_.profile(request->requester);
  call.approvers = approver_ids(*request);
  call.grant_id = request->grant_id;
  in_flight_.insert(work.request_id);
  return call;
}

std::vector<BackendWork> AccessWorkflow::record_grant(const std::string& request_id, const BackendResult& result) {
  in_flight_.erase(request_id);
  auto outcome = transition(request_id, [&](Request& request, Change& change) -> std::optional<std::string> {
    if (request.state != RequestState::approved) return "not approved";
    Request before = request;
    if (result.ok) {
      request.state = RequestState::active;
      request.granted_at = clock_.now();
      request.expires_at = clock_.now() + request.duration;
      // A backend whose grants end sooner on their own (a session limit) wins: never claim longer.
      if (result.expires_at && *result.expires_at < *request.expires_at) request.expires_at = result.expires_at;
      request.grant_id = result.grant_id;
      request.last_error.clear();
      change.audit.push_back(
          audit(before, system_actor, "grant", RequestState::active, "until " + format_rfc3339(*request.expires_at)));
      change.notices.push_back(card_notice(request, NoticeEvent::granted));
      Notice dm = dm_notice(request, NoticeEvent::granted, result.message);
      dm.console_url = result.console_url;
      change.notices.push_back(dm);
    } else {
      // A grant that failed late (a timeout, garbage after success) may have left access behind,
      // so the request is not over until a clean-up revoke, idempotent on the ID, succeeds.
      request.state = RequestState::grant_failed;
      request.last_error = result.error;
      request.ending_as = RequestState::grant_failed;
      change.audit.push_back(audit(before, system_actor, "grant", RequestState::grant_failed, result.error));
      change.notices.push_back(card_notice(request, NoticeEvent::grant_failed));
      change.notices.push_back(dm_notice(request, NoticeEvent::grant_failed, result.error));
    }
    return std::nullopt;
  });
  return outcome.work;
}

std::chrono::seconds AccessWorkflow::revoke_backoff(int attempts) const {
  auto delay = first_revoke_retry;
  for (int i = 1; i < attempts && delay < max_revoke_retry; ++i) delay *= 2;
  return std::min(delay, max_revoke_retry);
}

void AccessWorkflow::record_revoke(const std::string& request_id, const BackendResult& result) {
  in_flight_.erase(request_id);
  transition(request_id, [&](Request& request, Change& change) -> std::optional<std::string> {
    if (!request.ending_as) return "not revoking";
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
      auto event = final_state == RequestState::expired ? NoticeEvent::expired : NoticeEvent::revoked;
      change.audit.push_back(audit(before, system_actor, "revoke_done", final_state));
      change.notices.push_back(card_notice(request, event));
      // The backend's own words ride along: some (DuploCloud) cannot end a session early and say so.
      change.notices.push_back(dm_notice(request, event, result.message));
    } else {
      request.state = RequestState::revoke_failed;
      request.revoke_attempts += 1;
      request.last_error = result.error;
      request.next_revoke_attempt = clock_.now() + revoke_backoff(request.revoke_attempts);
      change.audit.push_back(audit(before, system_actor, "revoke_failed", RequestState::revoke_failed,
                                   result.error + " (retry at " + format_rfc3339(*request.next_revoke_attempt) + ")"));
      // Only the first failure is announced; the card shows the retries after that.
      if (before.state != RequestState::revoke_failed) {
        change.notices.push_back(card_notice(request, NoticeEvent::revoke_failed));
      }
    }
    return std::nullopt;
  });
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
  request.next_revoke_attempt = clock_.now() + revoke_backoff(request.revoke_attempts);
  // last_error keeps the grant's failure, which is what people need to fix; this one is audited.
  change.audit.push_back(audit(before, system_actor, "cleanup_failed", RequestState::grant_failed,
                               result.error + " (retry at " + format_rfc3339(*request.next_revoke_attempt) + ")"));
}

std::vector<BackendWork> AccessWorkflow::tick() {
  std::vector<BackendWork> work;
  const Instant now = clock_.now();
  for (const auto& request : store_.due_requests(now)) {
    if (in_flight_.count(request.id)) continue;
    if (request.ending_as) {
      // A revoke decided on (expiry, revoke, failed-grant clean-up) that has not succeeded yet:
      // interrupted by a crash, or failed and now due for a retry.
      if (!request.next_revoke_attempt || *request.next_revoke_attempt <= now) {
        work.push_back({request.id, BackendCall::Action::revoke});
      }
      continue;
    }
    switch (request.state) {
      case RequestState::pending:
        if (request.pending_deadline <= now) {
          transition(request.id, [&](Request& r, Change& change) -> std::optional<std::string> {
            if (r.state != RequestState::pending) return "moved on";
            Request before = r;
            r.state = RequestState::timed_out;
            r.ended_at = now;
            change.audit.push_back(audit(before, system_actor, "time_out", RequestState::timed_out));
            change.notices.push_back(card_notice(r, NoticeEvent::timed_out));
            change.notices.push_back(dm_notice(r, NoticeEvent::timed_out));
            return std::nullopt;
          });
        }
        break;
      case RequestState::approved:
        // Approved but not (yet) active: a grant that a crash interrupted. Idempotent on the ID.
        work.push_back({request.id, BackendCall::Action::grant});
        break;
      case RequestState::active:
        if (request.expires_at && *request.expires_at <= now) {
          auto outcome = transition(request.id, [&](Request& r, Change& change) -> std::optional<std::string> {
            if (r.state != RequestState::active || r.ending_as) return "moved on";
            start_revoke(r, change, system_actor, RequestState::expired);
            return std::nullopt;
          });
          work.insert(work.end(), outcome.work.begin(), outcome.work.end());
        }
        break;
      default: break;
    }
  }
  return work;
}

std::optional<Instant> AccessWorkflow::next_due() {
  // Requests whose backend call is running now are not due again until it returns.
  return store_.next_due_at(in_flight_);
}

}  // namespace jitbot::workflows
