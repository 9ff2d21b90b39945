#include "storage/shared_connections.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace jitbot::storage {

// Straight futex calls: std::atomic::wait spins and yields before it sleeps, which costs more
// CPU than it saves when a group commit takes tens of microseconds or more.
void SharedConnections::QueuedWrite::wait_for_turn() {
  static_assert(sizeof(std::atomic<Turn>) == sizeof(int) && std::atomic<Turn>::is_always_lock_free);
  while (turn.load(std::memory_order_acquire) == Turn::waiting) {
    ::syscall(SYS_futex, reinterpret_cast<int*>(&turn), FUTEX_WAIT_PRIVATE, static_cast<int>(Turn::waiting), nullptr,
              nullptr, 0);
  }
}

void SharedConnections::QueuedWrite::give_turn(Turn given) {
  // The address is taken first: once the store is seen, this QueuedWrite may be gone, and a
  // futex wake on an address nobody waits at is ignored by the kernel.
  int* word = reinterpret_cast<int*>(&turn);
  turn.store(given, std::memory_order_release);
  ::syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

SharedConnections::SharedConnections(std::string path, std::size_t connections, std::string audit_key)
    : path_(std::move(path)),
      audit_key_(std::move(audit_key)),
      capacity_(connections <= 1 ? 1 : connections - 1),
      // Opened now, so a database that cannot be opened is reported at start-up.
      writer_(std::make_unique<SqliteStore>(path_, audit_key_)) {
  // Its cache stays valid (see writer_), so it is worth more than a reader's: it holds the pages
  // every write touches (the inbox, outbox and jobs tables, the requests' indexes).
  writer_->set_cache_size(1024);
  // A checkpoint (copying the log into the database, and a sync) takes tens of milliseconds. Run
  // by the committing thread, it would hold up every write queued behind that group, an ack's
  // inbox row among them; so a thread of its own runs it, on a reader connection, while writes go on.
  writer_->defer_checkpoints();
  checkpointer_ = std::thread([this] { checkpoint_when_due(); });
}

SharedConnections::~SharedConnections() {
  {
    std::lock_guard lock(writes_mutex_);
    stopping_ = true;
  }
  checkpoint_wanted_.notify_one();
  checkpointer_.join();
}

void SharedConnections::checkpoint_when_due() {
  pthread_setname_np(pthread_self(), "checkpoint");
  std::unique_lock lock(writes_mutex_);
  for (;;) {
    checkpoint_wanted_.wait(lock, [&] { return checkpoint_due_ || stopping_; });
    if (stopping_) return;
    lock.unlock();
    try {
      Borrowed(*this)->checkpoint();
    } catch (const std::exception& e) {
      // The log only grows meanwhile; the next group's commit asks again.
      spdlog::warn("database checkpoint failed (the next commit retries): {}", e.what());
    }
    lock.lock();
    checkpoint_due_ = false;
  }
}

SharedConnections::Borrowed::Borrowed(SharedConnections& pool) : pool_(pool) {
  std::unique_lock lock(pool_.mutex_);
  pool_.returned_.wait(lock, [&] { return !pool_.idle_.empty() || pool_.opened_ < pool_.capacity_; });
  if (!pool_.idle_.empty()) {
    store_ = std::move(pool_.idle_.back());
    pool_.idle_.pop_back();
    return;
  }
  ++pool_.opened_;  // reserved before the slow open, which runs unlocked
  lock.unlock();
  try {
    store_ = std::make_unique<SqliteStore>(pool_.path_, pool_.audit_key_);
    // A reader's cache is dropped whenever the writer has written since its last read, which
    // under load is nearly every time: a few pages are all it uses.
    store_->set_cache_size(64);
  } catch (...) {
    lock.lock();
    --pool_.opened_;
    pool_.returned_.notify_one();
    throw;
  }
}

SharedConnections::Borrowed::~Borrowed() {
  {
    std::lock_guard lock(pool_.mutex_);
    pool_.idle_.push_back(std::move(store_));
  }
  pool_.returned_.notify_one();
}

template <class Write>
auto SharedConnections::write(Write&& body, bool synced, bool single) {
  using Result = std::invoke_result_t<Write&, SqliteStore&>;
  if constexpr (std::is_void_v<Result>) {
    QueuedWrite queued{[&](SqliteStore& store) { body(store); }, synced, single};
    commit_in_group(queued);
  } else {
    std::optional<Result> result;
    QueuedWrite queued{[&](SqliteStore& store) { result.emplace(body(store)); }, synced, single};
    commit_in_group(queued);
    return std::move(*result);
  }
}

void SharedConnections::commit_in_group(QueuedWrite& write) {
  std::unique_lock lock(writes_mutex_);
  queued_.push_back(&write);
  if (committing_) {
    lock.unlock();
    write.wait_for_turn();
    if (write.turn.load(std::memory_order_acquire) == QueuedWrite::Turn::done) {
      if (write.error) std::rethrow_exception(write.error);
      return;
    }
    lock.lock();  // told to lead: committing_ stayed true for this thread
  }
  // This thread commits everything queued, its own write included, while the next ones queue.
  committing_ = true;
  std::vector<QueuedWrite*> group;
  group.swap(queued_);
  lock.unlock();
  run_group(group);
  lock.lock();
  QueuedWrite* next = finish_group();
  lock.unlock();
  wake(group, write, next);
  if (write.error) std::rethrow_exception(write.error);
}

SharedConnections::QueuedWrite* SharedConnections::finish_group() {
  if (writer_->frames_in_log() >= SqliteStore::checkpoint_frames && !checkpoint_due_) {
    checkpoint_due_ = true;
    checkpoint_wanted_.notify_one();
  }
  if (queued_.empty()) {
    committing_ = false;
    return nullptr;
  }
  return queued_.front();  // the first writer to queue commits the next group
}

void SharedConnections::wake(const std::vector<QueuedWrite*>& group, const QueuedWrite& committer, QueuedWrite* next) {
  for (auto* each : group) {
    if (each == &committer) continue;
    each->give_turn(QueuedWrite::Turn::done);
  }
  if (next) next->give_turn(QueuedWrite::Turn::lead);
}

void SharedConnections::run_alone(QueuedWrite& write) {
  // A write method alone in its group: the batch's savepoint would copy every page it changes
  // into a sub-journal only to guard it against itself. Its own transaction commits it, synced
  // when its change asks for that (SqliteStore::commit), and writes the head anchor.
  auto& store = *writer_;
  store.set_writing_alone(true);
  try {
    write.run(store);
  } catch (...) {
    write.error = std::current_exception();  // its own transaction is rolled back
  }
  store.set_writing_alone(false);
}

void SharedConnections::run_group(const std::vector<QueuedWrite*>& group) {
  if (group.size() == 1 && group.front()->single) return run_alone(*group.front());
  bool synced = std::any_of(group.begin(), group.end(), [](const QueuedWrite* each) { return each->synced; });
  auto& store = *writer_;  // this thread's alone while it commits
  try {
    store.begin_batch(synced);
    for (auto* each : group) {
      try {
        each->run(store);
      } catch (...) {
        each->error = std::current_exception();  // its savepoint is rolled back, the rest stands
      }
      // An error (a full disk) may have made SQLite roll the whole transaction back, even one a
      // write caught and answered itself: then nothing of the group stands.
      if (!store.batch_intact()) throw std::runtime_error("SQLite rolled back a group of writes");
    }
    store.commit_batch();
  } catch (...) {
    // Nothing of the group is committed: every write in it fails, with its own error if it had one.
    store.abandon_batch();
    auto error = std::current_exception();
    for (auto* each : group) {
      if (!each->error) each->error = error;
    }
  }
}

bool SharedConnections::commit(const workflows::Change& change) {
  if (!write([&](SqliteStore& store) { return store.commit(change); }, change.reach_disk)) return false;
  announce_work(change);  // once committed, and with the writer free for the threads it wakes
  return true;
}

std::optional<workflows::Request> SharedConnections::find(const std::string& id) {
  // Read on the writer, in the next group: its page cache stays valid, where a reader's is
  // dropped whenever anything was written since its last read, and read back page by page. The
  // result is returned once the group is committed, and a group that fails fails the read too.
  return write([&](SqliteStore& store) { return store.find(id); });
}

std::vector<workflows::Request> SharedConnections::list(const workflows::RequestFilter& filter) {
  return Borrowed(*this)->list(filter);
}

std::vector<workflows::Request> SharedConnections::due_requests(workflows::Instant now) {
  return Borrowed(*this)->due_requests(now);
}

std::optional<workflows::Instant> SharedConnections::next_due_at() { return Borrowed(*this)->next_due_at(); }

std::vector<workflows::AuditEntry> SharedConnections::audit_trail(const std::string& request_id) {
  return Borrowed(*this)->audit_trail(request_id);
}

std::optional<workflows::JobClaim> SharedConnections::claim_job_with_request(workflows::Instant now,
                                                                             workflows::Instant lease_until,
                                                                             const workflows::JobFilter& filter) {
  return write([&](SqliteStore& store) { return store.claim_job_with_request(now, lease_until, filter); });
}

std::optional<workflows::Job> SharedConnections::claim_job(workflows::Instant now, workflows::Instant lease_until,
                                                           const workflows::JobFilter& filter) {
  return write([&](SqliteStore& store) { return store.claim_job(now, lease_until, filter); });
}

void SharedConnections::record_refusal(const workflows::AuditEntry& entry) {
  write([&](SqliteStore& store) { store.record_refusal(entry); });
}

void SharedConnections::settle_job(const workflows::JobSettlement& settlement,
                                   const std::optional<workflows::AuditEntry>& audit) {
  write([&](SqliteStore& store) { store.settle_job(settlement, audit); });
}

std::optional<workflows::Instant> SharedConnections::next_job_at() { return Borrowed(*this)->next_job_at(); }

std::vector<workflows::Job> SharedConnections::jobs_of(const std::string& request_id) {
  return Borrowed(*this)->jobs_of(request_id);
}

std::optional<workflows::Notice> SharedConnections::claim_notice(workflows::Instant now,
                                                                 workflows::Instant lease_until) {
  return write([&](SqliteStore& store) { return store.claim_notice(now, lease_until); });
}

std::optional<workflows::NoticeClaim> SharedConnections::claim_notice_for_delivery(workflows::Instant now,
                                                                                   workflows::Instant lease_until) {
  return write([&](SqliteStore& store) { return store.claim_notice_for_delivery(now, lease_until); });
}

std::optional<workflows::NoticeClaim> SharedConnections::record_delivery_and_claim(
    const workflows::DeliveryRecord& record, workflows::Instant now, workflows::Instant lease_until) {
  // The claim is one statement, atomic on its own: if it fails, the record still commits, or the
  // notice would be delivered again when its lease ran out.
  std::exception_ptr claim_error;
  auto claim = write(
      [&](SqliteStore& store) -> std::optional<workflows::NoticeClaim> {
        store.record_delivery(record);
        try {
          return store.claim_notice_for_delivery(now, lease_until);
        } catch (const std::exception&) {
          claim_error = std::current_exception();
          return std::nullopt;
        }
      },
      false, /*single=*/false);  // two write methods: one transaction, not two commits
  if (claim_error) std::rethrow_exception(claim_error);
  return claim;
}

void SharedConnections::mark_delivered(std::int64_t notice_id) {
  write([&](SqliteStore& store) { store.mark_delivered(notice_id); });
}

void SharedConnections::mark_posted(std::int64_t notice_id, const workflows::PostedMessage& posted) {
  write([&](SqliteStore& store) { store.mark_posted(notice_id, posted); });
}

bool SharedConnections::newer_card_waits(const workflows::Notice& notice) {
  return Borrowed(*this)->newer_card_waits(notice);
}

void SharedConnections::mark_failed_delivery(const workflows::Notice& notice, const std::string& error,
                                             const std::optional<workflows::Instant>& retry_at,
                                             const std::vector<workflows::Notice>& announcements) {
  write([&](SqliteStore& store) { store.mark_failed_delivery(notice, error, retry_at, announcements); });
}

std::optional<workflows::Instant> SharedConnections::next_notice_at() { return Borrowed(*this)->next_notice_at(); }

std::vector<workflows::Notice> SharedConnections::list_notices(const workflows::OutboxFilter& filter) {
  return Borrowed(*this)->list_notices(filter);
}

bool SharedConnections::retry_notice(std::int64_t notice_id, workflows::Instant now) {
  return write([&](SqliteStore& store) { return store.retry_notice(notice_id, now); });
}

std::int64_t SharedConnections::put_input(const workflows::Input& input) {
  return write([&](SqliteStore& store) { return store.put_input(input); });
}

std::optional<workflows::Input> SharedConnections::claim_input(workflows::Instant now, workflows::Instant lease_until) {
  return write([&](SqliteStore& store) { return store.claim_input(now, lease_until); });
}

void SharedConnections::finish_input(std::int64_t input_id) {
  write([&](SqliteStore& store) { store.finish_input(input_id); });
}

void SharedConnections::retry_input(std::int64_t input_id, workflows::Instant at) {
  write([&](SqliteStore& store) { store.retry_input(input_id, at); });
}

int SharedConnections::count_break_glass(const std::string& requester, workflows::Instant since) {
  return Borrowed(*this)->count_break_glass(requester, since);
}

std::optional<std::string> SharedConnections::alert_location(const std::string& request_id, const std::string& target) {
  return Borrowed(*this)->alert_location(request_id, target);
}

void SharedConnections::save_alert_location(const std::string& request_id, const std::string& target,
                                            const std::string& location) {
  write([&](SqliteStore& store) { store.save_alert_location(request_id, target, location); });
}

std::optional<std::string> SharedConnections::card_location(const std::string& request_id) {
  return Borrowed(*this)->card_location(request_id);
}

void SharedConnections::save_card_location(const std::string& request_id, const std::string& location) {
  write([&](SqliteStore& store) { store.save_card_location(request_id, location); });
}

StoreFigures SharedConnections::figures(workflows::Instant now) { return Borrowed(*this)->figures(now); }

AuditVerification SharedConnections::verify_audit(const std::optional<AuditAnchor>& anchor) {
  return Borrowed(*this)->verify_audit(anchor);
}

void SharedConnections::for_each_audit(const std::optional<workflows::Instant>& since,
                                       const std::function<void(const AuditRecord&)>& visit) {
  Borrowed(*this)->for_each_audit(since, visit);
}

std::optional<AuditAnchor> SharedConnections::audit_head() { return Borrowed(*this)->audit_head(); }

void SharedConnections::renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, workflows::Instant until) {
  write([&](SqliteStore& store) { store.renew_leases(kind, ids, until); });
}

int SharedConnections::schema_version() { return Borrowed(*this)->schema_version(); }

void SharedConnections::release_leases() {
  write([&](SqliteStore& store) { store.release_leases(); });
}

}  // namespace jitbot::storage
