#pragma once

#include <cstdint>
#include <string>

#include "config/config.hpp"

namespace jitbot::bot {

/// The operator's commands, for when chat or a backend is down. Each returns the process exit
/// code: 0 done, 1 refused or failed (the reason is printed), 2 usage.
namespace admin {

/// Who acts: "cli:" + `as`, or + $USER when `as` is empty.
std::string operator_name(const std::string& as);

int list_requests(const config::Config& config, const std::string& state, int limit, bool unreviewed_only = false);
int show_request(const config::Config& config, const std::string& request_id);
/// Starts (or retries) the revoke and makes the backend call from this process, unless a
/// running jitbot has already taken it.
int revoke_request(const config::Config& config, const std::string& request_id, const std::string& reason,
                   const std::string& actor);
int cancel_request(const config::Config& config, const std::string& request_id, const std::string& reason,
                   const std::string& actor);
int resolve_request(const config::Config& config, const std::string& request_id, const std::string& reason,
                    const std::string& actor);

int list_outbox(const config::Config& config, bool parked_only, int limit);
int retry_notice(const config::Config& config, std::int64_t notice_id);

/// Recomputes the chain with the audit key (when there is one) and checks its end against the
/// head anchor: `anchor` ("SEQUENCE:HASH") when given, else the file beside the database.
int verify_audit(const config::Config& config, const std::string& anchor);
/// `jitbot backup --to FILE`: an online copy of the SQLite database with its audit head anchor.
int backup(const config::Config& config, const std::string& to);

/// `jitbot migrate`: creates or upgrades the database's schema, then exits. On PostgreSQL one
/// replica at a time migrates (an advisory lock), and jitbot run does the same at start-up.
int migrate(const config::Config& config);

/// `jitbot audit export`: one JSON object per record (JSON Lines) with its hashes, for a SIEM.
int export_audit(const config::Config& config, const std::string& since);

/// `jitbot check-config`: the summary, then every open request the config can no longer
/// serve (its backend or role is gone). 1 when there is any.
int check_config(const config::Config& config);

}  // namespace admin
}  // namespace jitbot::bot
