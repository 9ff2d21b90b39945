#include "bot/job_runner.hpp"

#include <spdlog/spdlog.h>

#include "adapters/metrics/metrics.hpp"
#include "workflows/text.hpp"

namespace jitbot::bot {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("jobs");
  return instance;
}

/// Besides the call itself, a job looks the requester up (Slack may take a while) and records
/// the result; the lease must outlast all of it, or a second worker would run the job too.
constexpr std::chrono::seconds lease_margin{120};
constexpr std::size_t error_limit = 500;
constexpr std::size_t field_limit = 4000;

workflows::BackendResult call_backend(const workflows::BackendCall& call, const Backends& backends) {
  auto entry = backends.find(call.backend);
  if (entry == backends.end()) {
    workflows::BackendResult missing;
    missing.error = "backend \"" + call.backend +
                    "\" is not configured (renamed or removed?); restore it in the config, or remove the access by "
                    "hand and run jitbot requests resolve";
    return missing;
  }
  switch (call.action) {
    case workflows::BackendCall::Action::grant: return entry->second.backend->grant(call);
    case workflows::BackendCall::Action::revoke: return entry->second.backend->revoke(call);
    case workflows::BackendCall::Action::extend: return entry->second.backend->extend(call);
  }
  throw std::logic_error("unknown backend action");
}

/// call_backend, counted for /metrics: calls in flight, and each call's outcome and duration.
workflows::BackendResult measured_call(const workflows::BackendCall& call, const Backends& backends) {
  auto& registry = adapters::metrics::process_registry();
  std::string action{workflows::to_string(call.action)};
  auto& in_flight = registry.gauge("jitbot_backend_calls_in_flight", "Backend calls running now.");
  in_flight.add(1);
  auto started = std::chrono::steady_clock::now();
  std::string outcome = "error";  // an exception: the job is retried
  try {
    auto result = call_backend(call, backends);
    outcome = result.ok ? "ok" : "failed";
    in_flight.add(-1);
    registry
        .counter("jitbot_backend_calls_total", "Backend calls, by backend, action and outcome (ok, failed, error).",
                 {{"backend", call.backend}, {"action", action}, {"outcome", outcome}})
        .add();
    registry
        .histogram("jitbot_backend_call_seconds", "How long backend calls took, by backend and action.",
                   {{"backend", call.backend}, {"action", action}})
        .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return result;
  } catch (...) {
    in_flight.add(-1);
    registry
        .counter("jitbot_backend_calls_total", "Backend calls, by backend, action and outcome (ok, failed, error).",
                 {{"backend", call.backend}, {"action", action}, {"outcome", outcome}})
        .add();
    throw;
  }
}

/// A backend's words enter the database and chat from here: valid UTF-8, of bounded size.
workflows::BackendResult cleaned(workflows::BackendResult result) {
  result.error = workflows::cut_utf8(result.error, error_limit);
  result.message = workflows::cut_utf8(result.message, field_limit);
  result.grant_id = workflows::cut_utf8(result.grant_id, field_limit);
  result.console_url = workflows::cut_utf8(result.console_url, field_limit);
  if (!result.ok && result.error.empty()) result.error = "the backend failed without saying why";
  return result;
}

}  // namespace

std::chrono::seconds job_lease(const Backends& backends) {
  std::chrono::seconds longest{60};
  for (const auto& [name, entry] : backends) longest = std::max(longest, entry.timeout);
  // Twice the budget: an extend the program does not know is followed by a grant, each with the
  // backend's timeout, and the lease must outlast both, or a waiting revoke could run in between.
  return 2 * longest + lease_margin;
}

namespace {

/// Runs a claimed job, with `prepare` making its backend call (or nullopt: nothing to do).
void run_prepared(const workflows::Job& job, const std::function<std::optional<workflows::BackendCall>()>& prepare,
                  workflows::AccessWorkflow& workflow, const Backends& backends, const BackendObserver& observer) {
  try {
    auto call = prepare();
    if (!call) return;  // the request moved on; the job is finished
    auto result = cleaned(measured_call(*call, backends));
    if (observer) observer(*call, result);
    workflow.record_result(job, result);
  } catch (const std::exception& e) {
    logger()->error("job {} ({} of {}) failed: {}", job.id, workflows::to_string(job.action), job.request_id, e.what());
    try {
      workflow.job_failed(job, workflows::cut_utf8(e.what(), error_limit));
    } catch (const std::exception& again) {
      // Its lease runs out and it is claimed again: still one job's trouble, not everyone's.
      logger()->error("could not reschedule job {}: {}", job.id, again.what());
    }
  }
}

}  // namespace

void run_job(const workflows::Job& job, workflows::AccessWorkflow& workflow, const Backends& backends,
             const BackendObserver& observer) {
  run_prepared(
      job, [&] { return workflow.start_job(job); }, workflow, backends, observer);
}

void run_job(const workflows::JobClaim& claim, workflows::AccessWorkflow& workflow, const Backends& backends,
             const BackendObserver& observer) {
  run_prepared(
      claim.job,
      [&] { return claim.request_read ? workflow.start_job(claim.job, claim.request) : workflow.start_job(claim.job); },
      workflow, backends, observer);
}

}  // namespace jitbot::bot
