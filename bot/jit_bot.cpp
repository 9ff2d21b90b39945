#include "bot/jit_bot.hpp"

#include "workflows/outbox.hpp"

namespace jitbot::bot {
namespace {

/// A guard against a job that keeps falling due at once; far above any real backlog.
constexpr int max_jobs_per_settle = 100000;

std::optional<workflows::Instant> earliest(std::optional<workflows::Instant> a, std::optional<workflows::Instant> b) {
  if (!a) return b;
  if (!b) return a;
  return std::min(*a, *b);
}

}  // namespace

JitBot::JitBot(const workflows::Policy& policy, workflows::RequestStore& store, workflows::Directory& directory,
               workflows::ChatSink& chat, const workflows::Clock& clock, workflows::IdSource& ids, Backends backends)
    : policy_(policy),
      store_(store),
      chat_(chat),
      clock_(clock),
      workflow_(policy, store, directory, clock, ids),
      input_(policy, store, workflow_),
      backends_(std::move(backends)) {}

Reply JitBot::handle_command(const std::string& actor, std::string_view text) {
  workflows::Input input;
  input.kind = workflows::Input::Kind::command;
  input.actor = actor;
  input.text = std::string{text};
  bool consumed = false;
  return input_.handle(input, consumed);
}

Reply JitBot::handle_button(const std::string& actor, const std::string& action, const std::string& request_id) {
  workflows::Input input;
  input.kind = workflows::Input::Kind::click;
  input.actor = actor;
  input.text = action;
  input.target = request_id;
  bool consumed = false;
  return input_.handle(input, consumed);
}

void JitBot::settle() {
  workflows::deliver_due_notices(store_, chat_, policy_, clock_);
  const auto lease = job_lease(backends_);
  for (int i = 0; i < max_jobs_per_settle; ++i) {
    auto job = store_.claim_job(clock_.now(), clock_.now() + lease, {});
    if (!job) break;
    run_job(*job, workflow_, backends_, observer_);
    workflows::deliver_due_notices(store_, chat_, policy_, clock_);
  }
}

void JitBot::run_due() {
  workflow_.tick();
  settle();
}

std::optional<workflows::Instant> JitBot::next_due() {
  return earliest(workflow_.next_due(), earliest(store_.next_job_at(), store_.next_notice_at()));
}

}  // namespace jitbot::bot
