#include "adapters/credentials/exec_backend.hpp"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "adapters/credentials/process.hpp"

namespace jitbot::adapters {
namespace {

using workflows::BackendCall;
using workflows::BackendResult;
using Clock = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("exec");
  return instance;
}

BackendResult interpret(const std::string& backend, const ProcessOutcome& finished, workflows::Seconds timeout) {
  BackendResult result;
  std::string stderr_reason = last_line(finished.err);
  if (finished.timed_out) {
    result.error = "backend " + backend + " timed out after " + workflows::format_duration(timeout) +
                   (stderr_reason.empty() ? "" : " (" + stderr_reason + ")");
    return result;
  }
  if (WIFSIGNALED(finished.wait_status)) {
    result.error = stderr_reason.empty() ? "backend " + backend + " was killed by signal " +
                                               std::to_string(WTERMSIG(finished.wait_status))
                                         : stderr_reason;
    return result;
  }
  int code = WEXITSTATUS(finished.wait_status);
  if (code != 0) {
    result.error =
        stderr_reason.empty() ? "backend " + backend + " exited with status " + std::to_string(code) : stderr_reason;
    return result;
  }
  return parse_backend_reply(backend, finished.out);
}

}  // namespace

workflows::Seconds remaining(workflows::Instant end) {
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  auto left = std::chrono::duration_cast<workflows::Seconds>(end - now);
  return std::max(left, workflows::Seconds{1});
}

BackendResult parse_backend_reply(const std::string& backend, const std::string& text) {
  BackendResult result;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    result.ok = true;
    return result;
  }
  auto reply = nlohmann::json::parse(text, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    result.error = "backend " + backend + " succeeded but replied with something that is not a JSON object";
    return result;
  }
  auto field = [&](const char* key) -> std::optional<std::string> {
    if (!reply.contains(key) || reply[key].is_null()) return std::string{};
    if (!reply[key].is_string()) return std::nullopt;
    return reply[key].get<std::string>();
  };
  auto grant_id = field("grant_id"), expires = field("expires_at"), console = field("console_url"),
       message = field("message");
  if (!grant_id || !expires || !console || !message) {
    result.error =
        "backend " + backend + " replied with JSON whose grant_id, expires_at, console_url or message is not a string";
    return result;
  }
  if (!expires->empty()) {
    result.expires_at = workflows::parse_rfc3339(*expires);
    if (!result.expires_at) {
      result.error = "backend " + backend + " replied with an expires_at that is not RFC 3339: " + *expires;
      return result;
    }
  }
  result.ok = true;
  result.grant_id = *grant_id;
  result.console_url = *console;
  result.message = *message;
  return result;
}

ExecBackend::ExecBackend(std::string name, std::vector<std::string> command, workflows::Seconds timeout,
                         std::vector<std::string> passed_env)
    : name_(std::move(name)), command_(std::move(command)), timeout_(timeout), passed_env_(std::move(passed_env)) {
  // A backend that exits before reading its stdin must not kill the bot with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
}

std::string ExecBackend::stdin_document(const BackendCall& call) {
  nlohmann::json document{
      // Grant and revoke documents are unchanged since version 1, so programs that check the
      // version keep working; extend documents (previous_expires_at) are version 2.
      {"version", call.action == BackendCall::Action::extend ? protocol_version : 1},
      {"action", workflows::to_string(call.action)},
      {"request_id", call.request_id},
      {"provider", call.provider},
      {"role", call.role},
      {"scope", call.scope},
      {"duration_seconds", call.duration.count()},
      {"expires_at", workflows::format_rfc3339(call.expires_at)},
      {"reason", call.reason},
      {"break_glass", call.break_glass},
      {"requester",
       {{"slack_user_id", call.requester.user_id}, {"email", call.requester.email}, {"name", call.requester.name}}},
      {"approvers", call.approvers},
  };
  if (call.action != BackendCall::Action::grant) document["grant_id"] = call.grant_id;
  if (call.action == BackendCall::Action::extend && call.previous_expires_at) {
    document["previous_expires_at"] = workflows::format_rfc3339(*call.previous_expires_at);
  }
  // Text enters jitbot as valid UTF-8; should a stray byte get this far, it becomes U+FFFD
  // here rather than failing every call for this request.
  return document.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

BackendResult ExecBackend::grant(const BackendCall& call) { return run(call); }
BackendResult ExecBackend::revoke(const BackendCall& call) { return run(call); }

BackendResult ExecBackend::extend(const BackendCall& call) {
  bool unknown_action = false;
  BackendResult result = run(call, &unknown_action);
  if (!unknown_action) return result;
  // A program written before extend existed says "unknown action" (exit status 3): granting
  // again with the new expiry does the same, since grants are idempotent on the request ID.
  logger()->info("{} does not know extend (exit status 3); granting {} again until {}", name_, call.request_id,
                 workflows::format_rfc3339(call.expires_at));
  BackendCall grant_again = call;
  grant_again.action = BackendCall::Action::grant;
  grant_again.previous_expires_at.reset();
  grant_again.duration = remaining(call.expires_at);
  BackendResult granted = run(grant_again);
  if (granted.ok)
    granted.message =
        "Granted again until the new end (backend " + name_ + " does not know extend). " + granted.message;
  return granted;
}

BackendResult ExecBackend::run(const BackendCall& call, bool* unknown_action) {
  std::vector<std::string> argv = command_;
  std::string action{workflows::to_string(call.action)};
  argv.push_back(action);
  try {
    auto started = Clock::now();
    ProcessOutcome finished = run_process(argv, stdin_document(call), timeout_, passed_env_);
    if (unknown_action != nullptr && !finished.timed_out && WIFEXITED(finished.wait_status) &&
        WEXITSTATUS(finished.wait_status) == unknown_action_status) {
      *unknown_action = true;
      return {};
    }
    BackendResult result = interpret(name_, finished, timeout_);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    if (result.ok) {
      logger()->info("{} {} for {} succeeded in {} ms", name_, action, call.request_id, took.count());
    } else {
      logger()->warn("{} {} for {} failed in {} ms: {}", name_, action, call.request_id, took.count(), result.error);
    }
    return result;
  } catch (const std::exception& e) {
    BackendResult result;
    result.error = "backend " + name_ + " could not be started: " + e.what();
    logger()->error("{}", result.error);
    return result;
  }
}

}  // namespace jitbot::adapters
