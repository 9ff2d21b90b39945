#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "workflows/lifecycle.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// What the chat should show the person besides words: a form to fill in (in Slack a modal),
/// or their Home tab.
enum class Form {
  none,
  deny,     ///< asks the approver for the reason the requester will read
  request,  ///< asks for a new request, offering the roles the person may request
  home,     ///< the person's open requests, and those that wait on them
};

/// The answer shown only to the person who typed or clicked.
struct Reply {
  Reply() = default;
  Reply(bool ok_in, std::string text_in, std::optional<workflows::RefusalReason> refusal_in = std::nullopt)
      : ok(ok_in), text(std::move(text_in)), refusal(refusal_in) {}

  bool ok = false;
  std::string text;                                 ///< plain text; chat adapters escape it
  std::optional<workflows::RefusalReason> refusal;  ///< why not, when the rules said no
  Form open_form = Form::none;
  std::string form_request_id;                      ///< deny: the request denied
  std::vector<std::string> form_roles;              ///< request: "provider/name" the person may request
  std::vector<std::string> form_break_glass_roles;  ///< request: those they may break glass on
  /// home: the person's open requests, and those waiting on them as an approver (newest first).
  std::vector<workflows::Request> home_mine;
  std::vector<workflows::Request> home_waiting;
};

/// The one place where chat input becomes a workflow call: an action read from a typed command
/// or a click, from Slack or the terminal, in; the answer for that person out. The request and
/// the rules are read from the database; nothing a click claims beyond the request ID is trusted.
class InputHandler {
 public:
  InputHandler(const workflows::Policy& policy, workflows::RequestStore& store, workflows::AccessWorkflow& workflow)
      : policy_(policy), store_(store), workflow_(workflow) {}

  /// Handles an input kept in the inbox, reading its action first if the edge did not (a row
  /// left by an earlier process): the transition it causes also removes it from there.
  /// `consumed` says whether one did (a refusal or a read-only answer leaves it to the caller).
  Reply handle(workflows::Input& input, bool& consumed);

  /// Does what `actor` asked.
  Reply perform(const std::string& actor, const workflows::Action& action);

  /// The answer to an input that could not be read, or a question that cannot be answered yet.
  static Reply refusal_reply(const workflows::Refusal& refusal);

 private:
  Reply carry_out(const std::string& actor, const workflows::Action& action);
  Reply status(const std::string& actor, const std::string& request_id);
  /// The request form, offering the roles `actor` may request.
  Reply request_form(const std::string& actor);
  /// What the person's home (Slack's App Home tab) shows.
  Reply home(const std::string& actor);
  Reply list(const std::string& actor, workflows::ListScope scope);
  /// The Deny form, for someone who may deny.
  Reply deny_form(const std::string& actor, const std::string& request_id);

  const workflows::Policy& policy_;
  workflows::RequestStore& store_;
  workflows::AccessWorkflow& workflow_;
};

}  // namespace jitbot::bot
