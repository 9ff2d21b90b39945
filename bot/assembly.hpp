#pragma once

#include "bot/jit_bot.hpp"
#include "config/config.hpp"

namespace jitbot::bot {

/// One credential backend per [[backends]] entry.
Backends make_backends(const config::Config& config);

}  // namespace jitbot::bot
