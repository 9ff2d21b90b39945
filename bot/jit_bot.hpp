#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "bot/input_handler.hpp"
#include "bot/job_runner.hpp"
#include "workflows/lifecycle.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// The whole bot on one thread, for the terminal and tests: input is answered at once, and
/// settle() then runs the jobs and notices it left, in order. `jitbot run` has the same parts
/// on threads of their own (slack_app.cpp), so that nothing there waits on anything else.
class JitBot {
 public:
  JitBot(const workflows::Policy& policy, workflows::RequestStore& store, workflows::Directory& directory,
         workflows::ChatSink& chat, const workflows::Clock& clock, workflows::IdSource& ids, Backends backends);

  /// Handles the text of a `/jit` command typed by `actor`.
  Reply handle_command(const std::string& actor, std::string_view text);

  /// Handles a click by its name ("approve", "deny", "revoke", "deny_form", … see click_name).
  Reply handle_button(const std::string& actor, const std::string& action, const std::string& request_id);

  /// Does what `actor` asked, as a terminal form put it together.
  Reply perform(const std::string& actor, const workflows::Action& action) { return input_.perform(actor, action); }

  /// Runs every due job and delivers every due notice.
  void settle();

  /// Times out and expires whatever is due now, then settles. Call at start-up (to finish
  /// what a crash interrupted) and whenever next_due() arrives.
  void run_due();

  /// When anything (a timeout, an expiry, a job retry, a notice retry) is next due.
  std::optional<workflows::Instant> next_due();

  void observe_backends(BackendObserver observer) { observer_ = std::move(observer); }

  workflows::AccessWorkflow& workflow() { return workflow_; }

 private:
  const workflows::Policy& policy_;
  workflows::RequestStore& store_;
  workflows::ChatSink& chat_;
  const workflows::Clock& clock_;
  workflows::AccessWorkflow workflow_;
  InputHandler input_;
  Backends backends_;
  BackendObserver observer_;
};

}  // namespace jitbot::bot
