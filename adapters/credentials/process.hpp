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

/// What every child gets from jitbot's environment; anything else only when a backend names it.
inline constexpr const char* always_passed_env[] = {"PATH", "HOME", "LANG", "TZ"};

/// Runs argv (argv[0] a path) in its own process group with `input` on stdin; kills the whole
/// group at `timeout`. The child sees only always_passed_env and the variables named in
/// `passed_env` (a backend's `env`), and no descriptor of jitbot's beyond stdin, stdout and
/// stderr: jitbot's environment holds other backends' secrets and its Slack tokens, and its
/// descriptors include the Slack socket.
ProcessOutcome run_process(const std::vector<std::string>& argv, const std::string& input, workflows::Seconds timeout,
                           const std::vector<std::string>& passed_env = {});

/// argv[0] as given when it has a '/', else the first match on PATH.
std::string find_program(const std::string& name);

/// The last non-blank line of a program's output, trimmed and cut to 500 bytes: its reason.
std::string last_line(const std::string& text);

}  // namespace jitbot::adapters
