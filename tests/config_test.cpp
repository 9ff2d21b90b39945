// Config loading: the example is valid; every error names the file, the line and the key.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "support.hpp"

using namespace jitbot;
using namespace jitbot::testing;

namespace {

const std::string backend_and_bot = R"(
[bot]
database = "state/jit.db"
pending_timeout = "10m"

[slack]
approvals_channel = "C0APPROVALS"
incident_channels = ["C0INCIDENT"]

[[backends]]
name = "demo"
type = "exec"
command = ["backend.sh"]
)";

const std::string good_role = R"(
[[roles]]
provider = "aws"
name = "admin"
scopes = ["123456789012"]
backend = "demo"
requesters = ["*"]
approvers = ["U0BOB", "S0LEADS"]
max_duration = "4h"
)";

/// good_role with approvers named one by one, so their number is known.
std::string users_only_role() {
  std::string role = good_role;
  role.replace(role.find("\"S0LEADS\""), 9, "\"U0CAROL\"");
  return role;
}

}  // namespace

TEST_CASE("the example config loads", "[config]") {
  auto config = config::load_config(std::string{JITBOT_SOURCE_DIR} + "/config/examples/jitbot.toml");
  CHECK(config.policy.roles.size() >= 1);
  CHECK(config.policy.find_role("aws", "prod-infra-admin") != nullptr);
  CHECK(config.policy.pending_timeout == std::chrono::minutes{30});
  CHECK(config.database.filename() == "jitbot.db");
  CHECK(config.database.is_absolute());
  CHECK(config.directory.groups.at("S0SRELEADS").size() == 2);
  CHECK(config::summarize(config).find("aws/prod-infra-admin") != std::string::npos);
}

TEST_CASE("paths are relative to the config file's folder", "[config]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  auto file = dir.write("jitbot.toml", backend_and_bot + good_role);
  auto config = config::load_config(file);
  CHECK(config.database == dir.path() / "state/jit.db");
  CHECK(config.backends.at(0).command.at(0) == (dir.path() / "backend.sh").string());
  CHECK(config.backends.at(0).timeout == std::chrono::seconds{60});
  CHECK(config.policy.roles.at(0).approvals_required == 1);
  CHECK(config.slack.api_url == "https://slack.com/api/");
}

TEST_CASE("a backend's timeout may be up to an hour, and no longer", "[config]") {
  // The timeout is a job's time budget, and its lease is twice that: a typo of "10h" for "10m"
  // would leave a hung call holding its slot, and its request, for most of a day.
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  auto with_timeout = [](const std::string& timeout) {
    return backend_and_bot + "timeout = \"" + timeout + "\"\n" + good_role;
  };
  auto hour = config::load_config(dir.write("hour.toml", with_timeout("1h")));
  CHECK(hour.backends.at(0).timeout == std::chrono::hours{1});
  auto message = config_error_of(dir, with_timeout("61m"));
  CHECK(message.find("backends[0].timeout: is too long: at most 1h") != std::string::npos);
}

TEST_CASE("errors name the file, the line and the key", "[config]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  struct Case {
    std::string text;
    std::string says;
  };
  const std::vector<Case> cases{
      {backend_and_bot + good_role + "min_duration = \"5h\"\n", "roles[0].min_duration: is longer than max_duration"},
      {backend_and_bot + good_role + "aprovers = [\"U0X\"]\n", "roles[0].aprovers: unknown key"},
      {backend_and_bot + users_only_role() + "approvals_required = 3\n",
       "roles[0].approvals_required: is 3 but only 2"},
      {backend_and_bot + good_role + "approvals_required = 0\n", "roles[0].approvals_required: must be between"},
      {backend_and_bot + good_role + "break_glass_requesters = [\"alice\"]\n", "not a Slack user ID"},
      {backend_and_bot, "roles: at least one [[roles]] table is required"},
      {backend_and_bot + R"(
[[roles]]
provider = "aws"
name = "admin"
scopes = ["1"]
backend = "nope"
requesters = ["*"]
approvers = ["U0BOB"]
max_duration = "4h"
)",
       "roles[0].backend: no [[backends]] is named \"nope\""},
      {backend_and_bot + R"(
[[roles]]
provider = "aws"
name = "admin"
scopes = ["1"]
backend = "demo"
requesters = ["*"]
approvers = ["U0BOB"]
max_duration = "forever"
)",
       "roles[0].max_duration: \"forever\" is not a duration"},
      {"[bot]\npending_timeout = 30\n", "bot.pending_timeout: must be a duration string"},
      {"[bot]\ndatabase = \"x.db\"\n[[backends]]\nname = \"b\"\ntype = \"lambda\"\ncommand = [\"backend.sh\"]\n",
       "backends[0].type: unknown backend type \"lambda\""},
      {"[[backends]]\nname = \"b\"\ntype = \"exec\"\ncommand = [\"missing.sh\"]\n", "is not an executable file"},
      {"[bot\n", "jitbot.toml:1"},
      {"[sllack]\n", "sllack: unknown section"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto message = config_error_of(dir, c.text);
    CHECK(message.find(c.says) != std::string::npos);
    CHECK(message.find((dir.path() / "jitbot.toml").string()) == 0);
  }
}

TEST_CASE("the error's line points at the offending key", "[config]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  auto text = backend_and_bot + good_role;
  text.replace(text.find("max_duration = \"4h\""), 19, "max_duration = \"4x\"");
  auto message = config_error_of(dir, text);
  // Count the lines up to the bad key, as a person reading the file would.
  auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(text.find("max_duration")), '\n');
  CHECK(message.find("jitbot.toml:" + std::to_string(line) + ": roles[0].max_duration") != std::string::npos);
}

namespace {

/// One role on one backend of `type` (with its required keys), with `role_lines` added.
std::string role_on(const std::string& type, const std::string& role_lines, const std::string& backend_lines = "") {
  return R"(
[bot]
database = "state/jit.db"

[slack]
approvals_channel = "C0APPROVALS"

[[backends]]
name = "cloud"
type = ")" +
         type + "\"\n" + (type == "duplocloud" ? "url = \"https://duplo.example.com\"\n" : "") +
         (type == "exec" ? "command = [\"backend.sh\"]\n" : "") + backend_lines +
         (type == "aws" ? "region = \"us-east-1\"\ninstance_arn = \"arn:aws:sso:::instance/ssoins-1\"\n"
                          "identity_store_id = \"d-1\"\n[backends.roles.r]\n"
                          "permission_set_arn = \"arn:aws:sso:::permissionSet/ssoins-1/ps-1\"\n"
                        : "") +
         R"(
[[roles]]
provider = "p"
name = "r"
backend = "cloud"
requesters = ["*"]
approvers = ["U0BOB"]
max_duration = "4h"
)" + role_lines;
}

}  // namespace

TEST_CASE("scope patterns are checked against their backend's grammar at load", "[config][scope]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  struct Case {
    std::string text;
    std::string says;
  };
  const std::vector<Case> cases{
      {role_on("aws", "scopes = [\"12345678901\"]\n"), "an AWS account ID has exactly 12 digits"},
      {role_on("aws", "scopes = [\"dev-*\"]\n"), "roles[0].scopes: \"dev-*\" cannot be a scope pattern"},
      {role_on("kubernetes", "scopes = [\"team a*\"]\n"),
       "it contains a space, which no scope of this backend can hold"},
      {role_on("gcp", "scopes = [\"Prod-*\"]\n"), "cannot be a scope pattern for this gcp backend"},
      {role_on("exec", "scopes = [\"x/../*\"]\n"), "it contains .."},
      {role_on("kubernetes", "cluster_wide = true\nscopes = [\"payments\"]\n"),
       "roles[0].scopes: must be left out with cluster_wide = true"},
      {role_on("exec", "cluster_wide = true\n"), "roles[0].cluster_wide: is only for kubernetes backends"},
      {role_on("kubernetes", "admin = true\n"), "roles[0].admin: is only for duplocloud backends"},
      {role_on("exec", "scopes = [\"a\"]\n", "scope_pattern = \"db-(\"\n"),
       "backends[0].scope_pattern: is not a valid regular expression"},
      {role_on("aws", "scopes = [\"123456789012\"]\n", "scope_pattern = \"x\"\n"),
       "backends[0].scope_pattern: is for exec and http backends"},
      {role_on("exec", "scopes = [\"a\"]\n", "env = [\"SLACK_BOT_TOKEN\"]\n"),
       "backends[0].env: SLACK_BOT_TOKEN is jitbot's own Slack token"},
      {role_on("exec", "scopes = [\"a\"]\n", "env = [\"A B\"]\n"), "\"A B\" is not an environment variable name"},
      {role_on("exec", "scopes = [\"a\"]\n", "env = [\"JITBOT_AUDIT_KEY\"]\n"),
       "backends[0].env: JITBOT_AUDIT_KEY seals the audit trail and is never passed to a backend"},
      {role_on("duplocloud", "scopes = [\"admin\"]\n"),
       "roles[0].scopes: \"admin\" used to mean DuploCloud admin access: set admin = true"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THAT(config_error_of(dir, c.text), Catch::Contains(c.says));
  }
}

TEST_CASE("cluster-wide and admin access are explicit role settings with one scope each", "[config][scope]") {
  ScratchDir dir;
  auto kubernetes = config::load_config(dir.write("k.toml", role_on("kubernetes", "cluster_wide = true\n")));
  const auto& cluster_role = kubernetes.policy.roles.at(0);
  CHECK(cluster_role.whole_target);
  CHECK(cluster_role.scopes == std::vector<std::string>{"cluster"});
  auto duplo = config::load_config(dir.write("d.toml", role_on("duplocloud", "admin = true\n")));
  CHECK(duplo.policy.roles.at(0).whole_target);
  CHECK(duplo.policy.roles.at(0).scopes == std::vector<std::string>{"admin"});
  // Without the setting, "*" is any one namespace, never the whole cluster.
  auto namespaced = config::load_config(dir.write("n.toml", role_on("kubernetes", "scopes = [\"*\"]\n")));
  CHECK_FALSE(namespaced.policy.roles.at(0).whole_target);
  CHECK(namespaced.policy.roles.at(0).scope_grammar.kind == workflows::ScopeKind::kubernetes_namespace);
}

TEST_CASE("dangerous or wrong values are refused with what to write instead", "[config][security]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  struct Case {
    std::string text;
    std::string says;
  };
  auto with_slack = [](const std::string& slack_lines) {
    std::string text = backend_and_bot + good_role;
    text.replace(text.find("[slack]\n"), 8, "[slack]\n" + slack_lines);
    return text;
  };
  auto with_incident_channel = [](const std::string& channel) {
    std::string text = backend_and_bot + good_role;
    text.replace(text.find("C0INCIDENT"), 10, channel);
    return text;
  };
  const std::vector<Case> cases{
      {backend_and_bot + good_role + "break_glass_requesters = [\"*\"]\n",
       "roles[0].break_glass_requesters: \"*\" is not allowed: break-glass grants with no approval"},
      {"bot = 5\n" + good_role, "bot: must be a section ([bot]), not a value"},
      {"slack = \"x\"\n", "slack: must be a section ([slack]), not a value"},
      {with_slack("api_url = \"http://slack.example.com/api/\"\n"),
       "slack.api_url: must use https:// (http:// only for 127.0.0.1, ::1 or localhost)"},
      {with_slack("api_url = \"http://127.0.0.1.evil.example/api/\"\n"), "slack.api_url: must use https://"},
      {backend_and_bot + good_role + "approvals_channel = \"#approvals\"\n",
       "roles[0].approvals_channel: \"#approvals\" is not a channel ID"},
      {with_incident_channel("U0BOB"), "slack.incident_channels: \"U0BOB\" is not a channel ID"},
      {backend_and_bot + users_only_role() + "min_duration = \"9000h\"\n",
       "roles[0].min_duration: \"9000h\" is too long (at most 8784h)"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THAT(config_error_of(dir, c.text), Catch::Contains(c.says));
  }
  // Loopback stays allowed over http, for fakes and local proxies.
  auto local = dir.write("local.toml", with_slack("api_url = \"http://127.0.0.1:8080/api/\"\n"));
  CHECK(config::load_config(local).slack.api_url == "http://127.0.0.1:8080/api/");
}

TEST_CASE("alert sinks, break-glass limits and on-call schedules load as written", "[config][incident]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  auto file = dir.write("jitbot.toml", backend_and_bot + good_role +
                                           "auto_approve_oncall = [\"pagerduty:P1ABCDE\", \"opsgenie:platform\"]\n" +
                                           R"(
[break_glass]
realert_after = "15m"
max_per_user = 3
window = "24h"
max_duration = "1h"

[[alerts]]
type = "slack"
mention = "S0ONCALL"

[[alerts]]
name = "siem"
type = "webhook"
url = "https://siem.example/jitbot"
secret_env = "SIEM_SECRET"

[[alerts]]
name = "pager"
type = "pagerduty"
routing_key_env = "PD_ROUTING_KEY"
severity = "error"
resolve_on = "end"

[oncall.pagerduty]
token_env = "PD_API_TOKEN"

[oncall.opsgenie]
api_url = "https://api.eu.opsgenie.com/"
)");
  auto config = config::load_config(file);
  const auto& policy = config.policy;
  CHECK(policy.break_glass.realert_after == 15min);
  CHECK(policy.break_glass.max_per_user == 3);
  CHECK(policy.break_glass.max_duration == 1h);
  REQUIRE(policy.alerts.size() == 3);
  CHECK(policy.alerts[0].name == "slack");
  CHECK(policy.alerts[0].channels == std::vector<std::string>{"C0INCIDENT"});  // from [slack] incident_channels
  CHECK(policy.alert_mention("C0INCIDENT") == "S0ONCALL");
  CHECK(policy.alerts[2].resolve_on == workflows::AlertSink::ResolveOn::end);
  REQUIRE(config.alert_sinks.size() == 2);
  CHECK(config.alert_sinks[0].secret_env == "SIEM_SECRET");
  CHECK(config.alert_sinks[1].url == "https://events.pagerduty.com/v2/enqueue");
  CHECK(config.alert_sinks[1].severity == "error");
  CHECK(config.on_call.pagerduty.api_url == "https://api.pagerduty.com");
  CHECK(config.on_call.pagerduty.token_env == "PD_API_TOKEN");
  CHECK(config.on_call.opsgenie.api_url == "https://api.eu.opsgenie.com");
  CHECK(policy.roles[0].auto_approve_oncall == std::vector<std::string>{"pagerduty:P1ABCDE", "opsgenie:platform"});
}

TEST_CASE("alert and on-call mistakes are refused with what to write instead", "[config][incident]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  const std::string base = backend_and_bot + good_role;
  const std::vector<std::pair<std::string, std::string>> cases{
      {base + "[[alerts]]\ntype = \"email\"\n", "alerts[0].type: unknown alert type \"email\""},
      {base + "[[alerts]]\ntype = \"slack\"\nmention = \"<!everyone>\"\n", "alerts[0].mention: must be"},
      {base + "[[alerts]]\ntype = \"webhook\"\nurl = \"http://siem.example/x\"\nsecret_env = \"S\"\n",
       "alerts[0].url: must use https://"},
      {base + "[[alerts]]\ntype = \"webhook\"\nurl = \"https://siem.example/x\"\nsecret_env = \"hunter2-secret\"\n",
       "alerts[0].secret_env: must name an environment variable"},
      {base + "[[alerts]]\ntype = \"pagerduty\"\nseverity = \"panic\"\n", "alerts[0].severity: must be critical"},
      {base + "[[alerts]]\ntype = \"pagerduty\"\n[[alerts]]\ntype = \"pagerduty\"\n",
       "alerts[1].name: alert sink \"pagerduty\" is defined twice"},
      {base + "[[alerts]]\ntype = \"pagerduty\"\nresolve_on = \"never\"\n", "alerts[0].resolve_on: must be"},
      {base + "auto_approve_oncall = [\"pagerduty:P1\"]\n",
       "roles[0].auto_approve_oncall: names pagerduty but there is no [oncall.pagerduty] section"},
      {base + "auto_approve_oncall = [\"victorops:x\"]\n[oncall.pagerduty]\n",
       "roles[0].auto_approve_oncall: \"victorops:x\" must be"},
      {base + "[break_glass]\nmax_per_user = -1\n", "break_glass.max_per_user: must be between 0"},
      {base + "[break_glass]\nrealert = \"1h\"\n", "break_glass.realert: unknown key"},
  };
  for (const auto& [text, says] : cases) {
    INFO(text);
    CHECK_THAT(config_error_of(dir, text), Catch::Contains(says));
  }
}

TEST_CASE("reminders and escalation are configured per role, with [bot] defaults", "[config][flow]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  std::string text = backend_and_bot + good_role +
                     "remind_after = \"15m\"\nescalate_after = \"5m\"\nescalation_approvers = [\"U0BOSS\"]\n";
  text.replace(text.find("pending_timeout = \"10m\"\n"), 24,
               "pending_timeout = \"10m\"\nremind_after = \"1h\"\nmax_reminders = 5\n");
  auto config = config::load_config(dir.write("jitbot.toml", text));
  const auto& role = config.policy.roles[0];
  CHECK(config.policy.remind_after == 1h);
  CHECK(config.policy.remind_after_for(role) == 15min);
  CHECK(config.policy.max_reminders_for(role) == 5);
  CHECK(role.escalate_after == 5min);
  CHECK(role.escalation_approvers == std::vector<std::string>{"U0BOSS"});

  const std::string base = backend_and_bot + good_role;
  CHECK_THAT(config_error_of(dir, base + "escalate_after = \"5m\"\n"),
             Catch::Contains("roles[0].escalate_after: escalate_after and escalation_approvers go together"));
  CHECK_THAT(config_error_of(dir, base + "escalate_after = \"1h\"\nescalation_approvers = [\"U0BOSS\"]\n"),
             Catch::Contains("roles[0].escalate_after: is not shorter than [bot] pending_timeout (10m)"));
  CHECK_THAT(config_error_of(dir, base + "max_reminders = 99\n"),
             Catch::Contains("roles[0].max_reminders: must be between 0 and 20"));
}

TEST_CASE("extensions and the pre-expiry warning are configured per role, with a [bot] default", "[config][extend]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  const std::string base = backend_and_bot + good_role;
  auto plain = config::load_config(dir.write("jitbot.toml", base));
  const auto& defaults = plain.policy.roles[0];
  CHECK_FALSE(defaults.self_extend);
  CHECK(defaults.longest_with_extensions() == defaults.max_duration);
  CHECK(plain.policy.warn_before_for(defaults) == 10min);

  std::string text = base + "self_extend = true\nmax_extended_duration = \"8h\"\nwarn_before = \"0s\"\n";
  text.replace(text.find("pending_timeout = \"10m\"\n"), 24, "pending_timeout = \"10m\"\nwarn_before = \"5m\"\n");
  auto config = config::load_config(dir.write("jitbot.toml", text));
  const auto& role = config.policy.roles[0];
  CHECK(role.self_extend);
  CHECK(role.longest_with_extensions() == 8h);
  CHECK(config.policy.warn_before == 5min);
  CHECK(config.policy.warn_before_for(role) == workflows::Seconds{0});

  CHECK_THAT(config_error_of(dir, base + "max_extended_duration = \"1m\"\n"),
             Catch::Contains("roles[0].max_extended_duration: is shorter than max_duration"));
  CHECK_THAT(config_error_of(dir, base + "self_extend = \"yes\"\n"), Catch::Contains("roles[0].self_extend"));
}

TEST_CASE("ticket systems load, and a role may require one", "[config][tickets]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  const std::string tickets = R"(
[tickets.jira]
url = "https://acme.atlassian.net/"
email_env = "JIRA_EMAIL"
projects = ["INC", "OPS"]
on_error = "refuse"

[tickets.github]
repos = ["acme/ops"]
)";
  auto config = config::load_config(
      dir.write("jitbot.toml", backend_and_bot + good_role + "require_ticket = \"jira\"\n" + tickets));
  REQUIRE(config.policy.ticket_systems.size() == 2);
  CHECK(config.policy.roles[0].require_ticket == "jira");
  CHECK(config.policy.ticket_systems[0].refuse_on_error);
  CHECK(config.policy.ticket_systems[0].projects == std::vector<std::string>{"INC", "OPS"});
  CHECK_FALSE(config.policy.ticket_systems[1].refuse_on_error);
  CHECK(config.ticket_apis[0].api_url == "https://acme.atlassian.net");
  CHECK(config.ticket_apis[0].token_env == "JIRA_API_TOKEN");
  CHECK(config.ticket_apis[0].email_env == "JIRA_EMAIL");
  CHECK(config.ticket_apis[1].api_url == "https://api.github.com");

  const std::string base = backend_and_bot + good_role;
  CHECK_THAT(config_error_of(dir, base + "require_ticket = \"jira\"\n"),
             Catch::Contains("roles[0].require_ticket: there is no [tickets.jira] section"));
  CHECK_THAT(config_error_of(dir, base + "require_ticket = \"servicenow\"\n"),
             Catch::Contains("roles[0].require_ticket: must be \"jira\" or \"github\""));
  CHECK_THAT(config_error_of(dir, base + "[tickets.jira]\nurl = \"https://j.example\"\nprojects = [\"inc\"]\n"),
             Catch::Contains("tickets.jira.projects: \"inc\" is not a Jira project key"));
  CHECK_THAT(config_error_of(dir, base + "[tickets.github]\nrepos = [\"acme\"]\n"),
             Catch::Contains("tickets.github.repos: \"acme\" is not OWNER/REPO"));
}
