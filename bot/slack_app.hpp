#pragma once

#include "config/config.hpp"

namespace jitbot::bot {

/// `jitbot run`: the bot on Slack through Socket Mode, until SIGINT/SIGTERM or a fatal
/// Slack error. Returns the process exit code (2 for missing or malformed tokens).
int run_slack(const config::Config& config);

}  // namespace jitbot::bot
