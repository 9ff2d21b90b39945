#include "storage/sqlite_store.hpp"
#include "storage/wal_frame_vfs.hpp"

#include <SQLiteCpp/SQLiteCpp.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <mutex>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "adapters/metrics/metrics.hpp"
#include "storage/audit_chain.hpp"
#include "storage/migrations.hpp"
#include "storage/row_codec.hpp"

namespace jitbot::storage {
namespace {

using namespace rows;  // the column lists and row mapping shared with the PostgreSQL store
using workflows::AuditEntry;
using workflows::Instant;
using workflows::Notice;
using workflows::Request;
using workflows::RequestState;

/// "?1,?2,…" for the request's columns.
const std::string& placeholders() {
  static const std::string text = [] {
    std::string out;
    for (int i = 1; i <= request_column_count; ++i) out += (i == 1 ? "?" : ",?") + std::to_string(i);
    return out;
  }();
  return text;
}

/// Calls `visit` with each column name of `request_columns`, in order.
template <class Visit>
void for_each_request_column(Visit&& visit) {
  std::string_view all{request_columns};
  while (!all.empty()) {
    auto comma = all.find(',');
    auto column = all.substr(0, comma);
    all = comma == std::string_view::npos ? std::string_view{} : all.substr(comma + 1);
    while (!column.empty() && column.front() == ' ') column.remove_prefix(1);
    visit(column);
  }
}

/// "requests.id, requests.version, …": the request's columns, named unambiguously in a join.
const std::string& qualified_request_columns() {
  static const std::string text = [] {
    std::string out;
    for_each_request_column(
        [&](std::string_view column) { out += (out.empty() ? "requests." : ", requests.") + std::string{column}; });
    return out;
  }();
  return text;
}

/// Columns fixed when a request is created (AccessWorkflow::submit) and never updated.
bool set_at_creation_only(std::string_view column) {
  for (std::string_view fixed : {"id", "provider", "role", "scope", "requester", "created_at"})
    if (column == fixed) return true;
  return false;
}

/// "(version, state, …) = (?2, ?3, …)": every column of the request but those set at creation.
/// SQLite rewrites the index entries of every column an UPDATE sets, even to the value it has:
/// setting the ID would also make it look for rows that refer to it in the approvals and jobs
/// tables, and setting the requester would rewrite its entry in requests_by_requester, on every
/// update.
const std::string& update_assignments() {
  static_assert(std::string_view{request_columns}.substr(0, 4) == "id, ", "the request's ID is its first column");
  static const std::string text = [] {
    std::string columns;
    std::string values;
    int index = 0;
    for_each_request_column([&](std::string_view column) {
      ++index;  // the ID is parameter 1, used in the WHERE clause
      if (set_at_creation_only(column)) return;
      columns += (columns.empty() ? "" : ", ") + std::string{column};
      values += (values.empty() ? "?" : ", ?") + std::to_string(index);
    });
    return "(" + columns + ") = (" + values + ")";
  }();
  return text;
}

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = [] {
    auto existing = spdlog::get("storage");
    return existing ? existing : spdlog::default_logger()->clone("storage");
  }();
  return instance;
}

/// A result row as row_codec.hpp reads it.
struct SqliteRow {
  SQLite::Statement& statement;
  std::string text(int column) { return statement.getColumn(column).getString(); }
  std::int64_t int64(int column) { return statement.getColumn(column).getInt64(); }
  bool null(int column) { return statement.getColumn(column).isNull(); }
};

/// Statement parameters as row_codec.hpp binds them.
struct SqliteBinder {
  SQLite::Statement& statement;
  void text(int index, const std::string& value) { statement.bind(index, value); }
  void int64(int index, std::int64_t value) { statement.bind(index, value); }
  void null(int index) { statement.bind(index); }
};

void bind_optional_instant(SQLite::Statement& statement, int index, const std::optional<Instant>& value) {
  SqliteBinder binder{statement};
  rows::bind_optional_instant(binder, index, value);
}

std::optional<Instant> optional_instant(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return workflows::from_unix_millis(column.getInt64());
}

Request request_from_row(SQLite::Statement& statement) {
  SqliteRow row{statement};
  return rows::request_from_row(row);
}

void bind_request(SQLite::Statement& statement, const Request& request) {
  SqliteBinder binder{statement};
  rows::bind_request(binder, request);
}

/// Counts a committed audit step (approve, grant, revoke_done…) for /metrics.
void count_transition(const std::string& action) {
  adapters::metrics::process_registry()
      .counter("jitbot_transitions_total", "Request transitions committed, by audit action.", {{"action", action}})
      .add();
}

std::int64_t millis(Instant at) { return static_cast<std::int64_t>(workflows::to_unix_millis(at)); }

std::string_view action_name(workflows::BackendCall::Action action) { return workflows::to_string(action); }

/// Reads the columns of `notice_columns`; nullopt (logged) for a row this version cannot read.
std::optional<Notice> notice_from_row(SQLite::Statement& statement) {
  SqliteRow row{statement};
  auto notice = rows::notice_from_row(row);
  if (!notice) logger()->error("outbox row {} has an unknown kind or event; skipped", row.int64(0));
  return notice;
}

workflows::Job job_from_row(SQLite::Statement& statement) {
  SqliteRow row{statement};
  return rows::job_from_row(row);
}

workflows::Input input_from_row(SQLite::Statement& statement) {
  SqliteRow row{statement};
  return rows::input_from_row(row);
}

AuditEntry audit_entry_from_row(SQLite::Statement& statement) {
  SqliteRow row{statement};
  return rows::audit_entry_from_row(row);
}

}  // namespace

/// One write method's transaction: a transaction of its own, or a savepoint when the method runs
/// inside a batch (SharedConnections' group commit), so that a write which fails or loses its
/// race undoes only itself, never the other writes of the batch.
class SqliteStore::WriteScope {
 public:
  explicit WriteScope(SqliteStore& store, bool immediate = false) : store_(store), nested_(store.batch_open_) {
    store_.run(nested_ ? "SAVEPOINT write" : immediate || store.writing_alone_ ? "BEGIN IMMEDIATE" : "BEGIN");
  }
  ~WriteScope() {
    if (done_) return;
    try {
      // SQLite may have rolled the whole transaction back already (a full disk, for one).
      if (sqlite3_get_autocommit(store_.db_->getHandle()) == 0) {
        store_.run(nested_ ? "ROLLBACK TO write" : "ROLLBACK");
        if (nested_) store_.run("RELEASE write");
      }
    } catch (const std::exception& e) {
      logger()->error("could not roll a write back: {}", e.what());
    }
  }
  WriteScope(const WriteScope&) = delete;
  WriteScope& operator=(const WriteScope&) = delete;

  void commit() {
    store_.run(nested_ ? "RELEASE write" : "COMMIT");
    done_ = true;
  }

 private:
  SqliteStore& store_;
  bool nested_;
  bool done_ = false;
};

void SqliteStore::run(const std::string& sql) {
  auto& statement = prepared(sql);
  ResetOnExit statement_done{statement};
  statement.exec();
}

void SqliteStore::begin_batch(bool synced) {
  if (synced) run("PRAGMA synchronous=FULL");
  try {
    run("BEGIN IMMEDIATE");
  } catch (...) {
    if (synced) run("PRAGMA synchronous=NORMAL");
    throw;
  }
  batch_open_ = true;
  batch_synced_ = synced;
}

bool SqliteStore::batch_intact() const { return sqlite3_get_autocommit(db_->getHandle()) == 0; }

void SqliteStore::commit_batch() {
  run("COMMIT");
  end_batch();
  appended_ = std::move(batch_head_);
  batch_head_.reset();
  publish_anchor();
}

void SqliteStore::abandon_batch() noexcept {
  try {
    if (batch_intact()) run("ROLLBACK");
  } catch (const std::exception& e) {
    logger()->error("could not roll a batch of writes back: {}", e.what());
  }
  end_batch();
  batch_head_.reset();
  appended_.reset();
}

void SqliteStore::end_batch() noexcept {
  batch_open_ = false;
  if (!std::exchange(batch_synced_, false)) return;
  try {
    run("PRAGMA synchronous=NORMAL");
  } catch (const std::exception& e) {
    logger()->error("could not restore synchronous=NORMAL: {}", e.what());
  }
}

namespace {

/// Set once, before SQLite's first use. A connection is only ever used by one thread at a time (a
/// SqliteStore is not shared, and SharedConnections lends each connection to one thread), so
/// SQLite's own mutex around every call is not needed; nor are its allocation statistics, which
/// take a process-wide mutex on every allocation. Both cost CPU and futex calls under load.
void configure_sqlite() {
  static std::once_flag once;
  std::call_once(once, [] {
    // SQLITE_MISUSE if SQLite was already started by someone else: then its defaults stay.
    sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    if (!install_wal_frame_vfs()) logger()->warn("SQLite's log frames are written as SQLite writes them");
  });
}

}  // namespace

SqliteStore::SqliteStore(const std::string& path, std::string audit_key)
    : path_(path), audit_key_(std::move(audit_key)) {
  configure_sqlite();
  try {
    db_ = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db_->setBusyTimeout(5000);
    if (path != ":memory:") db_->exec("PRAGMA journal_mode=WAL");
    db_->exec("PRAGMA synchronous=NORMAL");
    // The outbox, jobs and inbox pages are rewritten in the log many times a second under load;
    // copying the log into the database 8 times less often copies each of them once, not 8 times.
    db_->exec("PRAGMA wal_autocheckpoint=" + std::to_string(checkpoint_frames));
    // One connection per engine thread: a modest page cache each keeps the process small, and
    // the OS caches the file for all of them anyway.
    db_->exec("PRAGMA cache_size=-128");
    // Each write of a group commit runs in a savepoint, whose undo pages SQLite keeps in a
    // sub-journal. With temporary files on disk, every sub-journal past 64 KiB became a file that
    // was created, written and deleted within the commit; in memory it is a copy of the pages.
    db_->exec("PRAGMA temp_store=MEMORY");
    db_->exec("PRAGMA foreign_keys=ON");
    migrate();
  } catch (const SQLite::Exception& e) {
    throw std::runtime_error("cannot open database " + path + ": " + e.what());
  }
}

SqliteStore::~SqliteStore() {
  statements_.clear();  // finalized before the connection closes
}

std::optional<AuditAnchor> SqliteStore::audit_head() {
  auto& last = prepared("SELECT sequence, hash FROM audit ORDER BY sequence DESC LIMIT 1");
  ResetOnExit last_done{last};
  if (!last.executeStep()) return std::nullopt;
  AuditAnchor head{last.getColumn(0).getInt64(), last.getColumn(1).getString(), {}};
  head.seal(audit_key_);
  return head;
}

void SqliteStore::renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, workflows::Instant until) {
  WriteScope transaction(*this);
  auto& renew = prepared("UPDATE " + std::string{leased_table(kind)} +
                         " SET lease_until = ? WHERE id = ? AND lease_until IS NOT NULL");
  for (auto id : ids) {
    ResetOnExit renew_done{renew};
    renew.bind(1, millis(until));
    renew.bind(2, static_cast<std::int64_t>(id));
    renew.exec();
  }
  transaction.commit();
}

int SqliteStore::schema_version() { return db_->execAndGet("PRAGMA user_version").getInt(); }

void SqliteStore::migrate() {
  const auto& steps = migrations();
  int current = schema_version();
  if (current > static_cast<int>(steps.size())) {
    throw std::runtime_error("database schema version " + std::to_string(current) +
                             " is newer than this jitbot understands (" + std::to_string(steps.size()) + ")");
  }
  for (int version = current; version < static_cast<int>(steps.size()); ++version) {
    SQLite::Transaction transaction(*db_);
    db_->exec(steps[static_cast<std::size_t>(version)]);
    db_->exec("PRAGMA user_version=" + std::to_string(version + 1));
    transaction.commit();
    logger()->info("database migrated to schema version {}", version + 1);
  }
}

namespace {

/// synchronous=FULL for one transaction: its commit syncs the WAL before it returns, so the
/// decision is on disk before the outside world hears of it. Set outside the transaction, as
/// SQLite requires.
class SyncedCommit {
 public:
  SyncedCommit(SQLite::Database& db, bool wanted) : db_(db), wanted_(wanted) {
    if (wanted_) db_.exec("PRAGMA synchronous=FULL");
  }
  ~SyncedCommit() {
    try {
      if (wanted_) db_.exec("PRAGMA synchronous=NORMAL");
    } catch (const std::exception& e) {
      logger()->error("could not restore synchronous=NORMAL: {}", e.what());
    }
  }
  SyncedCommit(const SyncedCommit&) = delete;
  SyncedCommit& operator=(const SyncedCommit&) = delete;

 private:
  SQLite::Database& db_;
  bool wanted_;
};

}  // namespace

bool SqliteStore::commit(const workflows::Change& change) {
  appended_.reset();  // whatever a rolled-back transaction appended is not there
  const Request& r = change.request;
  // Declared first: outlives the transaction. A batch is synced as a whole (begin_batch).
  SyncedCommit synced(*db_, change.reach_disk && !batch_open_);
  WriteScope transaction(*this);
  if (change.expected_version) {
    auto& update = prepared("UPDATE requests SET " + update_assignments() + " WHERE id = ?1 AND version = ?" +
                            std::to_string(expected_version_index));
    ResetOnExit update_done{update};
    bind_request(update, r);
    update.bind(expected_version_index, static_cast<std::int64_t>(*change.expected_version));
    if (update.exec() != 1) return false;  // lost the race: the destructor rolls back
  } else {
    auto& insert =
        prepared(std::string{"INSERT INTO requests ("} + request_columns + ") VALUES (" + placeholders() + ")");
    ResetOnExit insert_done{insert};
    bind_request(insert, r);
    insert.exec();
    // The insert took the write lock, so every other commit is visible and none can slip in.
    if (change.only_identical_pending && count_identical_pending(r) > 1) return false;  // rolled back
  }
  for (std::size_t i = change.stored_approvals; i < r.approvals.size(); ++i) {
    const auto& approval = r.approvals[i];
    auto& insert = prepared("INSERT OR IGNORE INTO approvals (request_id, approver, approved_at) VALUES (?, ?, ?)");
    ResetOnExit insert_done{insert};
    insert.bind(1, r.id);
    insert.bind(2, approval.approver);
    insert.bind(3, millis(approval.at));
    insert.exec();
  }
  for (const auto& entry : change.audit) append_audit(entry);
  for (const auto& notice : change.notices) insert_notice(notice);

  if (change.settles) write_settlement(*change.settles);
  for (const auto& job : change.jobs) insert_job(job);
  if (change.consumes_input) {
    auto& remove = prepared("DELETE FROM inbox WHERE id = ?");
    ResetOnExit remove_done{remove};
    remove.bind(1, static_cast<std::int64_t>(*change.consumes_input));
    if (remove.exec() != 1) {
      // The transaction's destructor rolls everything back: this input was handled elsewhere.
      throw workflows::InputAlreadyHandled("input " + std::to_string(*change.consumes_input) + " was handled already");
    }
  }
  transaction.commit();
  for (const auto& entry : change.audit) count_transition(entry.action);
  publish_anchor();
  announce_work(change);
  return true;
}

int SqliteStore::count_identical_pending(const Request& r) {
  auto& count = prepared(
      "SELECT COUNT(*) FROM requests WHERE requester = ? AND provider = ? AND role = ? AND scope = ? AND "
      "duration_seconds = ? AND reason = ? AND state = 'PENDING' AND break_glass = 0");
  ResetOnExit count_done{count};
  count.bind(1, r.requester);
  count.bind(2, r.provider);
  count.bind(3, r.role);
  count.bind(4, r.scope);
  count.bind(5, static_cast<std::int64_t>(r.duration.count()));
  count.bind(6, r.reason);
  count.executeStep();
  return count.getColumn(0).getInt();
}

void SqliteStore::insert_notice(const Notice& notice) {
  if (notice.kind == workflows::NoticeKind::approval_card) replace_held_cards(notice);
  auto& insert = prepared(
      "INSERT INTO outbox (kind, event, target, request_id, detail, console_url, next_attempt_at, created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))");
  ResetOnExit insert_done{insert};
  insert.bind(1, std::string{workflows::to_string(notice.kind)});
  insert.bind(2, std::string{workflows::to_string(notice.event)});
  insert.bind(3, notice.target);
  insert.bind(4, notice.request_id);
  insert.bind(5, notice.detail);
  insert.bind(6, notice.console_url);
  insert.bind(7, notice.next_attempt_at ? millis(*notice.next_attempt_at) : std::int64_t{0});
  insert.exec();
}

void SqliteStore::replace_held_cards(const Notice& card) {
  // Held: written with a due time and never tried (Change::notices). Not leased, so no courier
  // is drawing it now.
  auto& replace = prepared(
      "DELETE FROM outbox WHERE request_id = ? AND target = ? AND kind = ? AND attempts = 0 AND next_attempt_at > 0 "
      "AND lease_until IS NULL AND parked_at IS NULL");
  ResetOnExit replace_done{replace};
  replace.bind(1, card.request_id);
  replace.bind(2, card.target);
  replace.bind(3, std::string{workflows::to_string(workflows::NoticeKind::approval_card)});
  replace.exec();
}

void SqliteStore::insert_job(const workflows::Job& job) {
  // One job per request and action: asking again only brings the existing one forward.
  auto& insert = prepared(
      "INSERT INTO jobs (request_id, action, backend, attempts, not_before, last_error) "
      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (request_id, action) "
      "DO UPDATE SET not_before = MIN(jobs.not_before, excluded.not_before)");
  ResetOnExit insert_done{insert};
  insert.bind(1, job.request_id);
  insert.bind(2, std::string{action_name(job.action)});
  insert.bind(3, job.backend);
  insert.bind(4, job.attempts);
  insert.bind(5, millis(job.not_before));
  insert.bind(6, job.last_error);
  insert.exec();
}

void SqliteStore::write_settlement(const workflows::JobSettlement& settlement) {
  if (settlement.retry_at) {
    auto& update = prepared(
        "UPDATE jobs SET attempts = attempts + 1, not_before = ?, lease_until = NULL, "
        "last_error = ? WHERE id = ?");
    ResetOnExit update_done{update};
    update.bind(1, millis(*settlement.retry_at));
    update.bind(2, settlement.error);
    update.bind(3, static_cast<std::int64_t>(settlement.job_id));
    update.exec();
  } else {
    auto& remove = prepared("DELETE FROM jobs WHERE id = ?");
    ResetOnExit remove_done{remove};
    remove.bind(1, static_cast<std::int64_t>(settlement.job_id));
    remove.exec();
  }
}

void SqliteStore::append_audit(const AuditEntry& entry) {
  auto& last = prepared("SELECT sequence, hash, keyed FROM audit ORDER BY sequence DESC LIMIT 1");
  ResetOnExit last_done{last};
  std::string previous = genesis_hash;
  std::int64_t sequence = 1;
  if (last.executeStep()) {
    sequence = last.getColumn(0).getInt64() + 1;
    previous = last.getColumn(1).getString();
    // A plain record after keyed ones would break the chain for good (verify calls it a
    // downgrade): refuse, and say which key is missing.
    if (last.getColumn(2).getInt() != 0 && audit_key_.empty()) {
      throw std::runtime_error(
          "this database's audit trail is sealed with a key: give jitbot the same key (JITBOT_AUDIT_KEY or "
          "[bot] audit_key_file) to change anything");
    }
  }
  AuditEntry sealed = entry;
  sealed.sequence = sequence;
  bool keyed = !audit_key_.empty();
  std::string hash = keyed ? audit_hmac(audit_key_, previous, sealed) : audit_hash(previous, sealed);
  auto& insert = prepared(
      "INSERT INTO audit (sequence, request_id, at, actor, action, from_state, to_state, detail, "
      "prev_hash, hash, keyed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit insert_done{insert};
  insert.bind(1, static_cast<std::int64_t>(sequence));
  insert.bind(2, sealed.request_id);
  insert.bind(3, static_cast<std::int64_t>(workflows::to_unix_millis(sealed.at)));
  insert.bind(4, sealed.actor);
  insert.bind(5, sealed.action);
  insert.bind(6, sealed.from_state);
  insert.bind(7, sealed.to_state);
  insert.bind(8, sealed.detail);
  insert.bind(9, previous);
  insert.bind(10, hash);
  insert.bind(11, keyed ? 1 : 0);
  insert.exec();
  appended_ = AuditAnchor{sequence, hash, {}};
  appended_->seal(audit_key_);
}

StoreFigures SqliteStore::figures(workflows::Instant now) {
  StoreFigures out;
  auto& states = prepared("SELECT state, COUNT(*) FROM requests GROUP BY state");
  {
    ResetOnExit states_done{states};
    while (states.executeStep())
      out.requests_by_state[states.getColumn(0).getString()] = states.getColumn(1).getInt64();
  }
  auto& jobs = prepared(
      "SELECT COALESCE(SUM(lease_until IS NOT NULL AND lease_until > ?1), 0), "
      "COALESCE(SUM(lease_until IS NULL OR lease_until <= ?1), 0) FROM jobs");
  {
    ResetOnExit jobs_done{jobs};
    jobs.bind(1, millis(now));
    jobs.executeStep();
    out.jobs_running = jobs.getColumn(0).getInt64();
    out.jobs_waiting = jobs.getColumn(1).getInt64();
  }
  auto& outbox = prepared(
      "SELECT COALESCE(SUM(parked_at IS NULL), 0), COALESCE(SUM(parked_at IS NOT NULL), 0), "
      "MIN(CASE WHEN parked_at IS NULL AND created_at > 0 THEN created_at END) FROM outbox");
  {
    ResetOnExit outbox_done{outbox};
    outbox.executeStep();
    out.outbox_waiting = outbox.getColumn(0).getInt64();
    out.outbox_parked = outbox.getColumn(1).getInt64();
    out.oldest_undelivered = optional_instant(outbox.getColumn(2));
  }
  auto& inbox = prepared("SELECT COUNT(*) FROM inbox");
  ResetOnExit inbox_done{inbox};
  inbox.executeStep();
  out.inbox_waiting = inbox.getColumn(0).getInt64();
  return out;
}

std::int64_t SqliteStore::backup_to(const std::filesystem::path& file) {
  if (path_ == ":memory:" || path_.empty()) throw std::runtime_error("an in-memory database has nothing to back up");
  auto partial = file;
  partial += ".partial";
  std::filesystem::remove(partial);
  db_->backup(partial.c_str(), SQLite::Database::Save);
  std::optional<AuditAnchor> head;
  {
    // A copy is one file: out of WAL mode, so no -wal or -shm is left beside it.
    SQLite::Database copy(partial.string(), SQLite::OPEN_READWRITE);
    copy.exec("PRAGMA journal_mode=DELETE");
    auto check = copy.execAndGet("PRAGMA quick_check").getString();
    if (check != "ok") throw std::runtime_error("the copy at " + partial.string() + " fails its check: " + check);
    SQLite::Statement last(copy, "SELECT sequence, hash, keyed FROM audit ORDER BY sequence DESC LIMIT 1");
    if (last.executeStep()) {
      if (last.getColumn(2).getInt() != 0 && audit_key_.empty()) {
        // An unsealed anchor for a sealed chain would make audit verify refuse the restored copy.
        std::filesystem::remove(partial);
        throw std::runtime_error(
            "this database's audit trail is sealed with a key: give jitbot backup the same key "
            "(JITBOT_AUDIT_KEY or [bot] audit_key_file), so the copy's head anchor is sealed too");
      }
      head = AuditAnchor{last.getColumn(0).getInt64(), last.getColumn(1).getString(), {}};
      head->seal(audit_key_);
    }
  }
  std::filesystem::rename(partial, file);
  std::filesystem::remove(anchor_path(file));
  if (head) write_anchor(anchor_path(file), *head);
  return head ? head->sequence : 0;
}

void SqliteStore::publish_anchor() {
  if (!appended_) return;
  if (batch_open_) {
    batch_head_ = std::move(appended_);  // written once the whole batch is committed
    appended_.reset();
    return;
  }
  auto anchor = std::move(*appended_);
  appended_.reset();
  if (path_ == ":memory:" || path_.empty()) return;
  try {
    write_anchor(anchor_path(path_), anchor);
  } catch (const std::exception& e) {
    // The records are committed; only tail-deletion detection lags until the next append.
    logger()->error("could not update the audit head anchor: {}", e.what());
  }
}

void SqliteStore::record_refusal(const AuditEntry& entry) {
  appended_.reset();  // whatever a rolled-back transaction appended is not there
  // IMMEDIATE: append_audit reads before it writes, and a read transaction that another
  // connection overtakes cannot become a write one (SQLITE_BUSY at once, no busy wait).
  WriteScope transaction(*this, /*immediate=*/true);
  append_audit(entry);
  transaction.commit();
  publish_anchor();
}

void SqliteStore::load_approvals(Request& request) {
  auto& query = prepared(
      "SELECT approver, approved_at FROM approvals WHERE request_id = ? ORDER BY approved_at, "
      "rowid");
  ResetOnExit query_done{query};
  query.bind(1, request.id);
  while (query.executeStep()) {
    request.approvals.push_back(
        {query.getColumn(0).getString(), workflows::from_unix_millis(query.getColumn(1).getInt64())});
  }
}

std::vector<Request> SqliteStore::query_requests(const std::string& where_sql, const std::vector<std::string>& bindings,
                                                 int limit) {
  std::string sql = std::string{"SELECT "} + request_columns + " FROM requests" +
                    (where_sql.empty() ? "" : " WHERE " + where_sql) + " ORDER BY created_at DESC, id DESC";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  // The filters make a handful of distinct statements, each prepared once per connection.
  auto& query = prepared(sql);
  std::vector<Request> out;
  {
    ResetOnExit query_done{query};
    for (std::size_t i = 0; i < bindings.size(); ++i) query.bind(static_cast<int>(i + 1), bindings[i]);
    while (query.executeStep()) out.push_back(request_from_row(query));
  }
  for (auto& request : out) load_approvals(request);
  return out;
}

std::optional<Request> SqliteStore::find(const std::string& id) {
  // The request and its approvals in one statement (the most frequent read): a row per approval,
  // or one whose approval columns are NULL when it has none.
  static const std::string sql = "SELECT " + qualified_request_columns() +
                                 ", approvals.approver, approvals.approved_at FROM requests LEFT JOIN approvals ON "
                                 "approvals.request_id = requests.id WHERE requests.id = ? "
                                 "ORDER BY approvals.approved_at, approvals.rowid";
  auto& query = prepared(sql);
  ResetOnExit query_done{query};
  query.bind(1, id);
  std::optional<Request> found;
  while (query.executeStep()) {
    if (!found) found = request_from_row(query);
    if (query.getColumn(request_column_count).isNull()) continue;
    found->approvals.push_back({query.getColumn(request_column_count).getString(),
                                workflows::from_unix_millis(query.getColumn(request_column_count + 1).getInt64())});
  }
  return found;
}

SqliteStore::ResetOnExit::~ResetOnExit() { statement.tryReset(); }

SQLite::Statement& SqliteStore::prepared(const std::string& sql) {
  auto& statement = statements_[sql];
  if (!statement) {
    statement = std::make_unique<SQLite::Statement>(*db_, sql);
  } else {
    statement->tryReset();
    statement->clearBindings();
  }
  return *statement;
}

std::vector<Request> SqliteStore::list(const workflows::RequestFilter& filter) {
  std::string where;
  std::vector<std::string> bindings;
  if (filter.requester) {
    where = "requester = ?";
    bindings.push_back(*filter.requester);
  }
  if (!filter.states.empty()) {
    std::string in;
    for (auto state : filter.states) {
      in += in.empty() ? "?" : ",?";
      bindings.emplace_back(workflows::to_string(state));
    }
    where += (where.empty() ? "" : " AND ") + std::string{"state IN ("} + in + ")";
  }
  if (filter.unreviewed_only)
    where += (where.empty() ? "" : " AND ") + std::string{"break_glass = 1 AND reviewed_at IS NULL"};
  if (filter.same_as) {
    where += (where.empty() ? "" : " AND ") +
             std::string{"provider = ? AND role = ? AND scope = ? AND duration_seconds = ? AND reason = ?"};
    const auto& draft = *filter.same_as;
    bindings.insert(bindings.end(),
                    {draft.provider, draft.role, draft.scope, std::to_string(draft.duration.count()), draft.reason});
  }
  return query_requests(where, bindings, filter.limit);
}

namespace {

// Requests the scheduler may have to act on, and when (Unix ms) it must: this mirrors
// AccessWorkflow::tick, so only the rows that are due are ever loaded. Grants and revokes are
// jobs of their own.
constexpr const char* open_requests_sql = "(state IN ('PENDING','ACTIVE') AND ending_as IS NULL)";
constexpr const char* due_at_sql = "(CASE WHEN state = 'PENDING' THEN pending_deadline ELSE expires_at END)";

}  // namespace

std::vector<Request> SqliteStore::due_requests(workflows::Instant now) {
  std::string until = std::to_string(workflows::to_unix_millis(now));
  // Besides timeouts and expiries: break-glass re-alerts, and reminders and escalations of pending
  // requests (each a column of its own with a partial index, so due rows are found without a scan).
  return query_requests("(" + std::string{open_requests_sql} + " AND " + due_at_sql + " <= " + until +
                            ") OR next_realert_at <= " + until + " OR next_reminder_at <= " + until +
                            " OR escalate_at <= " + until + " OR warn_at <= " + until,
                        {}, 0);
}

std::optional<workflows::Instant> SqliteStore::next_due_at() {
  std::optional<Instant> soonest =
      earliest(std::string{"SELECT MIN"} + due_at_sql + " FROM requests WHERE " + open_requests_sql);
  for (const char* column : {"next_realert_at", "next_reminder_at", "escalate_at", "warn_at"}) {
    auto at = earliest(std::string{"SELECT MIN("} + column + ") FROM requests WHERE " + column + " IS NOT NULL");
    if (at && (!soonest || *at < *soonest)) soonest = at;
  }
  return soonest;
}

int SqliteStore::count_break_glass(const std::string& requester, workflows::Instant since) {
  auto& query = prepared("SELECT COUNT(*) FROM requests WHERE requester = ? AND created_at >= ? AND break_glass = 1");
  ResetOnExit query_done{query};
  query.bind(1, requester);
  query.bind(2, millis(since));
  query.executeStep();
  return query.getColumn(0).getInt();
}

std::optional<Instant> SqliteStore::earliest(const std::string& min_sql) {
  auto& query = prepared(min_sql);
  ResetOnExit query_done{query};
  if (!query.executeStep() || query.getColumn(0).isNull()) return std::nullopt;
  return workflows::from_unix_millis(query.getColumn(0).getInt64());
}

std::vector<AuditEntry> SqliteStore::audit_trail(const std::string& request_id) {
  SQLite::Statement query(
      *db_, std::string{"SELECT "} + audit_columns + " FROM audit WHERE request_id = ? ORDER BY sequence");
  query.bind(1, request_id);
  std::vector<AuditEntry> out;
  while (query.executeStep()) out.push_back(audit_entry_from_row(query));
  return out;
}

AuditVerification SqliteStore::verify_audit(const std::optional<AuditAnchor>& anchor) {
  return verify_audit_chain(audit_key_, anchor, [this](const auto& visit) { for_each_audit(std::nullopt, visit); });
}

void SqliteStore::for_each_audit(const std::optional<Instant>& since,
                                 const std::function<void(const AuditRecord&)>& visit) {
  SQLite::Statement query(*db_, std::string{"SELECT "} + audit_columns +
                                    ", prev_hash, hash, keyed FROM audit WHERE at >= ? ORDER BY sequence");
  query.bind(1, static_cast<std::int64_t>(since ? workflows::to_unix_millis(*since) : 0));
  while (query.executeStep()) {
    AuditRecord record;
    record.entry = audit_entry_from_row(query);
    record.prev_hash = query.getColumn(8).getString();
    record.hash = query.getColumn(9).getString();
    record.keyed = query.getColumn(10).getInt() != 0;
    visit(record);
  }
}

std::optional<workflows::Job> SqliteStore::claim_job(Instant now, Instant lease_until,
                                                     const workflows::JobFilter& filter) {
  const auto& busy = filter.busy_backends;
  std::string not_busy;
  for (std::size_t i = 0; i < busy.size(); ++i) not_busy += i == 0 ? "?" : ",?";
  // A lease that ran out means the worker died mid-call: that counts as an attempt.
  // A few shapes only (how many backends are busy, one request or any), so each is prepared once.
  // One call per request at a time: a revoke due while an extend runs waits for it, so the
  // revoke always has the last word.
  auto& claim = prepared(std::string{"UPDATE jobs SET lease_until = ?1, attempts = attempts + (lease_until IS NOT "
                                     "NULL) WHERE id = (SELECT id FROM jobs WHERE not_before <= ?2 AND "
                                     "(lease_until IS NULL OR lease_until <= ?2) AND NOT EXISTS (SELECT 1 FROM jobs "
                                     "AS running WHERE running.request_id = jobs.request_id AND running.lease_until "
                                     "> ?2)"} +
                         (busy.empty() ? "" : " AND backend NOT IN (" + not_busy + ")") +
                         (filter.request_id ? " AND request_id = ?" : "") +
                         " ORDER BY not_before, id LIMIT 1) RETURNING " + job_columns);
  ResetOnExit claim_done{claim};
  claim.bind(1, millis(lease_until));
  claim.bind(2, millis(now));
  int index = 3;
  for (const auto& backend : busy) claim.bind(index++, backend);
  if (filter.request_id) claim.bind(index, *filter.request_id);
  if (!claim.executeStep()) return std::nullopt;
  auto job = job_from_row(claim);
  while (claim.executeStep()) {
  }
  return job;
}

void SqliteStore::defer_checkpoints() {
  sqlite3_wal_hook(
      db_->getHandle(),
      [](void* self, sqlite3*, const char*, int frames) {
        static_cast<SqliteStore*>(self)->frames_in_log_ = frames;
        return SQLITE_OK;
      },
      this);
}

void SqliteStore::checkpoint() {
  int status = sqlite3_wal_checkpoint_v2(db_->getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (status != SQLITE_OK && status != SQLITE_BUSY) {
    throw std::runtime_error(std::string{"checkpoint failed: "} + sqlite3_errmsg(db_->getHandle()));
  }
}

void SqliteStore::set_cache_size(int kibibytes) { db_->exec("PRAGMA cache_size=-" + std::to_string(kibibytes)); }

void SqliteStore::set_busy_timeout(std::chrono::milliseconds timeout) {
  db_->setBusyTimeout(static_cast<int>(timeout.count()));
}

void SqliteStore::release_leases() {
  WriteScope transaction(*this);
  db_->exec("UPDATE jobs SET lease_until = NULL, attempts = attempts + 1 WHERE lease_until IS NOT NULL");
  db_->exec("UPDATE outbox SET lease_until = NULL WHERE lease_until IS NOT NULL");
  db_->exec("UPDATE inbox SET lease_until = NULL, attempts = attempts + 1 WHERE lease_until IS NOT NULL");
  transaction.commit();
}

void SqliteStore::settle_job(const workflows::JobSettlement& settlement, const std::optional<AuditEntry>& audit) {
  appended_.reset();  // whatever a rolled-back transaction appended is not there
  WriteScope transaction(*this);
  write_settlement(settlement);
  if (audit) append_audit(*audit);
  transaction.commit();
  publish_anchor();
}

std::optional<Instant> SqliteStore::next_job_at() {
  return earliest(
      "SELECT MIN(CASE WHEN lease_until IS NULL THEN not_before "
      "ELSE MAX(not_before, lease_until) END) FROM jobs");
}

std::vector<workflows::Job> SqliteStore::jobs_of(const std::string& request_id) {
  auto& query = prepared(std::string{"SELECT "} + job_columns + " FROM jobs WHERE request_id = ? ORDER BY id");
  ResetOnExit query_done{query};
  query.bind(1, request_id);
  std::vector<workflows::Job> out;
  while (query.executeStep()) out.push_back(job_from_row(query));
  return out;
}

std::optional<Notice> SqliteStore::claim_notice(Instant now, Instant lease_until) {
  auto& claim = prepared(std::string{"UPDATE outbox SET lease_until = ?1 WHERE id = (SELECT o.id FROM outbox o "
                                     "WHERE o.parked_at IS NULL AND o.next_attempt_at <= ?2 "
                                     "AND (o.lease_until IS NULL OR o.lease_until <= ?2) "
                                     "AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.request_id = o.request_id "
                                     "AND e.target = o.target AND e.id < o.id AND e.parked_at IS NULL) "
                                     "ORDER BY o.next_attempt_at, o.id LIMIT 1) RETURNING "} +
                         notice_columns);
  ResetOnExit claim_done{claim};
  claim.bind(1, millis(lease_until));
  claim.bind(2, millis(now));
  if (!claim.executeStep()) return std::nullopt;
  auto id = claim.getColumn(0).getInt64();
  auto notice = notice_from_row(claim);
  while (claim.executeStep()) {
  }
  if (!notice) {
    // Written by a newer jitbot, or damaged: set aside so it blocks neither its lane nor a thread.
    auto& park = prepared(
        "UPDATE outbox SET parked_at = ?, lease_until = NULL, last_error = "
        "'this jitbot cannot read this notice' WHERE id = ?");
    ResetOnExit park_done{park};
    park.bind(1, millis(now));
    park.bind(2, static_cast<std::int64_t>(id));
    park.exec();
  }
  return notice;
}

std::optional<workflows::NoticeClaim> SqliteStore::claim_notice_for_delivery(Instant now, Instant lease_until) {
  WriteScope transaction(*this, true);
  auto claim = RequestStore::claim_notice_for_delivery(now, lease_until);
  transaction.commit();
  return claim;
}

bool SqliteStore::newer_card_waits(const Notice& notice) {
  auto& query = prepared(
      "SELECT EXISTS (SELECT 1 FROM outbox WHERE request_id = ? AND target = ? AND id > ? AND kind = ? AND parked_at "
      "IS NULL)");
  ResetOnExit query_done{query};
  query.bind(1, notice.request_id);
  query.bind(2, notice.target);
  query.bind(3, static_cast<std::int64_t>(notice.id));
  query.bind(4, std::string{workflows::to_string(workflows::NoticeKind::approval_card)});
  return query.executeStep() && query.getColumn(0).getInt() != 0;
}

void SqliteStore::mark_delivered(std::int64_t notice_id) {
  auto& remove = prepared("DELETE FROM outbox WHERE id = ?");
  ResetOnExit remove_done{remove};
  remove.bind(1, static_cast<std::int64_t>(notice_id));
  remove.exec();
}

void SqliteStore::mark_posted(std::int64_t notice_id, const workflows::PostedMessage& posted) {
  WriteScope transaction(*this);
  if (posted.kind == workflows::PostedMessage::Kind::card) {
    save_card_location(posted.request_id, posted.location);
  } else {
    save_alert_location(posted.request_id, posted.target, posted.location);
  }
  mark_delivered(notice_id);
  transaction.commit();
}

void SqliteStore::mark_failed_delivery(const Notice& notice, const std::string& error,
                                       const std::optional<Instant>& retry_at,
                                       const std::vector<Notice>& announcements) {
  WriteScope transaction(*this);
  auto& update = prepared(
      "UPDATE outbox SET attempts = attempts + 1, last_error = ?, lease_until = NULL, "
      "next_attempt_at = COALESCE(?, next_attempt_at), parked_at = CASE WHEN ? THEN NULL "
      "ELSE CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) END WHERE id = ?");
  ResetOnExit update_done{update};
  update.bind(1, error);
  bind_optional_instant(update, 2, retry_at);
  update.bind(3, retry_at ? 1 : 0);
  update.bind(4, static_cast<std::int64_t>(notice.id));
  update.exec();
  for (const auto& announcement : announcements) insert_notice(announcement);
  transaction.commit();
}

std::optional<Instant> SqliteStore::next_notice_at() {
  return earliest(
      "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_attempt_at "
      "ELSE MAX(next_attempt_at, lease_until) END) FROM outbox WHERE parked_at IS NULL");
}

std::vector<Notice> SqliteStore::list_notices(const workflows::OutboxFilter& filter) {
  std::string sql = std::string{"SELECT "} + notice_columns + " FROM outbox" +
                    (filter.parked_only ? " WHERE parked_at IS NOT NULL" : "") + " ORDER BY id";
  if (filter.limit > 0) sql += " LIMIT " + std::to_string(filter.limit);
  SQLite::Statement query(*db_, sql);
  std::vector<Notice> out;
  while (query.executeStep()) {
    if (auto notice = notice_from_row(query)) out.push_back(std::move(*notice));
  }
  return out;
}

bool SqliteStore::retry_notice(std::int64_t notice_id, Instant now) {
  auto& update = prepared(
      "UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = ?, lease_until = NULL "
      "WHERE id = ?");
  ResetOnExit update_done{update};
  update.bind(1, millis(now));
  update.bind(2, static_cast<std::int64_t>(notice_id));
  return update.exec() == 1;
}

std::int64_t SqliteStore::put_input(const workflows::Input& input) {
  auto& insert = prepared(
      "INSERT INTO inbox (kind, actor, body, target, reply_to, received_at, note, lease_until) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
  ResetOnExit insert_done{insert};
  insert.bind(1, input.kind == workflows::Input::Kind::click ? "click" : "command");
  insert.bind(2, input.actor);
  insert.bind(3, input.text);
  insert.bind(4, input.target);
  insert.bind(5, input.reply_to);
  insert.bind(6, millis(input.received_at));
  insert.bind(7, input.note);
  bind_optional_instant(insert, 8, input.lease_until);
  insert.exec();
  return db_->getLastInsertRowid();
}

std::optional<workflows::Input> SqliteStore::claim_input(Instant now, Instant lease_until) {
  // An input whose lease ran out was being handled when the process died: count it, so one
  // that crashes jitbot every time can be dropped instead of crashing it for ever.
  auto& claim = prepared(std::string{"UPDATE inbox SET lease_until = ?1, attempts = attempts + "
                                     "(lease_until IS NOT NULL) WHERE id = (SELECT id FROM inbox WHERE "
                                     "lease_until IS NULL OR lease_until <= ?2 ORDER BY id LIMIT 1) "
                                     "RETURNING "} +
                         input_columns);
  ResetOnExit claim_done{claim};
  claim.bind(1, millis(lease_until));
  claim.bind(2, millis(now));
  if (!claim.executeStep()) return std::nullopt;
  auto input = input_from_row(claim);
  while (claim.executeStep()) {
  }
  return input;
}

void SqliteStore::finish_input(std::int64_t input_id) {
  auto& remove = prepared("DELETE FROM inbox WHERE id = ?");
  ResetOnExit remove_done{remove};
  remove.bind(1, static_cast<std::int64_t>(input_id));
  remove.exec();
}

void SqliteStore::retry_input(std::int64_t input_id, Instant at) {
  auto& release = prepared("UPDATE inbox SET lease_until = ? WHERE id = ?");
  ResetOnExit release_done{release};
  release.bind(1, millis(at));
  release.bind(2, static_cast<std::int64_t>(input_id));
  release.exec();
}

std::optional<std::string> SqliteStore::card_location(const std::string& request_id) {
  auto& query = prepared("SELECT location FROM cards WHERE request_id = ?");
  ResetOnExit query_done{query};
  query.bind(1, request_id);
  if (!query.executeStep()) return std::nullopt;
  return query.getColumn(0).getString();
}

std::optional<std::string> SqliteStore::alert_location(const std::string& request_id, const std::string& target) {
  auto& query = prepared("SELECT location FROM alert_messages WHERE request_id = ? AND target = ?");
  ResetOnExit query_done{query};
  query.bind(1, request_id);
  query.bind(2, target);
  if (!query.executeStep()) return std::nullopt;
  return query.getColumn(0).getString();
}

void SqliteStore::save_alert_location(const std::string& request_id, const std::string& target,
                                      const std::string& location) {
  auto& upsert = prepared(
      "INSERT INTO alert_messages (request_id, target, location) VALUES (?, ?, ?) "
      "ON CONFLICT(request_id, target) DO UPDATE SET location = excluded.location");
  ResetOnExit upsert_done{upsert};
  upsert.bind(1, request_id);
  upsert.bind(2, target);
  upsert.bind(3, location);
  upsert.exec();
}

void SqliteStore::save_card_location(const std::string& request_id, const std::string& location) {
  auto& upsert = prepared(
      "INSERT INTO cards (request_id, location) VALUES (?, ?) "
      "ON CONFLICT(request_id) DO UPDATE SET location = excluded.location");
  ResetOnExit upsert_done{upsert};
  upsert.bind(1, request_id);
  upsert.bind(2, location);
  upsert.exec();
}

}  // namespace jitbot::storage
