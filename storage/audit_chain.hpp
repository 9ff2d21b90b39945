#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "workflows/request.hpp"

namespace jitbot::storage {

/// The hash that chains audit records: hex SHA-256 over the previous hash and every field of
/// `entry` (sequence included), each length-prefixed so no two records can collide by
/// shifting text between fields. Anyone who can write the database can recompute it, so it
/// only seals records written without a key (the terminal demo, and records from before keys).
std::string audit_hash(const std::string& previous_hash, const workflows::AuditEntry& entry);

/// The same material sealed with HMAC-SHA-256 under `key`, which lives outside the database
/// (JITBOT_AUDIT_KEY or [bot] audit_key_file): without it, no record can be forged or rebuilt.
std::string audit_hmac(const std::string& key, const std::string& previous_hash, const workflows::AuditEntry& entry);

/// The first record's previous hash.
inline const std::string genesis_hash(64, '0');

/// The newest record as jitbot last wrote it, kept outside the database so that deleting
/// records from the end of the chain (which leaves the rest a valid chain) is noticed.
struct AuditAnchor {
  std::int64_t sequence = 0;
  std::string hash;
  /// HMAC-SHA-256 of "SEQUENCE:HASH" under the audit key; empty when written without one. It keeps
  /// someone who can write the folder but has no key from rewriting the anchor to fit a rebuilt chain.
  std::string mac;

  /// "SEQUENCE:HASH" or "SEQUENCE:HASH:MAC", as in the anchor file and on the command line.
  std::string to_string() const;
  static std::optional<AuditAnchor> parse(const std::string& text);

  /// Seals the anchor under `key` (no-op for an empty key).
  void seal(const std::string& key);
  /// True when `mac` is the HMAC of this anchor under `key`.
  bool sealed_with(const std::string& key) const;
};

/// Where jitbot keeps the anchor of the database at `database`: a file beside it.
std::filesystem::path anchor_path(const std::filesystem::path& database);

/// The anchor in `file`, or nullopt when there is none or it cannot be read.
std::optional<AuditAnchor> read_anchor(const std::filesystem::path& file);

/// Writes `anchor` into `file` (in place, under a lock that read_anchor shares, so a reader never
/// sees half of it), unless it already holds a later one: several connections of one process,
/// and the admin CLI, append.
void write_anchor(const std::filesystem::path& file, const AuditAnchor& anchor);

}  // namespace jitbot::storage
