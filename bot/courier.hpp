#pragma once

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bot/lease_keeper.hpp"
#include "bot/waker.hpp"
#include "workflows/policy.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// Delivers the outbox from threads of their own, which share the engine's connections. Each
/// thread claims one due notice at a time, so notices of different requests and targets go
/// out side by side, a slow or failing one holds up only its own lane, and a backlog drains as
/// fast as the chat accepts it.
class Courier {
 public:
  /// `leases` renews the claims where replicas share the database; null where none does.
  Courier(workflows::RequestStore& store, workflows::ChatSink& chat, const workflows::Policy& policy,
          const workflows::Clock& clock, LeaseKeeper* leases = nullptr, int threads = 8);
  /// Lets the threads finish the notice in hand, then joins them. Idempotent.
  void stop() { workers_.stop(); }
  Courier(const Courier&) = delete;
  Courier& operator=(const Courier&) = delete;

  /// There may be new notices.
  void kick() { workers_.waker.kick(); }

 private:
  void deliver();

  workflows::RequestStore& store_;
  workflows::ChatSink& chat_;
  const workflows::Policy& policy_;
  const workflows::Clock& clock_;
  LeaseKeeper* leases_;
  std::chrono::seconds lease_;
  WorkerThreads workers_;  ///< last: joined before the rest goes
};

}  // namespace jitbot::bot
