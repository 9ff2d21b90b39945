#include "storage/postgres_store.hpp"

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <unordered_map>

#include "adapters/metrics/metrics.hpp"
#include "storage/libpq.hpp"
#include "storage/migrations.hpp"
#include "storage/row_codec.hpp"

namespace jitbot::storage {
namespace {

using namespace rows;  // the column lists and row mapping shared with the SQLite store
using workflows::AuditEntry;
using workflows::Instant;
using workflows::Notice;
using workflows::Request;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = [] {
    auto existing = spdlog::get("storage");
    return existing ? existing : spdlog::default_logger()->clone("storage");
  }();
  return instance;
}

// Advisory lock keys, (class, object): the class is jitbot's, so other users of the database
// are not disturbed.
constexpr int lock_class = 0x6a6974;                // "jit"
constexpr int audit_lock = 1;                       // one writer of the audit chain at a time
constexpr int migration_lock = 2;                   // one replica migrates; the others wait, then find it done
constexpr int job_claim_lock = 3;                   // see claim_job
constexpr int pending_lock_class = lock_class + 1;  // (class, hash of the requester): duplicate checks

std::int64_t millis(Instant at) { return static_cast<std::int64_t>(workflows::to_unix_millis(at)); }

/// Wall-clock Unix milliseconds, as PostgreSQL computes them.
constexpr const char* now_millis_sql = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

void count_transition(const std::string& action) {
  adapters::metrics::process_registry()
      .counter("jitbot_transitions_total", "Request transitions committed, by audit action.", {{"action", action}})
      .add();
}

/// libpq's NOTICE messages ("relation already exists, skipping") go to the debug log instead
/// of stderr.
void log_server_notice(void*, const char* message) {
  std::string text{message};
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  logger()->debug("postgresql: {}", text);
}

}  // namespace

/// Statement parameters as text, numbered from 1; row_codec.hpp binds through it too.
class PgParams {
 public:
  void text(int index, const std::string& value) { slot(index) = value; }
  void int64(int index, std::int64_t value) { slot(index) = std::to_string(value); }
  void null(int index) { slot(index).reset(); }
  /// Appends and returns the parameter's number.
  int add(const std::string& value) {
    values_.emplace_back(value);
    return static_cast<int>(values_.size());
  }
  int add(std::int64_t value) { return add(std::to_string(value)); }
  int add_instant(Instant at) { return add(millis(at)); }
  int add_optional(const std::optional<Instant>& at) {
    values_.emplace_back();
    if (at) values_.back() = std::to_string(millis(*at));
    return static_cast<int>(values_.size());
  }

  std::vector<const char*> pointers() const {
    std::vector<const char*> out;
    out.reserve(values_.size());
    for (const auto& value : values_) out.push_back(value ? value->c_str() : nullptr);
    return out;
  }
  int size() const { return static_cast<int>(values_.size()); }

 private:
  std::optional<std::string>& slot(int index) {
    if (static_cast<int>(values_.size()) < index) values_.resize(static_cast<std::size_t>(index));
    return values_[static_cast<std::size_t>(index - 1)];
  }
  std::vector<std::optional<std::string>> values_;
};

/// What a statement returned; owns the PGresult.
class PgResult {
 public:
  explicit PgResult(PGresult* result) : result_(result, libpq().PQclear) {}
  int rows() const { return libpq().PQntuples(result_.get()); }
  /// Rows an INSERT, UPDATE or DELETE touched.
  int affected() const {
    const char* text = libpq().PQcmdTuples(result_.get());
    return text && *text ? std::stoi(text) : 0;
  }
  std::string text(int row, int column) const { return libpq().PQgetvalue(result_.get(), row, column); }
  bool null(int row, int column) const { return libpq().PQgetisnull(result_.get(), row, column) != 0; }
  std::int64_t int64(int row, int column) const { return std::stoll(libpq().PQgetvalue(result_.get(), row, column)); }
  const PGresult* get() const { return result_.get(); }
  std::optional<Instant> instant(int row, int column) const {
    if (null(row, column)) return std::nullopt;
    return workflows::from_unix_millis(int64(row, column));
  }

 private:
  std::unique_ptr<PGresult, void (*)(PGresult*)> result_;
};

/// One row of a result, as row_codec.hpp reads it.
struct PgRow {
  const PgResult& result;
  int row;
  std::string text(int column) const { return result.text(row, column); }
  std::int64_t int64(int column) const { return result.int64(row, column); }
  bool null(int column) const { return result.null(row, column); }
};

/// An error PostgreSQL reported, with its SQLSTATE.
class PgError : public std::runtime_error {
 public:
  PgError(const std::string& message, std::string sqlstate)
      : std::runtime_error(message), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }

 private:
  std::string sqlstate_;
};

/// One libpq connection, with its statements prepared once and reused.
class PgConnection {
 public:
  explicit PgConnection(const std::string& url) {
    // Ours come first, so the URL's own settings win where it has them.
    const char* keywords[] = {"connect_timeout", "application_name", "keepalives_idle", "dbname", nullptr};
    const char* values[] = {"10", "jitbot", "30", url.c_str(), nullptr};
    connection_.reset(libpq().PQconnectdbParams(keywords, values, 1));
    if (!connection_) throw std::runtime_error("cannot connect to PostgreSQL: out of memory");
    if (libpq().PQstatus(connection_.get()) != CONNECTION_OK) {
      throw std::runtime_error("cannot connect to PostgreSQL at " + describe_location(url) + ": " + last_error());
    }
    libpq().PQsetNoticeProcessor(connection_.get(), log_server_notice, nullptr);
    // A replica that hangs mid-transaction must not hold row and advisory locks for ever; and
    // no statement of jitbot's runs for long (the prober reports a database that does).
    run("SET idle_in_transaction_session_timeout = '60s'");
    run("SET statement_timeout = '30s'");
  }

  /// Runs `sql` with `params`, prepared once per connection. Throws PgError.
  PgResult exec(const std::string& sql, const PgParams& params = {}) {
    auto& name = statements_[sql];
    if (name.empty()) {
      std::string candidate = "jitbot_" + std::to_string(statements_.size());
      PgResult prepared{libpq().PQprepare(connection_.get(), candidate.c_str(), sql.c_str(), 0, nullptr)};
      check(prepared, sql);
      name = candidate;
    }
    auto pointers = params.pointers();
    PgResult result{
        libpq().PQexecPrepared(connection_.get(), name.c_str(), params.size(), pointers.data(), nullptr, nullptr, 0)};
    check(result, sql);
    return result;
  }

  /// Runs one statement without parameters (BEGIN, COMMIT, DDL, whole migrations).
  void run(const std::string& sql) {
    PgResult result{libpq().PQexec(connection_.get(), sql.c_str())};
    check(result, sql);
  }

  /// False once the server connection is gone: the pool drops it instead of lending it again.
  bool usable() const { return libpq().PQstatus(connection_.get()) == CONNECTION_OK; }

  /// Reads what the server sent while the connection sat idle, without waiting: a server that
  /// restarted has closed it, and the first statement on it would fail someone's command.
  bool still_open() {
    // Twice: the first read takes the server's goodbye (its FATAL message), the second its close.
    for (int read = 0; read < 2; ++read) {
      if (libpq().PQconsumeInput(connection_.get()) != 1) return false;
    }
    return usable();
  }

 private:
  std::string last_error() const {
    std::string text = libpq().PQerrorMessage(connection_.get());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    return text;
  }

  void check(const PgResult& result, const std::string& sql) {
    // A null result (PGRES_FATAL_ERROR) is how libpq says the connection is gone.
    auto status = libpq().PQresultStatus(result.get());
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
    const char* state = libpq().PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
    const char* primary = libpq().PQresultErrorField(result.get(), PG_DIAG_MESSAGE_PRIMARY);
    std::string message = primary ? primary : last_error();
    logger()->debug("statement failed: {} ({})", message, sql.substr(0, 200));
    throw PgError("PostgreSQL: " + message, state ? state : "");
  }

  std::unique_ptr<PGconn, void (*)(PGconn*)> connection_{nullptr,
                                                         [](PGconn* connection) { libpq().PQfinish(connection); }};
  std::unordered_map<std::string, std::string> statements_;
};

namespace {

/// BEGIN … COMMIT, rolled back if not committed (an exception, or a compare-and-set lost).
class PgTransaction {
 public:
  explicit PgTransaction(PgConnection& connection) : connection_(connection) { connection_.run("BEGIN"); }
  ~PgTransaction() {
    if (done_ || !connection_.usable()) return;
    try {
      connection_.run("ROLLBACK");
    } catch (const std::exception& e) {
      logger()->warn("rollback failed: {}", e.what());
    }
  }
  void commit() {
    connection_.run("COMMIT");
    done_ = true;
  }
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;

 private:
  PgConnection& connection_;
  bool done_ = false;
};

/// "$1,$2,…" for the request's columns.
const std::string& request_placeholders() {
  static const std::string text = [] {
    std::string out;
    for (int i = 1; i <= request_column_count; ++i) out += (i == 1 ? "$" : ",$") + std::to_string(i);
    return out;
  }();
  return text;
}

std::optional<Notice> notice_at(const PgResult& result, int row) {
  PgRow reader{result, row};
  auto notice = rows::notice_from_row(reader);
  if (!notice) logger()->error("outbox row {} has an unknown kind or event; skipped", reader.int64(0));
  return notice;
}

void lock(PgConnection& connection, int lock_class_id, int object) {
  PgParams params;
  params.add(std::int64_t{lock_class_id});
  params.add(std::int64_t{object});
  connection.exec("SELECT pg_advisory_xact_lock($1::integer, $2::integer)", params);
}

}  // namespace

// ------------------------------------------------------------------------------------------
// Connections

PostgresStore::PostgresStore(std::string url, std::size_t connections, std::string audit_key, Migration migration)
    : url_(std::move(url)), audit_key_(std::move(audit_key)), capacity_(connections == 0 ? 1 : connections) {
  // One now, so a database that cannot be reached is reported at start-up, and migrated.
  auto first = std::make_unique<PgConnection>(url_);
  if (migration == Migration::apply) {
    migrate(*first);
  } else {
    require_current(*first);
  }
  idle_.push_back(std::move(first));
  opened_ = 1;
}

PostgresStore::~PostgresStore() = default;

int PostgresStore::known_schema_version() { return static_cast<int>(postgresql_migrations().size()); }

PostgresStore::Borrowed::Borrowed(PostgresStore& store) : store_(store) {
  std::unique_lock lock(store_.mutex_);
  store_.returned_.wait(lock, [&] { return !store_.idle_.empty() || store_.opened_ < store_.capacity_; });
  while (!store_.idle_.empty()) {
    connection_ = std::move(store_.idle_.back());
    store_.idle_.pop_back();
    if (connection_->still_open()) return;
    connection_.reset();  // closed by the server (a restart, a failover): connect afresh instead
    --store_.opened_;
  }
  ++store_.opened_;  // reserved before the slow connect, which runs unlocked
  lock.unlock();
  try {
    connection_ = std::make_unique<PgConnection>(store_.url_);
  } catch (...) {
    lock.lock();
    --store_.opened_;
    store_.returned_.notify_one();
    throw;
  }
}

PostgresStore::Borrowed::~Borrowed() {
  std::lock_guard lock(store_.mutex_);
  if (connection_->usable()) {
    store_.idle_.push_back(std::move(connection_));
  } else {
    --store_.opened_;  // the next borrower connects afresh
  }
  store_.returned_.notify_one();
}

// ------------------------------------------------------------------------------------------
// Schema

void PostgresStore::migrate(PgConnection& connection) {
  // A session lock: each step is a transaction of its own, and the lock spans them all.
  connection.run("SELECT pg_advisory_lock(" + std::to_string(lock_class) + ", " + std::to_string(migration_lock) + ")");
  struct Unlock {
    PgConnection& connection;
    ~Unlock() {
      try {
        connection.run("SELECT pg_advisory_unlock(" + std::to_string(lock_class) + ", " +
                       std::to_string(migration_lock) + ")");
      } catch (const std::exception& e) {
        logger()->warn("could not release the migration lock: {}", e.what());
      }
    }
  } unlock{connection};
  connection.run(
      "CREATE TABLE IF NOT EXISTS jitbot_schema (one_row INTEGER PRIMARY KEY DEFAULT 1 CHECK (one_row = 1), "
      "version INTEGER NOT NULL)");
  connection.run("INSERT INTO jitbot_schema (version) VALUES (0) ON CONFLICT DO NOTHING");
  int current = static_cast<int>(connection.exec("SELECT version FROM jitbot_schema").int64(0, 0));
  const auto& steps = postgresql_migrations();
  if (current > static_cast<int>(steps.size())) {
    throw std::runtime_error("the database's schema is at version " + std::to_string(current) +
                             ", newer than this jitbot understands (" + std::to_string(steps.size()) +
                             "): a newer jitbot migrated it. Run that version, or restore the backup taken "
                             "before the upgrade (docs/operations.md)");
  }
  for (int version = current; version < static_cast<int>(steps.size()); ++version) {
    PgTransaction transaction(connection);
    connection.run(steps[static_cast<std::size_t>(version)]);
    connection.run("UPDATE jitbot_schema SET version = " + std::to_string(version + 1));
    transaction.commit();
    logger()->info("database migrated to schema version {}", version + 1);
  }
}

void PostgresStore::require_current(PgConnection& connection) {
  auto exists = connection.exec("SELECT to_regclass('jitbot_schema') IS NOT NULL");
  int current = 0;
  if (exists.text(0, 0) == "t")
    current = static_cast<int>(connection.exec("SELECT version FROM jitbot_schema").int64(0, 0));
  int known = known_schema_version();
  if (current == 0) {
    throw std::runtime_error("the database " + describe_location(url_) +
                             " holds no jitbot schema yet: jitbot migrate (or jitbot run) creates it");
  }
  if (current < known) {
    throw std::runtime_error("the database's schema is at version " + std::to_string(current) +
                             ", older than this "
                             "jitbot's (" +
                             std::to_string(known) + "): run jitbot migrate first");
  }
  if (current > known) {
    throw std::runtime_error("the database's schema is at version " + std::to_string(current) +
                             ", newer than this jitbot understands (" + std::to_string(known) +
                             "): use the jitbot that migrated it");
  }
}

std::optional<AuditAnchor> PostgresStore::audit_head() {
  Borrowed connection(*this);
  auto last = connection->exec("SELECT sequence, hash FROM audit ORDER BY sequence DESC LIMIT 1");
  if (last.rows() == 0) return std::nullopt;
  AuditAnchor head{last.int64(0, 0), last.text(0, 1), {}};
  head.seal(audit_key_);
  return head;
}

void PostgresStore::renew_leases(LeaseKind kind, const std::vector<std::int64_t>& ids, Instant until) {
  std::string list;
  for (auto id : ids) list += (list.empty() ? "{" : ",") + std::to_string(id);
  list += "}";
  Borrowed connection(*this);
  PgParams params;
  params.add_instant(until);
  params.add(list);
  connection->exec("UPDATE " + std::string{leased_table(kind)} +
                       " SET lease_until = $1 WHERE id = ANY($2::bigint[]) AND lease_until IS NOT NULL",
                   params);
}

bool PostgresStore::claim_head_post(std::int64_t sequence) {
  Borrowed connection(*this);
  PgParams params;
  params.add(sequence);
  return connection->exec("UPDATE audit_head_posts SET sequence = $1 WHERE sequence < $1", params).affected() == 1;
}

void PostgresStore::release_head_post(std::int64_t sequence) {
  // Unless another replica has claimed a newer head since, which covers this one.
  Borrowed connection(*this);
  PgParams params;
  params.add(sequence);
  connection->exec("UPDATE audit_head_posts SET sequence = $1 - 1 WHERE sequence = $1", params);
}

int PostgresStore::schema_version() {
  Borrowed connection(*this);
  return static_cast<int>(connection->exec("SELECT version FROM jitbot_schema").int64(0, 0));
}

// ------------------------------------------------------------------------------------------
// Requests

bool PostgresStore::commit(const workflows::Change& change) {
  const Request& r = change.request;
  Borrowed connection(*this);
  PgTransaction transaction(*connection);
  PgParams request;
  rows::bind_request(request, r);
  if (change.expected_version) {
    // Under READ COMMITTED a concurrent update of the row waits for the other to commit, then
    // sees its version: exactly one of two writers of version N succeeds.
    request.int64(expected_version_index, *change.expected_version);
    auto updated =
        connection->exec(std::string{"UPDATE requests SET ("} + request_columns + ") = (" + request_placeholders() +
                             ") WHERE id = $1 AND version = $" + std::to_string(expected_version_index),
                         request);
    if (updated.affected() != 1) return false;  // lost the race: rolled back
  } else {
    if (change.only_identical_pending) {
      // Two replicas inserting the same request at once would each miss the other's row.
      PgParams who;
      who.add(r.requester);
      connection->exec("SELECT pg_advisory_xact_lock(" + std::to_string(pending_lock_class) + ", hashtext($1))", who);
    }
    connection->exec(
        std::string{"INSERT INTO requests ("} + request_columns + ") VALUES (" + request_placeholders() + ")", request);
    if (change.only_identical_pending) {
      PgParams same;
      same.add(r.requester);
      same.add(r.provider);
      same.add(r.role);
      same.add(r.scope);
      same.add(static_cast<std::int64_t>(r.duration.count()));
      same.add(r.reason);
      auto count = connection->exec(
          "SELECT COUNT(*) FROM requests WHERE requester = $1 AND provider = $2 AND role = $3 AND scope = $4 AND "
          "duration_seconds = $5 AND reason = $6 AND state = 'PENDING' AND break_glass = 0",
          same);
      if (count.int64(0, 0) > 1) return false;  // rolled back
    }
  }
  for (std::size_t i = change.stored_approvals; i < r.approvals.size(); ++i) {
    const auto& approval = r.approvals[i];
    PgParams params;
    params.add(r.id);
    params.add(approval.approver);
    params.add_instant(approval.at);
    connection->exec(
        "INSERT INTO approvals (request_id, approver, approved_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", params);
  }
  for (const auto& notice : change.notices) insert_notice(*connection, notice);
  if (change.settles) {
    const auto& settlement = *change.settles;
    PgParams params;
    if (settlement.retry_at) {
      params.add(static_cast<std::int64_t>(settlement.job_id));
      params.add_instant(*settlement.retry_at);
      params.add(settlement.error);
      connection->exec(
          "UPDATE jobs SET attempts = attempts + 1, not_before = $2, lease_until = NULL, last_error = $3 "
          "WHERE id = $1",
          params);
    } else {
      params.add(static_cast<std::int64_t>(settlement.job_id));
      connection->exec("DELETE FROM jobs WHERE id = $1", params);
    }
  }
  for (const auto& job : change.jobs) {
    // One job per request and action: asking again only brings the existing one forward.
    PgParams params;
    params.add(job.request_id);
    params.add(std::string{workflows::to_string(job.action)});
    params.add(job.backend);
    params.add(std::int64_t{job.attempts});
    params.add_instant(job.not_before);
    params.add(job.last_error);
    connection->exec(
        "INSERT INTO jobs (request_id, action, backend, attempts, not_before, last_error) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (request_id, action) "
        "DO UPDATE SET not_before = LEAST(jobs.not_before, excluded.not_before)",
        params);
  }
  if (change.consumes_input) {
    PgParams params;
    params.add(static_cast<std::int64_t>(*change.consumes_input));
    if (connection->exec("DELETE FROM inbox WHERE id = $1", params).affected() != 1) {
      throw workflows::InputAlreadyHandled("input " + std::to_string(*change.consumes_input) + " was handled already");
    }
  }
  // Last, so the chain's lock is held for as short a time as can be, and never while this
  // transaction waits for any other lock.
  for (const auto& entry : change.audit) append_audit(*connection, entry);
  transaction.commit();
  for (const auto& entry : change.audit) count_transition(entry.action);
  announce_work(change);
  return true;
}

void PostgresStore::insert_notice(PgConnection& connection, const Notice& notice) {
  if (notice.kind == workflows::NoticeKind::approval_card) {
    // The held card notices of its lane, written with a due time and never tried, are replaced
    // (Change::notices); one a courier has leased is being drawn and stays.
    PgParams lane;
    lane.add(notice.request_id);
    lane.add(notice.target);
    lane.add(std::string{workflows::to_string(workflows::NoticeKind::approval_card)});
    connection.exec(
        "DELETE FROM outbox WHERE request_id = $1 AND target = $2 AND kind = $3 AND attempts = 0 AND "
        "next_attempt_at > 0 AND lease_until IS NULL AND parked_at IS NULL",
        lane);
  }
  PgParams params;
  params.add(std::string{workflows::to_string(notice.kind)});
  params.add(std::string{workflows::to_string(notice.event)});
  params.add(notice.target);
  params.add(notice.request_id);
  params.add(notice.detail);
  params.add(notice.console_url);
  params.add(notice.next_attempt_at ? millis(*notice.next_attempt_at) : std::int64_t{0});
  connection.exec(std::string{"INSERT INTO outbox (kind, event, target, request_id, detail, console_url, "
                              "next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, "} +
                      now_millis_sql + ")",
                  params);
}

void PostgresStore::append_audit(PgConnection& connection, const AuditEntry& entry) {
  // Held until this transaction ends: the next writer reads this record as the chain's last.
  lock(connection, lock_class, audit_lock);
  auto last = connection.exec("SELECT sequence, hash, keyed FROM audit ORDER BY sequence DESC LIMIT 1");
  std::string previous = genesis_hash;
  std::int64_t sequence = 1;
  if (last.rows() > 0) {
    sequence = last.int64(0, 0) + 1;
    previous = last.text(0, 1);
    if (last.int64(0, 2) != 0 && audit_key_.empty()) {
      throw std::runtime_error(
          "this database's audit trail is sealed with a key: give jitbot the same key (JITBOT_AUDIT_KEY or "
          "[bot] audit_key_file) to change anything");
    }
  }
  AuditEntry sealed = entry;
  sealed.sequence = sequence;
  bool keyed = !audit_key_.empty();
  PgParams params;
  params.add(sequence);
  params.add(sealed.request_id);
  params.add_instant(sealed.at);
  params.add(sealed.actor);
  params.add(sealed.action);
  params.add(sealed.from_state);
  params.add(sealed.to_state);
  params.add(sealed.detail);
  params.add(previous);
  params.add(keyed ? audit_hmac(audit_key_, previous, sealed) : audit_hash(previous, sealed));
  params.add(std::int64_t{keyed ? 1 : 0});
  connection.exec(
      "INSERT INTO audit (sequence, request_id, at, actor, action, from_state, to_state, detail, prev_hash, hash, "
      "keyed) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
      params);
}

void PostgresStore::record_refusal(const AuditEntry& entry) {
  Borrowed connection(*this);
  PgTransaction transaction(*connection);
  append_audit(*connection, entry);
  transaction.commit();
}

void PostgresStore::load_approvals(PgConnection& connection, std::vector<Request>& requests) {
  for (auto& request : requests) {
    PgParams params;
    params.add(request.id);
    auto result = connection.exec(
        "SELECT approver, approved_at FROM approvals WHERE request_id = $1 ORDER BY approved_at, position", params);
    for (int row = 0; row < result.rows(); ++row) {
      request.approvals.push_back({result.text(row, 0), workflows::from_unix_millis(result.int64(row, 1))});
    }
  }
}

std::vector<Request> PostgresStore::query_requests(PgConnection& connection, const std::string& where_sql,
                                                   const std::vector<std::string>& bindings, int limit) {
  std::string sql = std::string{"SELECT "} + request_columns + " FROM requests" +
                    (where_sql.empty() ? "" : " WHERE " + where_sql) + " ORDER BY created_at DESC, id DESC";
  if (limit > 0) sql += " LIMIT " + std::to_string(limit);
  PgParams params;
  for (const auto& value : bindings) params.add(value);
  auto result = connection.exec(sql, params);
  std::vector<Request> out;
  out.reserve(static_cast<std::size_t>(result.rows()));
  for (int row = 0; row < result.rows(); ++row) {
    PgRow reader{result, row};
    out.push_back(rows::request_from_row(reader));
  }
  load_approvals(connection, out);
  return out;
}

std::optional<Request> PostgresStore::find(const std::string& id) {
  Borrowed connection(*this);
  auto found = query_requests(*connection, "id = $1", {id}, 1);
  if (found.empty()) return std::nullopt;
  return std::move(found.front());
}

std::vector<Request> PostgresStore::list(const workflows::RequestFilter& filter) {
  std::string where;
  std::vector<std::string> bindings;
  auto next = [&bindings](std::string value) {
    bindings.push_back(std::move(value));
    return "$" + std::to_string(bindings.size());
  };
  if (filter.requester) where = "requester = " + next(*filter.requester);
  if (!filter.states.empty()) {
    std::string in;
    for (auto state : filter.states) in += (in.empty() ? "" : ",") + next(std::string{workflows::to_string(state)});
    where += (where.empty() ? "" : " AND ") + std::string{"state IN ("} + in + ")";
  }
  if (filter.unreviewed_only)
    where += (where.empty() ? "" : " AND ") + std::string{"break_glass = 1 AND reviewed_at IS NULL"};
  if (filter.same_as) {
    const auto& draft = *filter.same_as;
    where += (where.empty() ? "" : " AND ") + std::string{"provider = "} + next(draft.provider) +
             " AND role = " + next(draft.role) + " AND scope = " + next(draft.scope) +
             " AND duration_seconds = " + next(std::to_string(draft.duration.count())) +
             " AND reason = " + next(draft.reason);
  }
  Borrowed connection(*this);
  return query_requests(*connection, where, bindings, filter.limit);
}

namespace {

// As in the SQLite store: the requests the scheduler may have to act on, and when.
constexpr const char* open_requests_sql = "(state IN ('PENDING','ACTIVE') AND ending_as IS NULL)";
constexpr const char* due_at_sql = "(CASE WHEN state = 'PENDING' THEN pending_deadline ELSE expires_at END)";

}  // namespace

std::vector<Request> PostgresStore::due_requests(Instant now) {
  Borrowed connection(*this);
  return query_requests(*connection,
                        "(" + std::string{open_requests_sql} + " AND " + due_at_sql +
                            " <= $1) OR next_realert_at <= $1 OR next_reminder_at <= $1 OR escalate_at <= $1 OR "
                            "warn_at <= $1",
                        {std::to_string(millis(now))}, 0);
}

std::optional<Instant> PostgresStore::earliest(const std::string& min_sql) {
  Borrowed connection(*this);
  auto result = connection->exec(min_sql);
  return result.instant(0, 0);
}

std::optional<Instant> PostgresStore::next_due_at() {
  return earliest(std::string{"SELECT LEAST((SELECT MIN"} + due_at_sql + " FROM requests WHERE " + open_requests_sql +
                  "), (SELECT MIN(next_realert_at) FROM requests), (SELECT MIN(next_reminder_at) FROM requests), "
                  "(SELECT MIN(escalate_at) FROM requests), (SELECT MIN(warn_at) FROM requests))");
}

int PostgresStore::count_break_glass(const std::string& requester, Instant since) {
  Borrowed connection(*this);
  PgParams params;
  params.add(requester);
  params.add_instant(since);
  return static_cast<int>(
      connection
          ->exec("SELECT COUNT(*) FROM requests WHERE requester = $1 AND created_at >= $2 AND break_glass = 1", params)
          .int64(0, 0));
}

// ------------------------------------------------------------------------------------------
// Audit

std::vector<AuditEntry> PostgresStore::audit_trail(const std::string& request_id) {
  Borrowed connection(*this);
  PgParams params;
  params.add(request_id);
  auto result = connection->exec(
      std::string{"SELECT "} + audit_columns + " FROM audit WHERE request_id = $1 ORDER BY sequence", params);
  std::vector<AuditEntry> out;
  for (int row = 0; row < result.rows(); ++row) {
    PgRow reader{result, row};
    out.push_back(rows::audit_entry_from_row(reader));
  }
  return out;
}

void PostgresStore::for_each_audit(const std::optional<Instant>& since,
                                   const std::function<void(const AuditRecord&)>& visit) {
  // In pages, so a long chain is never all in memory at once.
  constexpr int page = 2000;
  std::int64_t after = 0;
  for (;;) {
    std::vector<AuditRecord> records;
    {
      Borrowed connection(*this);
      PgParams params;
      params.add(after);
      params.add(since ? millis(*since) : std::int64_t{0});
      auto result = connection->exec(std::string{"SELECT "} + audit_columns +
                                         ", prev_hash, hash, keyed FROM audit WHERE sequence > $1 AND at >= $2 "
                                         "ORDER BY sequence LIMIT " +
                                         std::to_string(page),
                                     params);
      for (int row = 0; row < result.rows(); ++row) {
        PgRow reader{result, row};
        AuditRecord record;
        record.entry = rows::audit_entry_from_row(reader);
        record.prev_hash = result.text(row, 8);
        record.hash = result.text(row, 9);
        record.keyed = result.int64(row, 10) != 0;
        records.push_back(std::move(record));
      }
    }
    for (const auto& record : records) visit(record);  // outside the borrow: a visitor may ask the store
    if (records.size() < page) return;
    after = records.back().entry.sequence;
  }
}

AuditVerification PostgresStore::verify_audit(const std::optional<AuditAnchor>& anchor) {
  return verify_audit_chain(audit_key_, anchor, [this](const auto& visit) { for_each_audit(std::nullopt, visit); });
}

// ------------------------------------------------------------------------------------------
// Jobs

std::optional<workflows::Job> PostgresStore::claim_job(Instant now, Instant lease_until,
                                                       const workflows::JobFilter& filter) {
  Borrowed connection(*this);
  PgTransaction transaction(*connection);
  // One call per request at a time (a revoke due while an extend runs waits for it). Checking
  // that no job of the same request is leased cannot see a claim another replica has not yet
  // committed, so claims take turns; each is one short statement.
  lock(*connection, lock_class, job_claim_lock);
  PgParams params;
  params.add_instant(lease_until);
  params.add_instant(now);
  std::string not_busy;
  for (const auto& backend : filter.busy_backends)
    not_busy += (not_busy.empty() ? "$" : ",$") + std::to_string(params.add(backend));
  std::string one_request;
  if (filter.request_id) one_request = " AND request_id = $" + std::to_string(params.add(*filter.request_id));
  // A lease that ran out means the worker died mid-call: that counts as an attempt.
  auto claimed = connection->exec(
      std::string{"UPDATE jobs SET lease_until = $1, attempts = attempts + (lease_until IS NOT NULL)::integer "
                  "WHERE id = (SELECT id FROM jobs WHERE not_before <= $2 AND (lease_until IS NULL OR "
                  "lease_until <= $2) AND NOT EXISTS (SELECT 1 FROM jobs AS running WHERE running.request_id = "
                  "jobs.request_id AND running.lease_until > $2)"} +
          (not_busy.empty() ? "" : " AND backend NOT IN (" + not_busy + ")") + one_request +
          " ORDER BY not_before, id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING " + job_columns,
      params);
  transaction.commit();
  if (claimed.rows() == 0) return std::nullopt;
  PgRow reader{claimed, 0};
  return rows::job_from_row(reader);
}

void PostgresStore::settle_job(const workflows::JobSettlement& settlement, const std::optional<AuditEntry>& audit) {
  Borrowed connection(*this);
  PgTransaction transaction(*connection);
  PgParams params;
  params.add(static_cast<std::int64_t>(settlement.job_id));
  if (settlement.retry_at) {
    params.add_instant(*settlement.retry_at);
    params.add(settlement.error);
    connection->exec(
        "UPDATE jobs SET attempts = attempts + 1, not_before = $2, lease_until = NULL, last_error = $3 WHERE id = $1",
        params);
  } else {
    connection->exec("DELETE FROM jobs WHERE id = $1", params);
  }
  if (audit) append_audit(*connection, *audit);
  transaction.commit();
}

std::optional<Instant> PostgresStore::next_job_at() {
  return earliest(
      "SELECT MIN(CASE WHEN lease_until IS NULL THEN not_before ELSE GREATEST(not_before, lease_until) END) "
      "FROM jobs");
}

std::vector<workflows::Job> PostgresStore::jobs_of(const std::string& request_id) {
  Borrowed connection(*this);
  PgParams params;
  params.add(request_id);
  auto result =
      connection->exec(std::string{"SELECT "} + job_columns + " FROM jobs WHERE request_id = $1 ORDER BY id", params);
  std::vector<workflows::Job> out;
  for (int row = 0; row < result.rows(); ++row) {
    PgRow reader{result, row};
    out.push_back(rows::job_from_row(reader));
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Outbox

std::optional<Notice> PostgresStore::claim_notice(Instant now, Instant lease_until) {
  Borrowed connection(*this);
  PgParams params;
  params.add_instant(lease_until);
  params.add_instant(now);
  // A notice waits for the earlier ones of its lane (request and target), whichever replica
  // holds them: a card is posted before it is updated, and updates land in order. A lane's
  // earlier row that another replica is claiming right now is still there, so SKIP LOCKED
  // cannot let a later one overtake it.
  auto claimed = connection->exec(
      std::string{"UPDATE outbox SET lease_until = $1 WHERE id = (SELECT o.id FROM outbox o WHERE o.parked_at IS "
                  "NULL AND o.next_attempt_at <= $2 AND (o.lease_until IS NULL OR o.lease_until <= $2) AND NOT "
                  "EXISTS (SELECT 1 FROM outbox e WHERE e.request_id = o.request_id AND e.target = o.target AND "
                  "e.id < o.id AND e.parked_at IS NULL) ORDER BY o.next_attempt_at, o.id LIMIT 1 FOR UPDATE SKIP "
                  "LOCKED) RETURNING "} +
          notice_columns,
      params);
  if (claimed.rows() == 0) return std::nullopt;
  auto notice = notice_at(claimed, 0);
  if (!notice) {
    // Written by a newer jitbot, or damaged: set aside so it blocks neither its lane nor a thread.
    PgParams park;
    park.add_instant(now);
    park.add(claimed.int64(0, 0));
    connection->exec(
        "UPDATE outbox SET parked_at = $1, lease_until = NULL, last_error = 'this jitbot cannot read this notice' "
        "WHERE id = $2",
        park);
  }
  return notice;
}

bool PostgresStore::newer_card_waits(const Notice& notice) {
  Borrowed connection(*this);
  PgParams params;
  params.add(notice.request_id);
  params.add(notice.target);
  params.add(notice.id);
  params.add(std::string{workflows::to_string(workflows::NoticeKind::approval_card)});
  auto found = connection->exec(
      "SELECT 1 FROM outbox WHERE request_id = $1 AND target = $2 AND id > $3 AND kind = $4 AND parked_at IS NULL "
      "LIMIT 1",
      params);
  return found.rows() > 0;
}

void PostgresStore::mark_delivered(std::int64_t notice_id) {
  Borrowed connection(*this);
  PgParams params;
  params.add(notice_id);
  connection->exec("DELETE FROM outbox WHERE id = $1", params);
}

void PostgresStore::mark_posted(std::int64_t notice_id, const workflows::PostedMessage& posted) {
  Borrowed connection(*this);
  PgTransaction transaction(*connection);
  PgParams where;
  where.add(posted.request_id);
  where.add(posted.location);
  if (posted.kind == workflows::PostedMessage::Kind::card) {
    connection->exec(
        "INSERT INTO cards (request_id, location) VALUES ($1, $2) ON CONFLICT (request_id) DO UPDATE SET location = "
        "excluded.location",
        where);
  } else {
    where.add(posted.target);
    connection->exec(
        "INSERT INTO alert_messages (request_id, target, location) VALUES ($1, $3, $2) ON CONFLICT (request_id, "
        "target) DO UPDATE SET location = excluded.location",
        where);
  }
  PgParams notice;
  notice.add(notice_id);
  connection->exec("DELETE FROM outbox WHERE id = $1", notice);
  transaction.commit();
}

void PostgresStore::mark_failed_delivery(const Notice& notice, const std::string& error,
                                         const std::optional<Instant>& retry_at,
                                         const std::vector<Notice>& announcements) {
  Borrowed connection(*this);
  PgTransaction transaction(*connection);
  PgParams params;
  params.add(error);
  params.add_optional(retry_at);
  params.add(notice.id);
  connection->exec(std::string{"UPDATE outbox SET attempts = attempts + 1, last_error = $1, lease_until = NULL, "
                               "next_attempt_at = COALESCE($2, next_attempt_at), parked_at = CASE WHEN $2 IS NULL "
                               "THEN "} +
                       now_millis_sql + " ELSE NULL END WHERE id = $3",
                   params);
  for (const auto& announcement : announcements) insert_notice(*connection, announcement);
  transaction.commit();
}

std::optional<Instant> PostgresStore::next_notice_at() {
  return earliest(
      "SELECT MIN(CASE WHEN lease_until IS NULL THEN next_attempt_at ELSE GREATEST(next_attempt_at, lease_until) "
      "END) FROM outbox WHERE parked_at IS NULL");
}

std::vector<Notice> PostgresStore::list_notices(const workflows::OutboxFilter& filter) {
  std::string sql = std::string{"SELECT "} + notice_columns + " FROM outbox" +
                    (filter.parked_only ? " WHERE parked_at IS NOT NULL" : "") + " ORDER BY id";
  if (filter.limit > 0) sql += " LIMIT " + std::to_string(filter.limit);
  Borrowed connection(*this);
  auto result = connection->exec(sql);
  std::vector<Notice> out;
  for (int row = 0; row < result.rows(); ++row) {
    if (auto notice = notice_at(result, row)) out.push_back(std::move(*notice));
  }
  return out;
}

bool PostgresStore::retry_notice(std::int64_t notice_id, Instant now) {
  Borrowed connection(*this);
  PgParams params;
  params.add_instant(now);
  params.add(notice_id);
  return connection
             ->exec(
                 "UPDATE outbox SET parked_at = NULL, attempts = 0, next_attempt_at = $1, lease_until = NULL "
                 "WHERE id = $2",
                 params)
             .affected() == 1;
}

// ------------------------------------------------------------------------------------------
// Inbox

std::int64_t PostgresStore::put_input(const workflows::Input& input) {
  Borrowed connection(*this);
  PgParams params;
  params.add(std::string{input.kind == workflows::Input::Kind::click ? "click" : "command"});
  params.add(input.actor);
  params.add(input.text);
  params.add(input.target);
  params.add(input.reply_to);
  params.add_instant(input.received_at);
  params.add(input.note);
  params.add_optional(input.lease_until);
  return connection
      ->exec(
          "INSERT INTO inbox (kind, actor, body, target, reply_to, received_at, note, lease_until) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
          params)
      .int64(0, 0);
}

std::optional<workflows::Input> PostgresStore::claim_input(Instant now, Instant lease_until) {
  Borrowed connection(*this);
  PgParams params;
  params.add_instant(lease_until);
  params.add_instant(now);
  // An input whose lease ran out was being handled when its replica died: count it, so one
  // that crashes jitbot every time is dropped instead of crashing every replica in turn.
  auto claimed = connection->exec(
      std::string{"UPDATE inbox SET lease_until = $1, attempts = attempts + (lease_until IS NOT NULL)::integer "
                  "WHERE id = (SELECT id FROM inbox WHERE lease_until IS NULL OR lease_until <= $2 ORDER BY id "
                  "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING "} +
          input_columns,
      params);
  if (claimed.rows() == 0) return std::nullopt;
  PgRow reader{claimed, 0};
  return rows::input_from_row(reader);
}

void PostgresStore::finish_input(std::int64_t input_id) {
  Borrowed connection(*this);
  PgParams params;
  params.add(input_id);
  connection->exec("DELETE FROM inbox WHERE id = $1", params);
}

void PostgresStore::retry_input(std::int64_t input_id, Instant at) {
  Borrowed connection(*this);
  PgParams params;
  params.add(input_id);
  params.add_instant(at);
  connection->exec("UPDATE inbox SET lease_until = $2 WHERE id = $1", params);
}

// ------------------------------------------------------------------------------------------
// Where messages live

std::optional<std::string> PostgresStore::card_location(const std::string& request_id) {
  Borrowed connection(*this);
  PgParams params;
  params.add(request_id);
  auto result = connection->exec("SELECT location FROM cards WHERE request_id = $1", params);
  if (result.rows() == 0) return std::nullopt;
  return result.text(0, 0);
}

void PostgresStore::save_card_location(const std::string& request_id, const std::string& location) {
  Borrowed connection(*this);
  PgParams params;
  params.add(request_id);
  params.add(location);
  connection->exec(
      "INSERT INTO cards (request_id, location) VALUES ($1, $2) ON CONFLICT (request_id) DO UPDATE SET location = "
      "excluded.location",
      params);
}

std::optional<std::string> PostgresStore::alert_location(const std::string& request_id, const std::string& target) {
  Borrowed connection(*this);
  PgParams params;
  params.add(request_id);
  params.add(target);
  auto result = connection->exec("SELECT location FROM alert_messages WHERE request_id = $1 AND target = $2", params);
  if (result.rows() == 0) return std::nullopt;
  return result.text(0, 0);
}

void PostgresStore::save_alert_location(const std::string& request_id, const std::string& target,
                                        const std::string& location) {
  Borrowed connection(*this);
  PgParams params;
  params.add(request_id);
  params.add(target);
  params.add(location);
  connection->exec(
      "INSERT INTO alert_messages (request_id, target, location) VALUES ($1, $2, $3) ON CONFLICT (request_id, "
      "target) DO UPDATE SET location = excluded.location",
      params);
}

// ------------------------------------------------------------------------------------------
// Figures

StoreFigures PostgresStore::figures(Instant now) {
  Borrowed connection(*this);
  // Another replica upgraded the schema since this one started: it is not ready to serve, and
  // its probe says why (a restart with the new jitbot is the fix).
  auto version = static_cast<int>(connection->exec("SELECT version FROM jitbot_schema").int64(0, 0));
  if (version > known_schema_version()) {
    throw std::runtime_error("its schema is at version " + std::to_string(version) + ", newer than this jitbot's (" +
                             std::to_string(known_schema_version()) +
                             "): another replica was upgraded; restart this one with the new jitbot");
  }
  StoreFigures out;
  auto states = connection->exec("SELECT state, COUNT(*) FROM requests GROUP BY state");
  for (int row = 0; row < states.rows(); ++row) out.requests_by_state[states.text(row, 0)] = states.int64(row, 1);
  PgParams at;
  at.add_instant(now);
  auto jobs = connection->exec(
      "SELECT COUNT(*) FILTER (WHERE lease_until > $1), COUNT(*) FILTER (WHERE lease_until IS NULL OR "
      "lease_until <= $1) FROM jobs",
      at);
  out.jobs_running = jobs.int64(0, 0);
  out.jobs_waiting = jobs.int64(0, 1);
  auto outbox = connection->exec(
      "SELECT COUNT(*) FILTER (WHERE parked_at IS NULL), COUNT(*) FILTER (WHERE parked_at IS NOT NULL), "
      "MIN(created_at) FILTER (WHERE parked_at IS NULL AND created_at > 0) FROM outbox");
  out.outbox_waiting = outbox.int64(0, 0);
  out.outbox_parked = outbox.int64(0, 1);
  out.oldest_undelivered = outbox.instant(0, 2);
  out.inbox_waiting = connection->exec("SELECT COUNT(*) FROM inbox").int64(0, 0);
  return out;
}

}  // namespace jitbot::storage
