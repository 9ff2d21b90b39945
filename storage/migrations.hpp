#pragma once

#include <string>
#include <vector>

namespace jitbot::storage {

/// The SQL of storage/migrations/NNN_*.sql, in order; entry i takes the schema from version i to i+1.
const std::vector<std::string>& migrations();

/// The same for PostgreSQL, from storage/migrations/postgresql/NNN_*.sql: a numbering of its own.
const std::vector<std::string>& postgresql_migrations();

}  // namespace jitbot::storage
