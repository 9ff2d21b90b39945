#include "bot/jit_bot.hpp"

#include <spdlog/spdlog.h>

#include <future>

#include "bot/command_parser.hpp"
#include "workflows/outbox.hpp"
#include "workflows/wording.hpp"

namespace jitbot::bot {
namespace {

using workflows::RequestState;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("bot");
  return instance;
}

constexpr int list_limit = 20;

}  // namespace

JitBot::JitBot(const workflows::Policy& policy, workflows::RequestStore& store, workflows::Directory& directory,
               workflows::ChatSink& chat, const workflows::Clock& clock, workflows::IdSource& ids, Backends backends)
    : policy_(policy),
      store_(store),
      chat_(chat),
      workflow_(policy, store, directory, clock, ids),
      backends_(std::move(backends)) {}

Reply JitBot::accept(const workflows::Outcome& outcome) {
  pending_work_.insert(pending_work_.end(), outcome.work.begin(), outcome.work.end());
  return {outcome.ok, outcome.message};
}

Reply JitBot::handle_command(const std::string& actor, std::string_view text) {
  auto parsed = parse_command(text);
  if (auto* failure = std::get_if<ParseError>(&parsed)) {
    return {false, failure->message + "\nUsage: " + failure->usage};
  }
  const Command& command = std::get<Command>(parsed);
  switch (command.verb) {
    case Verb::request: return accept(workflow_.submit(actor, command.request));
    case Verb::approve: return accept(workflow_.approve(actor, command.request_id));
    case Verb::deny: return accept(workflow_.deny(actor, command.request_id, command.note));
    case Verb::revoke: return accept(workflow_.revoke(actor, command.request_id));
    case Verb::cancel: return accept(workflow_.cancel(actor, command.request_id));
    case Verb::status: return status(actor, command.request_id);
    case Verb::list: return list(actor, static_cast<int>(command.list_scope));
    case Verb::help: return {true, help_text()};
  }
  return {false, help_text()};
}

Reply JitBot::handle_button(const std::string& actor, const std::string& action, const std::string& request_id) {
  if (action == "approve") return accept(workflow_.approve(actor, request_id));
  if (action == "deny") return accept(workflow_.deny(actor, request_id, {}));
  if (action == "revoke") return accept(workflow_.revoke(actor, request_id));
  logger()->warn("ignored a click with unknown action '{}'", action);
  return {false, "That button is not one jitbot knows; nothing was changed."};
}

Reply JitBot::status(const std::string& actor, const std::string& request_id) {
  if (!request_id.empty()) {
    auto request = store_.find(request_id);
    if (!request) return {false, "There is no request " + request_id + ". Check the ID with /jit list."};
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

Reply JitBot::list(const std::string& actor, int scope) {
  workflows::RequestFilter filter;
  filter.limit = list_limit;
  std::string title;
  switch (static_cast<ListScope>(scope)) {
    case ListScope::mine:
      filter.requester = actor;
      title = "Your requests";
      break;
    case ListScope::pending:
      filter.states = {RequestState::pending};
      title = "Pending requests";
      break;
    case ListScope::active:
      // Revokes in trouble still mean access may exist, so they count as active.
      filter.states = {RequestState::approved, RequestState::active, RequestState::revoke_failed};
      title = "Active access";
      break;
    case ListScope::recent: title = "Recent requests"; break;
  }
  auto requests = store_.list(filter);
  if (requests.empty()) return {true, title + ": none."};
  std::string text = title + " (newest first, at most " + std::to_string(list_limit) + "):";
  for (const auto& request : requests) text += "\n  " + workflows::list_line(request, policy_);
  return {true, text};
}

workflows::BackendResult JitBot::call_backend(const workflows::BackendCall& call) {
  auto backend = backends_.find(call.backend);
  if (backend == backends_.end()) {
    workflows::BackendResult missing;
    missing.error = "backend \"" + call.backend + "\" is not configured";
    return missing;
  }
  if (call.action == workflows::BackendCall::Action::grant) return backend->second->grant(call);
  return backend->second->revoke(call);
}

void JitBot::record(const workflows::BackendCall& call, const workflows::BackendResult& result) {
  if (observer_) observer_(call, result);
  if (call.action == workflows::BackendCall::Action::grant) {
    auto cleanup = workflow_.record_grant(call.request_id, result);
    pending_work_.insert(pending_work_.end(), cleanup.begin(), cleanup.end());
  } else {
    workflow_.record_revoke(call.request_id, result);
  }
}

void JitBot::perform_batch(std::vector<workflows::BackendWork> batch) {
  // Preparing and recording touch the workflow and the store, so they stay on this thread;
  // only the backend calls themselves (slow, independent) may run side by side.
  std::vector<workflows::BackendCall> calls;
  for (const auto& work : batch) {
    if (auto call = workflow_.prepare(work)) calls.push_back(std::move(*call));  // else: moved on
  }
  std::vector<workflows::BackendResult> results(calls.size());
  if (calls.size() == 1 || backend_concurrency_ == 1) {
    for (std::size_t i = 0; i < calls.size(); ++i) results[i] = call_backend(calls[i]);
  } else {
    std::vector<std::future<workflows::BackendResult>> running;
    for (const auto& call : calls) {
      running.push_back(std::async(std::launch::async, [this, &call] { return call_backend(call); }));
    }
    for (std::size_t i = 0; i < running.size(); ++i) results[i] = running[i].get();
  }
  for (std::size_t i = 0; i < calls.size(); ++i) record(calls[i], results[i]);
}

void JitBot::deliver_notices() {
  if (outbox_wake_) {
    outbox_wake_();
  } else {
    workflows::deliver_outbox(store_, chat_);
  }
}

void JitBot::settle() {
  deliver_notices();
  while (!pending_work_.empty()) {
    auto take = std::min<std::size_t>(pending_work_.size(), static_cast<std::size_t>(backend_concurrency_));
    std::vector<workflows::BackendWork> batch(pending_work_.begin(), pending_work_.begin() + take);
    pending_work_.erase(pending_work_.begin(), pending_work_.begin() + take);
    perform_batch(std::move(batch));
    deliver_notices();
  }
}

void JitBot::run_due() {
  auto work = workflow_.tick();
  pending_work_.insert(pending_work_.end(), work.begin(), work.end());
  settle();
}

}  // namespace jitbot::bot
