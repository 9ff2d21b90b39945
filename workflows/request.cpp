#include "workflows/request.hpp"

#include "workflows/ports.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace jitbot::workflows {
namespace {

constexpr std::array<std::pair<RequestState, std::string_view>, 10> state_names{{
    {RequestState::pending, "PENDING"},
    {RequestState::approved, "APPROVED"},
    {RequestState::active, "ACTIVE"},
    {RequestState::expired, "EXPIRED"},
    {RequestState::revoked, "REVOKED"},
    {RequestState::denied, "DENIED"},
    {RequestState::timed_out, "TIMED_OUT"},
    {RequestState::cancelled, "CANCELLED"},
    {RequestState::grant_failed, "GRANT_FAILED"},
    {RequestState::revoke_failed, "REVOKE_FAILED"},
}};

constexpr std::array<std::pair<NoticeKind, std::string_view>, 4> kind_names{{
    {NoticeKind::approval_card, "approval_card"},
    {NoticeKind::requester_dm, "requester_dm"},
    {NoticeKind::incident_alert, "incident_alert"},
    {NoticeKind::external_alert, "external_alert"},
}};

constexpr std::array<std::pair<NoticeEvent, std::string_view>, 24> event_names{{
    {NoticeEvent::submitted, "submitted"},
    {NoticeEvent::approval_added, "approval_added"},
    {NoticeEvent::granted, "granted"},
    {NoticeEvent::grant_failed, "grant_failed"},
    {NoticeEvent::denied, "denied"},
    {NoticeEvent::timed_out, "timed_out"},
    {NoticeEvent::cancelled, "cancelled"},
    {NoticeEvent::revoking, "revoking"},
    {NoticeEvent::revoked, "revoked"},
    {NoticeEvent::expired, "expired"},
    {NoticeEvent::revoke_failed, "revoke_failed"},
    {NoticeEvent::break_glass, "break_glass"},
    {NoticeEvent::cleanup_failed, "cleanup_failed"},
    {NoticeEvent::notice_parked, "notice_parked"},
    {NoticeEvent::reviewed, "reviewed"},
    {NoticeEvent::realert, "realert"},
    {NoticeEvent::revoke_done, "revoke_done"},
    {NoticeEvent::reminder, "reminder"},
    {NoticeEvent::escalated, "escalated"},
    {NoticeEvent::extension_requested, "extension_requested"},
    {NoticeEvent::extended, "extended"},
    {NoticeEvent::extension_denied, "extension_denied"},
    {NoticeEvent::extension_failed, "extension_failed"},
    {NoticeEvent::expiry_warning, "expiry_warning"},
}};

constexpr std::array<std::pair<Extension::Status, std::string_view>, 6> extension_status_names{{
    {Extension::Status::none, "none"},
    {Extension::Status::pending, "pending"},
    {Extension::Status::approved, "approved"},
    {Extension::Status::done, "done"},
    {Extension::Status::denied, "denied"},
    {Extension::Status::failed, "failed"},
}};

constexpr std::string_view on_call_prefix = "on call in ";

template <typename Enum, std::size_t N>
std::string_view name_of(const std::array<std::pair<Enum, std::string_view>, N>& table, Enum value) {
  for (const auto& [candidate, name] : table) {
    if (candidate == value) return name;
  }
  return "UNKNOWN";
}

template <typename Enum, std::size_t N>
std::optional<Enum> value_of(const std::array<std::pair<Enum, std::string_view>, N>& table, std::string_view name) {
  for (const auto& [candidate, candidate_name] : table) {
    if (candidate_name == name) return candidate;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(RequestState state) { return name_of(state_names, state); }
std::optional<RequestState> parse_request_state(std::string_view text) { return value_of(state_names, text); }
std::string_view to_string(NoticeKind kind) { return name_of(kind_names, kind); }
std::string_view to_string(NoticeEvent event) { return name_of(event_names, event); }
std::optional<NoticeKind> parse_notice_kind(std::string_view text) { return value_of(kind_names, text); }
std::optional<NoticeEvent> parse_notice_event(std::string_view text) { return value_of(event_names, text); }
std::string_view to_string(Extension::Status status) { return name_of(extension_status_names, status); }
std::optional<Extension::Status> parse_extension_status(std::string_view text) {
  return value_of(extension_status_names, text);
}

std::string_view to_string(BackendCall::Action action) {
  switch (action) {
    case BackendCall::Action::grant: return "grant";
    case BackendCall::Action::revoke: return "revoke";
    case BackendCall::Action::extend: return "extend";
  }
  return "UNKNOWN";
}

std::optional<BackendCall::Action> parse_backend_action(std::string_view text) {
  for (auto action : {BackendCall::Action::grant, BackendCall::Action::revoke, BackendCall::Action::extend}) {
    if (to_string(action) == text) return action;
  }
  return std::nullopt;
}

bool is_break_glass_news(NoticeEvent event) {
  switch (event) {
    case NoticeEvent::break_glass:
    case NoticeEvent::granted:
    case NoticeEvent::grant_failed:
    case NoticeEvent::reviewed:
    case NoticeEvent::realert:
    case NoticeEvent::extended:
    case NoticeEvent::revoked:
    case NoticeEvent::expired: return true;
    default: return false;
  }
}

bool is_final(RequestState state) {
  switch (state) {
    case RequestState::expired:
    case RequestState::revoked:
    case RequestState::denied:
    case RequestState::timed_out:
    case RequestState::cancelled:
    case RequestState::grant_failed: return true;
    case RequestState::pending:
    case RequestState::approved:
    case RequestState::active:
    case RequestState::revoke_failed: return false;
  }
  return false;
}

std::string on_call_approver(std::string_view schedule) { return std::string{on_call_prefix} + std::string{schedule}; }

std::optional<std::string> on_call_schedule(std::string_view approver) {
  if (approver.substr(0, on_call_prefix.size()) != on_call_prefix) return std::nullopt;
  return std::string{approver.substr(on_call_prefix.size())};
}

bool Request::approved_by(std::string_view user) const {
  return std::any_of(approvals.begin(), approvals.end(), [&](const Approval& a) { return a.approver == user; });
}

}  // namespace jitbot::workflows
