#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "workflows/policy.hpp"

namespace jitbot::config {

/// A configuration problem, already worded as "FILE:LINE: key: what is wrong".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BackendConfig {
  std::string name;
  std::string type;                  ///< "exec" for now
  std::vector<std::string> command;  ///< exec: argv, command[0] resolved against the config folder
  workflows::Seconds timeout{60};
};

struct DirectoryUser {
  std::string email;
  std::string name;
};

/// Static users and groups: the terminal's whole directory, and overrides for Slack lookups.
struct DirectoryConfig {
  std::map<std::string, std::vector<std::string>> groups;  ///< S… -> user IDs
  std::map<std::string, DirectoryUser> users;              ///< U… -> profile
};

struct SlackConfig {
  std::string api_url = "https://slack.com/api/";
  std::filesystem::path ca_file;  ///< extra trusted CA (PEM) for a private TLS endpoint; empty: system store only
  /// Least time between two chat.postMessage calls to one channel (Slack allows about one a second).
  workflows::Seconds channel_post_interval{1};
  /// Spread each Web API method's calls over its Slack rate tier, so bursts queue in jitbot.
  bool method_pacing = true;
  /// A Socket Mode connection silent this long (no pong to our pings) is replaced.
  workflows::Seconds ping_timeout{20};
};

struct Config {
  std::filesystem::path file;
  std::filesystem::path database;  ///< absolute, or ":memory:"
  workflows::Policy policy;
  SlackConfig slack;
  std::vector<BackendConfig> backends;
  DirectoryConfig directory;

  const BackendConfig* find_backend(const std::string& name) const;
};

/// Reads and validates a TOML config; throws ConfigError naming file, line and key.
Config load_config(const std::filesystem::path& file);

/// A human summary for `jitbot check-config`.
std::string summarize(const Config& config);

}  // namespace jitbot::config
