#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "workflows/time.hpp"

namespace jitbot::workflows {

/// "req_" + a ULID: 48 bits of milliseconds and 80 random bits in Crockford base32, so IDs
/// sort by creation time and never collide across replicas.
std::string make_request_id(Instant created, const std::array<std::uint8_t, 10>& randomness);

/// True for "req_" + 26 Crockford base32 characters (case-insensitive, as ULIDs are).
bool looks_like_request_id(std::string_view text);

}  // namespace jitbot::workflows
