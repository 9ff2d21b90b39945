#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "workflows/policy.hpp"

namespace jitbot::config {

/// A configuration problem, already worded as "FILE:LINE: key: what is wrong".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// What a native backend knows about one of the [[roles]] it serves ([backends.roles.NAME]).
struct BackendRoleConfig {
  std::string permission_set_arn;  ///< aws
  bool console = false;            ///< aws: also hand out a console sign-in link
  std::string console_role_arn;    ///< aws: the role AssumeRole takes for that link; "{scope}" is replaced
  /// aws: a role in the scope's account that may put inline policies on the console role, for
  /// cutting off its sessions on an early revoke; empty: jitbot's own identity does it.
  std::string console_iam_role_arn;
  std::string role_definition_id;  ///< azure
};

/// The backend types jitbot knows, for messages.
inline constexpr const char* backend_types = "exec, http, aws, gcp, azure, kubernetes, duplocloud";

/// True for a PostgreSQL connection URL (`postgresql://…` or `postgres://…`) as [bot] database.
inline bool is_postgresql_url(std::string_view text) {
  return text.rfind("postgresql://", 0) == 0 || text.rfind("postgres://", 0) == 0;
}

struct BackendConfig {
  std::string name;
  std::string type;                             ///< one of backend_types
  workflows::Seconds timeout{60};               ///< one call's budget, at most an hour
  int max_concurrent = 8;                       ///< calls to this backend that may run at once
  std::vector<std::string> command;             ///< exec: argv, command[0] resolved against the config folder
  std::map<std::string, std::string> settings;  ///< the type's own string keys (region, url, …), validated
  std::vector<std::string> token_command;       ///< gcp, azure: prints an access token
  /// exec, and gcp/azure token_command: environment variables the program may see besides PATH,
  /// HOME, LANG and TZ. Nothing else of jitbot's environment reaches a child.
  std::vector<std::string> env;
  std::filesystem::path ca_file;        ///< an extra trusted CA for this backend's TLS
  workflows::Seconds poll_interval{2};  ///< aws: how often to ask whether an assignment is done
  std::map<std::string, BackendRoleConfig> roles;
  std::map<std::string, std::string> principals;  ///< Slack user ID or email -> the cloud's name for them
  workflows::ScopeGrammar scope_grammar;          ///< from the type; exec and http: scope_pattern

  /// A string setting, or "" when it was not given.
  std::string setting(const std::string& key) const;
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
  /// A channel where `jitbot run` posts the audit trail's head anchor when it has changed, at most
  /// once per audit_anchor_interval: a copy outside the machine that nobody with only the
  /// database and its folder can rewrite. Empty: not posted.
  std::string audit_channel;
  workflows::Seconds audit_anchor_interval{60 * 60};
};

/// The adapter's side of a webhook or PagerDuty [[alerts]] sink (the domain's side is
/// workflows::AlertSink, in policy.alerts, under the same name).
struct AlertSinkConfig {
  std::string name;
  workflows::AlertSink::Type type = workflows::AlertSink::Type::webhook;
  std::string url;                    ///< webhook: where to POST; pagerduty: the Events API v2 enqueue URL
  std::string secret_env;             ///< webhook: the signing secret's variable
  std::string routing_key_env;        ///< pagerduty: the integration's routing key's variable
  std::string severity = "critical";  ///< pagerduty: critical, error, warning or info
  std::filesystem::path ca_file;      ///< an extra trusted CA, for a private endpoint or a test fake
};

/// [oncall.pagerduty] and [oncall.opsgenie]: where auto_approve_oncall schedules are read.
struct OnCallProviderConfig {
  bool configured = false;
  std::string api_url;
  std::string token_env;  ///< PagerDuty REST API token / Opsgenie API key
  std::filesystem::path ca_file;
};

struct OnCallConfig {
  OnCallProviderConfig pagerduty{false, "https://api.pagerduty.com", "PAGERDUTY_API_TOKEN", {}};
  OnCallProviderConfig opsgenie{false, "https://api.opsgenie.com", "OPSGENIE_API_KEY", {}};
  /// How long a schedule's answer is reused: long enough to spare the API in a burst of
  /// requests, short enough that a hand-over takes effect within the minute.
  workflows::Seconds cache_for{60};
};

/// The adapter's side of [tickets.jira] / [tickets.github] (the domain's: workflows::TicketSystem).
struct TicketApiConfig {
  std::string name;       ///< "jira" or "github"
  std::string api_url;    ///< jira: the site ("https://acme.atlassian.net"); github: "https://api.github.com"
  std::string token_env;  ///< the API token's variable
  std::string email_env;  ///< jira: with it, Basic email:token (Jira Cloud); without, Bearer (Data Center)
  std::filesystem::path ca_file;
};

struct Config {
  std::filesystem::path file;
  /// A SQLite file (absolute), ":memory:", or a PostgreSQL URL (postgresql://…, no password).
  std::filesystem::path database;
  bool database_is_postgresql() const { return is_postgresql_url(database.string()); }
  /// [bot] audit_key_file: the audit key (JITBOT_AUDIT_KEY wins); relative to the config's folder.
  std::filesystem::path audit_key_file;
  /// [bot] unkeyed_audit = true: jitbot run accepts no audit key (tests only; the chain is then
  /// plain SHA-256, which anyone who can write the database can rebuild).
  bool unkeyed_audit = false;
  /// [bot] listen = "HOST:PORT": where jitbot run serves /healthz, /readyz and /metrics; off when unset.
  struct Listen {
    std::string host;
    int port = 0;
  };
  std::optional<Listen> listen;
  workflows::Policy policy;
  SlackConfig slack;
  std::vector<BackendConfig> backends;
  DirectoryConfig directory;
  std::vector<AlertSinkConfig> alert_sinks;  ///< the webhook and PagerDuty [[alerts]]
  OnCallConfig on_call;
  std::vector<TicketApiConfig> ticket_apis;

  const BackendConfig* find_backend(const std::string& name) const;
};

/// 8-4-4-4-12 hex digits: an Azure role definition or object ID.
bool looks_like_guid(std::string_view text);

/// roles/owner, roles/editor and roles/viewer: GCP refuses IAM conditions on them.
bool is_gcp_basic_role(std::string_view role);

/// Reads and validates a TOML config; throws ConfigError naming file, line and key.
Config load_config(const std::filesystem::path& file);

/// A human summary for `jitbot check-config`.
std::string summarize(const Config& config);

}  // namespace jitbot::config
