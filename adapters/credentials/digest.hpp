#pragma once

#include <string>
#include <string_view>

namespace jitbot::adapters {

/// SHA-256 of `data`, raw 32 bytes.
std::string sha256(std::string_view data);

/// HMAC-SHA256 of `data` under `key`, raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// Lower-case hex of raw bytes.
std::string to_hex(std::string_view bytes);

/// Standard base64 (with padding) and its inverse; decode returns nullopt-like empty on bad input.
std::string base64_encode(std::string_view bytes);
bool base64_decode(std::string_view text, std::string& bytes);

/// Compares two strings in time independent of where they differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace jitbot::adapters
