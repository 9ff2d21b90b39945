#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "workflows/policy.hpp"
#include "workflows/ports.hpp"
#include "workflows/rules.hpp"

namespace jitbot::workflows {

/// A backend call that a committed transition asks for. It is carried out by the caller
/// (synchronously in the terminal, on a worker in Slack) and its result fed back through
/// record_grant / record_revoke.
struct BackendWork {
  std::string request_id;
  BackendCall::Action action = BackendCall::Action::grant;
};

/// The answer to whoever acted, plus the backend work the action started.
struct Outcome {
  bool ok = false;
  std::string message;  ///< plain text for the actor (adapters escape it)
  std::string request_id;
  std::vector<BackendWork> work;
};

/// The request lifecycle. Every method is one compare-and-set transition (with its audit
/// record and outbox notices) followed, where needed, by backend work for the caller to do.
class AccessWorkflow {
 public:
  AccessWorkflow(const Policy& policy, RequestStore& store, Directory& directory, const Clock& clock, IdSource& ids);

  Outcome submit(const std::string& requester, const NewRequest& draft);
  Outcome approve(const std::string& actor, const std::string& request_id);
  Outcome deny(const std::string& actor, const std::string& request_id, const std::string& note);
  Outcome cancel(const std::string& actor, const std::string& request_id);
  Outcome revoke(const std::string& actor, const std::string& request_id);

  /// The call to make for `work`, or nullopt when the request has moved on (nothing to do).
  std::optional<BackendCall> prepare(const BackendWork& work);
  /// Records a grant's result; returns the clean-up revoke a failed grant needs.
  std::vector<BackendWork> record_grant(const std::string& request_id, const BackendResult& result);
  void record_revoke(const std::string& request_id, const BackendResult& result);

  /// Times out undecided requests, starts due revokes and retries, and resumes grants and
  /// revokes that a crash interrupted. Run at start-up and whenever next_due() arrives.
  std::vector<BackendWork> tick();

  /// When tick() next has something to do; nullopt when nothing is scheduled.
  std::optional<Instant> next_due();

  const Policy& policy() const { return policy_; }

  static constexpr const char* system_actor = "jitbot";

 private:
  using Decide = std::function<std::optional<std::string>(Request&, Change&)>;

  /// Loads the request, lets `decide` mutate it (or refuse with a message), commits with
  /// compare-and-set, and re-decides on a fresh copy if another writer won the race.
  Outcome transition(const std::string& request_id, const Decide& decide);

  AuditEntry audit(const Request& before, const std::string& actor, const std::string& action, RequestState to,
                   const std::string& detail = {}) const;
  Notice card_notice(const Request& request, NoticeEvent event) const;
  Notice dm_notice(const Request& request, NoticeEvent event, const std::string& detail = {}) const;
  std::chrono::seconds revoke_backoff(int attempts) const;
  void record_cleanup(Request& request, Change& change, const BackendResult& result);
  void start_revoke(Request& request, Change& change, const std::string& actor, RequestState ending_as);

  const Policy& policy_;
  RequestStore& store_;
  Directory& directory_;
  const Clock& clock_;
  IdSource& ids_;
  std::set<std::string> in_flight_;  ///< backend calls prepared but not yet recorded
};

}  // namespace jitbot::workflows
