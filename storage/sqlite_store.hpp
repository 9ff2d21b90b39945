#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/audit_chain.hpp"
#include "storage/database.hpp"

namespace SQLite {
class Database;
class Statement;
}  // namespace SQLite

namespace jitbot::storage {

/// The request store on one SQLite file (or ":memory:"), in WAL mode. Every commit is
/// one transaction: compare-and-set of the request, its approvals, audit rows and outbox rows.
class SqliteStore final : public Database {
 public:
  /// Opens (creating if needed) and migrates the database. Throws std::runtime_error with
  /// the path and SQLite's message when the file cannot be opened or is not a jitbot database.
  ///
  /// Commits are in WAL mode with synchronous=NORMAL: safe from kill -9, while an OS crash or
  /// power loss may undo the last commits. A change marked `reach_disk` is synced before commit()
  /// returns, and with it every commit before it (the WAL is one file, written in order).
  /// `audit_key`: seals new audit records with HMAC-SHA-256 (see audit_chain.hpp); empty for
  /// plain SHA-256, as in the terminal demo. A file database also gets its head anchor
  /// (anchor_path) rewritten after every commit that appends records.
  explicit SqliteStore(const std::string& path, std::string audit_key = {});
  ~SqliteStore() override;

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
  /// The claim and its reads in one transaction (a savepoint inside a batch): a read that fails
  /// undoes the claim.
  std::optional<workflows::NoticeClaim> claim_notice_for_delivery(workflows::Instant now,
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

  /// How long a statement waits for another connection's write lock (5 s unless set).
  void set_busy_timeout(std::chrono::milliseconds timeout);
  /// The log (WAL) is copied into the database once it holds this many pages.
  static constexpr int checkpoint_frames = 8000;
  /// Leaves checkpoints to the caller: this connection's commits only note how many pages the
  /// log holds (frames_in_log), and never copy the log into the database themselves.
  void defer_checkpoints();
  /// The log's length in pages after this connection's last commit (with defer_checkpoints).
  int frames_in_log() const { return frames_in_log_; }
  /// Copies what it can of the log into the database, waiting for nobody (a passive checkpoint).
  void checkpoint();
  /// The most this connection keeps of the database in its own page cache (128 KiB unless set).
  void set_cache_size(int kibibytes);

  /// One SQLite file serves one process: `jitbot run` voids a previous process's leases.
  void release_leases() override;
  bool shared_by_replicas() const override { return false; }

  AuditVerification verify_audit(const std::optional<AuditAnchor>& anchor = std::nullopt) override;
  void for_each_audit(const std::optional<workflows::Instant>& since,
                      const std::function<void(const AuditRecord&)>& visit) override;
  std::optional<AuditAnchor> audit_head() override;
  void renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, workflows::Instant until) override;
  int schema_version() override;
  StoreFigures figures(workflows::Instant now) override;

  /// Copies the database to `file` while jitbot runs (SQLite's online backup: one consistent
  /// snapshot, writers wait only for the copy's pages), checks the copy, and writes its head
  /// anchor beside it, so `jitbot audit verify` works on a restored copy. The copy is written
  /// under a temporary name and renamed, so `file` is never half-written. Returns its records.
  std::int64_t backup_to(const std::filesystem::path& file);

  /// Group commit (SharedConnections): between begin_batch and commit_batch every write method
  /// runs in a savepoint of one IMMEDIATE transaction, and the head anchor is written once, after
  /// the commit. `synced`: the batch holds a change marked `reach_disk`, so its commit syncs.
  void begin_batch(bool synced);
  /// False once SQLite has rolled the batch's transaction back on its own (an I/O error, a full
  /// disk): the writes that succeeded in it are gone too.
  bool batch_intact() const;
  /// Commits the batch; when this throws, call abandon_batch.
  void commit_batch();
  /// Rolls back whatever of the batch is left and leaves batch mode.
  void abandon_batch() noexcept;
  /// A group of one write (SharedConnections) runs outside batch mode, in transactions of its
  /// own: a savepoint would only guard it against itself. Its transactions start IMMEDIATE, as a
  /// batch's does, so a read in them can never be overtaken by another connection's write.
  void set_writing_alone(bool alone) { writing_alone_ = alone; }

 private:
  class WriteScope;
  void end_batch() noexcept;

  /// The statement for `sql`, prepared once per connection and reused (parsing and planning
  /// cost more than running most of these). Pair every use with a ResetOnExit.
  SQLite::Statement& prepared(const std::string& sql);
  /// Runs a statement that returns no rows (BEGIN, COMMIT, a PRAGMA), prepared once.
  void run(const std::string& sql);

  /// Resets a reused statement when its user is done, so no read stays open on the connection
  /// (an open read would keep it from seeing other connections' commits).
  struct ResetOnExit {
    SQLite::Statement& statement;
    ~ResetOnExit();
  };

  /// Runs a one-value `SELECT MIN(…)` of Unix milliseconds; nullopt when there is nothing.
  std::optional<workflows::Instant> earliest(const std::string& min_sql);

  void migrate();
  std::vector<workflows::Request> query_requests(const std::string& where_sql, const std::vector<std::string>& bindings,
                                                 int limit);
  void load_approvals(workflows::Request& request);
  void append_audit(const workflows::AuditEntry& entry);
  int count_identical_pending(const workflows::Request& request);
  void insert_notice(const workflows::Notice& notice);
  /// Deletes the held card notices of `card`'s lane, which `card` replaces (Change::notices).
  void replace_held_cards(const workflows::Notice& card);
  void insert_job(const workflows::Job& job);
  void write_settlement(const workflows::JobSettlement& settlement);

  /// Rewrites the head anchor with the newest record this connection appended, once committed.
  void publish_anchor();

  std::string path_;
  std::string audit_key_;
  std::optional<AuditAnchor> appended_;    ///< the newest record appended in the open transaction
  std::optional<AuditAnchor> batch_head_;  ///< the newest record appended by a committed write of the batch
  bool batch_open_ = false;
  bool writing_alone_ = false;
  int frames_in_log_ = 0;
  bool batch_synced_ = false;
  std::unique_ptr<SQLite::Database> db_;
  std::unordered_map<std::string, std::unique_ptr<SQLite::Statement>> statements_;
};

}  // namespace jitbot::storage
