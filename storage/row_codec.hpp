#pragma once
// How requests, notices, jobs, inputs and audit entries map to table rows, written once for
// both stores. A Row reads column i (from 0) as text(i), int64(i) and null(i); a Binder binds
// parameter i (from 1) with text(i, s), int64(i, n) and null(i). Booleans are 0 and 1 in both
// schemas, and times are Unix milliseconds.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "workflows/ports.hpp"
#include "workflows/request.hpp"

namespace jitbot::storage::rows {

using workflows::AuditEntry;
using workflows::Instant;
using workflows::Notice;
using workflows::Request;
using workflows::RequestState;

constexpr const char* audit_columns = "sequence, request_id, at, actor, action, from_state, to_state, detail";

constexpr const char* request_columns =
    "id, version, state, provider, role, scope, duration_seconds, reason, break_glass, requester, created_at, "
    "pending_deadline, decided_by, decision_note, decided_at, granted_at, expires_at, ended_at, grant_id, "
    "ending_as, revoke_attempts, next_revoke_attempt, last_error, backend, grant_started_at, whole_target, "
    "lingers_until, reviewed_by, reviewed_at, review_note, next_realert_at, reminders_sent, next_reminder_at, "
    "escalate_at, escalated_at, ticket, ticket_title, ticket_url, ticket_verified, extension_status, "
    "extension_seconds, extension_reason, extension_requested_at, extension_approvers, extension_decided_by, "
    "extension_note, extended_seconds, warn_at";

/// How many columns request_columns names; bind_request binds them as parameters 1 to this.
constexpr int request_column_count = 48;
/// The compare-and-set's expected version: the parameter after the request's columns.
constexpr int expected_version_index = request_column_count + 1;

constexpr const char* notice_columns =
    "id, kind, event, target, request_id, detail, console_url, attempts, last_error, parked_at, next_attempt_at";

constexpr const char* job_columns = "id, request_id, action, backend, attempts, not_before, last_error";

constexpr const char* input_columns = "id, kind, actor, body, target, reply_to, received_at, attempts, note";

template <class Row>
std::optional<Instant> optional_instant(Row& row, int column) {
  if (row.null(column)) return std::nullopt;
  return workflows::from_unix_millis(row.int64(column));
}

template <class Binder>
void bind_optional_instant(Binder& binder, int index, const std::optional<Instant>& value) {
  if (value) {
    binder.int64(index, static_cast<std::int64_t>(workflows::to_unix_millis(*value)));
  } else {
    binder.null(index);
  }
}

inline RequestState state_from(const std::string& text) {
  auto state = workflows::parse_request_state(text);
  if (!state) throw std::runtime_error("database holds an unknown request state '" + text + "'");
  return *state;
}

/// The extension's approvers as one column: user IDs never hold a space.
inline std::string join_list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : " ") + item;
  return out;
}

inline std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> items;
  for (std::size_t start = 0; start < text.size();) {
    std::size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

template <class Row>
Request request_from_row(Row& row) {
  Request r;
  r.id = row.text(0);
  r.version = row.int64(1);
  r.state = state_from(row.text(2));
  r.provider = row.text(3);
  r.role = row.text(4);
  r.scope = row.text(5);
  r.duration = workflows::Seconds{row.int64(6)};
  r.reason = row.text(7);
  r.break_glass = static_cast<int>(row.int64(8)) != 0;
  r.requester = row.text(9);
  r.created_at = workflows::from_unix_millis(row.int64(10));
  r.pending_deadline = workflows::from_unix_millis(row.int64(11));
  r.decided_by = row.text(12);
  r.decision_note = row.text(13);
  r.decided_at = optional_instant(row, 14);
  r.granted_at = optional_instant(row, 15);
  r.expires_at = optional_instant(row, 16);
  r.ended_at = optional_instant(row, 17);
  r.grant_id = row.text(18);
  if (!row.null(19)) r.ending_as = state_from(row.text(19));
  r.revoke_attempts = static_cast<int>(row.int64(20));
  r.next_revoke_attempt = optional_instant(row, 21);
  r.last_error = row.text(22);
  r.backend = row.text(23);
  r.grant_started_at = optional_instant(row, 24);
  r.whole_target = static_cast<int>(row.int64(25)) != 0;
  r.lingers_until = optional_instant(row, 26);
  r.reviewed_by = row.text(27);
  r.reviewed_at = optional_instant(row, 28);
  r.review_note = row.text(29);
  r.next_realert_at = optional_instant(row, 30);
  r.reminders_sent = static_cast<int>(row.int64(31));
  r.next_reminder_at = optional_instant(row, 32);
  r.escalate_at = optional_instant(row, 33);
  r.escalated_at = optional_instant(row, 34);
  r.ticket = row.text(35);
  r.ticket_title = row.text(36);
  r.ticket_url = row.text(37);
  r.ticket_verified = static_cast<int>(row.int64(38)) != 0;
  auto extension = workflows::parse_extension_status(row.text(39));
  if (!extension) throw std::runtime_error("database holds an unknown extension status '" + row.text(39) + "'");
  r.extension.status = *extension;
  r.extension.by = workflows::Seconds{row.int64(40)};
  r.extension.reason = row.text(41);
  r.extension.requested_at = optional_instant(row, 42);
  r.extension.approvers = split_list(row.text(43));
  r.extension.decided_by = row.text(44);
  r.extension.note = row.text(45);
  r.extended_by = workflows::Seconds{row.int64(46)};
  r.warn_at = optional_instant(row, 47);
  return r;
}

/// Reads the columns of `notice_columns`; nullopt for a row this version cannot read.
template <class Row>
std::optional<Notice> notice_from_row(Row& row) {
  auto kind = workflows::parse_notice_kind(row.text(1));
  auto event = workflows::parse_notice_event(row.text(2));
  if (!kind || !event) return std::nullopt;
  Notice n;
  n.id = row.int64(0);
  n.kind = *kind;
  n.event = *event;
  n.target = row.text(3);
  n.request_id = row.text(4);
  n.detail = row.text(5);
  n.console_url = row.text(6);
  n.attempts = static_cast<int>(row.int64(7));
  n.last_error = row.text(8);
  n.parked = !row.null(9);
  n.next_attempt_at = workflows::from_unix_millis(row.int64(10));
  return n;
}

template <class Row>
workflows::Job job_from_row(Row& row) {
  workflows::Job job;
  job.id = row.int64(0);
  job.request_id = row.text(1);
  auto action = workflows::parse_backend_action(row.text(2));
  if (!action) throw std::runtime_error("database holds a job with an unknown action '" + row.text(2) + "'");
  job.action = *action;
  job.backend = row.text(3);
  job.attempts = static_cast<int>(row.int64(4));
  job.not_before = workflows::from_unix_millis(row.int64(5));
  job.last_error = row.text(6);
  return job;
}

template <class Row>
workflows::Input input_from_row(Row& row) {
  workflows::Input input;
  input.id = row.int64(0);
  input.kind = row.text(1) == "click" ? workflows::Input::Kind::click : workflows::Input::Kind::command;
  input.actor = row.text(2);
  input.text = row.text(3);
  input.target = row.text(4);
  input.reply_to = row.text(5);
  input.received_at = workflows::from_unix_millis(row.int64(6));
  input.attempts = static_cast<int>(row.int64(7));
  input.note = row.text(8);
  return input;
}

/// Reads the columns of `audit_columns`, in order.
template <class Row>
AuditEntry audit_entry_from_row(Row& row) {
  AuditEntry e;
  e.sequence = row.int64(0);
  e.request_id = row.text(1);
  e.at = workflows::from_unix_millis(row.int64(2));
  e.actor = row.text(3);
  e.action = row.text(4);
  e.from_state = row.text(5);
  e.to_state = row.text(6);
  e.detail = row.text(7);
  return e;
}

/// Binds every column of `request_columns`, in order, as parameters 1 to 48.
template <class Binder>
void bind_request(Binder& statement, const Request& r) {
  statement.text(1, r.id);
  statement.int64(2, r.version);
  statement.text(3, std::string{workflows::to_string(r.state)});
  statement.text(4, r.provider);
  statement.text(5, r.role);
  statement.text(6, r.scope);
  statement.int64(7, r.duration.count());
  statement.text(8, r.reason);
  statement.int64(9, r.break_glass ? 1 : 0);
  statement.text(10, r.requester);
  statement.int64(11, workflows::to_unix_millis(r.created_at));
  statement.int64(12, workflows::to_unix_millis(r.pending_deadline));
  statement.text(13, r.decided_by);
  statement.text(14, r.decision_note);
  bind_optional_instant(statement, 15, r.decided_at);
  bind_optional_instant(statement, 16, r.granted_at);
  bind_optional_instant(statement, 17, r.expires_at);
  bind_optional_instant(statement, 18, r.ended_at);
  statement.text(19, r.grant_id);
  if (r.ending_as) {
    statement.text(20, std::string{workflows::to_string(*r.ending_as)});
  } else {
    statement.null(20);
  }
  statement.int64(21, r.revoke_attempts);
  bind_optional_instant(statement, 22, r.next_revoke_attempt);
  statement.text(23, r.last_error);
  statement.text(24, r.backend);
  bind_optional_instant(statement, 25, r.grant_started_at);
  statement.int64(26, r.whole_target ? 1 : 0);
  bind_optional_instant(statement, 27, r.lingers_until);
  statement.text(28, r.reviewed_by);
  bind_optional_instant(statement, 29, r.reviewed_at);
  statement.text(30, r.review_note);
  bind_optional_instant(statement, 31, r.next_realert_at);
  statement.int64(32, r.reminders_sent);
  bind_optional_instant(statement, 33, r.next_reminder_at);
  bind_optional_instant(statement, 34, r.escalate_at);
  bind_optional_instant(statement, 35, r.escalated_at);
  statement.text(36, r.ticket);
  statement.text(37, r.ticket_title);
  statement.text(38, r.ticket_url);
  statement.int64(39, r.ticket_verified ? 1 : 0);
  statement.text(40, std::string{workflows::to_string(r.extension.status)});
  statement.int64(41, r.extension.by.count());
  statement.text(42, r.extension.reason);
  bind_optional_instant(statement, 43, r.extension.requested_at);
  statement.text(44, join_list(r.extension.approvers));
  statement.text(45, r.extension.decided_by);
  statement.text(46, r.extension.note);
  statement.int64(47, r.extended_by.count());
  bind_optional_instant(statement, 48, r.warn_at);
}

}  // namespace jitbot::storage::rows
