#pragma once

#include <string>

#include "workflows/request.hpp"

namespace jitbot::storage {

/// The hash that chains audit records: hex SHA-256 over the previous hash and every field of
/// `entry` (sequence included), each length-prefixed so no two records can collide by
/// shifting text between fields.
std::string audit_hash(const std::string& previous_hash, const workflows::AuditEntry& entry);

/// The first record's previous hash.
inline const std::string genesis_hash(64, '0');

}  // namespace jitbot::storage
