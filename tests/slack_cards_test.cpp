// What people see in Slack: approval cards, alerts, DMs, and how user text is made harmless.
#include <catch2/catch.hpp>

#include "adapters/slack/api_response.hpp"
#include "adapters/slack/cards.hpp"
#include "adapters/slack/slack_client.hpp"
#include "bot/command_parser.hpp"
#include "support.hpp"

namespace slack = jitbot::adapters::slack;
using jitbot::workflows::Notice;
using jitbot::workflows::NoticeEvent;
using jitbot::workflows::Request;
using jitbot::workflows::RequestState;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

Request pending_request() {
  Request request;
  request.id = "req_01JTESTTESTTESTTESTTESTTES";
  request.state = RequestState::pending;
  request.provider = "aws";
  request.role = "admin";
  request.scope = "123456789012";
  request.duration = 2h;
  request.reason = "INC-4421";
  request.requester = "U0ALICE";
  request.created_at = jitbot::testing::test_start();
  request.pending_deadline = request.created_at + 30min;
  return request;
}

std::vector<std::string> action_ids(const slack::SlackMessage& message) {
  std::vector<std::string> ids;
  for (const auto& block : message.blocks) {
    if (block["type"] != "actions") continue;
    for (const auto& element : block["elements"]) ids.push_back(element["action_id"]);
  }
  return ids;
}

std::string all_text(const json& node) {
  std::string text;
  if (node.is_object()) {
    if (node.contains("text") && node["text"].is_string()) text += node["text"].get<std::string>() + "\n";
    for (const auto& [key, value] : node.items()) text += all_text(value);
  } else if (node.is_array()) {
    for (const auto& value : node) text += all_text(value);
  }
  return text;
}

}  // namespace

TEST_CASE("mrkdwn escaping neutralises mentions, channel pings and links") {
  CHECK(slack::escape_mrkdwn("<!channel> <@U0BOB> <https://x|y> a&b") ==
        "&lt;!channel&gt; &lt;@U0BOB&gt; &lt;https://x|y&gt; a&amp;b");
  CHECK(slack::escape_mrkdwn("plain *bold* text") == "plain *bold* text");
  CHECK(slack::mention("U0BOB") == "<@U0BOB>");
  CHECK(slack::mention("U0BOB> <!here") == "U0BOB&gt; &lt;!here");
}

TEST_CASE("truncation never splits a UTF-8 character") {
  std::string text = "ab€€€";  // € is three bytes
  auto cut = slack::truncate_utf8(text, 8);
  CHECK(cut.size() <= 8);
  CHECK(cut == "ab€…");
  CHECK(slack::truncate_utf8(text, 7) == "ab…");
  CHECK(slack::truncate_utf8("short", 10) == "short");
}

TEST_CASE("a pending card shows the request and offers Approve and Deny") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  auto card = slack::approval_card(request, policy);
  auto text = all_text(card.blocks);
  CHECK(text.find("<@U0ALICE>") != std::string::npos);
  CHECK(text.find("123456789012") != std::string::npos);
  CHECK(text.find("2h") != std::string::npos);
  CHECK(text.find("INC-4421") != std::string::npos);
  CHECK(text.find("Pending: 0 of 2 approvals") != std::string::npos);
  CHECK(action_ids(card) == std::vector<std::string>{"jit_approve", "jit_deny"});
  for (const auto& block : card.blocks) {
    if (block["type"] != "actions") continue;
    for (const auto& button : block["elements"]) CHECK(button["value"] == request.id);
  }
}

TEST_CASE("once decided, a card keeps only the buttons that still make sense") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  request.approvals = {{"U0BOB", request.created_at + 1min}, {"U0CAROL", request.created_at + 2min}};
  request.state = RequestState::active;
  request.granted_at = request.created_at + 2min;
  request.expires_at = *request.granted_at + 2h;
  auto active = slack::approval_card(request, policy);
  CHECK(action_ids(active) == std::vector<std::string>{"jit_revoke"});
  CHECK(all_text(active.blocks).find("Approved by <@U0CAROL> at") != std::string::npos);

  request.ending_as = RequestState::expired;
  CHECK(action_ids(slack::approval_card(request, policy)).empty());

  auto denied = pending_request();
  denied.state = RequestState::denied;
  denied.decided_by = "U0BOB";
  denied.decided_at = denied.created_at + 1min;
  denied.decision_note = "not during the freeze <!here>";
  auto card = slack::approval_card(denied, policy);
  CHECK(action_ids(card).empty());
  auto text = all_text(card.blocks);
  CHECK(text.find("Denied by <@U0BOB>") != std::string::npos);
  CHECK(text.find("&lt;!here&gt;") != std::string::npos);
  CHECK(text.find("<!here>") == std::string::npos);
}

TEST_CASE("an active card with an extension asked for offers Approve and Deny extension, with escaped text",
          "[slack][extend]") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  request.approvals = {{"U0BOB", request.created_at + 1min}, {"U0CAROL", request.created_at + 2min}};
  request.state = RequestState::active;
  request.granted_at = request.created_at + 2min;
  request.expires_at = *request.granted_at + 2h;
  request.extension.status = jitbot::workflows::Extension::Status::pending;
  request.extension.by = 1h;
  request.extension.reason = "still migrating <!channel>";
  auto card = slack::approval_card(request, policy);
  CHECK(action_ids(card) == std::vector<std::string>{"jit_approve", "jit_deny", "jit_revoke"});
  auto text = all_text(card.blocks);
  CHECK(text.find("Approve extension") != std::string::npos);
  CHECK(text.find("extension by 1h asked for (0 of 2 approvals): still migrating &lt;!channel&gt;") !=
        std::string::npos);
  CHECK(text.find("<!channel>") == std::string::npos);

  Notice asked;
  asked.kind = jitbot::workflows::NoticeKind::approval_card;
  asked.event = NoticeEvent::extension_requested;
  auto thread = slack::approval_reminder(asked, request, policy);
  CHECK(thread.text.find("<@U0ALICE> asks to extend aws/admin on 123456789012 for 2h by 1h") != std::string::npos);
  CHECK(thread.text.find("<@U0BOB> <@U0CAROL> <!subteam^S0LEADS>") != std::string::npos);
  CHECK(thread.text.find("<!channel>") == std::string::npos);

  request.extension.status = jitbot::workflows::Extension::Status::done;
  request.extended_by = 1h;
  card = slack::approval_card(request, policy);
  CHECK(action_ids(card) == std::vector<std::string>{"jit_revoke"});
  CHECK(all_text(card.blocks).find("2h (+1h extended)") != std::string::npos);
}

TEST_CASE("the pre-expiry DM carries an Extend button only when an extension is on offer", "[slack][extend]") {
  auto request = pending_request();
  request.state = RequestState::active;
  request.expires_at = request.created_at + 2h;
  Notice warning;
  warning.kind = jitbot::workflows::NoticeKind::requester_dm;
  warning.event = NoticeEvent::expiry_warning;
  warning.target = "U0ALICE";
  warning.detail = "2h";
  auto dm = slack::requester_dm(warning, request);
  CHECK(action_ids(dm) == std::vector<std::string>{"jit_extend"});
  CHECK(all_text(dm.blocks).find("Extend by 2h") != std::string::npos);
  warning.detail.clear();
  dm = slack::requester_dm(warning, request);
  CHECK(action_ids(dm).empty());
  CHECK(dm.text.find("cannot be extended any further") != std::string::npos);
}

TEST_CASE("a huge reason still fits Slack's Block Kit limits") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  request.reason = std::string(20000, '<');  // escapes to four times its length
  auto card = slack::approval_card(request, policy);
  CHECK(card.blocks.size() <= 50);
  for (const auto& block : card.blocks) {
    if (block.contains("text")) CHECK(block["text"]["text"].get<std::string>().size() <= 3000);
    if (block.contains("fields")) {
      for (const auto& field : block["fields"]) CHECK(field["text"].get<std::string>().size() <= 2000);
    }
  }
  CHECK(card.text.size() <= 3000);
}

TEST_CASE("the console link appears only in the requester's DM, even when other notices carry one") {
  const std::string url = "https://signin.aws.amazon.com/federation?Action=login&SigninToken=abc";
  auto request = pending_request();
  request.state = RequestState::active;
  request.expires_at = request.created_at + 2h;
  Notice granted;
  granted.kind = jitbot::workflows::NoticeKind::requester_dm;
  granted.event = NoticeEvent::granted;
  granted.console_url = url;
  auto dm = slack::requester_dm(granted, request);
  CHECK(all_text(dm.blocks).find("<https://signin.aws.amazon.com/federation?Action=login&amp;SigninToken=abc|Open "
                                 "the console>") != std::string::npos);

  // Every other message is rendered from a notice that carries the link too: none may show it.
  auto policy = jitbot::testing::two_approver_policy();
  auto shows_link = [](const slack::SlackMessage& message) {
    std::string text = all_text(message.blocks) + message.text;
    return text.find("signin") != std::string::npos || text.find("SigninToken") != std::string::npos;
  };
  CHECK_FALSE(shows_link(slack::approval_card(request, policy)));
  CHECK_FALSE(shows_link(slack::break_glass_alert(request, policy)));
  for (auto event : {NoticeEvent::revoke_failed, NoticeEvent::cleanup_failed, NoticeEvent::notice_parked,
                     NoticeEvent::break_glass, NoticeEvent::granted}) {
    Notice alert;
    alert.kind = jitbot::workflows::NoticeKind::incident_alert;
    alert.event = event;
    alert.detail = "the backend said so";
    alert.console_url = url;
    INFO("incident alert for event " << static_cast<int>(event));
    CHECK_FALSE(shows_link(slack::incident_alert(alert, request)));
  }
}

TEST_CASE("the break-glass alert names who, what, where, how long and why") {
  auto request = pending_request();
  request.break_glass = true;
  request.requester = "U0ONCALL";
  auto alert = all_text(slack::break_glass_alert(request, jitbot::testing::two_approver_policy()).blocks);
  for (const char* expected : {"<@U0ONCALL>", "aws", "admin", "123456789012", "2h", "INC-4421", "Break-glass"}) {
    CHECK(alert.find(expected) != std::string::npos);
  }
}

TEST_CASE("the break-glass alert says only what is true: granting, granted, failed, reviewed") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  request.break_glass = true;
  request.state = jitbot::workflows::RequestState::approved;
  auto text = [&] { return all_text(slack::break_glass_alert(request, policy).blocks); };
  auto labels = [&] {
    std::string out;
    for (const auto& block : slack::break_glass_alert(request, policy).blocks) {
      if (block["type"] != "actions") continue;
      for (const auto& element : block["elements"]) out += element["text"]["text"].get<std::string>() + ";";
    }
    return out;
  };
  CHECK(text().find("being granted now") != std::string::npos);
  CHECK(text().find("granted without approval") == std::string::npos);
  CHECK(labels() == "Acknowledge;");

  request.state = jitbot::workflows::RequestState::active;
  request.expires_at = request.created_at + std::chrono::hours{2};
  CHECK(text().find("granted without approval") != std::string::npos);
  CHECK(text().find("Not reviewed yet") != std::string::npos);
  CHECK(labels() == "Acknowledge;Revoke;");

  request.state = jitbot::workflows::RequestState::grant_failed;
  request.last_error = "AccessDenied";
  CHECK(text().find("FAILED") != std::string::npos);
  CHECK(text().find("granted without approval") == std::string::npos);
  CHECK(text().find("AccessDenied") != std::string::npos);

  request.state = jitbot::workflows::RequestState::active;
  request.reviewed_by = "U0BOB";
  request.reviewed_at = request.created_at + std::chrono::minutes{5};
  request.review_note = "<!channel> fine, INC-4421";
  CHECK(text().find("Reviewed by <@U0BOB>") != std::string::npos);
  CHECK(text().find("&lt;!channel&gt; fine") != std::string::npos);  // a note never pings
  CHECK(labels() == "Revoke;");
}

TEST_CASE("an alert mentions only what the config names") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  request.break_glass = true;
  CHECK(slack::alert_mention("<!here>") == "<!here>");
  CHECK(slack::alert_mention("S0ONCALL") == "<!subteam^S0ONCALL>");
  CHECK(slack::alert_mention("<!everyone>").empty());
  CHECK(slack::alert_mention("U0BOB").empty());
  auto alert = slack::break_glass_alert(request, policy, "S0ONCALL");
  CHECK(alert.text.rfind("<!subteam^S0ONCALL>", 0) == 0);
  CHECK(all_text(alert.blocks).find("<!subteam^S0ONCALL>") != std::string::npos);
  CHECK(slack::break_glass_alert(request, policy).text.find("<!") == std::string::npos);
}

TEST_CASE("Web API arguments are form-encoded with nested values as JSON") {
  json arguments = {{"channel", "C1"}, {"text", "a&b=c d"}, {"blocks", json::array({{{"type", "divider"}}})}};
  CHECK(slack::form_encode(arguments) == "blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D&channel=C1&text=a%26b%3Dc%20d");
}

TEST_CASE("the card shows the cited ticket as a link, or marks it as not verified", "[slack][tickets]") {
  auto policy = jitbot::testing::two_approver_policy();
  auto request = pending_request();
  request.ticket = "INC-7";
  request.ticket_title = "<!channel> checkout down";
  request.ticket_url = "https://acme.atlassian.net/browse/INC-7";
  request.ticket_verified = true;
  auto text = all_text(slack::approval_card(request, policy).blocks);
  CHECK(text.find("*Ticket:* <https://acme.atlassian.net/browse/INC-7|INC-7>: &lt;!channel&gt; checkout down") !=
        std::string::npos);
  request.ticket_verified = false;
  text = all_text(slack::approval_card(request, policy).blocks);
  CHECK(text.find("INC-7 :warning: _not verified") != std::string::npos);
  CHECK(text.find("<https://") == std::string::npos);
}

namespace {

json submitted_form(const std::string& role, const std::string& scope, const std::string& duration,
                    const std::string& reason, bool break_glass) {
  json values = {{"role", {{"role", {{"type", "static_select"}, {"selected_option", {{"value", role}}}}}}},
                 {"scope", {{"scope", {{"type", "plain_text_input"}, {"value", scope}}}}},
                 {"duration", {{"duration", {{"type", "static_select"}, {"selected_option", {{"value", duration}}}}}}},
                 {"reason", {{"reason", {{"type", "plain_text_input"}, {"value", reason}}}}},
                 {"break_glass",
                  {{"break_glass",
                    {{"type", "checkboxes"},
                     {"selected_options", break_glass ? json::array({{{"value", "yes"}}}) : json::array()}}}}}};
  return {{"callback_id", "jit_request_form"}, {"state", {{"values", values}}}};
}

}  // namespace

TEST_CASE("the request form offers the person's roles and durations up to the longest allowed", "[slack][form]") {
  auto policy = jitbot::testing::two_approver_policy();  // aws/admin, max 4h, break-glass for U0ONCALL
  auto form = slack::request_form(policy, {"aws/admin"}, {});
  CHECK(form["callback_id"] == "jit_request_form");
  std::string text = form.dump();
  CHECK(text.find("\"value\":\"aws/admin\"") != std::string::npos);
  CHECK(text.find("Allowed: aws/admin: 123456789012, dev-*") != std::string::npos);
  std::vector<std::string> durations;
  for (const auto& block : form["blocks"]) {
    if (block.value("block_id", "") != "duration") continue;
    for (const auto& option : block["element"]["options"]) durations.push_back(option["value"]);
  }
  CHECK(durations == std::vector<std::string>{"15m", "30m", "1h", "2h", "4h"});
  CHECK(text.find("break_glass") == std::string::npos);  // not offered to those who may not
  CHECK(slack::request_form(policy, {"aws/admin"}, {"aws/admin"}).dump().find("break_glass") != std::string::npos);
}

TEST_CASE("a submitted request form is checked field by field before Slack is answered", "[slack][form]") {
  auto policy = jitbot::testing::two_approver_policy();
  auto errors_of = [&](const json& view) {
    return slack::request_form_errors(policy, slack::request_form_values(view));
  };
  CHECK_FALSE(errors_of(submitted_form("aws/admin", "dev-payments", "2h", "INC-1 deploy", false)));
  auto scope = errors_of(submitted_form("aws/admin", "prod-x", "2h", "INC-1", false));
  REQUIRE(scope);
  CHECK((*scope)["response_action"] == "errors");
  CHECK((*scope)["errors"]["scope"].get<std::string>().find("Scope prod-x is not allowed") != std::string::npos);
  auto blank = errors_of(submitted_form("aws/admin", "dev-1", "2h", "   ", false));
  CHECK(blank->contains("errors"));
  CHECK((*blank)["errors"].contains("reason"));
  CHECK((*errors_of(submitted_form("gcp/nope", "x", "1h", "y", false)))["errors"].contains("role"));
}

TEST_CASE("a submitted form becomes the command it stands for, whatever its text holds", "[slack][form]") {
  auto draft = slack::request_form_values(
      submitted_form("aws/admin", "dev-1", "30m", "it's \"urgent\" --break-glass 'x'' R&amp;D <b>", true));
  auto parsed = jitbot::bot::parse_command(slack::request_command(draft));
  REQUIRE(std::holds_alternative<jitbot::workflows::Action>(parsed));
  const auto& request = std::get<jitbot::workflows::Action>(parsed).request;
  CHECK(request.provider == "aws");
  CHECK(request.role == "admin");
  CHECK(request.scope == "dev-1");
  CHECK(request.duration == std::chrono::minutes{30});
  CHECK(request.reason == "it's \"urgent\" --break-glass 'x'' R&amp;D <b>");  // as typed
  CHECK(request.break_glass);
}

TEST_CASE("a Web API response is read without its echoed message, and what is beside it is kept", "[slack]") {
  using jitbot::adapters::slack::parse_api_response;
  auto posted = parse_api_response(
      R"({"ok":true,"channel":"C0APPROVE","ts":"1700000000.000100",)"
      R"("message":{"text":"x","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"*a* \u00e9"}},)"
      R"({"type":"actions","elements":[{"type":"button","value":"approve","n":[1,2.5,-3,true,null]}]}]},)"
      R"("warning":"missing_charset","response_metadata":{"warnings":["missing_charset"]}})");
  REQUIRE(posted.is_object());
  CHECK(posted.value("ok", false));
  CHECK(posted.value("channel", "") == "C0APPROVE");
  CHECK(posted.value("ts", "") == "1700000000.000100");
  CHECK_FALSE(posted.contains("message"));
  CHECK(posted.value("warning", "") == "missing_charset");
  CHECK(posted["response_metadata"]["warnings"][0] == "missing_charset");

  // Only the top level's "message" is the echo: one deeper is data, kept as it is.
  auto user = parse_api_response(R"({"ok":true,"user":{"id":"U1","message":{"a":[1]},"profile":{"message":"hi"}}})");
  CHECK(user["user"]["message"]["a"][0] == 1);
  CHECK(user["user"]["profile"]["message"] == "hi");
  CHECK(parse_api_response(R"({"message":"plain","ok":true})") == nlohmann::json{{"ok", true}});

  // Broken JSON is refused, in the echo as anywhere else.
  CHECK(parse_api_response("<html>502 Bad Gateway</html>").is_discarded());
  CHECK(parse_api_response(R"({"ok":true,"message":{"blocks":[)").is_discarded());
  CHECK(parse_api_response(R"({"ok":true,"message":{"text":"x"}}trailing)").is_discarded());
  CHECK(parse_api_response("").is_discarded());
}

TEST_CASE("a Socket Mode frame is read without the message a button was on, and the click is kept", "[slack]") {
  using jitbot::adapters::slack::parse_socket_frame;
  auto frame = parse_socket_frame(
      R"({"envelope_id":"e1","type":"interactive","accepts_response_payload":false,"payload":{)"
      R"("type":"block_actions","user":{"id":"U0BOB"},"trigger_id":"t1","response_url":"https://x/r",)"
      R"("container":{"type":"message","message_ts":"1.2"},)"
      R"("message":{"ts":"1.2","blocks":[{"type":"actions","elements":[{"type":"button","value":"req_1"}]}]},)"
      R"("actions":[{"action_id":"approve","value":"req_1","message":"kept"}]}})");
  REQUIRE(frame.is_object());
  CHECK(frame["envelope_id"] == "e1");
  CHECK(frame["type"] == "interactive");
  const auto& payload = frame["payload"];
  CHECK_FALSE(payload.contains("message"));
  CHECK(payload["type"] == "block_actions");
  CHECK(payload["user"]["id"] == "U0BOB");
  CHECK(payload["response_url"] == "https://x/r");
  CHECK(payload["container"]["message_ts"] == "1.2");
  CHECK(payload["actions"][0]["value"] == "req_1");
  CHECK(payload["actions"][0]["message"] == "kept");  // deeper down it is data

  // An event's own "message" sits one level deeper again, and is kept.
  auto event = parse_socket_frame(R"({"envelope_id":"e2","payload":{"event":{"type":"x","message":{"a":1}}}})");
  CHECK(event["payload"]["event"]["message"]["a"] == 1);
  CHECK(parse_socket_frame(R"({"envelope_id":"e3","payload":{"message":{"blocks":[)").is_discarded());
}
