#include "adapters/slack/cards.hpp"

#include <algorithm>
#include <cctype>

#include "workflows/text.hpp"
#include "workflows/wording.hpp"

namespace jitbot::adapters::slack {
namespace {

using nlohmann::json;
using workflows::Request;
using workflows::RequestState;

// Block Kit limits (api.slack.com/reference/block-kit/blocks: 3000 characters per section text,
// 2000 per field), with room left for our own wording.
constexpr std::size_t section_text_limit = 3000;
constexpr std::size_t field_text_limit = 2000;
constexpr std::size_t reason_limit = 2000;
constexpr std::size_t value_limit = 300;
constexpr std::size_t fallback_text_limit = 3000;

json mrkdwn(std::string text) { return {{"type", "mrkdwn"}, {"text", truncate_utf8(text, section_text_limit)}}; }

json section(std::string text) { return {{"type", "section"}, {"text", mrkdwn(std::move(text))}}; }

json field(std::string_view label, std::string_view value) {
  return mrkdwn(truncate_utf8("*" + std::string(label) + "*\n" + std::string(value), field_text_limit));
}

json context(std::string text) { return {{"type", "context"}, {"elements", json::array({mrkdwn(std::move(text))})}}; }

json button(std::string_view label, std::string_view action_id, const std::string& request_id, std::string_view style) {
  json element = {{"type", "button"},
                  {"text", {{"type", "plain_text"}, {"text", std::string(label)}}},
                  {"action_id", std::string(action_id)},
                  {"value", request_id}};
  if (!style.empty()) element["style"] = std::string(style);
  return element;
}

std::string escaped_value(std::string_view text) { return escape_mrkdwn(truncate_utf8(text, value_limit)); }

std::string slack_time(workflows::Instant at) { return workflows::format_rfc3339(at); }

std::string decisions(const Request& request) {
  std::string text;
  for (const auto& approval : request.approvals) {
    if (!text.empty()) text += "\n";
    if (auto schedule = workflows::on_call_schedule(approval.approver)) {
      text += ":white_check_mark: Approved by jitbot: on call in " + escape_mrkdwn(*schedule) + " at " +
              slack_time(approval.at);
      continue;
    }
    text += ":white_check_mark: Approved by " + mention(approval.approver) + " at " + slack_time(approval.at);
  }
  if (request.state == RequestState::denied && !request.decided_by.empty()) {
    if (!text.empty()) text += "\n";
    text += ":no_entry: Denied by " + mention(request.decided_by);
    if (request.decided_at) text += " at " + slack_time(*request.decided_at);
    if (!request.decision_note.empty()) text += ": " + escape_mrkdwn(truncate_utf8(request.decision_note, 500));
  }
  if ((request.state == RequestState::revoked || request.ending_as == RequestState::revoked) &&
      !request.decided_by.empty()) {
    if (!text.empty()) text += "\n";
    text += ":lock: Revoked by " + mention(request.decided_by);
  }
  return text;
}

/// The cited ticket as a link with its title, or marked as not verified.
std::string ticket_line(const Request& request) {
  std::string key = escape_mrkdwn(truncate_utf8(request.ticket, value_limit));
  if (!request.ticket_verified) return key + " :warning: _not verified: the ticket system could not be reached_";
  std::string title = escape_mrkdwn(truncate_utf8(request.ticket_title, 300));
  // The link was checked to hold no character that ends Slack's <url|label> early.
  std::string link = request.ticket_url.empty() ? key : "<" + escape_mrkdwn(request.ticket_url) + "|" + key + ">";
  return link + (title.empty() ? "" : ": " + title);
}

/// What the break-glass did, in the words the facts allow: never "granted" before it was.
std::string break_glass_headline(const Request& request) {
  std::string who = mention(request.requester);
  switch (request.state) {
    case RequestState::approved:
      return ":rotating_light: *Break-glass access* by " + who + ": being granted now, without approval.";
    case RequestState::active:
    case RequestState::revoke_failed:
      return ":rotating_light: *Break-glass access* by " + who + ": granted without approval.";
    case RequestState::grant_failed:
      return ":x: *Break-glass access* by " + who + ": the grant FAILED (see the status below).";
    default: return ":rotating_light: *Break-glass access* by " + who + ": granted without approval; it has ended.";
  }
}

std::string review_line(const Request& request) {
  if (!request.reviewed_at)
    return ":eyes: *Not reviewed yet.* An approver of the role or a jitbot admin: press Acknowledge, or `/jit ack " +
           request.id + " [note]`.";
  return ":white_check_mark: Reviewed by " + mention(request.reviewed_by) + " at " + slack_time(*request.reviewed_at) +
         (request.review_note.empty() ? "" : ": " + escape_mrkdwn(truncate_utf8(request.review_note, 500)));
}

}  // namespace

std::string escape_mrkdwn(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string truncate_utf8(std::string_view text, std::size_t limit) { return workflows::cut_utf8(text, limit); }

std::string mention(std::string_view user_id) {
  bool plausible = !user_id.empty() && user_id.size() <= 32 && std::all_of(user_id.begin(), user_id.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
  });
  if (!plausible) return escape_mrkdwn(user_id);
  return "<@" + std::string(user_id) + ">";
}

SlackMessage approval_card(const Request& request, const workflows::Policy& policy) {
  SlackMessage message;
  std::string headline = request.break_glass ? ":rotating_light: *BREAK-GLASS* access by " + mention(request.requester)
                                             : ":key: *Access request* from " + mention(request.requester);
  message.blocks.push_back(section(headline));
  message.blocks.push_back({{"type", "section"},
                            {"fields", json::array({
                                           field("Provider", escaped_value(request.provider)),
                                           field("Role", escaped_value(request.role)),
                                           field("Scope", escaped_value(request.scope)),
                                           field("Duration", workflows::format_duration(request.duration)),
                                           field("Break-glass", request.break_glass ? "yes" : "no"),
                                           field("Request", request.id),
                                       })}});
  message.blocks.push_back(section("*Reason:* " + escape_mrkdwn(truncate_utf8(request.reason, reason_limit))));
  if (!request.ticket.empty()) message.blocks.push_back(section("*Ticket:* " + ticket_line(request)));
  if (auto decided = decisions(request); !decided.empty()) message.blocks.push_back(context(decided));
  if (request.break_glass) message.blocks.push_back(context(review_line(request)));
  std::string state = escape_mrkdwn(workflows::state_summary(request, policy));
  message.blocks.push_back(section("*Status:* " + state));

  if (request.state == RequestState::pending) {
    message.blocks.push_back({{"type", "actions"},
                              {"block_id", "jit_decide"},
                              {"elements", json::array({button("Approve", approve_action, request.id, "primary"),
                                                        button("Deny", deny_action, request.id, "danger")})}});
  } else {
    json buttons = json::array();
    if (request.break_glass && !request.reviewed_at) {
      buttons.push_back(button("Acknowledge", acknowledge_action, request.id, "primary"));
    }
    if (request.state == RequestState::active && !request.ending_as) {
      buttons.push_back(button("Revoke", revoke_action, request.id, "danger"));
    }
    if (!buttons.empty())
      message.blocks.push_back({{"type", "actions"}, {"block_id", "jit_active"}, {"elements", buttons}});
  }
  message.text = truncate_utf8((request.break_glass ? "Break-glass access: " : "Access request: ") +
                                   escape_mrkdwn(workflows::access_summary(request)) + " — " + state,
                               fallback_text_limit);
  return message;
}

std::string alert_mention(std::string_view configured) {
  if (configured == "<!here>" || configured == "<!channel>") return std::string{configured};
  bool group = configured.size() > 1 && configured.front() == 'S' &&
               std::all_of(configured.begin(), configured.end(), [](char c) {
                 return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
               });
  return group ? "<!subteam^" + std::string{configured} + ">" : std::string{};
}

SlackMessage break_glass_alert(const Request& request, const workflows::Policy& policy, std::string_view mention_text) {
  SlackMessage message;
  std::string summary = escape_mrkdwn(workflows::access_summary(request));
  std::string ping = alert_mention(mention_text);
  message.blocks.push_back(section((ping.empty() ? "" : ping + " ") + break_glass_headline(request)));
  message.blocks.push_back({{"type", "section"},
                            {"fields", json::array({
                                           field("Provider", escaped_value(request.provider)),
                                           field("Role", escaped_value(request.role)),
                                           field("Scope", escaped_value(request.scope)),
                                           field("Duration", workflows::format_duration(request.duration)),
                                           field("Request", request.id),
                                       })}});
  message.blocks.push_back(section("*Reason:* " + escape_mrkdwn(truncate_utf8(request.reason, reason_limit))));
  message.blocks.push_back(section("*Status:* " + escape_mrkdwn(workflows::state_summary(request, policy))));
  message.blocks.push_back(context(review_line(request)));
  json buttons = json::array();
  if (!request.reviewed_at) buttons.push_back(button("Acknowledge", acknowledge_action, request.id, "primary"));
  if (request.state == RequestState::active && !request.ending_as) {
    buttons.push_back(button("Revoke", revoke_action, request.id, "danger"));
  }
  if (!buttons.empty())
    message.blocks.push_back({{"type", "actions"}, {"block_id", "jit_review"}, {"elements", buttons}});
  std::string fact = request.state == RequestState::grant_failed ? " tried (and failed) to take " : " took ";
  message.text = truncate_utf8((ping.empty() ? "" : ping + " ") + "Break-glass: " + mention(request.requester) + fact +
                                   summary + (request.reviewed_at ? " (reviewed)" : " (not reviewed)"),
                               fallback_text_limit);
  return message;
}

SlackMessage break_glass_reminder(const workflows::Notice& notice, const Request& request,
                                  std::string_view mention_text) {
  SlackMessage message;
  std::string ping = alert_mention(mention_text);
  message.text = truncate_utf8(
      (ping.empty() ? "" : ping + " ") + ":rotating_light: Break-glass " + request.id + " by " +
          mention(request.requester) + " (" + escape_mrkdwn(workflows::access_summary(request)) +
          ") is still *not reviewed* (" + escape_mrkdwn(notice.detail) +
          "). An approver of the role: press Acknowledge on the alert, or `/jit ack " + request.id + " [note]`.",
      section_text_limit);
  message.blocks.push_back(section(message.text));
  return message;
}

SlackMessage incident_alert(const workflows::Notice& notice, const Request& request) {
  SlackMessage message;
  message.text =
      truncate_utf8(":warning: " + escape_mrkdwn(workflows::incident_message(notice, request)), section_text_limit);
  message.blocks.push_back(section(message.text));
  return message;
}

namespace {

std::string principal_mention(const std::string& principal) {
  if (!principal.empty() && principal.front() == 'S') return alert_mention(principal);
  return mention(principal);
}

}  // namespace

SlackMessage approval_reminder(const workflows::Notice& notice, const Request& request,
                               const workflows::Policy& policy) {
  SlackMessage message;
  const workflows::Role* role = policy.find_role(request.provider, request.role);
  std::string who;
  auto add = [&](const std::vector<std::string>& principals) {
    for (const auto& principal : principals) {
      if (principal == request.requester) continue;
      auto text = principal_mention(principal);
      if (!text.empty()) who += (who.empty() ? "" : " ") + text;
    }
  };
  bool escalated = notice.event == workflows::NoticeEvent::escalated;
  if (role) add(escalated ? role->escalation_approvers : role->approvers);
  if (role && !escalated && request.escalated_at) add(role->escalation_approvers);
  std::string waiting = escape_mrkdwn(workflows::access_summary(request)) + " for " + mention(request.requester) +
                        " has waited since " + slack_time(request.created_at);
  message.text = truncate_utf8(
      escalated ? ":arrow_double_up: Escalated: " + waiting + ". " + who + ": you may now approve or deny it here."
                : ":bell: Reminder: " + waiting + " (" + escape_mrkdwn(workflows::state_summary(request, policy)) +
                      "). " + who + ": please approve or deny it.",
      section_text_limit);
  message.blocks.push_back(section(message.text));
  return message;
}

SlackMessage requester_dm(const workflows::Notice& notice, const Request& request) {
  SlackMessage message;
  message.text = truncate_utf8(escape_mrkdwn(workflows::requester_message(notice, request)), section_text_limit);
  message.blocks.push_back(section(message.text));
  if (notice.event == workflows::NoticeEvent::granted && !notice.console_url.empty()) {
    // Slack's link syntax is <url|label>; a '|' or '>' inside the URL would end it early.
    std::string url = escape_mrkdwn(truncate_utf8(notice.console_url, 2900));
    if (url.find('|') == std::string::npos) {
      message.blocks.push_back(section("<" + url + "|Open the console>"));
    } else {
      message.blocks.push_back(section("Console: " + url));
    }
  }
  return message;
}

json deny_form(const std::string& request_id, std::string_view question) {
  json plain = {{"type", "plain_text"}};
  auto label = [&](std::string_view text) {
    json out = plain;
    out["text"] = std::string{text};
    return out;
  };
  return {{"type", "modal"},
          {"callback_id", std::string{deny_form_callback}},
          {"private_metadata", request_id},
          {"title", label("Deny request")},
          {"submit", label("Deny")},
          {"close", label("Cancel")},
          {"blocks", json::array({section(escape_mrkdwn(question)),
                                  {{"type", "input"},
                                   {"block_id", std::string{deny_reason_field}},
                                   {"optional", true},
                                   {"label", label("Reason (the requester sees it)")},
                                   {"element",
                                    {{"type", "plain_text_input"},
                                     {"action_id", std::string{deny_reason_field}},
                                     {"multiline", true},
                                     {"max_length", 500}}}}})}};
}

json ephemeral_reply(std::string_view text) {
  return {{"response_type", "ephemeral"},
          {"replace_original", false},
          {"text", escape_mrkdwn(truncate_utf8(text, section_text_limit))}};
}

}  // namespace jitbot::adapters::slack
