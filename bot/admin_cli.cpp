#include "bot/admin_cli.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "adapters/directory/static_directory.hpp"
#include "bot/assembly.hpp"
#include "bot/job_runner.hpp"
#include "bot/random_ids.hpp"
#include "storage/audit_chain.hpp"
#include "storage/database.hpp"
#include "storage/postgres_store.hpp"
#include "storage/sqlite_store.hpp"
#include "workflows/wording.hpp"

namespace jitbot::bot::admin {
namespace {

using workflows::RequestState;

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// Opens the database an operator command works on, refusing to create one: a typo in the
/// path must not look like an empty, healthy jitbot.
///
/// Commands that write (and so append audit records) need the audit key like jitbot run does;
/// read-only ones use it when it is there.
std::unique_ptr<storage::Database> open_existing(const config::Config& config, bool writes = false) {
  if (!config.database_is_postgresql() && config.database != ":memory:" && !std::filesystem::exists(config.database)) {
    std::cerr << "jitbot: no database at " << config.database.string()
              << " (check [bot] database in the config; jitbot run creates it)\n";
    return nullptr;
  }
  std::string key;
  try {
    key = audit_key(config, writes);
  } catch (const std::exception& e) {
    std::cerr << "jitbot: " << e.what() << "\n";
    return nullptr;
  }
  try {
    // PostgreSQL: used as it is; only jitbot run and jitbot migrate change its schema.
    return storage::open_database(config.database.string(), 1, key, storage::Migration::require_current);
  } catch (const std::exception& e) {
    std::cerr << "jitbot: " << e.what() << "\n";
    return nullptr;
  }
}

bool is_open(const workflows::Request& request) {
  return !workflows::is_final(request.state) || request.ending_as.has_value();
}

/// The whole operator action: a transition, and for a revoke the backend call right here.
class OperatorDesk {
 public:
  OperatorDesk(const config::Config& config, storage::Database& store)
      : config_(config),
        store_(store),
        directory_(config.directory),
        ids_(clock_),
        workflow_(config.policy, store, directory_, clock_, ids_) {}

  workflows::AccessWorkflow& workflow() { return workflow_; }

  /// Runs the request's due revoke job here; false when none was free to take (a running
  /// jitbot holds it).
  bool run_revoke_here(const std::string& request_id) {
    Backends backends = make_backends(config_);
    workflows::JobFilter filter;
    filter.request_id = request_id;
    auto now = clock_.now();
    auto job = store_.claim_job(now, now + job_lease(backends), filter);
    if (!job) return false;
    run_job(*job, workflow_, backends);
    return true;
  }

 private:
  const config::Config& config_;
  storage::Database& store_;
  adapters::StaticDirectory directory_;
  SystemClock clock_;
  RandomIds ids_;
  workflows::AccessWorkflow workflow_;
};

int print_outcome(const workflows::Outcome& outcome) {
  if (!outcome.ok) {
    std::cerr << "jitbot: " << outcome.message << "\n";
    return exit_failure;
  }
  std::cout << outcome.message << "\n";
  return exit_ok;
}

}  // namespace

std::string operator_name(const std::string& as) {
  if (!as.empty()) return "cli:" + as;
  const char* user = std::getenv("USER");
  return std::string{"cli:"} + (user && *user ? user : "operator");
}

int list_requests(const config::Config& config, const std::string& state, int limit, bool unreviewed_only) {
  workflows::RequestFilter filter;
  filter.limit = limit;
  filter.unreviewed_only = unreviewed_only;
  if (!state.empty()) {
    std::string upper = state;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return std::toupper(c); });
    auto parsed = workflows::parse_request_state(upper);
    if (!parsed) {
      std::cerr << "jitbot: unknown state " << state << " (PENDING, APPROVED, ACTIVE, EXPIRED, REVOKED, DENIED, "
                << "TIMED_OUT, CANCELLED, GRANT_FAILED, REVOKE_FAILED)\n";
      return exit_usage;
    }
    filter.states = {*parsed};
  }
  auto store = open_existing(config);
  if (!store) return exit_failure;
  auto requests = store->list(filter);
  for (const auto& request : requests) std::cout << workflows::list_line(request, config.policy) << "\n";
  if (requests.empty()) {
    std::cout << (unreviewed_only ? "No break-glass request is waiting for review.\n" : "No requests match.\n");
  }
  return exit_ok;
}

int show_request(const config::Config& config, const std::string& request_id) {
  auto store = open_existing(config);
  if (!store) return exit_failure;
  auto request = store->find(request_id);
  if (!request) {
    std::cerr << "jitbot: there is no request " << request_id << " (see jitbot requests list)\n";
    return exit_failure;
  }
  std::cout << workflows::status_details(*request, config.policy) << "\n";
  for (const auto& job : store->jobs_of(request_id)) {
    std::cout << "  Job: " << workflows::to_string(job.action) << " on " << job.backend << ", attempt "
              << job.attempts + 1 << ", not before " << workflows::format_rfc3339(job.not_before)
              << (job.last_error.empty() ? "" : ", last error: " + job.last_error) << "\n";
  }
  std::cout << "Audit trail:\n";
  for (const auto& entry : store->audit_trail(request_id)) {
    std::cout << "  " << entry.sequence << "  " << workflows::format_rfc3339(entry.at) << "  " << entry.actor << "  "
              << entry.action << "  " << (entry.from_state.empty() ? "-" : entry.from_state) << " -> " << entry.to_state
              << (entry.detail.empty() ? "" : "  " + entry.detail) << "\n";
  }
  return exit_ok;
}

int revoke_request(const config::Config& config, const std::string& request_id, const std::string& reason,
                   const std::string& actor) {
  auto store = open_existing(config, true);
  if (!store) return exit_failure;
  OperatorDesk desk(config, *store);
  auto outcome = desk.workflow().revoke_by_operator(operator_name(actor), request_id, reason);
  if (!outcome.ok) return print_outcome(outcome);
  if (!desk.run_revoke_here(request_id)) {
    std::cout << "A running jitbot is revoking " << request_id << " now; see jitbot requests show " << request_id
              << ".\n";
    return exit_ok;
  }
  auto after = store->find(request_id);
  if (after && !after->ending_as) {
    std::cout << "Revoked " << request_id << ": " << workflows::state_summary(*after, config.policy) << "\n";
    return exit_ok;
  }
  std::cerr << "jitbot: the revoke of " << request_id << " failed: "
            << (after ? workflows::state_summary(*after, config.policy) : std::string{"the request is gone"})
            << "\nA running jitbot keeps retrying; once the access is removed by hand, run jitbot requests resolve "
            << request_id << " --reason TEXT.\n";
  return exit_failure;
}

int cancel_request(const config::Config& config, const std::string& request_id, const std::string& reason,
                   const std::string& actor) {
  auto store = open_existing(config, true);
  if (!store) return exit_failure;
  OperatorDesk desk(config, *store);
  return print_outcome(desk.workflow().cancel_by_operator(operator_name(actor), request_id, reason));
}

int resolve_request(const config::Config& config, const std::string& request_id, const std::string& reason,
                    const std::string& actor) {
  if (reason.empty()) {
    std::cerr << "jitbot: resolve needs --reason TEXT: say how the access was removed, for the audit trail\n";
    return exit_usage;
  }
  auto store = open_existing(config, true);
  if (!store) return exit_failure;
  OperatorDesk desk(config, *store);
  return print_outcome(desk.workflow().resolve_by_operator(operator_name(actor), request_id, reason));
}

int list_outbox(const config::Config& config, bool parked_only, int limit) {
  auto store = open_existing(config);
  if (!store) return exit_failure;
  auto notices = store->list_notices({parked_only, limit});
  if (notices.empty()) std::cout << (parked_only ? "No parked notices.\n" : "The outbox is empty.\n");
  for (const auto& notice : notices) {
    std::cout << notice.id << "  " << (notice.parked ? "parked" : "waiting") << "  " << to_string(notice.kind) << "/"
              << to_string(notice.event) << "  to " << notice.target << "  " << notice.request_id << "  attempts "
              << notice.attempts << (notice.last_error.empty() ? "" : "  last error: " + notice.last_error) << "\n";
  }
  return exit_ok;
}

int retry_notice(const config::Config& config, std::int64_t notice_id) {
  auto store = open_existing(config, true);
  if (!store) return exit_failure;
  if (!store->retry_notice(notice_id, SystemClock{}.now())) {
    std::cerr << "jitbot: there is no notice " << notice_id << " in the outbox (see jitbot outbox list)\n";
    return exit_failure;
  }
  std::cout << "Notice " << notice_id << " will be retried now by the running jitbot.\n";
  return exit_ok;
}

int verify_audit(const config::Config& config, const std::string& anchor_text) {
  auto store = open_existing(config);
  if (!store) return exit_failure;
  std::optional<storage::AuditAnchor> anchor;
  std::string anchor_source;
  if (!anchor_text.empty()) {
    anchor = storage::AuditAnchor::parse(anchor_text);
    if (!anchor) {
      std::cerr << "jitbot: --anchor must be SEQUENCE:HASH (64 hex digits), as jitbot writes it\n";
      return exit_usage;
    }
    anchor_source = "the anchor given";
  } else if (config.database != ":memory:" && !config.database_is_postgresql()) {
    auto file = storage::anchor_path(config.database);
    anchor = storage::read_anchor(file);
    anchor_source = file.string();
  }
  auto result = store->verify_audit(anchor);
  if (!result.intact) {
    std::cout << "audit trail BROKEN after " << result.records << " good records: " << result.problem << "\n";
    return exit_failure;
  }
  std::cout << "audit trail intact: " << result.records << " records (" << result.keyed_records
            << " sealed with the audit key), hash chain verified";
  if (result.anchor_checked) {
    std::cout << "; it reaches the head anchor in " << anchor_source << " (record " << anchor->sequence << ")";
  } else {
    std::cout << "; no head anchor to check the end against, so removed last records would go unnoticed";
  }
  std::cout << "\n";
  return exit_ok;
}

int export_audit(const config::Config& config, const std::string& since_text) {
  std::optional<workflows::Instant> since;
  if (!since_text.empty()) {
    since = workflows::parse_rfc3339(since_text);
    if (!since) {
      std::cerr << "jitbot: --since must be an RFC 3339 time such as 2026-12-01T00:00:00Z\n";
      return exit_usage;
    }
  }
  auto store = open_existing(config);
  if (!store) return exit_failure;
  store->for_each_audit(since, [](const storage::AuditRecord& record) {
    const auto& e = record.entry;
    nlohmann::json line{{"sequence", e.sequence},
                        {"at", workflows::format_rfc3339(e.at)},
                        {"request_id", e.request_id},
                        {"actor", e.actor},
                        {"action", e.action},
                        {"from_state", e.from_state},
                        {"to_state", e.to_state},
                        {"detail", e.detail},
                        {"prev_hash", record.prev_hash},
                        {"hash", record.hash},
                        {"sealed", record.keyed ? "hmac-sha256" : "sha256"}};
    std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  });
  return exit_ok;
}

int check_config(const config::Config& config) {
  std::cout << config::summarize(config);
  if (config.database == ":memory:") return exit_ok;
  if (!config.database_is_postgresql() && !std::filesystem::exists(config.database)) return exit_ok;
  std::unique_ptr<storage::Database> store;
  try {
    store = storage::open_database(config.database.string(), 1, {}, storage::Migration::require_current);
  } catch (const std::exception& e) {
    // The config is valid either way; say why it could not be held against the database.
    std::cout << "note: not compared with the database: " << e.what() << "\n";
    return exit_ok;
  }
  workflows::RequestFilter filter;
  filter.limit = 0;
  int problems = 0;
  for (const auto& request : store->list(filter)) {
    if (!is_open(request)) continue;
    std::string state{to_string(request.state)};
    if (!config.find_backend(request.backend)) {
      std::cout << "problem: open request " << request.id << " (" << state << ") uses backend \"" << request.backend
                << "\", which is not configured: its revoke cannot run. Restore the backend, or remove the access "
                << "by hand and run jitbot requests resolve " << request.id << "\n";
      ++problems;
    }
    if (!config.policy.find_role(request.provider, request.role)) {
      std::cout << "problem: open request " << request.id << " (" << state << ") is for role " << request.provider
                << "/" << request.role << ", which is not configured: nobody can approve or revoke it in chat\n";
      ++problems;
    }
  }
  if (problems > 0) {
    std::cout << problems << " problem(s) between the config and the database "
              << storage::describe_location(config.database.string()) << "\n";
    return exit_failure;
  }
  return exit_ok;
}

int migrate(const config::Config& config) {
  if (config.database == ":memory:") {
    std::cerr << "jitbot: an in-memory database has no schema to keep; set [bot] database\n";
    return exit_usage;
  }
  // Migrations write no audit records, so no key is needed.
  auto store = storage::open_database(config.database.string(), 1);
  std::cout << "Database " << storage::describe_location(config.database.string()) << " is at schema version "
            << store->schema_version() << ", this jitbot's.\n";
  return exit_ok;
}

int backup(const config::Config& config, const std::string& to) {
  if (config.database_is_postgresql()) {
    std::cerr << "jitbot: backup copies a SQLite database; back up PostgreSQL with pg_dump (docs/operations.md)\n";
    return exit_usage;
  }
  // The key, when there is one, seals the copy's head anchor (backup_to refuses a sealed chain without it).
  auto opened = open_existing(config);
  if (!opened) return exit_usage;
  auto& store = dynamic_cast<storage::SqliteStore&>(*opened);
  std::filesystem::path target{to};
  if (std::filesystem::exists(target) && std::filesystem::equivalent(target, config.database)) {
    std::cerr << "jitbot: --to names the database itself; give a new file\n";
    return exit_usage;
  }
  auto records = store.backup_to(target);
  std::cout << "Backed up " << config.database.string() << " to " << target.string() << " (" << records
            << " audit records; head anchor in " << storage::anchor_path(target).string() << ").\n"
            << "To restore: stop jitbot, copy both files to [bot] database and its .audit-head beside it, "
               "and start it.\n";
  return exit_ok;
}

}  // namespace jitbot::bot::admin
