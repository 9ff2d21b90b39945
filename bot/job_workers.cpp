#include "bot/job_workers.hpp"

#include <spdlog/spdlog.h>

#include <utility>

#include "bot/error_throttle.hpp"
#include "bot/lease_keeper.hpp"

namespace jitbot::bot {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("jobs");
  return instance;
}

/// Even with no kick, look again this often: for leases that ran out, retries that fell due,
/// and work the admin CLI wrote.
constexpr auto poll_interval = 1000ms;

/// Many workers polling a database that is down would each say so every second.
ErrorThrottle& repeated() {
  static ErrorThrottle throttle;
  return throttle;
}

std::chrono::milliseconds until(const std::optional<workflows::Instant>& due, const workflows::Clock& clock) {
  return idle_wait(due ? *due - clock.now() : std::chrono::system_clock::duration{}, due.has_value(), poll_interval);
}

}  // namespace

JobWorkers::JobWorkers(EngineParts parts, const Backends& backends)
    : parts_(std::move(parts)),
      backends_(backends),
      lease_(parts_.leases ? parts_.leases->lease(job_lease(backends)) : job_lease(backends)) {
  workers_.start("job-worker", threads_for(backends), [this] { work(); });
}

int JobWorkers::threads_for(const Backends& backends) {
  int slots = 0;
  for (const auto& [name, entry] : backends) slots += entry.max_concurrent;
  return slots + 1;
}

std::optional<workflows::JobClaim> JobWorkers::claim(workflows::RequestStore& store) {
  // Claiming and counting happen together, so two threads never both take a backend's last slot.
  std::lock_guard lock(mutex_);
  workflows::JobFilter filter;
  for (const auto& [name, entry] : backends_) {
    if (running_[name] >= entry.max_concurrent) filter.busy_backends.insert(name);
  }
  if (!filter.busy_backends.empty()) passed_over_busy_ = true;
  auto now = parts_.clock.now();
  auto claim = store.claim_job_with_request(now, now + lease_, filter);
  if (claim) ++running_[claim->job.backend];
  return claim;
}

void JobWorkers::release(const workflows::Job& job) {
  bool kick = false;
  {
    std::lock_guard lock(mutex_);
    --running_[job.backend];
    kick = std::exchange(passed_over_busy_, false);
  }
  // A slot is free: a job passed over while its backend was at its limit may go now.
  if (kick) workers_.waker.kick();
}

std::optional<workflows::Instant> JobWorkers::next_job_at(workflows::RequestStore& store) {
  try {
    return store.next_job_at();
  } catch (const std::exception& e) {
    repeated().error(*logger(), "look", std::string{"could not look for jobs: "} + e.what());
    return std::nullopt;
  }
}

void JobWorkers::work() {
  auto& store = parts_.store;
  workflows::AccessWorkflow workflow(parts_.policy, store, parts_.directory, parts_.clock, parts_.ids);
  for (;;) {
    auto ticket = workers_.waker.ticket();
    std::optional<workflows::JobClaim> claimed;
    try {
      claimed = claim(store);
    } catch (const std::exception& e) {
      repeated().error(*logger(), "claim", std::string{"could not claim a job: "} + e.what());
    }
    if (claimed) {
      LeaseKeeper::Hold held(parts_.leases, storage::LeaseKind::job, claimed->job.id);
      {
        WorkerThreads::Busy busy(workers_);
        run_job(*claimed, workflow, backends_);
      }
      release(claimed->job);
      if (workers_.waker.ticket() != ticket) continue;  // a job was written meanwhile
      // A claim is a write; reading when the next job is due tells, more cheaply, whether a
      // claim could find one (a backlog written before this thread looked).
      auto next = next_job_at(store);
      if (next && *next <= parts_.clock.now()) continue;
      if (!workers_.waker.wait(ticket, until(next, parts_.clock))) return;
      continue;
    }
    if (!workers_.waker.wait(ticket, until(next_job_at(store), parts_.clock))) return;
  }
}

SchedulerThread::SchedulerThread(EngineParts parts) : parts_(std::move(parts)) {
  worker_.start("scheduler", 1, [this] { run(); });
}

void SchedulerThread::run() {
  workflows::AccessWorkflow workflow(parts_.policy, parts_.store, parts_.directory, parts_.clock, parts_.ids);
  for (;;) {
    auto ticket = worker_.waker.ticket();
    std::optional<workflows::Instant> next;
    try {
      workflow.tick();
      next = workflow.next_due();
    } catch (const std::exception& e) {
      repeated().error(*logger(), "schedule", std::string{"scheduled work failed (retrying): "} + e.what());
    }
    // A due time still in the past failed this pass (a lost race, a locked database): the
    // poll interval paces the retry.
    if (!worker_.waker.wait(ticket, until(next, parts_.clock))) return;
  }
}

}  // namespace jitbot::bot
