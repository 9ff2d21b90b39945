#pragma once

#include <string>

#include "workflows/request.hpp"

namespace jitbot::workflows {

/// Which requests `/jit list` shows.
enum class ListScope { recent, mine, pending, active, unreviewed };

/// What a person asked jitbot to do, however they asked: a `/jit` line typed in Slack or in the
/// terminal, a card's button, a form, Slack's Home tab. It is read once, where the input
/// enters (bot/command_parser.hpp), and becomes a workflow call in one place
/// (bot::InputHandler::perform).
struct Action {
  enum class Kind {
    help,
    request,
    approve,
    deny,
    revoke,
    cancel,
    acknowledge,     ///< review a break-glass request
    extend,          ///< `/jit extend ID DURATION`: ask for more time
    take_extension,  ///< the Extend button: the extension the requester's DM offered
    status,
    list,
    deny_form,     ///< the Deny button: ask the approver for the reason first
    request_form,  ///< a bare `/jit request`, or the shortcut: ask for the request field by field
    home,          ///< the person opened Slack's Home tab
  };

  Kind kind = Kind::help;
  NewRequest request;      ///< request
  std::string request_id;  ///< what the action is about (empty for status: all of the person's)
  std::string note;        ///< the deny reason, the review note of ack, or why to extend
  Seconds extend_by{0};    ///< extend
  ListScope list_scope = ListScope::recent;

  /// Changes nothing: answered from any connection, and need not survive a crash (the person
  /// asks again).
  bool read_only() const {
    return kind == Kind::help || kind == Kind::status || kind == Kind::list || kind == Kind::deny_form ||
           kind == Kind::request_form || kind == Kind::home;
  }
};

}  // namespace jitbot::workflows
