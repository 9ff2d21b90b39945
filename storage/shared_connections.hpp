#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/sqlite_store.hpp"
#include "workflows/ports.hpp"

namespace jitbot::storage {

/// One RequestStore for many threads, over a few SQLite connections: each call borrows a
/// connection for its own duration and gives it back.
///
/// Why: the engine has dozens of threads (most of them waiting on a backend or on Slack), and a
/// connection per thread costs its schema, statements and page cache each time (about 150 kB),
/// and every write elsewhere invalidates all those caches. A handful of connections is enough,
/// since no call holds one while it waits on anything but the database.
///
/// Writes are committed in groups: a thread that writes while another thread's group is being
/// committed queues its write, and the next thread to commit runs every queued write, each in a
/// savepoint of its own, in one transaction. Each caller still returns only once its write is
/// committed, and a write that fails or loses its race undoes only itself. Why: SQLite commits
/// one transaction at a time anyway, and under load most of a small write's cost is its commit
/// (the log frames of the pages it touched, the log index, the audit head anchor), which a group
/// pays once. Threads also no longer wait for the write lock in SQLite's busy handler, which
/// sleeps. A group of one write runs in that write's own transaction, without the savepoint.
///
/// A request read by ID (find) also runs in a group, on the writer: its page cache stays valid,
/// where a reader's is dropped by every commit and read again from the file. Lists and the other
/// reads borrow a reader connection.
class SharedConnections final : public Database {
 public:
  /// Opens connections to `path` as they are needed, at most `connections` of them: one for the
  /// writes, the rest for reads (at least one). Throws like SqliteStore when the first one cannot
  /// be opened.
  SharedConnections(std::string path, std::size_t connections, std::string audit_key = {});
  ~SharedConnections() override;
  SharedConnections(const SharedConnections&) = delete;
  SharedConnections& operator=(const SharedConnections&) = delete;

  bool commit(const workflows::Change& change) override;
  /// Read on the writer connection, in the next group (see the class comment).
  std::optional<workflows::Request> find(const std::string& id) override;
  std::vector<workflows::Request> list(const workflows::RequestFilter& filter) override;
  std::vector<workflows::Request> due_requests(workflows::Instant now) override;
  std::optional<workflows::Instant> next_due_at() override;
  std::vector<workflows::AuditEntry> audit_trail(const std::string& request_id) override;
  void record_refusal(const workflows::AuditEntry& entry) override;

  /// Read on the writer connection, inside the claim's transaction (see claim_notice_for_delivery).
  std::optional<workflows::JobClaim> claim_job_with_request(workflows::Instant now, workflows::Instant lease_until,
                                                            const workflows::JobFilter& filter) override;
  std::optional<workflows::Job> claim_job(workflows::Instant now, workflows::Instant lease_until,
                                          const workflows::JobFilter& filter) override;
  void settle_job(const workflows::JobSettlement& settlement,
                  const std::optional<workflows::AuditEntry>& audit) override;
  std::optional<workflows::Instant> next_job_at() override;
  std::vector<workflows::Job> jobs_of(const std::string& request_id) override;

  std::optional<workflows::Notice> claim_notice(workflows::Instant now, workflows::Instant lease_until) override;
  /// The reads happen on the writer connection, inside the claim's transaction: its page cache
  /// is warm, where a reader's is dropped by every commit and read again from the file.
  std::optional<workflows::NoticeClaim> claim_notice_for_delivery(workflows::Instant now,
                                                                  workflows::Instant lease_until) override;
  /// One write: recording a notice and claiming the next share a commit (and the outbox page).
  std::optional<workflows::NoticeClaim> record_delivery_and_claim(const workflows::DeliveryRecord& record,
                                                                  workflows::Instant now,
                                                                  workflows::Instant lease_until) override;
  void mark_delivered(std::int64_t notice_id) override;
  void mark_posted(std::int64_t notice_id, const workflows::PostedMessage& posted) override;
  bool newer_card_waits(const workflows::Notice& notice) override;
  void mark_failed_delivery(const workflows::Notice& notice, const std::string& error,
                            const std::optional<workflows::Instant>& retry_at,
                            const std::vector<workflows::Notice>& announcements) override;
  std::optional<workflows::Instant> next_notice_at() override;
  std::vector<workflows::Notice> list_notices(const workflows::OutboxFilter& filter) override;
  bool retry_notice(std::int64_t notice_id, workflows::Instant now) override;

  std::int64_t put_input(const workflows::Input& input) override;
  std::optional<workflows::Input> claim_input(workflows::Instant now, workflows::Instant lease_until) override;
  void finish_input(std::int64_t input_id) override;
  void retry_input(std::int64_t input_id, workflows::Instant at) override;

  int count_break_glass(const std::string& requester, workflows::Instant since) override;
  std::optional<std::string> alert_location(const std::string& request_id, const std::string& target) override;
  void save_alert_location(const std::string& request_id, const std::string& target,
                           const std::string& location) override;
  std::optional<std::string> card_location(const std::string& request_id) override;
  void save_card_location(const std::string& request_id, const std::string& location) override;

  AuditVerification verify_audit(const std::optional<AuditAnchor>& anchor = std::nullopt) override;
  void for_each_audit(const std::optional<workflows::Instant>& since,
                      const std::function<void(const AuditRecord&)>& visit) override;
  StoreFigures figures(workflows::Instant now) override;
  std::optional<AuditAnchor> audit_head() override;
  void renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, workflows::Instant until) override;
  int schema_version() override;
  void release_leases() override;
  bool shared_by_replicas() const override { return false; }

 private:
  /// A borrowed connection, given back when it goes out of scope.
  class Borrowed {
   public:
    explicit Borrowed(SharedConnections& pool);
    ~Borrowed();
    Borrowed(const Borrowed&) = delete;
    Borrowed& operator=(const Borrowed&) = delete;
    SqliteStore* operator->() { return store_.get(); }
    SqliteStore& operator*() { return *store_; }

   private:
    SharedConnections& pool_;
    std::unique_ptr<SqliteStore> store_;
  };

  /// A write waiting for its group's commit.
  struct QueuedWrite {
    QueuedWrite(std::function<void(SqliteStore&)> body, bool synced_commit, bool one_write_method)
        : run(std::move(body)), synced(synced_commit), single(one_write_method) {}
    std::function<void(SqliteStore&)> run;
    bool synced;  ///< a change marked `reach_disk`: the group's commit syncs
    /// The body calls one write method: alone in its group, it runs in that method's own
    /// transaction (run_alone).
    bool single;
    std::exception_ptr error;
    /// Waiting for a group; told to commit the next group; or its group is committed. Set by
    /// the committing thread after it lets go of writes_mutex_, and waited for without it
    /// (a futex): one system call to sleep and one to wake, where a condition variable
    /// under the mutex woke each writer only for it to block on the mutex still held.
    enum class Turn : int { waiting, lead, done };
    std::atomic<Turn> turn{Turn::waiting};
    /// Sleeps until `turn` is no longer `waiting`.
    void wait_for_turn();
    /// Sets `turn` and wakes the writer waiting for it.
    void give_turn(Turn given);
  };
  /// Runs `write` in the next group and returns its result once that group is committed.
  /// `single`: the body calls one write method of the store, whose transaction is all it needs.
  template <class Write>
  auto write(Write&& body, bool synced = false, bool single = true);
  /// Queues `write`; the caller either waits for another thread to commit it or commits the group.
  void commit_in_group(QueuedWrite& write);
  /// The checkpoint thread: copies the log into the database whenever a group leaves it long.
  void checkpoint_when_due();
  /// Runs a group in one transaction; every write in it gets its own outcome.
  void run_group(const std::vector<QueuedWrite*>& group);
  /// Runs a group of one write on its own, without the batch's transaction around it.
  void run_alone(QueuedWrite& write);
  /// With writes_mutex_ held, after a group: asks for a checkpoint when the log is long, and
  /// picks the first thread queued meanwhile, if any, to commit the next group (returned, to be
  /// told once the mutex is let go).
  QueuedWrite* finish_group();
  /// Without writes_mutex_: tells the group's other writers that it is committed, and `next`, if
  /// any, that it commits the next group.
  static void wake(const std::vector<QueuedWrite*>& group, const QueuedWrite& committer, QueuedWrite* next);

  const std::string path_;
  const std::string audit_key_;
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<SqliteStore>> idle_;
  std::size_t opened_ = 0;

  std::mutex writes_mutex_;
  std::vector<QueuedWrite*> queued_;  ///< the next group, in the order its writers came
  bool committing_ = false;           ///< a thread is committing a group
  /// Every write goes through this one connection, so no other connection of this process writes
  /// and its page cache stays valid from one group to the next (SQLite drops a connection's whole
  /// cache when another one has written since its last transaction).
  std::unique_ptr<SqliteStore> writer_;

  std::condition_variable checkpoint_wanted_;  ///< with writes_mutex_
  bool checkpoint_due_ = false;
  bool stopping_ = false;
  std::thread checkpointer_;  ///< started last, joined first
};

}  // namespace jitbot::storage
