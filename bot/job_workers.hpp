#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bot/job_runner.hpp"
#include "bot/waker.hpp"
#include "workflows/policy.hpp"

namespace jitbot::bot {

/// What every background thread needs to build its own workflow on the shared connections.
class LeaseKeeper;

struct EngineParts {
  std::string database;            ///< for a part that needs a connection of its own
  workflows::RequestStore& store;  ///< shared by the engine's threads (storage::SharedConnections)
  const workflows::Policy& policy;
  workflows::Directory& directory;
  const workflows::Clock& clock;
  workflows::IdSource& ids;
  workflows::OnCallSchedules* on_call = nullptr;  ///< for roles with auto_approve_oncall
  workflows::TicketChecker* tickets = nullptr;    ///< for roles with require_ticket
  LeaseKeeper* leases = nullptr;                  ///< renews claims where replicas share the database
};

/// A pool of threads that claim due backend jobs, at most `max_concurrent` per backend. There
/// are enough threads for every backend to use all of its slots at once, and one more for jobs
/// whose backend is gone from the config (they fail at once), so a slow backend holds up only
/// its own calls: never another backend's revokes. Threads start as calls overlap (see
/// WorkerThreads), so the pool's size costs nothing while calls are few. They sleep until
/// kicked (a commit wrote a job) or a job's time comes.
class JobWorkers {
 public:
  JobWorkers(EngineParts parts, const Backends& backends);
  /// Threads the pool may start for these backends: the sum of their `max_concurrent`, plus one.
  static int threads_for(const Backends& backends);
  /// Lets the threads finish the job in hand, then joins them. Idempotent.
  void stop() { workers_.stop(); }
  JobWorkers(const JobWorkers&) = delete;
  JobWorkers& operator=(const JobWorkers&) = delete;

  /// There may be new work: a transition wrote a job.
  void kick() { workers_.waker.kick(); }

 private:
  void work();
  std::optional<workflows::JobClaim> claim(workflows::RequestStore& store);
  std::optional<workflows::Instant> next_job_at(workflows::RequestStore& store);
  void release(const workflows::Job& job);

  EngineParts parts_;
  const Backends& backends_;
  std::chrono::seconds lease_;
  std::mutex mutex_;
  std::map<std::string, int> running_;  ///< backend name -> calls in progress here
  bool passed_over_busy_ = false;       ///< a claim skipped a backend at its limit
  WorkerThreads workers_;               ///< last: joined before the rest goes
};

/// Times out undecided requests and starts expiries on time, on a thread of its own, whatever
/// the chat traffic.
class SchedulerThread {
 public:
  explicit SchedulerThread(EngineParts parts);
  void stop() { worker_.stop(); }
  SchedulerThread(const SchedulerThread&) = delete;
  SchedulerThread& operator=(const SchedulerThread&) = delete;

 private:
  void run();

  EngineParts parts_;
  WorkerThreads worker_;  ///< last: joined before the rest goes
};

}  // namespace jitbot::bot
