// jitbot: just-in-time cloud access with approvals and break-glass alerts, from chat.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "bot/shell_app.hpp"
#include "bot/slack_app.hpp"
#include "config/config.hpp"
#include "storage/sqlite_store.hpp"
#include "workflows/wording.hpp"

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

void configure_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("jitbot");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
}

std::optional<jitbot::config::Config> load(const std::string& path) {
  try {
    return jitbot::config::load_config(path);
  } catch (const jitbot::config::ConfigError& e) {
    std::cerr << "jitbot: config error: " << e.what() << "\n";
    return std::nullopt;
  }
}

int list_requests(const jitbot::config::Config& config, const std::string& state, int limit) {
  jitbot::storage::SqliteStore store(config.database.string());
  jitbot::workflows::RequestFilter filter;
  filter.limit = limit;
  if (!state.empty()) {
    auto parsed = jitbot::workflows::parse_request_state(state);
    if (!parsed) {
      std::cerr << "jitbot: unknown state " << state << " (PENDING, APPROVED, ACTIVE, EXPIRED, REVOKED, DENIED, "
                << "TIMED_OUT, CANCELLED, GRANT_FAILED, REVOKE_FAILED)\n";
      return exit_usage;
    }
    filter.states = {*parsed};
  }
  for (const auto& request : store.list(filter)) {
    std::cout << jitbot::workflows::list_line(request, config.policy) << "\n";
  }
  return exit_ok;
}

int verify_audit(const jitbot::config::Config& config) {
  jitbot::storage::SqliteStore store(config.database.string());
  auto result = store.verify_audit();
  if (result.intact) {
    std::cout << "audit trail intact: " << result.records << " records, hash chain verified\n";
    return exit_ok;
  }
  std::cout << "audit trail BROKEN after " << result.records << " good records: " << result.problem << "\n";
  return exit_failure;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"jitbot: just-in-time cloud access with approvals and break-glass alerts, from chat"};
  app.set_version_flag("--version", std::string{"jitbot "} + JITBOT_VERSION);
  app.require_subcommand(1);
  std::string config_path;
  std::string log_level = "warn";
  app.add_option("--config,-c", config_path, "TOML config file")->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));

  auto* shell = app.add_subcommand("shell", "the whole bot in a terminal: /as, /jit, click, /wait");
  bool manual_clock = false;
  std::string initial_user = "U0ALICE";
  shell->add_flag("--manual-clock", manual_clock, "time moves only with /wait (for scripted sessions)");
  shell->add_option("--as", initial_user, "the acting user at start");
  auto* run = app.add_subcommand(
      "run", "the bot on Slack through Socket Mode; tokens from SLACK_APP_TOKEN and SLACK_BOT_TOKEN");
  auto* check = app.add_subcommand("check-config", "validate the config and print a summary");
  auto* requests = app.add_subcommand("requests", "inspect requests");
  auto* requests_list = requests->add_subcommand("list", "list requests, newest first");
  requests->require_subcommand(1);
  std::string state_filter;
  int limit = 50;
  requests_list->add_option("--state", state_filter, "only this state, e.g. ACTIVE");
  requests_list->add_option("--limit", limit, "at most this many")->check(CLI::Range(1, 100000));
  auto* audit = app.add_subcommand("audit", "the audit trail");
  auto* audit_verify = audit->add_subcommand("verify", "recompute the audit hash chain");
  audit->require_subcommand(1);
  for (auto* sub : {shell, run, check, requests_list, audit_verify}) {
    sub->add_option("--config,-c", config_path, "TOML config file")->check(CLI::ExistingFile);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }
  configure_logging(log_level);

  if (config_path.empty()) {
    std::cerr << "jitbot: --config FILE is required (see config/examples/jitbot.toml)\n";
    return exit_usage;
  }
  auto config = load(config_path);
  if (!config) return exit_usage;

  try {
    if (*check) {
      std::cout << jitbot::config::summarize(*config);
      return exit_ok;
    }
    if (*shell) {
      return jitbot::bot::run_shell(*config, STDIN_FILENO, std::cout, {manual_clock, initial_user});
    }
    if (*run) return jitbot::bot::run_slack(*config);
    if (*requests_list) return list_requests(*config, state_filter, limit);
    if (*audit_verify) return verify_audit(*config);
  } catch (const std::exception& e) {
    std::cerr << "jitbot: " << e.what() << "\n";
    return exit_failure;
  }
  return exit_usage;
}
