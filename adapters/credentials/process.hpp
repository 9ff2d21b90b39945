#pragma once

#include <string>
#include <vector>

#include "workflows/time.hpp"

namespace jitbot::adapters {

struct ProcessOutcome {
  bool timed_out = false;
  int wait_status = 0;
  std::string out;
  std::string err;
};

/// Runs argv (argv[0] a path) in its own process group with `input` on stdin and the Slack tokens
/// removed from its environment; kills the whole group at `timeout`.
ProcessOutcome run_process(const std::vector<std::string>& argv, const std::string& input, workflows::Seconds timeout);

/// argv[0] as given when it has a '/', else the first match on PATH.
std::string find_program(const std::string& name);

/// The last non-blank line of a program's output, trimmed and cut to 500 bytes: its reason.
std::string last_line(const std::string& text);

}  // namespace jitbot::adapters
