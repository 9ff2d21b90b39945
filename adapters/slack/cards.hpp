#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "workflows/policy.hpp"
#include "workflows/request.hpp"
#include "workflows/rules.hpp"

namespace jitbot::adapters::slack {

/// Button action IDs on approval cards; a click is matched on these, never on its label.
inline constexpr std::string_view approve_action = "jit_approve";
inline constexpr std::string_view deny_action = "jit_deny";
inline constexpr std::string_view revoke_action = "jit_revoke";
inline constexpr std::string_view acknowledge_action = "jit_ack";
/// The pre-expiry DM's button: extend by what the role still offers.
inline constexpr std::string_view extend_action = "jit_extend";
/// The Deny form's callback_id, and its reason field (block and action IDs).
inline constexpr std::string_view deny_form_callback = "jit_deny_form";
inline constexpr std::string_view deny_reason_field = "reason";

/// Escapes text for Slack mrkdwn (&, <, >), so user input can never mention, ping
/// (<!channel>) or forge a link. Everything a person typed goes through this.
std::string escape_mrkdwn(std::string_view text);

/// Cuts text to at most `limit` bytes at a UTF-8 character boundary, ending with "…" when cut.
std::string truncate_utf8(std::string_view text, std::size_t limit);

/// "<@U123>" for a Slack user ID, or the escaped text when it does not look like one.
std::string mention(std::string_view user_id);

/// A Slack message body: `text` (the notification fallback) and `blocks`.
struct SlackMessage {
  std::string text;
  nlohmann::json blocks = nlohmann::json::array();
};

/// The approval card in the approvals channel: who asks for what and why, the decisions so
/// far, where the request stands, and only the buttons that still make sense.
SlackMessage approval_card(const workflows::Request& request, const workflows::Policy& policy);

/// A reply in the card's thread that mentions whoever may decide now: the role's approvers, and
/// after an escalation its escalation approvers (users as <@U…>, groups as <!subteam^S…>).
SlackMessage approval_reminder(const workflows::Notice& notice, const workflows::Request& request,
                               const workflows::Policy& policy);

/// The break-glass alert for an incident channel, as the request stands: granting, granted or
/// failed, ended, and reviewed or not, with Acknowledge and Revoke while they make sense.
/// `mention` ("<!here>", a user group S…) comes from the config, never from user text.
SlackMessage break_glass_alert(const workflows::Request& request, const workflows::Policy& policy,
                               std::string_view mention = {});

/// The re-alert posted in the alert's thread (and to the channel) while nobody has reviewed it.
SlackMessage break_glass_reminder(const workflows::Notice& notice, const workflows::Request& request,
                                  std::string_view mention = {});

/// "<!here>" and "<!channel>" as given, a user group S… as "<!subteam^S…>"; "" for anything else.
std::string alert_mention(std::string_view configured);

/// An alert for the incident channels about trouble that needs a human (a revoke that keeps
/// failing, an undeliverable notice).
SlackMessage incident_alert(const workflows::Notice& notice, const workflows::Request& request);

/// A DM to the requester; the console link, if any, appears only here.
SlackMessage requester_dm(const workflows::Notice& notice, const workflows::Request& request);

/// The modal the Deny button opens: what is being denied (`question`, plain text) and an optional
/// reason, carried back in a view_submission with the request ID as private_metadata.
nlohmann::json deny_form(const std::string& request_id, std::string_view question);

/// The request form's callback_id, and the global shortcut that opens it (app manifest).
inline constexpr std::string_view request_form_callback = "jit_request_form";
inline constexpr std::string_view request_shortcut = "jit_request";

/// The modal for a new request: a role among `roles` ("provider/name"), a scope (the role's
/// scopes listed as a hint), a duration up to the longest the roles allow, a reason, and
/// break-glass only when `break_glass_roles` is not empty.
nlohmann::json request_form(const workflows::Policy& policy, const std::vector<std::string>& roles,
                            const std::vector<std::string>& break_glass_roles);

/// What a submitted request form asks for, read from view.state.values (absent fields empty).
workflows::NewRequest request_form_values(const nlohmann::json& view);

/// The answer to a request form that must not be accepted: {"response_action":"errors"} naming
/// each field's problem; nullopt when the fields are fine (who asks is checked after the ack).
std::optional<nlohmann::json> request_form_errors(const workflows::Policy& policy, const workflows::NewRequest& draft);

/// The `/jit request …` command a submitted form stands for, every value quoted.
std::string request_command(const workflows::NewRequest& draft);

/// The App Home tab (views.publish): the person's open requests with Revoke where it applies, and
/// the requests waiting on them with Approve and Deny, the same buttons as on the cards.
nlohmann::json home_view(const workflows::Policy& policy, const std::vector<workflows::Request>& mine,
                         const std::vector<workflows::Request>& waiting);

/// An answer only the person who typed or clicked sees (a response_url body).
nlohmann::json ephemeral_reply(std::string_view text);

}  // namespace jitbot::adapters::slack
