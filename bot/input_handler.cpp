#include "bot/input_handler.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>

#include "bot/command_parser.hpp"
#include "workflows/text.hpp"
#include "workflows/wording.hpp"

namespace jitbot::bot {
namespace {

using workflows::RequestState;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("bot");
  return instance;
}

constexpr int list_limit = 20;
constexpr int list_candidates = 500;

Reply reply_of(const workflows::Outcome& outcome) { return {outcome.ok, outcome.message, outcome.refusal}; }

/// How the audit trail names an action's refusal ("refused_approve"); none for questions and forms.
std::optional<std::string> audit_name(workflows::Action::Kind kind) {
  using Kind = workflows::Action::Kind;
  switch (kind) {
    case Kind::request: return "request";
    case Kind::approve: return "approve";
    case Kind::deny: return "deny";
    case Kind::revoke: return "revoke";
    case Kind::cancel: return "cancel";
    case Kind::acknowledge: return "review";
    case Kind::extend:
    case Kind::take_extension: return "extend";
    case Kind::status: return "status";
    default: return std::nullopt;
  }
}

Reply refused(workflows::RefusalReason reason, const std::string& request_id = {}) {
  workflows::Refusal refusal;
  refusal.reason = reason;
  refusal.request_id = request_id;
  return {false, workflows::describe(refusal), reason};
}

}  // namespace

Reply InputHandler::refusal_reply(const workflows::Refusal& refusal) {
  return {false, workflows::describe(refusal), refusal.reason};
}

Reply InputHandler::handle(workflows::Input& input, bool& consumed) {
  consumed = false;
  if (auto refusal = read_action(input)) {
    if (refusal->reason == workflows::RefusalReason::unknown_button) {
      logger()->warn("ignored a click with unknown action '{}'", refusal->asked);
      workflow_.note_refusal(input.actor, "click", input.target,
                             "unknown button \"" + workflows::cut_utf8(refusal->asked, 64) + "\"");
    }
    return refusal_reply(*refusal);
  }
  // A question asked in memory (id 0) has no row for a transition to remove.
  workflow_.handling_input(input.id != 0 ? std::optional{input.id} : std::nullopt);
  Reply reply = perform(input.actor, *input.action);
  consumed = workflow_.input_consumed();
  workflow_.handling_input(std::nullopt);
  return reply;
}

Reply InputHandler::perform(const std::string& actor, const workflows::Action& action) {
  try {
    return carry_out(actor, action);
  } catch (const workflows::DirectoryUnavailable& e) {
    // Nothing was written: every lookup comes before the commit it decides.
    logger()->warn("could not tell whether {} may do this: {}", actor, e.what());
    workflows::Refusal refusal;
    refusal.reason = workflows::RefusalReason::directory_unavailable;
    refusal.problem = e.what();
    auto reply = refusal_reply(refusal);
    // Auditors see who tried to act during the outage, as they see every other refusal.
    if (auto name = audit_name(action.kind)) workflow_.note_refusal(actor, *name, action.request_id, reply.text);
    return reply;
  }
}

Reply InputHandler::carry_out(const std::string& actor, const workflows::Action& action) {
  using Kind = workflows::Action::Kind;
  const std::string& id = action.request_id;
  switch (action.kind) {
    case Kind::help: return {true, help_text()};
    case Kind::request: return reply_of(workflow_.submit(actor, action.request));
    case Kind::approve: return reply_of(workflow_.approve(actor, id));
    case Kind::deny: return reply_of(workflow_.deny(actor, id, action.note));
    case Kind::revoke: return reply_of(workflow_.revoke(actor, id));
    case Kind::cancel: return reply_of(workflow_.cancel(actor, id));
    case Kind::acknowledge: return reply_of(workflow_.acknowledge(actor, id, action.note));
    case Kind::extend: return reply_of(workflow_.extend(actor, id, action.extend_by, action.note));
    case Kind::take_extension: return reply_of(workflow_.extend_by_offer(actor, id));
    case Kind::status: return status(actor, id);
    case Kind::list: return list(actor, action.list_scope);
    case Kind::deny_form: return deny_form(actor, id);
    case Kind::request_form: return request_form(actor);
    case Kind::home: return home(actor);
  }
  return {false, help_text()};
}

Reply InputHandler::deny_form(const std::string& actor, const std::string& request_id) {
  // Only someone who may deny gets the form; everyone else hears why not at once.
  auto check = workflow_.may_decide(actor, request_id);
  if (!check.ok) return reply_of(check);
  auto request = store_.find(request_id);
  bool extension = request->state == RequestState::active;
  Reply reply{true, extension ? "Deny the extension by " + workflows::format_duration(request->extension.by) + " of " +
                                    request->requester + "'s access " + request_id + " (" +
                                    workflows::access_summary(*request) + ")?"
                              : "Deny " + request->requester + "'s request " + request_id + " for " +
                                    workflows::access_summary(*request) + "?"};
  reply.open_form = Form::deny;
  reply.form_request_id = request_id;
  return reply;
}

Reply InputHandler::request_form(const std::string& actor) {
  Reply reply{true, {}};
  for (const auto& [role, break_glass] : workflow_.requestable_roles(actor)) {
    std::string key = role->provider + "/" + role->name;
    reply.form_roles.push_back(key);
    if (break_glass) reply.form_break_glass_roles.push_back(key);
  }
  if (reply.form_roles.empty()) {
    return {false, "There is no role you may request. Ask a jitbot admin which roles exist and who may ask for them."};
  }
  reply.open_form = Form::request;
  return reply;
}

Reply InputHandler::home(const std::string& actor) {
  constexpr int shown = 15;  // each takes a few blocks; a Home tab holds 100
  Reply reply{true, {}};
  reply.open_form = Form::home;
  workflows::RequestFilter mine;
  mine.requester = actor;
  mine.states = {RequestState::pending, RequestState::approved, RequestState::active, RequestState::revoke_failed};
  mine.limit = shown;
  reply.home_mine = store_.list(mine);
  workflows::RequestFilter pending;
  pending.states = {RequestState::pending};
  pending.limit = list_candidates;
  // The Home tab shows what it can: a request whose user group Slack cannot read now is left out.
  auto waits_on = [&](const workflows::Request& request) {
    try {
      return workflow_.waits_on(actor, request);
    } catch (const workflows::DirectoryUnavailable&) {
      return false;
    }
  };
  for (auto& request : store_.list(pending)) {
    if (static_cast<int>(reply.home_waiting.size()) == shown) break;
    if (waits_on(request) && !request.approved_by(actor)) reply.home_waiting.push_back(request);
  }
  // Extensions wait on approvers as requests do.
  workflows::RequestFilter active;
  active.states = {RequestState::active};
  active.limit = list_candidates;
  for (auto& request : store_.list(active)) {
    if (static_cast<int>(reply.home_waiting.size()) == shown) break;
    const auto& extension = request.extension;
    bool asks = extension.status == workflows::Extension::Status::pending &&
                std::find(extension.approvers.begin(), extension.approvers.end(), actor) == extension.approvers.end();
    if (asks && waits_on(request)) reply.home_waiting.push_back(request);
  }
  return reply;
}

Reply InputHandler::status(const std::string& actor, const std::string& request_id) {
  if (!request_id.empty()) {
    auto request = store_.find(request_id);
    if (!request) return refused(workflows::RefusalReason::no_such_request, request_id);
    // The same answer as for a request that does not exist would hide nothing (IDs are random),
    // and saying why is kinder.
    if (!workflow_.may_see(actor, *request)) {
      auto reply = refused(workflows::RefusalReason::not_yours_to_see, request_id);
      workflow_.note_refusal(actor, "status", request_id, reply.text);
      return reply;
    }
    return {true, workflows::status_details(*request, policy_)};
  }
  workflows::RequestFilter filter;
  filter.requester = actor;
  filter.states = {RequestState::pending, RequestState::approved, RequestState::active, RequestState::revoke_failed};
  filter.limit = list_limit;
  auto requests = store_.list(filter);
  if (requests.empty()) return {true, "You have no open requests. Start one with /jit request (see /jit help)."};
  std::string text = "Your open requests:";
  for (const auto& request : requests) text += "\n  " + workflows::list_line(request, policy_);
  return {true, text};
}

Reply InputHandler::list(const std::string& actor, workflows::ListScope scope) {
  workflows::RequestFilter filter;
  // Enough to find list_limit the caller may see among other people's requests.
  filter.limit = list_candidates;
  std::string title;
  // Your own requests, and those that wait on you as an approver; admins see everyone's.
  auto shown = [&](const workflows::Request& request) { return workflow_.may_see(actor, request); };
  std::function<bool(const workflows::Request&)> wanted = shown;
  using workflows::ListScope;
  switch (scope) {
    case ListScope::mine:
      filter.requester = actor;
      filter.limit = list_limit;
      title = "Your requests";
      break;
    case ListScope::pending:
      filter.states = {RequestState::pending};
      wanted = [&](const workflows::Request& request) {
        return request.requester == actor || workflow_.waits_on(actor, request) || shown(request);
      };
      title = "Pending requests (yours, and those waiting on you)";
      break;
    case ListScope::active:
      // Revokes in trouble still mean access may exist, so they count as active.
      filter.states = {RequestState::approved, RequestState::active, RequestState::revoke_failed};
      title = "Active access (yours, and for roles you approve)";
      break;
    case ListScope::recent: title = "Recent requests (yours, and for roles you approve)"; break;
    case ListScope::unreviewed:
      filter.unreviewed_only = true;
      title = "Break-glass requests not yet reviewed (review with /jit ack ID)";
      break;
  }
  std::string lines;
  int count = 0;
  bool unchecked = false;  // a request whose user group Slack cannot read now is left out, and said
  for (const auto& request : store_.list(filter)) {
    if (count == list_limit) break;
    try {
      if (!wanted(request)) continue;
    } catch (const workflows::DirectoryUnavailable&) {
      unchecked = true;
      continue;
    }
    lines += "\n  " + workflows::list_line(request, policy_);
    ++count;
  }
  std::string note = unchecked ? "\nSome requests are not shown: Slack did not say who is in a user group that "
                                 "decides whether you may see them. Try again in a minute."
                               : "";
  if (count == 0) return {true, title + ": none." + note};
  return {true, title + ", newest first, at most " + std::to_string(list_limit) + ":" + lines + note};
}

}  // namespace jitbot::bot
