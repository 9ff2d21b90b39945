#include "adapters/slack/cards.hpp"

#include <algorithm>
#include <array>
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

/// Escaped text with the people of the request shown as Slack shows people: by mention, so
/// every message names them the same way (their display name), never as a bare ID.
std::string with_mentions(const std::string& escaped, const Request& request) {
  return workflows::replace_people(escaped, workflows::people_of(request),
                                   [](const std::string& id) { return mention(id); });
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

/// "2h", or "2h (+1h extended)" once extensions moved the expiry.
std::string duration_text(const Request& request) {
  std::string text = workflows::format_duration(request.duration);
  if (request.extended_by.count() > 0) text += " (+" + workflows::format_duration(request.extended_by) + " extended)";
  return text;
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
                                           field("Duration", duration_text(request)),
                                           field("Break-glass", request.break_glass ? "yes" : "no"),
                                           field("Request", request.id),
                                       })}});
  message.blocks.push_back(section("*Reason:* " + escape_mrkdwn(truncate_utf8(request.reason, reason_limit))));
  if (!request.ticket.empty()) message.blocks.push_back(section("*Ticket:* " + ticket_line(request)));
  if (auto decided = decisions(request); !decided.empty()) message.blocks.push_back(context(decided));
  if (request.break_glass) message.blocks.push_back(context(review_line(request)));
  std::string state = with_mentions(escape_mrkdwn(workflows::state_summary(request, policy)), request);
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
    bool active = request.state == RequestState::active && !request.ending_as;
    if (active && request.extension.status == workflows::Extension::Status::pending) {
      // The extension is decided here like the request was: the same buttons, the same rules.
      buttons.push_back(button("Approve extension", approve_action, request.id, "primary"));
      buttons.push_back(button("Deny extension", deny_action, request.id, ""));
    }
    if (active) buttons.push_back(button("Revoke", revoke_action, request.id, "danger"));
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
  message.blocks.push_back(
      section("*Status:* " + with_mentions(escape_mrkdwn(workflows::state_summary(request, policy)), request)));
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
      truncate_utf8(":warning: " + with_mentions(escape_mrkdwn(workflows::incident_message(notice, request)), request),
                    section_text_limit);
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
  if (notice.event == workflows::NoticeEvent::extension_requested) {
    const auto& extension = request.extension;
    message.text = truncate_utf8(
        ":hourglass_flowing_sand: " + mention(request.requester) + " asks to extend " +
            escape_mrkdwn(workflows::access_summary(request)) + " by " + workflows::format_duration(extension.by) +
            (extension.reason.empty() ? std::string{} : ": " + escape_mrkdwn(truncate_utf8(extension.reason, 500))) +
            ". " + who + ": approve or deny the extension on the card.",
        section_text_limit);
    message.blocks.push_back(section(message.text));
    return message;
  }
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
  message.text = truncate_utf8(with_mentions(escape_mrkdwn(workflows::requester_message(notice, request)), request),
                               section_text_limit);
  message.blocks.push_back(section(message.text));
  using workflows::NoticeEvent;
  if (notice.event == NoticeEvent::expiry_warning && !notice.detail.empty()) {
    message.blocks.push_back(
        {{"type", "actions"},
         {"block_id", "jit_expiry"},
         {"elements", json::array({button("Extend by " + notice.detail, extend_action, request.id, "primary")})}});
  }
  bool access_news = notice.event == NoticeEvent::granted || notice.event == NoticeEvent::extended;
  if (access_news && !notice.console_url.empty()) {
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

namespace {

json plain_text(std::string_view text) { return {{"type", "plain_text"}, {"text", truncate_utf8(text, 75)}}; }

json option(const std::string& label, const std::string& value) {
  return {{"text", plain_text(label)}, {"value", value}};
}

json input_block(std::string_view id, std::string_view label, json element, bool optional = false) {
  element["action_id"] = std::string{id};
  return {{"type", "input"},
          {"block_id", std::string{id}},
          {"optional", optional},
          {"label", plain_text(label)},
          {"element", std::move(element)}};
}

/// The durations offered: a ladder up to the longest any offered role allows, and that longest.
std::vector<workflows::Seconds> duration_choices(workflows::Seconds longest) {
  using namespace std::chrono_literals;
  std::vector<workflows::Seconds> out;
  constexpr std::array<std::chrono::minutes, 8> ladder{15min, 30min, 60min, 120min, 240min, 480min, 720min, 1440min};
  for (auto step : ladder) {
    if (step < longest) out.push_back(step);
  }
  out.push_back(longest);
  return out;
}

/// A value of view.state.values.BLOCK.BLOCK: its "value", or its selected option's value.
std::string form_value(const json& view, std::string_view block) {
  const json* node = &view;
  const std::array<std::string_view, 4> path{"state", "values", block, block};
  for (auto key : path) {
    if (!node->is_object() || !node->contains(std::string{key})) return {};
    node = &(*node)[std::string{key}];
  }
  if (node->contains("value") && (*node)["value"].is_string()) return (*node)["value"].get<std::string>();
  if (node->contains("selected_option") && (*node)["selected_option"].is_object()) {
    return (*node)["selected_option"].value("value", std::string{});
  }
  if (node->contains("selected_options") && (*node)["selected_options"].is_array() &&
      !(*node)["selected_options"].empty()) {
    return "yes";
  }
  return {};
}

/// Quotes a value for the command parser: straight single quotes, a quote inside doubled, and
/// &, < and > escaped as Slack escapes slash-command text, which the parser decodes (a form's
/// values arrive as typed).
std::string quoted(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    switch (c) {
      case '\'': out += "''"; break;
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out + "'";
}

}  // namespace

json request_form(const workflows::Policy& policy, const std::vector<std::string>& roles,
                  const std::vector<std::string>& break_glass_roles) {
  json role_options = json::array();
  std::string scopes_hint;
  workflows::Seconds longest{0};
  for (const auto& key : roles) {
    if (role_options.size() == 100) break;  // Slack's limit for a static_select
    role_options.push_back(option(key, key));
    auto slash = key.find('/');
    const workflows::Role* role = policy.find_role(key.substr(0, slash), key.substr(slash + 1));
    if (role == nullptr) continue;
    longest = std::max(longest, role->max_duration);
    std::string scopes;
    for (const auto& scope : role->scopes) scopes += (scopes.empty() ? "" : ", ") + scope;
    scopes_hint += (scopes_hint.empty() ? "" : "; ") + key + ": " + (role->whole_target ? "cluster" : scopes);
  }
  json durations = json::array();
  for (auto duration : duration_choices(longest)) {
    auto text = workflows::format_duration(duration);
    durations.push_back(option(text, text));
  }
  json scope_element = {{"type", "plain_text_input"}, {"max_length", 300}};
  json blocks = json::array(
      {section("Ask for access. The role's approvers decide; you hear from jitbot when it is granted."),
       input_block(
           "role", "Role",
           {{"type", "static_select"}, {"placeholder", plain_text("Choose a role")}, {"options", role_options}}),
       input_block("scope", "Scope", scope_element),
       input_block("duration", "Duration", {{"type", "static_select"}, {"options", durations}}),
       input_block("reason", "Reason (a ticket, an incident)",
                   {{"type", "plain_text_input"}, {"multiline", true}, {"max_length", 2000}})});
  blocks[2]["hint"] = {{"type", "plain_text"}, {"text", truncate_utf8("Allowed: " + scopes_hint, 1900)}};
  if (!break_glass_roles.empty()) {
    std::string which;
    for (const auto& key : break_glass_roles) which += (which.empty() ? "" : ", ") + key;
    json checkbox = {{"type", "checkboxes"},
                     {"options", json::array({option("Break glass: grant now, without approval", "yes")})}};
    json block = input_block("break_glass", "Emergency", checkbox, true);
    block["hint"] = {
        {"type", "plain_text"},
        {"text", truncate_utf8("Alerts the incident channels and must be reviewed. For you on: " + which, 1900)}};
    blocks.push_back(block);
  }
  return {{"type", "modal"},
          {"callback_id", std::string{request_form_callback}},
          {"title", plain_text("Request access")},
          {"submit", plain_text("Request")},
          {"close", plain_text("Cancel")},
          {"blocks", blocks}};
}

workflows::NewRequest request_form_values(const json& view) {
  workflows::NewRequest draft;
  std::string role = form_value(view, "role");
  auto slash = role.find('/');
  draft.provider = role.substr(0, slash);
  draft.role = slash == std::string::npos ? std::string{} : role.substr(slash + 1);
  draft.scope = form_value(view, "scope");
  draft.duration = workflows::parse_duration(form_value(view, "duration")).value_or(workflows::Seconds{0});
  draft.reason = form_value(view, "reason");
  draft.break_glass = form_value(view, "break_glass") == "yes";
  return draft;
}

std::optional<json> request_form_errors(const workflows::Policy& policy, const workflows::NewRequest& draft) {
  using workflows::RefusalReason;
  const workflows::Role* role = nullptr;
  auto refusal = workflows::check_request_fields(policy, draft, role);
  if (!refusal) return std::nullopt;
  std::string field = "reason";
  switch (refusal->reason) {
    case RefusalReason::unknown_role: field = "role"; break;
    case RefusalReason::scope_malformed:
    case RefusalReason::scope_not_allowed: field = "scope"; break;
    case RefusalReason::duration_too_long:
    case RefusalReason::duration_too_short: field = "duration"; break;
    case RefusalReason::break_glass_disabled: field = "break_glass"; break;
    default: break;
  }
  return json{{"response_action", "errors"}, {"errors", {{field, truncate_utf8(workflows::describe(*refusal), 300)}}}};
}

std::string request_command(const workflows::NewRequest& draft) {
  std::string command = "request --provider " + quoted(draft.provider) + " --role " + quoted(draft.role) + " --scope " +
                        quoted(draft.scope) + " --duration " + quoted(workflows::format_duration(draft.duration)) +
                        " --reason " + quoted(draft.reason);
  return draft.break_glass ? command + " --break-glass" : command;
}

json home_view(const workflows::Policy& policy, const std::vector<Request>& mine, const std::vector<Request>& waiting) {
  json blocks = json::array();
  auto header = [&](std::string_view text) {
    blocks.push_back({{"type", "header"}, {"text", {{"type", "plain_text"}, {"text", std::string{text}}}}});
  };
  auto line = [&](const Request& request) {
    return "*" + request.id + "* " + escaped_value(workflows::access_summary(request)) + "\n" +
           with_mentions(escape_mrkdwn(workflows::state_summary(request, policy)), request);
  };
  header("Your open requests");
  if (mine.empty()) blocks.push_back(section("None. Ask with `/jit request`, or the Request access shortcut."));
  for (const auto& request : mine) {
    blocks.push_back(section(line(request)));
    if (request.state == RequestState::active && !request.ending_as) {
      blocks.push_back(
          {{"type", "actions"}, {"elements", json::array({button("Revoke", revoke_action, request.id, "danger")})}});
    }
  }
  header("Waiting on you");
  if (waiting.empty()) blocks.push_back(section("Nothing waits for your approval."));
  for (const auto& request : waiting) {
    blocks.push_back(section(line(request) + "\nFrom " + mention(request.requester) + ": " +
                             escape_mrkdwn(truncate_utf8(request.reason, 500))));
    bool extension = request.state == RequestState::active;  // an extension waits, not the request
    blocks.push_back(
        {{"type", "actions"},
         {"elements",
          json::array({button(extension ? "Approve extension" : "Approve", approve_action, request.id, "primary"),
                       button(extension ? "Deny extension" : "Deny", deny_action, request.id, "danger")})}});
  }
  return {{"type", "home"}, {"blocks", blocks}};
}

json ephemeral_reply(std::string_view text) {
  return {{"response_type", "ephemeral"},
          {"replace_original", false},
          {"text", escape_mrkdwn(truncate_utf8(text, section_text_limit))}};
}

}  // namespace jitbot::adapters::slack
