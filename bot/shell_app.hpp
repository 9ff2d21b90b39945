#pragma once

#include <ostream>

#include "config/config.hpp"

namespace jitbot::bot {

struct ShellOptions {
  /// Time stands still until `/wait` moves it: for scripted sessions and tests.
  bool manual_clock = false;
  /// Who is acting before the first `/as`.
  std::string initial_user = "U0ALICE";
};

/// `jitbot shell`: the whole bot in a terminal. Reads commands from `input_fd` (a prompt
/// when it is a terminal, line by line otherwise) and prints to `out`. Returns an exit code.
int run_shell(const config::Config& config, int input_fd, std::ostream& out, const ShellOptions& options);

}  // namespace jitbot::bot
