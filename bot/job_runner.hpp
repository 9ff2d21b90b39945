#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "workflows/lifecycle.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// A configured credential backend and its limits.
struct BackendEntry {
  std::unique_ptr<workflows::CredentialBackend> backend;
  std::chrono::seconds timeout{60};  ///< the budget of one call; a job's lease outlasts it
  int max_concurrent = 8;            ///< calls to this backend that may run at once
};

using Backends = std::map<std::string, BackendEntry>;

/// Observes every backend call, e.g. so the terminal can show the demo backend at work.
using BackendObserver = std::function<void(const workflows::BackendCall&, const workflows::BackendResult&)>;

/// How long a claimed job is held: the slowest backend's timeout and a margin to record the
/// result. When it runs out, the worker is presumed dead and the job is claimed again.
std::chrono::seconds job_lease(const Backends& backends);

/// Runs one claimed job: prepares the call, calls the backend, records the result. Whatever
/// goes wrong affects this job only: it is rescheduled with backoff and the error audited.
void run_job(const workflows::Job& job, workflows::AccessWorkflow& workflow, const Backends& backends,
             const BackendObserver& observer = {});
/// run_job with the request read when the job was claimed.
void run_job(const workflows::JobClaim& claim, workflows::AccessWorkflow& workflow, const Backends& backends,
             const BackendObserver& observer = {});

}  // namespace jitbot::bot
