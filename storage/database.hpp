#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/audit_chain.hpp"
#include "workflows/ports.hpp"

namespace jitbot::storage {

/// What `jitbot audit verify` reports.
struct AuditVerification {
  bool intact = true;
  std::int64_t records = 0;
  std::int64_t first_bad_sequence = 0;  ///< 0 when intact
  std::string problem;
  std::int64_t keyed_records = 0;  ///< sealed with the key (the rest: plain SHA-256)
  bool anchor_checked = false;     ///< an anchor was given and the chain reaches it
};

/// What /metrics shows of the database, read at each scrape.
struct StoreFigures {
  std::map<std::string, std::int64_t> requests_by_state;
  std::int64_t jobs_running = 0;  ///< leased by a worker now
  std::int64_t jobs_waiting = 0;  ///< due or waiting for their time
  std::int64_t outbox_waiting = 0;
  std::int64_t outbox_parked = 0;
  std::optional<workflows::Instant> oldest_undelivered;  ///< of the waiting ones
  std::int64_t inbox_waiting = 0;
};

/// One audit record as stored, for export.
struct AuditRecord {
  workflows::AuditEntry entry;
  std::string prev_hash;
  std::string hash;
  bool keyed = false;
};

/// The leased rows: backend calls, chat notices and chat input.
enum class LeaseKind { job, notice, input };

/// Told, on the committing thread, when a commit leaves work for the job workers or the
/// couriers: they sleep until then instead of looking after every input.
class WorkListener {
 public:
  virtual ~WorkListener() = default;
  virtual void jobs_written() = 0;
  virtual void notices_written() = 0;
};

/// A jitbot database: the workflow's RequestStore plus what operators and probes ask of it.
/// Two kinds pass one contract (tests/store_contract_test.cpp): a SQLite file, embedded and
/// with nothing to set up, and PostgreSQL, which several `jitbot run` replicas share.
class Database : public workflows::RequestStore {
 public:
  /// Recomputes the audit chain from the first record with this store's key, and checks it
  /// against `anchor` (the newest record as last written), when given: a chain that ends early
  /// is a chain whose tail was deleted.
  virtual AuditVerification verify_audit(const std::optional<AuditAnchor>& anchor = std::nullopt) = 0;

  /// Every audit record at or after `since` (all when nullopt), oldest first.
  virtual void for_each_audit(const std::optional<workflows::Instant>& since,
                              const std::function<void(const AuditRecord&)>& visit) = 0;

  /// The newest audit record as an anchor sealed with this store's key; nullopt before the first.
  virtual std::optional<AuditAnchor> audit_head() = 0;

  /// Requests by state, jobs, outbox and inbox, for /metrics; also proves the database answers.
  virtual StoreFigures figures(workflows::Instant now) = 0;

  /// The schema version the database is at.
  virtual int schema_version() = 0;

  /// Voids every lease (jobs, notices, inputs), for a process that starts as the database's only
  /// user: whatever a previous process held died with it. A no-op where replicas share the
  /// database, since the leases may be theirs; those run out on their own.
  virtual void release_leases() = 0;

  /// Extends the leases of rows this process still holds (those with a lease) to `until`.
  virtual void renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, workflows::Instant until) = 0;

  /// True where several jitbot processes may share the database (PostgreSQL).
  virtual bool shared_by_replicas() const = 0;

  /// Tells `listener` (nullptr: nobody) of every commit from now on that writes jobs or notices.
  /// The listener must outlast every thread that commits through this store.
  void listen_for_work(WorkListener* listener) { work_listener_.store(listener); }

 protected:
  /// Called by implementations after `change` committed.
  void announce_work(const workflows::Change& change) const {
    auto* listener = work_listener_.load();
    if (listener == nullptr) return;
    if (!change.jobs.empty()) listener->jobs_written();
    if (!change.notices.empty()) listener->notices_written();
  }

 private:
  std::atomic<WorkListener*> work_listener_{nullptr};
};

/// Walks every audit record, oldest first, calling the visitor given with each.
using AuditWalk = std::function<void(const std::function<void(const AuditRecord&)>&)>;

/// The checks of Database::verify_audit over the records `each_record` walks, sealed with `key`
/// (empty: none), written once for both stores.
AuditVerification verify_audit_chain(const std::string& key, const std::optional<AuditAnchor>& anchor,
                                     const AuditWalk& each_record);

/// The table that holds rows of `kind`.
std::string_view leased_table(LeaseKind kind);

/// True for a `postgresql://` or `postgres://` connection URL (libpq's own forms).
bool is_postgresql_url(std::string_view location);

/// `location` with any password removed, for messages and logs.
std::string describe_location(const std::string& location);

/// What opening a database does about its schema.
enum class Migration {
  apply,            ///< brings it up to date (jitbot run, jitbot migrate)
  require_current,  ///< refuses one that is not at this jitbot's version (operator commands on PostgreSQL)
};

/// Opens the database at `location`: a SQLite file path, ":memory:", or a PostgreSQL URL.
/// `connections` bounds how many the store holds at once for the threads that share it. A SQLite
/// file is always created and migrated as needed: it has one user at a time. Throws
/// std::runtime_error saying what is wrong.
std::unique_ptr<Database> open_database(const std::string& location, std::size_t connections,
                                        std::string audit_key = {}, Migration migration = Migration::apply);

}  // namespace jitbot::storage
