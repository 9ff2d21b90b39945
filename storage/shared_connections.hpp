#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
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
class SharedConnections final : public Database {
 public:
  /// Opens connections to `path` as they are needed, at most `connections` of them. Throws like
  /// SqliteStore when the first one cannot be opened.
  SharedConnections(std::string path, std::size_t connections, std::string audit_key = {});
  ~SharedConnections() override;
  SharedConnections(const SharedConnections&) = delete;
  SharedConnections& operator=(const SharedConnections&) = delete;

  bool commit(const workflows::Change& change) override;
  std::optional<workflows::Request> find(const std::string& id) override;
  std::vector<workflows::Request> list(const workflows::RequestFilter& filter) override;
  std::vector<workflows::Request> due_requests(workflows::Instant now) override;
  std::optional<workflows::Instant> next_due_at() override;
  std::vector<workflows::AuditEntry> audit_trail(const std::string& request_id) override;
  void record_refusal(const workflows::AuditEntry& entry) override;

  std::optional<workflows::Job> claim_job(workflows::Instant now, workflows::Instant lease_until,
                                          const workflows::JobFilter& filter) override;
  void settle_job(const workflows::JobSettlement& settlement,
                  const std::optional<workflows::AuditEntry>& audit) override;
  std::optional<workflows::Instant> next_job_at() override;
  std::vector<workflows::Job> jobs_of(const std::string& request_id) override;

  std::optional<workflows::Notice> claim_notice(workflows::Instant now, workflows::Instant lease_until) override;
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

   private:
    SharedConnections& pool_;
    std::unique_ptr<SqliteStore> store_;
  };

  const std::string path_;
  const std::string audit_key_;
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<SqliteStore>> idle_;
  std::size_t opened_ = 0;
};

}  // namespace jitbot::storage
