#include "storage/database.hpp"

#include <stdexcept>

#include "storage/postgres_store.hpp"
#include "storage/shared_connections.hpp"
#include "storage/sqlite_store.hpp"

namespace jitbot::storage {

using workflows::AuditEntry;

bool is_postgresql_url(std::string_view location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}  // as config::is_postgresql_url: storage and config do not depend on each other

std::string describe_location(const std::string& location) {
  if (!is_postgresql_url(location)) return location;
  // postgresql://user:secret@host/db → postgresql://user@host/db
  auto scheme_end = location.find("://") + 3;
  auto at = location.find('@', scheme_end);
  auto slash = location.find('/', scheme_end);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return location;
  auto colon = location.find(':', scheme_end);
  if (colon == std::string::npos || colon > at) return location;
  return location.substr(0, colon) + location.substr(at);
}

std::string_view leased_table(LeaseKind kind) {
  switch (kind) {
    case LeaseKind::job: return "jobs";
    case LeaseKind::notice: return "outbox";
    case LeaseKind::input: return "inbox";
  }
  return "jobs";
}

std::unique_ptr<Database> open_database(const std::string& location, std::size_t connections, std::string audit_key,
                                        Migration migration) {
  if (is_postgresql_url(location))
    return std::make_unique<PostgresStore>(location, connections, std::move(audit_key), migration);
  if (connections <= 1) return std::make_unique<SqliteStore>(location, std::move(audit_key));
  return std::make_unique<SharedConnections>(location, connections, std::move(audit_key));
}

AuditVerification verify_audit_chain(const std::string& key, const std::optional<AuditAnchor>& anchor,
                                     const AuditWalk& each_record) {
  AuditVerification result;
  std::string previous = genesis_hash;
  std::int64_t expected_sequence = 1;
  std::optional<std::string> hash_at_anchor;
  each_record([&](const AuditRecord& record) {
    if (!result.intact) return;  // the first problem is the one reported
    const AuditEntry& e = record.entry;
    const std::string& stored_previous = record.prev_hash;
    const std::string& stored_hash = record.hash;
    bool keyed = record.keyed;
    auto fail = [&](std::string problem) {
      result.intact = false;
      result.first_bad_sequence = e.sequence;
      result.problem = std::move(problem);
    };
    if (e.sequence != expected_sequence) {
      fail("record " + std::to_string(expected_sequence) + " is missing");
    } else if (stored_previous != previous) {
      fail("record " + std::to_string(e.sequence) + " does not follow the record before it");
    } else if (!keyed && result.keyed_records > 0) {
      // Only someone without the key would write a plain record after keyed ones.
      fail("record " + std::to_string(e.sequence) + " is not sealed with the key, unlike the records before it");
    } else if (keyed && key.empty()) {
      fail("record " + std::to_string(e.sequence) +
           " is sealed with the audit key, which was not given (JITBOT_AUDIT_KEY or [bot] audit_key_file)");
    } else if ((keyed ? audit_hmac(key, previous, e) : audit_hash(previous, e)) != stored_hash) {
      fail("record " + std::to_string(e.sequence) + " was altered after it was written" +
           (keyed ? " (or the audit key is not the one it was written with)" : ""));
    }
    if (!result.intact) return;
    if (keyed) ++result.keyed_records;
    if (anchor && e.sequence == anchor->sequence) hash_at_anchor = stored_hash;
    previous = stored_hash;
    ++expected_sequence;
    ++result.records;
  });
  if (result.intact && !key.empty() && result.records > 0) {
    // With the key in hand, a chain must be sealed with it and end at an anchor sealed with it:
    // otherwise someone without the key could have rebuilt both, as plain SHA-256.
    if (result.keyed_records == 0) {
      result.intact = false;
      result.problem = "no record is sealed with the audit key given: the chain was written without it, or rebuilt";
    } else if (!anchor) {
      result.intact = false;
      result.problem =
          "there is no head anchor to check the end of the chain against (the .audit-head file beside a SQLite "
          "database, or --anchor as the audit channel shows it)";
    } else if (!anchor->sealed_with(key)) {
      result.intact = false;
      result.problem = "the head anchor is not sealed with the audit key: it was written or edited without it";
    }
  }
  if (result.intact && anchor) {
    if (!hash_at_anchor) {
      result.intact = false;
      result.first_bad_sequence = result.records + 1;
      result.problem = "the chain ends at record " + std::to_string(result.records) + ", but the head anchor says " +
                       std::to_string(anchor->sequence) + " records were written: the last " +
                       std::to_string(anchor->sequence - result.records) + " were removed";
    } else if (*hash_at_anchor != anchor->hash) {
      result.intact = false;
      result.first_bad_sequence = anchor->sequence;
      result.problem = "record " + std::to_string(anchor->sequence) +
                       " is not the one the head anchor names: the chain was rebuilt from there or before";
    } else {
      result.anchor_checked = true;
    }
  }
  return result;
}

}  // namespace jitbot::storage
