#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <thread>

#include "storage/database.hpp"
#include "workflows/time.hpp"

namespace jitbot::bot {

/// Keeps alive the leases of what this process is working on, where replicas share the
/// database: a claim is taken with a short lease and renewed every few seconds while it is held,
/// so a replica that dies loses its claims within one short lease, not one as long as the
/// slowest backend call it might have been making.
///
/// On SQLite (one process per file) nothing is renewed and claims keep their long leases: a
/// restart voids them at once anyway.
class LeaseKeeper {
 public:
  static constexpr std::chrono::seconds shared_lease{20};
  static constexpr std::chrono::seconds renew_every{5};

  LeaseKeeper(storage::Database& store, const workflows::Clock& clock);
  ~LeaseKeeper();
  LeaseKeeper(const LeaseKeeper&) = delete;
  LeaseKeeper& operator=(const LeaseKeeper&) = delete;

  /// The lease to claim with: the short one where it is renewed, else `unrenewed`.
  std::chrono::seconds lease(std::chrono::seconds unrenewed) const { return renewing_ ? shared_lease : unrenewed; }

  /// While a Hold lives, the lease of its row is renewed.
  class Hold {
   public:
    Hold(LeaseKeeper* keeper, storage::LeaseKind kind, std::int64_t id);
    ~Hold();
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;

   private:
    LeaseKeeper* keeper_;
    storage::LeaseKind kind_;
    std::int64_t id_;
  };

  /// Stops renewing and joins the thread. Idempotent.
  void stop();

 private:
  void run();
  void renew();

  storage::Database& store_;
  const workflows::Clock& clock_;
  const bool renewing_;
  std::mutex mutex_;
  std::condition_variable stopping_;
  bool stopped_ = false;
  std::map<storage::LeaseKind, std::map<std::int64_t, int>> held_;  ///< kind -> row -> holders
  std::thread thread_;
};

}  // namespace jitbot::bot
