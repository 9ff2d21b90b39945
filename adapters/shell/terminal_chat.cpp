#include "adapters/shell/terminal_chat.hpp"

#include <cstdio>

#include "adapters/alerts/external_alerts.hpp"
#include "workflows/wording.hpp"

namespace jitbot::adapters {

using workflows::NoticeEvent;
using workflows::NoticeKind;
using workflows::Request;
using workflows::RequestState;

std::string terminal_safe(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string terminal_safe_multiline(const std::string& text, const std::string& indent) {
  std::string out;
  std::size_t start = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (start > 0) out += "\n" + indent;
    out += terminal_safe(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string TerminalChat::named(const std::string& text, const Request& request) {
  // Names come from the directory, which the config writes: safe to print as they are, once
  // the rest of the text has been made safe.
  return workflows::replace_people(terminal_safe(text), workflows::people_of(request),
                                   [this](const std::string& id) { return person(id); });
}

std::string TerminalChat::person(const std::string& user_id) {
  auto profile = directory_.profile(user_id);
  return terminal_safe(profile.name.empty() ? user_id : user_id + " (" + profile.name + ")");
}

std::string TerminalChat::add_button(const std::string& label, const std::string& action,
                                     const std::string& request_id) {
  int number = next_button_++;
  buttons_[number] = {action, request_id};
  return "[" + std::to_string(number) + "] " + label;
}

std::optional<TerminalButton> TerminalChat::button(int number) const {
  auto found = buttons_.find(number);
  if (found == buttons_.end()) return std::nullopt;
  return found->second;
}

workflows::Delivery TerminalChat::deliver(const workflows::Notice& notice, const Request& request,
                                          const std::optional<std::string>& card_location) {
  workflows::Delivery delivery{true, {}, {}};
  switch (notice.kind) {
    case NoticeKind::approval_card:
      if (notice.event == NoticeEvent::reminder || notice.event == NoticeEvent::escalated) {
        print_nudge(notice, request);
        if (notice.event == NoticeEvent::reminder) break;
      }
      if (notice.event == NoticeEvent::extension_requested &&
          request.extension.status == workflows::Extension::Status::pending) {
        print_nudge(notice, request);
      }
      print_card(notice, request, card_location.has_value());
      delivery.card_location = card_location.value_or("card-" + std::to_string(next_card_++));
      break;
    case NoticeKind::incident_alert: print_alert(notice, request); break;
    case NoticeKind::requester_dm: print_dm(notice, request); break;
    case NoticeKind::external_alert: print_external(notice, request); break;
  }
  out_.flush();
  return delivery;
}

void TerminalChat::print_card(const workflows::Notice& notice, const Request& request, bool update) {
  out_ << "\n── #" << terminal_safe(notice.target) << " · " << (update ? "card updated" : "approval card") << " · "
       << request.id << " ──\n";
  out_ << "  " << (request.break_glass ? "BREAK-GLASS access by " : "Access request from ") << person(request.requester)
       << "\n";
  out_ << "  " << terminal_safe(workflows::access_summary(request)) << "\n";
  out_ << "  Reason: " << terminal_safe(request.reason) << "\n";
  if (!request.ticket.empty()) out_ << "  Ticket: " << terminal_safe(workflows::ticket_summary(request)) << "\n";
  for (const auto& approval : request.approvals) {
    auto schedule = workflows::on_call_schedule(approval.approver);
    out_ << "  ✔ approved by "
         << (schedule ? "jitbot: on call in " + terminal_safe(*schedule) : person(approval.approver)) << " at "
         << workflows::format_rfc3339(approval.at) << "\n";
  }
  out_ << "  " << named(workflows::state_summary(request, policy_), request) << "\n";
  if (request.break_glass) out_ << "  " << terminal_safe(workflows::review_summary(request)) << "\n";
  if (request.state == RequestState::pending) {
    out_ << "  " << add_button("Approve", "approve", request.id) << "  " << add_button("Deny", "deny", request.id)
         << "\n";
    return;
  }
  print_review_buttons(request);
}

void TerminalChat::print_review_buttons(const Request& request) {
  std::string buttons;
  auto add = [&](const std::string& label, const std::string& action) {
    buttons += (buttons.empty() ? "" : "  ") + add_button(label, action, request.id);
  };
  if (request.break_glass && !request.reviewed_at) add("Acknowledge", "acknowledge");
  bool active = request.state == RequestState::active && !request.ending_as;
  if (active && request.extension.status == workflows::Extension::Status::pending) {
    add("Approve extension", "approve");
    add("Deny extension", "deny");
  }
  if (active) {
    buttons += (buttons.empty() ? "" : "  ") + add_button("Revoke", "revoke", request.id);
  }
  if (!buttons.empty()) out_ << "  " << buttons << "\n";
}

void TerminalChat::print_alert(const workflows::Notice& notice, const Request& request) {
  if (!request.break_glass || !workflows::is_break_glass_news(notice.event)) {
    out_ << "\n── #" << terminal_safe(notice.target) << " · ⚠ ALERT · " << request.id << " ──\n";
    out_ << "  " << terminal_safe(workflows::incident_message(notice, request)) << "\n";
    return;
  }
  if (notice.event == NoticeEvent::realert) {
    out_ << "\n── #" << terminal_safe(notice.target) << " · 🚨 STILL NOT REVIEWED · " << request.id << " ──\n";
    out_ << "  Break-glass by " << person(request.requester) << " ("
         << terminal_safe(workflows::access_summary(request)) << "): " << terminal_safe(notice.detail)
         << ". Review it with /jit ack " << request.id << "\n";
    return;
  }
  bool first = notice.event == NoticeEvent::break_glass;
  out_ << "\n── #" << terminal_safe(notice.target) << " · 🚨 BREAK-GLASS ALERT" << (first ? "" : " updated") << " · "
       << request.id << " ──\n";
  out_ << "  " << person(request.requester)
       << " used break-glass: " << terminal_safe(workflows::access_summary(request)) << "\n";
  out_ << "  Reason: " << terminal_safe(request.reason) << "\n";
  out_ << "  " << named(workflows::state_summary(request, policy_), request) << "\n";
  out_ << "  " << terminal_safe(workflows::review_summary(request)) << "\n";
  print_review_buttons(request);
}

void TerminalChat::print_nudge(const workflows::Notice& notice, const Request& request) {
  const workflows::Role* role = policy_.find_role(request.provider, request.role);
  bool escalated = notice.event == NoticeEvent::escalated;
  std::string who;
  if (role) {
    for (const auto& principal : escalated ? role->escalation_approvers : role->approvers) {
      who += (who.empty() ? "" : ", ") + person(principal);
    }
  }
  if (notice.event == NoticeEvent::extension_requested) {
    out_ << "\n── #" << terminal_safe(notice.target) << " · ⏳ EXTENSION ASKED · " << request.id << " ──\n";
    out_ << "  " << person(request.requester) << " asks to extend " << terminal_safe(workflows::access_summary(request))
         << " by " << workflows::format_duration(request.extension.by)
         << (request.extension.reason.empty() ? "" : ": " + terminal_safe(request.extension.reason)) << ". " << who
         << ": approve or deny the extension on the card.\n";
    return;
  }
  out_ << "\n── #" << terminal_safe(notice.target) << " · " << (escalated ? "⏫ ESCALATED" : "🔔 REMINDER") << " · "
       << request.id << " ──\n";
  out_ << "  " << terminal_safe(workflows::access_summary(request)) << " for " << person(request.requester)
       << " has waited since " << workflows::format_rfc3339(request.created_at) << ". " << who
       << (escalated ? ": you may now approve or deny it." : ": please approve or deny it.") << "\n";
}

void TerminalChat::print_external(const workflows::Notice& notice, const Request& request) {
  std::string kind = "sink";
  std::string action{workflows::to_string(notice.event)};
  for (const auto& sink : policy_.alerts) {
    if (sink.name != notice.target) continue;
    kind = sink.type == workflows::AlertSink::Type::pagerduty ? "PagerDuty page" : "webhook";
    if (sink.type == workflows::AlertSink::Type::pagerduty) {
      action = ExternalAlerts::pagerduty_action(notice.event) + " (" + action + ")";
    }
  }
  out_ << "\n── → " << kind << " " << terminal_safe(notice.target) << " · " << action << " · " << request.id << " ──\n";
  out_ << "  " << terminal_safe(workflows::alert_summary(notice, request, policy_)) << "\n";
}

void TerminalChat::print_dm(const workflows::Notice& notice, const Request& request) {
  out_ << "\n── DM to " << person(notice.target) << " ──\n";
  out_ << "  " << named(workflows::requester_message(notice, request), request) << "\n";
  if (notice.event == NoticeEvent::expiry_warning && !notice.detail.empty()) {
    out_ << "  " << add_button("Extend by " + notice.detail, "extend", request.id) << "\n";
  }
  bool access_news = notice.event == NoticeEvent::granted || notice.event == NoticeEvent::extended;
  if (access_news && !notice.console_url.empty()) {
    out_ << "  Console: " << terminal_safe(notice.console_url) << "\n";
  }
}

}  // namespace jitbot::adapters
