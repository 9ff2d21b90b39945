#pragma once

#include <string>
#include <vector>

namespace jitbot::storage {

/// The SQL of storage/migrations/NNN_*.sql, in order; entry i takes the schema from version i to i+1.
const std::vector<std::string>& migrations();

}  // namespace jitbot::storage
