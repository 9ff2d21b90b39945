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
