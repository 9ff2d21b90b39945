#pragma once

#include <string>
#include <vector>

#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// Runs the team's own program for each grant and revoke: argv = command + "grant"|"revoke",
/// one JSON object on stdin, exit 0 and an optional JSON object on stdout for success.
class ExecBackend final : public workflows::CredentialBackend {
 public:
  /// `passed_env`: the environment variables the program may see besides PATH, HOME, LANG and TZ.
  ExecBackend(std::string name, std::vector<std::string> command, workflows::Seconds timeout,
              std::vector<std::string> passed_env = {});

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;

  /// The JSON written to the program's stdin (public so tests can pin the contract).
  static std::string stdin_document(const workflows::BackendCall& call);

 private:
  workflows::BackendResult run(const workflows::BackendCall& call);

  std::string name_;
  std::vector<std::string> command_;
  workflows::Seconds timeout_;
  std::vector<std::string> passed_env_;
};

/// Reads a backend's optional JSON reply (grant_id, expires_at, console_url, message); an empty
/// reply is a plain success. Shared by the exec and http backends.
workflows::BackendResult parse_backend_reply(const std::string& backend, const std::string& text);

}  // namespace jitbot::adapters
