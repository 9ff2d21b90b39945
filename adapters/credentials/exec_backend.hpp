#pragma once

#include <string>
#include <vector>

#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// Runs the team's own program for each call: argv = command + "grant"|"revoke"|"extend", one
/// JSON object on stdin, exit 0 and an optional JSON object on stdout for success; exit status 3
/// means "I do not know this action" (see docs/credential-backends.md).
class ExecBackend final : public workflows::CredentialBackend {
 public:
  /// `passed_env`: the environment variables the program may see besides PATH, HOME, LANG and TZ.
  ExecBackend(std::string name, std::vector<std::string> command, workflows::Seconds timeout,
              std::vector<std::string> passed_env = {});

  workflows::BackendResult grant(const workflows::BackendCall& call) override;
  workflows::BackendResult revoke(const workflows::BackendCall& call) override;
  /// Falls back to a fresh grant with the new expiry when the program does not know extend.
  workflows::BackendResult extend(const workflows::BackendCall& call) override;

  /// The protocol's version: 2 added the extend action and its previous_expires_at. Grant and
  /// revoke documents still say 1, as their shape did not change.
  static constexpr int protocol_version = 2;
  static constexpr int unknown_action_status = 3;

  /// The JSON written to the program's stdin (public so tests can pin the contract).
  static std::string stdin_document(const workflows::BackendCall& call);

 private:
  /// With `unknown_action`, exit status 3 sets it instead of counting as a failure.
  workflows::BackendResult run(const workflows::BackendCall& call, bool* unknown_action = nullptr);

  std::string name_;
  std::vector<std::string> command_;
  workflows::Seconds timeout_;
  std::vector<std::string> passed_env_;
};

/// The time left until `end` (at least a second): a fallback grant in place of an extend asks
/// for just that, so a program that counts its end from the duration grants no more than approved.
workflows::Seconds remaining(workflows::Instant end);

/// Reads a backend's optional JSON reply (grant_id, expires_at, console_url, message); an empty
/// reply is a plain success. Shared by the exec and http backends.
workflows::BackendResult parse_backend_reply(const std::string& backend, const std::string& text);

}  // namespace jitbot::adapters
