#include "config/config.hpp"

#include <arpa/inet.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>
#include <sstream>

namespace jitbot::config {
namespace {

using workflows::Seconds;

/// Reads one TOML table with the file name and key path at hand, so every error can say
/// exactly where it is, and every key it does not know is reported instead of ignored.
class TableReader {
 public:
  TableReader(const std::filesystem::path& file, const toml::table& table, std::string path)
      : file_(file), table_(table), path_(std::move(path)) {}

  [[noreturn]] void fail_at(const toml::source_region& where, const std::string& key, const std::string& what) const {
    std::ostringstream message;
    message << file_.string();
    if (where.begin.line > 0) message << ":" << where.begin.line;
    message << ": " << key << ": " << what;
    throw ConfigError(message.str());
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    const toml::node* node = table_.get(key);
    fail_at(node ? node->source() : table_.source(), qualified(key), what);
  }

  std::string qualified(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  bool has(const std::string& key) const {
    used_.insert(key);
    return table_.contains(key);
  }

  std::string string(const std::string& key, std::optional<std::string> fallback = std::nullopt) const {
    used_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (fallback) return *fallback;
      fail(key, "is required");
    }
    auto value = node->value<std::string>();
    if (!value) fail(key, "must be a string");
    if (value->empty()) fail(key, "must not be empty");
    return *value;
  }

  bool boolean(const std::string& key, bool fallback) const {
    used_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return fallback;
    if (!node->is_boolean()) fail(key, "must be true or false");
    return *node->value<bool>();
  }

  std::int64_t integer(const std::string& key, std::int64_t fallback) const {
    used_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return fallback;
    auto value = node->value<std::int64_t>();
    if (!value || !node->is_integer()) fail(key, "must be an integer");
    return *value;
  }

  std::optional<Seconds> duration(const std::string& key, std::optional<Seconds> fallback = std::nullopt,
                                  bool required = false, bool allow_zero = false) const {
    used_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (required) fail(key, "is required (a duration such as \"30m\" or \"2h30m\")");
      return fallback;
    }
    auto text = node->value<std::string>();
    if (!text || !node->is_string()) fail(key, "must be a duration string such as \"30m\" or \"2h30m\"");
    if (allow_zero && (*text == "0s" || *text == "0")) return Seconds{0};
    auto parsed = workflows::parse_duration(*text);
    if (!parsed && workflows::is_too_long_duration(*text)) {
      fail(key,
           "\"" + *text + "\" is too long (at most " + workflows::format_duration(workflows::longest_duration) + ")");
    }
    if (!parsed) fail(key, "\"" + *text + "\" is not a duration; use forms like \"90s\", \"30m\", \"2h30m\"");
    return parsed;
  }

  std::vector<std::string> strings(const std::string& key, bool required) const {
    used_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) {
      if (required) fail(key, "is required (an array of strings)");
      return {};
    }
    const toml::array* array = node->as_array();
    if (array == nullptr) fail(key, "must be an array of strings");
    std::vector<std::string> out;
    for (const auto& element : *array) {
      auto value = element.value<std::string>();
      if (!value || !element.is_string() || value->empty()) {
        fail_at(element.source(), qualified(key), "every entry must be a non-empty string");
      }
      out.push_back(*value);
    }
    if (required && out.empty()) fail(key, "must not be empty");
    return out;
  }

  const toml::table* subtable(const std::string& key) const {
    used_.insert(key);
    const toml::node* node = table_.get(key);
    if (node == nullptr) return nullptr;
    if (!node->is_table()) fail(key, "must be a table");
    return node->as_table();
  }

  /// Call after reading: a key nobody asked for is almost always a typo.
  void reject_unknown_keys() const {
    for (const auto& [key, node] : table_) {
      std::string name{key.str()};
      if (!used_.count(name)) fail_at(key.source(), qualified(name), "unknown key");
    }
  }

  const toml::table& table() const { return table_; }

 private:
  const std::filesystem::path& file_;
  const toml::table& table_;
  std::string path_;
  mutable std::set<std::string> used_;
};

/// Slack user (U…, W…) or user-group (S…) ID, or "*".
bool valid_principal(const std::string& id, bool allow_star) {
  if (id == "*") return allow_star;
  if (id.size() < 2 || (id[0] != 'U' && id[0] != 'W' && id[0] != 'S')) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
  });
}

std::vector<std::string> principals(const TableReader& reader, const std::string& key, bool required) {
  auto ids = reader.strings(key, required);
  for (const auto& id : ids) {
    if (!valid_principal(id, true)) {
      reader.fail(key, "\"" + id + "\" is not a Slack user ID (U…/W…), user-group ID (S…) or \"*\"");
    }
  }
  return ids;
}

/// A top-level [section], or nullptr when there is none. `bot = 5` is an error, not an empty section:
/// otherwise every setting in it would be silently at its default.
const toml::table* section(const std::filesystem::path& file, const toml::table& root, const std::string& name) {
  const toml::node* node = root.get(name);
  if (node == nullptr) return nullptr;
  if (!node->is_table()) TableReader(file, root, "").fail(name, "must be a section ([" + name + "]), not a value");
  return node->as_table();
}

/// A Slack channel ID: C (public), G (private) or D (a DM), then capitals and digits.
bool valid_channel(const std::string& id) {
  return id.size() >= 2 && (id[0] == 'C' || id[0] == 'G' || id[0] == 'D') &&
         std::all_of(id.begin() + 1, id.end(), [](char c) {
           return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c));
         });
}

void check_channel(const TableReader& reader, const std::string& key, const std::string& id) {
  if (!valid_channel(id)) {
    reader.fail(key,
                "\"" + id + "\" is not a channel ID (C…, G… or D…; in Slack: the channel's details, at the bottom)");
  }
}

/// 127.x.y.z, written as four numbers (not a name that merely starts with "127.").
bool is_ipv4_loopback(std::string_view host) {
  if (host.rfind("127.", 0) != 0) return false;
  int dots = 0;
  bool digit_before = false;
  for (char c : host) {
    if (c == '.') {
      if (!digit_before) return false;
      ++dots;
      digit_before = false;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      digit_before = true;
    } else {
      return false;
    }
  }
  return dots == 3 && digit_before;
}

/// http:// is for a fake or proxy on this machine only: elsewhere the token would cross the network in clear.
void require_tls_off_loopback(const TableReader& reader, const std::string& key, const std::string& url) {
  if (url.rfind("http://", 0) != 0) return;
  std::string_view rest{url};
  rest.remove_prefix(7);
  auto authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') == std::string_view::npos ? std::string_view::npos : host.find(']') - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  bool loopback = host == "localhost" || host == "::1" || is_ipv4_loopback(host);
  if (!loopback) reader.fail(key, "must use https:// (http:// only for 127.0.0.1, ::1 or localhost)");
}

/// "127.0.0.1:9090", "0.0.0.0:9090" or "[::1]:9090": an IP address (never a name: the probe
/// must not depend on DNS) and a port.
Config::Listen parse_listen(const TableReader& reader, const std::string& text) {
  auto colon = text.rfind(':');
  std::string host = colon == std::string::npos ? "" : text.substr(0, colon);
  std::string port = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  bool digits = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), ::isdigit);
  int number = digits ? std::stoi(port) : 0;
  unsigned char parsed[sizeof(struct in6_addr)];
  bool address = inet_pton(AF_INET, host.c_str(), parsed) == 1 || inet_pton(AF_INET6, host.c_str(), parsed) == 1;
  if (!address || number < 1 || number > 65535) {
    reader.fail("listen", "must be IP:PORT, such as \"127.0.0.1:9090\" (or \"0.0.0.0:9090\" in a container)");
  }
  return {host, number};
}

/// Whether a PostgreSQL URL carries a password: postgresql://user:PASSWORD@host/… or password=….
bool url_has_password(const std::string& url) {
  auto authority = url.find("://") + 3;
  auto at = url.find('@', authority);
  auto slash = url.find('/', authority);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    auto colon = url.find(':', authority);
    if (colon != std::string::npos && colon < at) return true;
  }
  auto query = url.find('?');
  return query != std::string::npos &&
         (url.find("?password=", query) != std::string::npos || url.find("&password=", query) != std::string::npos);
}

void read_bot(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::table empty;
  const toml::table* table = section(file, root, "bot");
  TableReader bot(file, table ? *table : empty, "bot");
  std::string database = bot.string("database", "jitbot.db");
  if (database == ":memory:") {
    config.database = database;
  } else if (is_postgresql_url(database)) {
    // A password written here would sit in a file that is copied, diffed and pasted into tickets.
    if (url_has_password(database)) {
      bot.fail("database",
               "must not hold a password: give it in PGPASSWORD (the service's EnvironmentFile) or a passfile "
               "(PGPASSFILE, or passfile= in the URL)");
    }
    config.database = database;
  } else {
    std::filesystem::path path{database};
    config.database = path.is_absolute() ? path : file.parent_path() / path;
  }
  config.policy.pending_timeout = *bot.duration("pending_timeout", Seconds{30 * 60});
  if (auto key_file = bot.string("audit_key_file", std::string{}); !key_file.empty()) {
    std::filesystem::path path{key_file};
    config.audit_key_file = path.is_absolute() ? path : file.parent_path() / path;
  }
  config.unkeyed_audit = bot.boolean("unkeyed_audit", false);
  if (bot.has("listen")) config.listen = parse_listen(bot, bot.string("listen"));
  config.policy.remind_after = bot.duration("remind_after");
  auto max_reminders = bot.integer("max_reminders", config.policy.max_reminders);
  if (max_reminders < 0 || max_reminders > 20) bot.fail("max_reminders", "must be between 0 and 20");
  config.policy.max_reminders = static_cast<int>(max_reminders);
  config.policy.warn_before = *bot.duration("warn_before", config.policy.warn_before, false, true);
  config.policy.admins = principals(bot, "admins", false);
  if (std::find(config.policy.admins.begin(), config.policy.admins.end(), "*") != config.policy.admins.end()) {
    bot.fail("admins", "\"*\" is not allowed: admins see every request; name them or their user group");
  }
  bot.reject_unknown_keys();
}

void read_slack(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::table empty;
  const toml::table* table = section(file, root, "slack");
  TableReader slack(file, table ? *table : empty, "slack");
  config.slack.api_url = slack.string("api_url", config.slack.api_url);
  if (config.slack.api_url.rfind("https://", 0) != 0 && config.slack.api_url.rfind("http://", 0) != 0) {
    slack.fail("api_url", "must start with https:// (or http:// for a local fake)");
  }
  require_tls_off_loopback(slack, "api_url", config.slack.api_url);
  if (config.slack.api_url.back() != '/') config.slack.api_url += '/';
  if (auto ca_file = slack.string("ca_file", std::string{}); !ca_file.empty()) {
    std::filesystem::path path{ca_file};
    config.slack.ca_file = path.is_absolute() ? path : file.parent_path() / path;
  }
  config.slack.channel_post_interval =
      *slack.duration("channel_post_interval", config.slack.channel_post_interval, false, true);
  config.slack.method_pacing = slack.boolean("method_pacing", config.slack.method_pacing);
  config.slack.ping_timeout = *slack.duration("ping_timeout", config.slack.ping_timeout);
  if (config.slack.ping_timeout < Seconds{2}) slack.fail("ping_timeout", "must be at least 2s");
  config.policy.approvals_channel = slack.string("approvals_channel", std::string{});
  if (!config.policy.approvals_channel.empty())
    check_channel(slack, "approvals_channel", config.policy.approvals_channel);
  config.policy.incident_channels = slack.strings("incident_channels", false);
  for (const auto& channel : config.policy.incident_channels) check_channel(slack, "incident_channels", channel);
  config.slack.audit_channel = slack.string("audit_channel", std::string{});
  if (!config.slack.audit_channel.empty()) check_channel(slack, "audit_channel", config.slack.audit_channel);
  config.slack.audit_anchor_interval = *slack.duration("audit_anchor_interval", config.slack.audit_anchor_interval);
  slack.reject_unknown_keys();
}

std::filesystem::path beside(const std::filesystem::path& file, const std::string& path) {
  std::filesystem::path result{path};
  return result.is_absolute() ? result : file.parent_path() / result;
}

void require_url(const TableReader& reader, const std::string& key, const std::string& url) {
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
    reader.fail(key, "must start with https:// (or http:// for a local fake)");
  }
  require_tls_off_loopback(reader, key, url);
}

/// An environment variable's name, as `*_env` keys take: the secret itself never sits in the file.
std::string env_name(const TableReader& reader, const std::string& key, std::optional<std::string> fallback = {}) {
  std::string name = reader.string(key, fallback);
  bool valid = std::all_of(name.begin(), name.end(), [](char c) {
    return std::isupper(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_';
  });
  if (!valid) reader.fail(key, "must name an environment variable (capitals, digits and _), not hold the secret");
  return name;
}

void read_slack_sink(const TableReader& reader, const Config& config, workflows::AlertSink& sink) {
  sink.channels = reader.strings("channels", false);
  if (sink.channels.empty()) sink.channels = config.policy.incident_channels;
  if (sink.channels.empty()) reader.fail("channels", "is required (or set [slack] incident_channels)");
  for (const auto& channel : sink.channels) check_channel(reader, "channels", channel);
  sink.mention = reader.string("mention", std::string{});
  bool group = valid_principal(sink.mention, false) && sink.mention.front() == 'S';
  if (!sink.mention.empty() && sink.mention != "<!here>" && sink.mention != "<!channel>" && !group) {
    reader.fail("mention", "must be \"<!here>\", \"<!channel>\" or a user group ID (S…)");
  }
}

void read_external_sink(const std::filesystem::path& file, const TableReader& reader, workflows::AlertSink& sink,
                        AlertSinkConfig& adapter) {
  adapter.name = sink.name;
  adapter.type = sink.type;
  if (sink.type == workflows::AlertSink::Type::webhook) {
    adapter.url = reader.string("url");
    adapter.secret_env = env_name(reader, "secret_env");
  } else {
    adapter.url = reader.string("api_url", std::string{"https://events.pagerduty.com/v2/enqueue"});
    adapter.routing_key_env = env_name(reader, "routing_key_env", std::string{"PAGERDUTY_ROUTING_KEY"});
    adapter.severity = reader.string("severity", adapter.severity);
    static const std::set<std::string> severities{"critical", "error", "warning", "info"};
    if (!severities.count(adapter.severity)) reader.fail("severity", "must be critical, error, warning or info");
    auto resolve_on = reader.string("resolve_on", std::string{"acknowledge"});
    if (resolve_on != "acknowledge" && resolve_on != "end")
      reader.fail("resolve_on", "must be \"acknowledge\" or \"end\"");
    sink.resolve_on =
        resolve_on == "end" ? workflows::AlertSink::ResolveOn::end : workflows::AlertSink::ResolveOn::acknowledge;
  }
  require_url(reader, sink.type == workflows::AlertSink::Type::webhook ? "url" : "api_url", adapter.url);
  if (auto ca_file = reader.string("ca_file", std::string{}); !ca_file.empty()) adapter.ca_file = beside(file, ca_file);
}

void read_alerts(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::node* node = root.get("alerts");
  if (node == nullptr) return;
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    TableReader(file, root, "").fail("alerts", "must be written as [[alerts]] tables");
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    TableReader reader(file, *array->get(i)->as_table(), "alerts[" + std::to_string(i) + "]");
    workflows::AlertSink sink;
    auto type = reader.string("type");
    if (type == "slack") {
      sink.type = workflows::AlertSink::Type::slack;
    } else if (type == "webhook") {
      sink.type = workflows::AlertSink::Type::webhook;
    } else if (type == "pagerduty") {
      sink.type = workflows::AlertSink::Type::pagerduty;
    } else {
      reader.fail("type", "unknown alert type \"" + type + "\"; known: slack, webhook, pagerduty");
    }
    sink.name = reader.string("name", type);
    for (const auto& other : config.policy.alerts) {
      if (other.name == sink.name)
        reader.fail("name", "alert sink \"" + sink.name + "\" is defined twice; give each a name");
    }
    if (sink.type == workflows::AlertSink::Type::slack) {
      read_slack_sink(reader, config, sink);
    } else {
      AlertSinkConfig adapter;
      read_external_sink(file, reader, sink, adapter);
      config.alert_sinks.push_back(adapter);
    }
    reader.reject_unknown_keys();
    config.policy.alerts.push_back(sink);
  }
}

void read_break_glass(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::table empty;
  const toml::table* table = section(file, root, "break_glass");
  TableReader reader(file, table ? *table : empty, "break_glass");
  auto& rules = config.policy.break_glass;
  rules.realert_after = *reader.duration("realert_after", rules.realert_after);
  // Short intervals are for tests; in production anything under a few minutes is noise.
  if (rules.realert_after < Seconds{1}) reader.fail("realert_after", "must be at least 1s");
  auto max_per_user = reader.integer("max_per_user", 0);
  if (max_per_user < 0 || max_per_user > 1000) reader.fail("max_per_user", "must be between 0 (no limit) and 1000");
  rules.max_per_user = static_cast<int>(max_per_user);
  rules.window = *reader.duration("window", rules.window);
  rules.max_duration = reader.duration("max_duration");
  reader.reject_unknown_keys();
}

void read_on_call_provider(const std::filesystem::path& file, const TableReader& oncall, const std::string& name,
                           const std::string& key_name, OnCallProviderConfig& provider) {
  const toml::table* table = oncall.subtable(name);
  if (table == nullptr) return;
  TableReader reader(file, *table, "oncall." + name);
  provider.configured = true;
  provider.api_url = reader.string("api_url", provider.api_url);
  require_url(reader, "api_url", provider.api_url);
  if (provider.api_url.back() == '/') provider.api_url.pop_back();
  provider.token_env = env_name(reader, key_name, provider.token_env);
  if (auto ca_file = reader.string("ca_file", std::string{}); !ca_file.empty())
    provider.ca_file = beside(file, ca_file);
  reader.reject_unknown_keys();
}

void read_on_call(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::table empty;
  const toml::table* table = section(file, root, "oncall");
  TableReader reader(file, table ? *table : empty, "oncall");
  read_on_call_provider(file, reader, "pagerduty", "token_env", config.on_call.pagerduty);
  read_on_call_provider(file, reader, "opsgenie", "key_env", config.on_call.opsgenie);
  config.on_call.cache_for = *reader.duration("cache_for", config.on_call.cache_for, false, true);
  reader.reject_unknown_keys();
}

/// auto_approve_oncall: "pagerduty:ID" or "opsgenie:NAME", each from a configured [oncall.*].
void read_auto_approve_oncall(const TableReader& reader, const Config& config, workflows::Role& role) {
  role.auto_approve_oncall = reader.strings("auto_approve_oncall", false);
  for (const auto& schedule : role.auto_approve_oncall) {
    auto colon = schedule.find(':');
    std::string provider = schedule.substr(0, colon);
    std::string id = colon == std::string::npos ? "" : schedule.substr(colon + 1);
    bool id_ok = !id.empty() && id.size() <= 200 && std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
    });
    if ((provider != "pagerduty" && provider != "opsgenie") || !id_ok) {
      reader.fail("auto_approve_oncall", "\"" + schedule +
                                             "\" must be \"pagerduty:SCHEDULE_ID\" or \"opsgenie:SCHEDULE\" "
                                             "(letters, digits, _ - .)");
    }
    const auto& settings = provider == "pagerduty" ? config.on_call.pagerduty : config.on_call.opsgenie;
    if (!settings.configured) {
      reader.fail("auto_approve_oncall", "names " + provider + " but there is no [oncall." + provider + "] section");
    }
  }
}

void read_ticket_system(const std::filesystem::path& file, const TableReader& tickets, const std::string& name,
                        Config& config) {
  const toml::table* table = tickets.subtable(name);
  if (table == nullptr) return;
  TableReader reader(file, *table, "tickets." + name);
  workflows::TicketSystem system;
  TicketApiConfig api;
  system.name = api.name = name;
  bool jira = name == "jira";
  api.api_url = jira ? reader.string("url") : reader.string("api_url", std::string{"https://api.github.com"});
  require_url(reader, jira ? "url" : "api_url", api.api_url);
  if (api.api_url.back() == '/') api.api_url.pop_back();
  api.token_env = env_name(reader, "token_env", std::string{jira ? "JIRA_API_TOKEN" : "GITHUB_TOKEN"});
  if (jira && reader.has("email_env")) api.email_env = env_name(reader, "email_env");
  if (jira) {
    system.projects = reader.strings("projects", true);
    for (const auto& project : system.projects) {
      bool valid = std::isupper(static_cast<unsigned char>(project.front())) &&
                   std::all_of(project.begin(), project.end(), [](char c) {
                     return std::isupper(static_cast<unsigned char>(c)) ||
                            std::isdigit(static_cast<unsigned char>(c)) || c == '_';
                   });
      if (!valid) reader.fail("projects", "\"" + project + "\" is not a Jira project key (capitals, digits, _)");
    }
  } else {
    system.repos = reader.strings("repos", true);
    static const std::regex repo_form{"[A-Za-z0-9-]+/[A-Za-z0-9._-]+"};
    for (const auto& repo : system.repos) {
      if (!std::regex_match(repo, repo_form)) reader.fail("repos", "\"" + repo + "\" is not OWNER/REPO");
    }
  }
  auto on_error = reader.string("on_error", std::string{"allow"});
  if (on_error != "allow" && on_error != "refuse") reader.fail("on_error", "must be \"allow\" or \"refuse\"");
  system.refuse_on_error = on_error == "refuse";
  if (auto ca_file = reader.string("ca_file", std::string{}); !ca_file.empty()) api.ca_file = beside(file, ca_file);
  reader.reject_unknown_keys();
  config.policy.ticket_systems.push_back(system);
  config.ticket_apis.push_back(api);
}

void read_tickets(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::table empty;
  const toml::table* table = section(file, root, "tickets");
  TableReader reader(file, table ? *table : empty, "tickets");
  read_ticket_system(file, reader, "jira", config);
  read_ticket_system(file, reader, "github", config);
  reader.reject_unknown_keys();
}

/// remind_after, max_reminders, escalate_after and escalation_approvers of one role.
void read_nudges(const TableReader& reader, const Config& config, workflows::Role& role) {
  role.remind_after = reader.duration("remind_after");
  if (reader.has("max_reminders")) {
    auto count = reader.integer("max_reminders", 0);
    if (count < 0 || count > 20) reader.fail("max_reminders", "must be between 0 and 20");
    role.max_reminders = static_cast<int>(count);
  }
  role.escalate_after = reader.duration("escalate_after");
  role.escalation_approvers = principals(reader, "escalation_approvers", false);
  if (std::find(role.escalation_approvers.begin(), role.escalation_approvers.end(), "*") !=
      role.escalation_approvers.end()) {
    reader.fail("escalation_approvers", "\"*\" is not allowed: name the people or their user group");
  }
  if (role.escalate_after.has_value() != !role.escalation_approvers.empty()) {
    reader.fail(role.escalate_after ? "escalate_after" : "escalation_approvers",
                "escalate_after and escalation_approvers go together: set both, or neither");
  }
  if (role.escalate_after && *role.escalate_after >= config.policy.pending_timeout) {
    reader.fail("escalate_after", "is not shorter than [bot] pending_timeout (" +
                                      workflows::format_duration(config.policy.pending_timeout) +
                                      "): the request would time out before it escalates");
  }
}

/// self_extend, max_extended_duration and warn_before of one role.
void read_extensions(const TableReader& reader, workflows::Role& role) {
  role.self_extend = reader.boolean("self_extend", false);
  role.max_extended_duration = reader.duration("max_extended_duration");
  if (role.max_extended_duration && *role.max_extended_duration < role.max_duration) {
    reader.fail("max_extended_duration", "is shorter than max_duration (" +
                                             workflows::format_duration(role.max_duration) +
                                             "): it limits the whole access, extensions included");
  }
  role.warn_before = reader.duration("warn_before", std::nullopt, false, true);
}

/// The string keys each native backend type takes, and which of them it needs.
struct BackendSchema {
  std::vector<std::string> required;
  std::vector<std::string> optional;
  bool token_command = false;
  bool roles = false;
};

const std::map<std::string, BackendSchema>& backend_schemas() {
  static const std::map<std::string, BackendSchema> schemas{
      {"aws",
       {{"region", "instance_arn", "identity_store_id"},
        {"profile", "endpoint_url", "sso_endpoint", "identitystore_endpoint", "sts_endpoint", "iam_endpoint",
         "signin_url"},
        false,
        true}},
      {"gcp", {{}, {"api_url", "token_env"}, true, false}},
      {"azure", {{}, {"api_url", "token_env"}, true, true}},
      {"kubernetes", {{}, {"kubeconfig", "context"}, false, false}},
      {"duplocloud", {{"url"}, {"token_env"}, false, false}},
      {"http", {{"url"}, {"secret_env"}, false, false}},
  };
  return schemas;
}

bool is_url_key(const std::string& key) {
  return key == "url" || key == "api_url" || key == "endpoint_url" || key.ends_with("_endpoint") || key == "signin_url";
}

workflows::ScopeKind scope_kind_of(const std::string& type) {
  using workflows::ScopeKind;
  if (type == "aws") return ScopeKind::aws_account;
  if (type == "gcp") return ScopeKind::gcp_project;
  if (type == "kubernetes") return ScopeKind::kubernetes_namespace;
  if (type == "azure") return ScopeKind::azure_resource;
  if (type == "duplocloud") return ScopeKind::duplocloud_tenant;
  return ScopeKind::identifier;
}

/// exec and http: an optional regular expression every scope must match, on top of the
/// identifier grammar (printable, no whitespace, no "..").
void read_scope_pattern(const TableReader& reader, BackendConfig& backend) {
  if (!reader.has("scope_pattern")) return;
  if (backend.type != "exec" && backend.type != "http") {
    reader.fail("scope_pattern",
                "is for exec and http backends; a " + backend.type + " backend's scopes have a fixed grammar");
  }
  auto pattern = reader.string("scope_pattern");
  try {
    std::regex compiled(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    reader.fail("scope_pattern", "is not a valid regular expression (" + std::string(e.what()) + ")");
  }
  backend.scope_grammar.pattern = pattern;
}

/// The environment variables a backend's programs may see (exec, token_command), by name.
void read_passed_env(const TableReader& reader, BackendConfig& backend) {
  if (!reader.has("env")) return;
  if (backend.type != "exec" && backend.type != "gcp" && backend.type != "azure") {
    reader.fail("env", "is for backends that run a program (exec, and gcp or azure with token_command)");
  }
  backend.env = reader.strings("env", false);
  for (const auto& name : backend.env) {
    bool valid = !name.empty() && !std::isdigit(static_cast<unsigned char>(name.front())) &&
                 std::all_of(name.begin(), name.end(),
                             [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
    if (!valid) reader.fail("env", "\"" + name + "\" is not an environment variable name");
    if (name == "SLACK_APP_TOKEN" || name == "SLACK_BOT_TOKEN") {
      reader.fail("env", name + " is jitbot's own Slack token and is never passed to a backend");
    }
    if (name == "JITBOT_AUDIT_KEY")
      reader.fail("env", "JITBOT_AUDIT_KEY seals the audit trail and is never passed to a backend");
  }
}

void read_exec_backend(const std::filesystem::path& file, const TableReader& reader, BackendConfig& backend) {
  backend.command = reader.strings("command", true);
  std::filesystem::path program = beside(file, backend.command.front());
  if (::access(program.c_str(), X_OK) != 0) {
    reader.fail("command", "\"" + program.string() + "\" is not an executable file");
  }
  backend.command.front() = program.string();
}

void read_backend_roles(const std::filesystem::path& file, const TableReader& reader, BackendConfig& backend) {
  const toml::table* roles = reader.subtable("roles");
  if (roles == nullptr) return;
  for (const auto& [key, node] : *roles) {
    std::string name{key.str()};
    if (!node.is_table()) reader.fail("roles", "\"" + name + "\" must be a table");
    TableReader role_reader(file, *node.as_table(), reader.qualified("roles." + name));
    BackendRoleConfig role;
    if (backend.type == "aws") {
      role.permission_set_arn = role_reader.string("permission_set_arn");
      role.console = role_reader.boolean("console", false);
      role.console_role_arn = role_reader.string("console_role_arn", std::string{});
      role.console_iam_role_arn = role_reader.string("console_iam_role_arn", std::string{});
      if (role.console && role.console_role_arn.empty()) {
        role_reader.fail("console_role_arn", "is required when console = true");
      }
      if (!role.console && !role.console_iam_role_arn.empty()) {
        role_reader.fail("console_iam_role_arn", "is used only with console = true");
      }
    } else {
      role.role_definition_id = role_reader.string("role_definition_id");
    }
    role_reader.reject_unknown_keys();
    backend.roles[name] = role;
  }
}

void read_native_backend(const std::filesystem::path& file, const TableReader& reader, BackendConfig& backend) {
  const auto& schema = backend_schemas().at(backend.type);
  auto read_setting = [&](const std::string& key, bool required) {
    auto value = reader.string(key, required ? std::nullopt : std::optional<std::string>{std::string{}});
    if (value.empty()) return;
    if (is_url_key(key) && value.rfind("https://", 0) != 0 && value.rfind("http://", 0) != 0) {
      reader.fail(key, "must start with https:// (or http:// for a local fake)");
    }
    if (is_url_key(key)) require_tls_off_loopback(reader, key, value);
    if (key == "kubeconfig") value = beside(file, value).string();
    backend.settings[key] = value;
  };
  for (const auto& key : schema.required) read_setting(key, true);
  for (const auto& key : schema.optional) read_setting(key, false);
  if (schema.token_command) {
    backend.token_command = reader.strings("token_command", false);
    if (!backend.token_command.empty() && reader.has("token_env")) {
      reader.fail("token_command", "give token_env or token_command, not both");
    }
  }
  if (auto ca_file = reader.string("ca_file", std::string{}); !ca_file.empty()) {
    backend.ca_file = beside(file, ca_file);
    if (!std::filesystem::exists(backend.ca_file)) reader.fail("ca_file", backend.ca_file.string() + " does not exist");
  }
  if (backend.type == "aws") {
    backend.poll_interval = *reader.duration("poll_interval", Seconds{2});
    if (backend.poll_interval < Seconds{1}) reader.fail("poll_interval", "must be at least 1s");
  }
  if (schema.roles) read_backend_roles(file, reader, backend);
  if (const toml::table* principals = reader.subtable("principals")) {
    for (const auto& [key, node] : *principals) {
      auto value = node.value<std::string>();
      if (!value || value->empty()) {
        reader.fail_at(node.source(), reader.qualified("principals." + std::string{key.str()}),
                       "must be a non-empty string");
      }
      backend.principals[std::string{key.str()}] = *value;
    }
  }
}

constexpr Seconds max_backend_timeout{3600};

void read_backends(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::node* node = root.get("backends");
  if (node == nullptr) return;
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) {
    TableReader(file, root, "").fail("backends", "must be written as [[backends]] tables");
  }
  for (std::size_t i = 0; i < array->size(); ++i) {
    TableReader reader(file, *array->get(i)->as_table(), "backends[" + std::to_string(i) + "]");
    BackendConfig backend;
    backend.name = reader.string("name");
    if (config.find_backend(backend.name)) reader.fail("name", "backend \"" + backend.name + "\" is defined twice");
    backend.type = reader.string("type");
    if (backend.type == "exec") {
      read_exec_backend(file, reader, backend);
    } else if (backend_schemas().count(backend.type)) {
      read_native_backend(file, reader, backend);
    } else {
      reader.fail("type", "unknown backend type \"" + backend.type + "\"; known: " + backend_types);
    }
    read_passed_env(reader, backend);
    backend.scope_grammar.kind = scope_kind_of(backend.type);
    read_scope_pattern(reader, backend);
    backend.timeout = *reader.duration("timeout", Seconds{60});
    // A job holds its lease for the timeout: past an hour, a dead worker's call would wait that
    // long to be retried, and no cloud call should take that long.
    if (backend.timeout > max_backend_timeout) {
      reader.fail("timeout", "is too long: at most " + workflows::format_duration(max_backend_timeout));
    }
    backend.max_concurrent = static_cast<int>(reader.integer("max_concurrent", backend.max_concurrent));
    if (backend.max_concurrent < 1 || backend.max_concurrent > 64) {
      reader.fail("max_concurrent", "must be between 1 and 64");
    }
    reader.reject_unknown_keys();
    config.backends.push_back(std::move(backend));
  }
}

/// What a role needs from its backend beyond the backend's own keys, checked once both are read.
void check_role_against_backend(const TableReader& reader, const workflows::Role& role, const BackendConfig& backend) {
  auto mapped = backend.roles.find(role.name);
  if (backend.type == "aws" && mapped == backend.roles.end()) {
    reader.fail("name", "backend \"" + backend.name + "\" (aws) has no [backends.roles.\"" + role.name +
                            "\"] with the permission_set_arn for this role");
  }
  if (backend.type == "azure" && mapped == backend.roles.end() && !looks_like_guid(role.name)) {
    reader.fail("name", "backend \"" + backend.name + "\" (azure) has no [backends.roles.\"" + role.name +
                            "\"] role_definition_id, and the role name is not a role definition GUID");
  }
  if (backend.type == "gcp" && is_gcp_basic_role(role.name)) {
    reader.fail("name", "\"" + role.name +
                            "\" is a basic role; GCP cannot attach an IAM condition (the expiry) to basic roles, "
                            "so grant a predefined or custom role instead");
  }
}

/// A role's scope patterns, checked against its backend's grammar; or the explicit opt-in to the
/// whole target (cluster_wide for Kubernetes, admin for DuploCloud), whose one scope is a word.
void read_role_scopes(const TableReader& reader, const BackendConfig& backend, workflows::Role& role) {
  role.scope_grammar = backend.scope_grammar;
  struct WholeTarget {
    const char* key;
    const char* backend_type;
    const char* scope;
  };
  for (const WholeTarget& whole :
       {WholeTarget{"cluster_wide", "kubernetes", "cluster"}, WholeTarget{"admin", "duplocloud", "admin"}}) {
    if (!reader.has(whole.key)) continue;
    if (backend.type != whole.backend_type) {
      reader.fail(whole.key, std::string("is only for ") + whole.backend_type + " backends");
    }
    if (!reader.boolean(whole.key, false)) continue;
    role.whole_target = true;
    if (reader.has("scopes") && reader.strings("scopes", true) != std::vector<std::string>{whole.scope}) {
      reader.fail("scopes", std::string("must be left out with ") + whole.key + " = true: its one scope is \"" +
                                whole.scope + "\"");
    }
    role.scopes = {whole.scope};
    return;
  }
  role.scopes = reader.strings("scopes", true);
  if (backend.type == "duplocloud" && std::find(role.scopes.begin(), role.scopes.end(), "admin") != role.scopes.end()) {
    // Before admin = true existed, the scope "admin" meant admin access; never let it quietly
    // become a tenant lookup instead.
    reader.fail("scopes",
                "\"admin\" used to mean DuploCloud admin access: set admin = true (and leave out scopes) for "
                "that; for a tenant really named admin, give its tenant ID");
  }
  for (const auto& pattern : role.scopes) {
    if (auto problem = workflows::scope_pattern_problem(role.scope_grammar, pattern)) {
      reader.fail("scopes", "\"" + pattern + "\" cannot be a scope pattern for this " + backend.type +
                                " backend: " + *problem + ". A scope is " + workflows::describe(role.scope_grammar) +
                                "; * stands for part of one segment");
    }
  }
}

void read_roles(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::node* node = root.get("roles");
  TableReader top(file, root, "");
  if (node == nullptr) top.fail("roles", "at least one [[roles]] table is required");
  const toml::array* array = node->as_array();
  if (array == nullptr || !array->is_array_of_tables()) top.fail("roles", "must be written as [[roles]] tables");
  for (std::size_t i = 0; i < array->size(); ++i) {
    TableReader reader(file, *array->get(i)->as_table(), "roles[" + std::to_string(i) + "]");
    workflows::Role role;
    role.provider = reader.string("provider");
    role.name = reader.string("name");
    if (config.policy.find_role(role.provider, role.name)) {
      reader.fail("name", "role " + role.provider + "/" + role.name + " is defined twice");
    }
    role.backend = reader.string("backend");
    const BackendConfig* backend = config.find_backend(role.backend);
    if (!backend) reader.fail("backend", "no [[backends]] is named \"" + role.backend + "\"");
    check_role_against_backend(reader, role, *backend);
    read_role_scopes(reader, *backend, role);
    role.requesters = principals(reader, "requesters", true);
    role.approvers = principals(reader, "approvers", true);
    if (std::find(role.approvers.begin(), role.approvers.end(), "*") != role.approvers.end()) {
      reader.fail("approvers", "\"*\" is not allowed: name the approvers or their user group");
    }
    auto required = reader.integer("approvals_required", 1);
    if (required < 1 || required > 20) reader.fail("approvals_required", "must be between 1 and 20");
    bool only_users = std::none_of(role.approvers.begin(), role.approvers.end(),
                                   [](const std::string& id) { return id.front() == 'S'; });
    if (only_users && required > static_cast<std::int64_t>(role.approvers.size())) {
      reader.fail("approvals_required", "is " + std::to_string(required) + " but only " +
                                            std::to_string(role.approvers.size()) + " approvers are listed");
    }
    role.approvals_required = static_cast<int>(required);
    role.max_duration = *reader.duration("max_duration", std::nullopt, true);
    role.min_duration = reader.duration("min_duration");
    if (role.min_duration && *role.min_duration > role.max_duration) {
      reader.fail("min_duration", "is longer than max_duration");
    }
    role.break_glass_requesters = principals(reader, "break_glass_requesters", false);
    if (std::find(role.break_glass_requesters.begin(), role.break_glass_requesters.end(), "*") !=
        role.break_glass_requesters.end()) {
      reader.fail("break_glass_requesters",
                  "\"*\" is not allowed: break-glass grants with no approval, so name the people or their user group");
    }
    if (reader.has("approvals_channel")) {
      role.approvals_channel = reader.string("approvals_channel");
      check_channel(reader, "approvals_channel", *role.approvals_channel);
    }
    if (config.policy.approvals_channel_for(role).empty()) {
      reader.fail("approvals_channel", "no approvals channel: set [slack] approvals_channel or this role's own");
    }
    auto sinks = config.policy.alert_sinks();
    bool can_alert = std::any_of(sinks.begin(), sinks.end(), [](const workflows::AlertSink& sink) {
      return sink.type != workflows::AlertSink::Type::slack || !sink.channels.empty();
    });
    if (!role.break_glass_requesters.empty() && !can_alert) {
      reader.fail("break_glass_requesters",
                  "break-glass needs somewhere to alert: set [slack] incident_channels or an [[alerts]] sink");
    }
    read_auto_approve_oncall(reader, config, role);
    read_nudges(reader, config, role);
    read_extensions(reader, role);
    role.require_ticket = reader.string("require_ticket", std::string{});
    if (!role.require_ticket.empty()) {
      if (role.require_ticket != "jira" && role.require_ticket != "github") {
        reader.fail("require_ticket", "must be \"jira\" or \"github\"");
      }
      if (!config.policy.find_ticket_system(role.require_ticket)) {
        reader.fail("require_ticket", "there is no [tickets." + role.require_ticket + "] section");
      }
    }
    reader.reject_unknown_keys();
    config.policy.roles.push_back(std::move(role));
  }
}

void read_directory(const std::filesystem::path& file, const toml::table& root, Config& config) {
  const toml::table empty;
  const toml::table* table = section(file, root, "directory");
  TableReader directory(file, table ? *table : empty, "directory");
  if (const toml::table* groups = directory.subtable("groups")) {
    TableReader reader(file, *groups, "directory.groups");
    for (const auto& [key, value] : *groups) {
      std::string group{key.str()};
      if (group.front() != 'S' || !valid_principal(group, false)) reader.fail(group, "is not a user-group ID (S…)");
      config.directory.groups[group] = principals(reader, group, false);
    }
  }
  if (const toml::table* users = directory.subtable("users")) {
    TableReader reader(file, *users, "directory.users");
    for (const auto& [key, value] : *users) {
      std::string user{key.str()};
      if (!valid_principal(user, false) || user.front() == 'S') reader.fail(user, "is not a user ID (U…/W…)");
      const toml::table* entry = reader.subtable(user);
      if (entry == nullptr) reader.fail(user, "must be a table like { email = \"…\", name = \"…\" }");
      TableReader fields(file, *entry, "directory.users." + user);
      config.directory.users[user] = {fields.string("email", std::string{}), fields.string("name", std::string{})};
      fields.reject_unknown_keys();
    }
  }
  directory.reject_unknown_keys();
}

}  // namespace

bool looks_like_guid(std::string_view text) {
  static constexpr std::string_view shape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  if (text.size() != shape.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (shape[i] == '-' ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

bool is_gcp_basic_role(std::string_view role) {
  return role == "roles/owner" || role == "roles/editor" || role == "roles/viewer";
}

std::string BackendConfig::setting(const std::string& key) const {
  auto found = settings.find(key);
  return found == settings.end() ? std::string{} : found->second;
}

const BackendConfig* Config::find_backend(const std::string& name) const {
  for (const auto& backend : backends) {
    if (backend.name == name) return &backend;
  }
  return nullptr;
}

Config load_config(const std::filesystem::path& file) {
  Config config;
  config.file = std::filesystem::absolute(file);
  toml::table root;
  try {
    root = toml::parse_file(config.file.string());
  } catch (const toml::parse_error& e) {
    std::ostringstream message;
    message << file.string();
    if (e.source().begin.line > 0) message << ":" << e.source().begin.line;
    message << ": " << e.description();
    throw ConfigError(message.str());
  }
  TableReader top(config.file, root, "");
  for (const auto& [key, node] : root) {
    static const std::set<std::string> sections{"bot",         "slack",  "backends", "roles",  "directory",
                                                "break_glass", "alerts", "oncall",   "tickets"};
    if (!sections.count(std::string{key.str()})) top.fail_at(key.source(), std::string{key.str()}, "unknown section");
  }
  read_bot(config.file, root, config);
  read_slack(config.file, root, config);
  read_alerts(config.file, root, config);
  read_break_glass(config.file, root, config);
  read_on_call(config.file, root, config);
  read_tickets(config.file, root, config);
  read_backends(config.file, root, config);
  read_roles(config.file, root, config);
  read_directory(config.file, root, config);
  return config;
}

std::string summarize(const Config& config) {
  std::ostringstream out;
  out << "config " << config.file.string() << " is valid\n";
  out << "  database: " << config.database.string()
      << (config.database_is_postgresql() ? " (PostgreSQL; replicas may share it)" : "") << "\n";
  out << "  pending timeout: " << workflows::format_duration(config.policy.pending_timeout) << "\n";
  out << "  slack api: " << config.slack.api_url << ", approvals channel "
      << (config.policy.approvals_channel.empty() ? "(per role)" : config.policy.approvals_channel) << "\n";
  out << "  incident channels: " << config.policy.incident_channels.size() << "\n";
  out << "  alert sinks: " << config.policy.alert_sinks().size() << "\n";
  for (const auto& sink : config.policy.alert_sinks()) {
    out << "    " << sink.name << " ("
        << (sink.type == workflows::AlertSink::Type::slack
                ? "slack, " + std::to_string(sink.channels.size()) + " channel(s)"
            : sink.type == workflows::AlertSink::Type::webhook ? std::string{"webhook"}
                                                               : std::string{"pagerduty"})
        << ")\n";
  }
  out << "  backends: " << config.backends.size() << "\n";
  for (const auto& backend : config.backends) {
    out << "    " << backend.name << " (" << backend.type << ", timeout " << workflows::format_duration(backend.timeout)
        << ")\n";
  }
  out << "  roles: " << config.policy.roles.size() << "\n";
  for (const auto& role : config.policy.roles) {
    out << "    " << role.provider << "/" << role.name << ": " << role.scopes.size() << " scope pattern(s), "
        << role.approvals_required << " approval(s) from " << role.approvers.size() << " approver entr"
        << (role.approvers.size() == 1 ? "y" : "ies") << ", max " << workflows::format_duration(role.max_duration)
        << (role.break_glass_requesters.empty() ? "" : ", break-glass enabled") << ", backend " << role.backend << "\n";
  }
  out << "  directory: " << config.directory.users.size() << " user(s), " << config.directory.groups.size()
      << " group(s)\n";
  return out.str();
}

}  // namespace jitbot::config
