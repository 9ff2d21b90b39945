#pragma once

#include <optional>

#include "adapters/slack/slack_client.hpp"
#include "config/config.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// The typed input a Slack envelope carries (a slash command or a click on one of jitbot's
/// buttons), or nullopt for one jitbot ignores. Every field is read defensively: a payload is
/// untrusted input (and fuzzed, in tests/fuzz).
std::optional<workflows::Input> input_of(const adapters::slack::Envelope& envelope);

/// `jitbot run`: the bot on Slack through Socket Mode, until SIGINT/SIGTERM or a fatal
/// Slack error. Returns the process exit code (2 for missing or malformed tokens).
int run_slack(const config::Config& config);

}  // namespace jitbot::bot
