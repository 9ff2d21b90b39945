#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/lifecycle.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// The answer shown only to the person who typed or clicked.
struct Reply {
  bool ok = false;
  std::string text;  ///< plain text; chat adapters escape it
};

using Backends = std::map<std::string, std::unique_ptr<workflows::CredentialBackend>>;

/// Observes every backend call, e.g. so the terminal can show the demo backend at work.
using BackendObserver = std::function<void(const workflows::BackendCall&, const workflows::BackendResult&)>;

/// Glue from chat input to the workflow and from the workflow to backends and chat.
/// Replies come back at once; backend work and notice delivery happen in settle(), so a chat
/// adapter can answer (ack) before anything slow runs.
class JitBot {
 public:
  JitBot(const workflows::Policy& policy, workflows::RequestStore& store, workflows::Directory& directory,
         workflows::ChatSink& chat, const workflows::Clock& clock, workflows::IdSource& ids, Backends backends);

  /// Handles the text of a `/jit` command typed by `actor`.
  Reply handle_command(const std::string& actor, std::string_view text);

  /// Handles a card button ("approve", "deny", "revoke"). The request and the rules are read
  /// from the database; nothing the click claims beyond the request ID is trusted.
  Reply handle_button(const std::string& actor, const std::string& action, const std::string& request_id);

  /// Runs the backend work that replies left behind and delivers the outbox.
  void settle();

  /// Times out, expires and retries whatever is due now, then settles. Call at start-up
  /// (to finish what a crash interrupted) and whenever next_due() arrives.
  void run_due();

  std::optional<workflows::Instant> next_due() { return workflow_.next_due(); }

  void observe_backends(BackendObserver observer) { observer_ = std::move(observer); }

  /// Lets settle() run up to `calls` backend calls at once, each on a thread of its own. Only for
  /// backends that are safe to call concurrently (exec: one process per call). Default 1.
  void run_backends_concurrently(int calls) { backend_concurrency_ = std::max(1, calls); }

  /// Hands outbox delivery to someone else (Slack delivers from a thread of its own, so a slow
  /// or rate-limited post never holds up commands); `wake` is called whenever notices may wait.
  void deliver_outbox_elsewhere(std::function<void()> wake) { outbox_wake_ = std::move(wake); }

 private:
  Reply status(const std::string& actor, const std::string& request_id);
  Reply list(const std::string& actor, int scope);
  Reply accept(const workflows::Outcome& outcome);
  void perform_batch(std::vector<workflows::BackendWork> batch);
  workflows::BackendResult call_backend(const workflows::BackendCall& call);
  void record(const workflows::BackendCall& call, const workflows::BackendResult& result);
  void deliver_notices();

  const workflows::Policy& policy_;
  workflows::RequestStore& store_;
  workflows::ChatSink& chat_;
  workflows::AccessWorkflow workflow_;
  Backends backends_;
  std::deque<workflows::BackendWork> pending_work_;
  BackendObserver observer_;
  std::function<void()> outbox_wake_;
  int backend_concurrency_ = 1;
};

}  // namespace jitbot::bot
