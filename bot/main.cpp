// jitbot: just-in-time cloud access with approvals and break-glass alerts, from chat.
#include <malloc.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>

#include "bot/admin_cli.hpp"
#include "bot/log_format.hpp"
#include "bot/shell_app.hpp"
#include "bot/slack_app.hpp"
#include "config/config.hpp"
#include "workflows/text.hpp"

namespace {

constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

void configure_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("jitbot");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  jitbot::bot::use_log_format(format);
}

std::optional<jitbot::config::Config> load(const std::string& path) {
  try {
    return jitbot::config::load_config(path);
  } catch (const jitbot::config::ConfigError& e) {
    std::cerr << "jitbot: config error: " << e.what() << "\n";
    return std::nullopt;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A backend program runs as the same user: without this it could read jitbot's environment
  // (the Slack tokens, the audit key, other backends' secrets) from /proc/PPID/environ, or its
  // memory. It also keeps secrets out of core dumps.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  CLI::App app{"jitbot: just-in-time cloud access with approvals and break-glass alerts, from chat"};
  app.set_version_flag("--version", std::string{"jitbot "} + JITBOT_VERSION);
  app.require_subcommand(1);
  std::string config_path;
  std::string log_level;  // default: info for jitbot run (a service), warn for the rest
  std::string log_format = "text";
  app.add_option("--config,-c", config_path, "TOML config file")->check(CLI::ExistingFile);
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--log-format", log_format, "text, or json: one object per line")
      ->check(CLI::IsMember({"text", "json"}));

  auto* shell = app.add_subcommand("shell", "the whole bot in a terminal: /as, /jit, click, /wait");
  bool manual_clock = false;
  std::string initial_user = "U0ALICE";
  shell->add_flag("--manual-clock", manual_clock, "time moves only with /wait (for scripted sessions)");
  shell->add_option("--as", initial_user, "the acting user at start");
  auto* run = app.add_subcommand(
      "run", "the bot on Slack through Socket Mode; tokens from SLACK_APP_TOKEN and SLACK_BOT_TOKEN");
  auto* check = app.add_subcommand("check-config", "validate the config and print a summary");
  auto* requests = app.add_subcommand("requests", "inspect and act on requests (for when chat or a backend is down)");
  requests->require_subcommand(1);
  auto* requests_list = requests->add_subcommand("list", "list requests, newest first");
  std::string state_filter;
  int limit = 50;
  requests_list->add_option("--state", state_filter, "only this state, e.g. ACTIVE");
  requests_list->add_option("--limit", limit, "at most this many")->check(CLI::Range(1, 100000));
  bool unreviewed_only = false;
  requests_list->add_flag("--unreviewed", unreviewed_only, "only break-glass requests nobody has reviewed yet");
  std::string request_id;
  std::string reason;
  std::string acting_as;
  auto* requests_show = requests->add_subcommand("show", "one request, its pending backend jobs and its audit trail");
  auto* requests_revoke = requests->add_subcommand("revoke", "end active access now, calling the backend from here");
  auto* requests_cancel = requests->add_subcommand("cancel", "cancel a pending request");
  auto* requests_resolve =
      requests->add_subcommand("resolve", "record that access was removed by hand; stops revoke retries");
  for (auto* sub : {requests_show, requests_revoke, requests_cancel, requests_resolve}) {
    sub->add_option("ID", request_id, "the request ID (req_…)")->required();
  }
  for (auto* sub : {requests_revoke, requests_cancel, requests_resolve}) {
    sub->add_option("--reason", reason, "why, for the audit trail and the requester");
    sub->add_option("--as", acting_as, "the operator's name in the audit trail (default: $USER)");
  }
  auto* outbox = app.add_subcommand("outbox", "chat notices waiting or set aside");
  outbox->require_subcommand(1);
  auto* outbox_list = outbox->add_subcommand("list", "notices not yet delivered");
  bool parked_only = false;
  outbox_list->add_flag("--parked", parked_only, "only those set aside after failing");
  outbox_list->add_option("--limit", limit, "at most this many")->check(CLI::Range(1, 100000));
  auto* outbox_retry = outbox->add_subcommand("retry", "make a parked notice due again now");
  std::int64_t notice_id = 0;
  outbox_retry->add_option("ID", notice_id, "the notice number from outbox list")->required();
  auto* audit = app.add_subcommand("audit", "the audit trail");
  auto* audit_verify = audit->add_subcommand("verify", "recompute the audit hash chain");
  std::string anchor;
  audit_verify->add_option("--anchor", anchor,
                           "SEQUENCE:HASH of the newest record as recorded elsewhere (default: the file beside the "
                           "database)");
  auto* audit_export = audit->add_subcommand("export", "print the audit trail as JSON Lines, for a SIEM");
  std::string since;
  audit_export->add_option("--since", since, "only records at or after this RFC 3339 time");
  std::string format = "jsonl";
  audit_export->add_option("--format", format, "jsonl (one JSON object per record)")->check(CLI::IsMember({"jsonl"}));
  audit->require_subcommand(1);
  auto* backup = app.add_subcommand("backup", "copy the SQLite database while jitbot runs, with its audit head anchor");
  auto* migrate = app.add_subcommand("migrate", "create or upgrade the database schema, then exit");
  std::string backup_to;
  backup->add_option("--to", backup_to, "the file to write (replaced whole, never half-written)")->required();
  for (auto* sub : {shell, run, check, backup, migrate, requests_list, requests_show, requests_revoke, requests_cancel,
                    requests_resolve, outbox_list, outbox_retry, audit_verify, audit_export}) {
    sub->add_option("--config,-c", config_path, "TOML config file")->check(CLI::ExistingFile);
    sub->add_option("--log-level", log_level, "trace, debug, info, warn, error")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
    sub->add_option("--log-format", log_format, "text, or json: one object per line")
        ->check(CLI::IsMember({"text", "json"}));
  }

  // CLI11 would say "A subcommand is required" for a misspelt one; say which word it did not know.
  if (argc > 1 && argv[1][0] != '-') {
    std::string word = argv[1];
    auto known = app.get_subcommands([](const CLI::App*) { return true; });
    bool found = std::any_of(known.begin(), known.end(), [&](const CLI::App* sub) { return sub->get_name() == word; });
    if (!found) {
      std::cerr << "jitbot: unknown command \"" << word
                << "\"; the commands are shell, run, check-config, requests, outbox, audit, backup and migrate (see "
                   "jitbot --help)\n";
      return exit_usage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return exit_usage;
  }
  if (log_level.empty()) log_level = *run ? "info" : "warn";
  configure_logging(log_level, log_format);
  // jitbot run has about thirty threads; glibc would give most of them a malloc arena of their
  // own, each holding freed memory. Two arenas keep the resident set small at no cost we measured.
  mallopt(M_ARENA_MAX, 2);

  if (config_path.empty()) {
    std::cerr << "jitbot: --config FILE is required (see config/examples/jitbot.toml)\n";
    return exit_usage;
  }
  auto config = load(config_path);
  if (!config) return exit_usage;

  // Words an operator typed go into the audit trail and the chat: valid UTF-8 from here on.
  reason = jitbot::workflows::repair_utf8(reason);
  acting_as = jitbot::workflows::repair_utf8(acting_as);
  try {
    namespace admin = jitbot::bot::admin;
    if (*check) return admin::check_config(*config);
    if (*shell) {
      return jitbot::bot::run_shell(*config, STDIN_FILENO, std::cout, {manual_clock, initial_user});
    }
    if (*run) return jitbot::bot::run_slack(*config);
    if (*requests_list) return admin::list_requests(*config, state_filter, limit, unreviewed_only);
    if (*requests_show) return admin::show_request(*config, request_id);
    if (*requests_revoke) return admin::revoke_request(*config, request_id, reason, acting_as);
    if (*requests_cancel) return admin::cancel_request(*config, request_id, reason, acting_as);
    if (*requests_resolve) return admin::resolve_request(*config, request_id, reason, acting_as);
    if (*outbox_list) return admin::list_outbox(*config, parked_only, limit);
    if (*outbox_retry) return admin::retry_notice(*config, notice_id);
    if (*audit_verify) return admin::verify_audit(*config, anchor);
    if (*audit_export) return admin::export_audit(*config, since);
    if (*backup) return admin::backup(*config, backup_to);
    if (*migrate) return admin::migrate(*config);
  } catch (const std::exception& e) {
    std::cerr << "jitbot: " << e.what() << "\n";
    return exit_failure;
  }
  return exit_usage;
}
