#include "bot/lease_keeper.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace jitbot::bot {

LeaseKeeper::LeaseKeeper(storage::Database& store, const workflows::Clock& clock)
    : store_(store), clock_(clock), renewing_(store.shared_by_replicas()) {
  if (renewing_) thread_ = std::thread([this] { run(); });
}

LeaseKeeper::~LeaseKeeper() { stop(); }

void LeaseKeeper::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  stopping_.notify_all();
  if (thread_.joinable()) thread_.join();
}

LeaseKeeper::Hold::Hold(LeaseKeeper* keeper, storage::LeaseKind kind, std::int64_t id)
    : keeper_(keeper && keeper->renewing_ ? keeper : nullptr), kind_(kind), id_(id) {
  if (!keeper_) return;
  std::lock_guard lock(keeper_->mutex_);
  ++keeper_->held_[kind_][id_];
}

LeaseKeeper::Hold::~Hold() {
  if (!keeper_) return;
  std::lock_guard lock(keeper_->mutex_);
  auto& rows = keeper_->held_[kind_];
  if (--rows[id_] <= 0) rows.erase(id_);
}

void LeaseKeeper::run() {
  pthread_setname_np(pthread_self(), "lease-keeper");
  std::unique_lock lock(mutex_);
  while (!stopping_.wait_for(lock, renew_every, [this] { return stopped_; })) {
    lock.unlock();
    renew();
    lock.lock();
  }
}

void LeaseKeeper::renew() {
  std::map<storage::LeaseKind, std::vector<std::int64_t>> rows;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [kind, held] : held_) {
      for (const auto& [id, holders] : held) rows[kind].push_back(id);
    }
  }
  auto until = clock_.now() + shared_lease;
  for (const auto& [kind, ids] : rows) {
    if (ids.empty()) continue;
    try {
      store_.renew_leases(kind, ids, until);
    } catch (const std::exception& e) {
      // The work goes on; if the database stays out of reach past the lease, another replica
      // takes the row over and the request ID keeps the repeat harmless.
      spdlog::warn("could not renew {} lease(s): {}", ids.size(), e.what());
    }
  }
}

}  // namespace jitbot::bot
