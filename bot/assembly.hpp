#pragma once

#include "bot/jit_bot.hpp"
#include "config/config.hpp"

namespace jitbot::bot {

/// One credential backend per [[backends]] entry.
Backends make_backends(const config::Config& config);

/// The key that seals audit records: JITBOT_AUDIT_KEY, else the file [bot] audit_key_file names
/// (trailing newline dropped); at least 32 bytes. Empty when there is none and it is not
/// `required`, or when [bot] unkeyed_audit = true. Throws std::runtime_error saying what to set
/// when a key is required and missing, or too short.
std::string audit_key(const config::Config& config, bool required);

}  // namespace jitbot::bot
