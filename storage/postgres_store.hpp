#pragma once

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "storage/database.hpp"

namespace jitbot::storage {

class PgConnection;

/// The request store on PostgreSQL, shared by several `jitbot run` replicas.
///
/// Every commit is one transaction, as on SQLite: the request's compare-and-set on its version,
/// its approvals, audit records, notices and jobs. What several writers need besides:
///  - jobs, notices and inputs are claimed with `FOR UPDATE SKIP LOCKED` and a lease, so each is
///    handled once, and a replica that dies has its claims taken over when their leases run out;
///  - audit records are appended under a transaction-scoped advisory lock, taken last, so the
///    chain stays one line with several writers;
///  - a notice waits for the earlier ones of its request and target, whichever replica holds them.
///
/// Thread-safe: each call borrows one of a few connections for its own duration. A connection
/// that breaks is reopened on its next use. The password comes from libpq's own sources
/// (PGPASSWORD, a passfile), never from the URL in the config.
class PostgresStore final : public Database {
 public:
  /// Connects to `url` and brings the schema up to date (one replica at a time, under an advisory
  /// lock), or with Migration::require_current only checks it is. Throws std::runtime_error
  /// naming the server (never the password) when it cannot connect, or when the database's
  /// schema is newer than this jitbot's (or, when not migrating, older).
  PostgresStore(std::string url, std::size_t connections, std::string audit_key = {},
                Migration migration = Migration::apply);
  ~PostgresStore() override;
  PostgresStore(const PostgresStore&) = delete;
  PostgresStore& operator=(const PostgresStore&) = delete;

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
  /// Whether this replica is the one to post the audit head at `sequence` to the audit channel:
  /// true for exactly one caller per head that is newer than the last one claimed.
  bool claim_head_post(std::int64_t sequence);
  /// Gives back a claim whose post failed, so the head is posted again (by any replica).
  void release_head_post(std::int64_t sequence);

  /// Replicas share the database: their leases run out on their own.
  void release_leases() override {}
  bool shared_by_replicas() const override { return true; }

  /// The schema version this jitbot writes (its newest migration).
  static int known_schema_version();

 private:
  /// A borrowed connection, given back when it goes out of scope.
  class Borrowed {
   public:
    explicit Borrowed(PostgresStore& store);
    ~Borrowed();
    Borrowed(const Borrowed&) = delete;
    Borrowed& operator=(const Borrowed&) = delete;
    PgConnection* operator->() { return connection_.get(); }
    PgConnection& operator*() { return *connection_; }

   private:
    PostgresStore& store_;
    std::unique_ptr<PgConnection> connection_;
  };

  void migrate(PgConnection& connection);
  void require_current(PgConnection& connection);
  void append_audit(PgConnection& connection, const workflows::AuditEntry& entry);
  void insert_notice(PgConnection& connection, const workflows::Notice& notice);
  std::vector<workflows::Request> query_requests(PgConnection& connection, const std::string& where_sql,
                                                 const std::vector<std::string>& bindings, int limit);
  void load_approvals(PgConnection& connection, std::vector<workflows::Request>& requests);
  std::optional<workflows::Instant> earliest(const std::string& min_sql);

  const std::string url_;
  const std::string audit_key_;
  const std::size_t capacity_;
  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  std::size_t opened_ = 0;
};

}  // namespace jitbot::storage
