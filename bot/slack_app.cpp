#include "bot/slack_app.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

#include "adapters/slack/cards.hpp"
#include "adapters/slack/slack_chat.hpp"
#include "adapters/slack/slack_client.hpp"
#include "adapters/slack/slack_directory.hpp"
#include "bot/assembly.hpp"
#include "bot/command_parser.hpp"
#include "bot/jit_bot.hpp"
#include "bot/random_ids.hpp"
#include "storage/sqlite_store.hpp"
#include "workflows/outbox.hpp"

namespace jitbot::bot {
namespace {

namespace slack = adapters::slack;
using namespace std::chrono_literals;
using json = nlohmann::json;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("bot");
  return instance;
}

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// Something a person did in Slack, or a reason to stop, handed from the network thread to
/// the thread that owns the workflow.
struct Input {
  enum class Kind { command, click, stop, fatal };
  Kind kind = Kind::command;
  std::string user;
  std::string text;    ///< command text, or the fatal message
  std::string action;  ///< approve, deny, revoke
  std::string request_id;
  std::string response_url;

  static Input of(Kind kind, std::string text = {}) {
    Input input;
    input.kind = kind;
    input.text = std::move(text);
    return input;
  }
};

class InputQueue {
 public:
  void push(Input input) {
    {
      std::lock_guard lock(mutex_);
      inputs_.push_back(std::move(input));
    }
    ready_.notify_one();
  }

  std::optional<Input> pop(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    if (!ready_.wait_for(lock, timeout, [this] { return !inputs_.empty(); })) return std::nullopt;
    Input input = std::move(inputs_.front());
    inputs_.pop_front();
    return input;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Input> inputs_;
};

/// Delivers the outbox on a thread of its own, with its own database connection: a post that
/// waits for Slack's rate limit or an outage delays only other posts, never commands.
class Courier {
 public:
  // Relaxed durability: after an OS crash a delivered notice may be sent again, never lost;
  // it spares an fsync per message, which otherwise caps how fast cards go out.
  Courier(const std::string& database, slack::SlackChat& chat)
      : store_(database, storage::SqliteStore::Durability::relaxed), chat_(chat) {
    thread_ = std::thread([this] { run(); });
  }
  ~Courier() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

  void kick() {
    {
      std::lock_guard lock(mutex_);
      kicked_ = true;
    }
    wake_.notify_one();
  }

 private:
  void run() {
    auto retry_in = 1s;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, retry_in, [this] { return kicked_ || stopping_; });
      if (stopping_) break;
      kicked_ = false;
      lock.unlock();
      bool all_delivered = deliver_once();
      lock.lock();
      // Failed notices stay in the outbox; try again later, less often while Slack refuses.
      retry_in = all_delivered ? 5s : std::min<std::chrono::seconds>(retry_in * 2, 60s);
      if (all_delivered) retry_in = 1s;
    }
  }

  bool deliver_once() {
    try {
      workflows::deliver_outbox(store_, chat_);
      return store_.undelivered_notices(1).empty();
    } catch (const std::exception& e) {
      logger()->error("outbox delivery failed: {}", e.what());
      return false;
    }
  }

  storage::SqliteStore store_;
  slack::SlackChat& chat_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool kicked_ = false;
  bool stopping_ = false;
  std::thread thread_;
};

std::optional<std::string> token_from_environment(const char* name, std::string_view prefix, std::string& problem) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') {
    problem = std::string(name) + " is not set. Set it to the app's " +
              (prefix == "xapp-" ? "app-level token (xapp-…, with connections:write)" : "bot token (xoxb-…)") +
              " from api.slack.com/apps.";
    return std::nullopt;
  }
  std::string token{value};
  if (token.rfind(prefix, 0) != 0) {
    // Say what it looks like, never what it is.
    problem = std::string(name) + " must start with " + std::string(prefix) + " (the value set has another form).";
    return std::nullopt;
  }
  return token;
}

std::optional<std::string> action_for(std::string_view action_id) {
  if (action_id == slack::approve_action) return "approve";
  if (action_id == slack::deny_action) return "deny";
  if (action_id == slack::revoke_action) return "revoke";
  return std::nullopt;
}

/// Runs on the network thread: turns an envelope into an Input at once. Commands that need
/// no database (help, a malformed command) are answered in the ack itself.
std::optional<json> route_envelope(const slack::Envelope& envelope, InputQueue& inputs) {
  const json& payload = envelope.payload;
  if (!payload.is_object()) return std::nullopt;
  if (envelope.type == "slash_commands") {
    auto input = Input::of(Input::Kind::command);
    input.user = payload.value("user_id", std::string{});
    input.text = payload.value("text", std::string{});
    input.response_url = payload.value("response_url", std::string{});
    auto parsed = parse_command(input.text);
    if (auto* failure = std::get_if<ParseError>(&parsed)) {
      return slack::ephemeral_reply(failure->message + "\nUsage: " + failure->usage);
    }
    if (std::get<Command>(parsed).verb == Verb::help) return slack::ephemeral_reply(help_text());
    inputs.push(std::move(input));
    return std::nullopt;
  }
  if (envelope.type == "interactive" && payload.value("type", std::string{}) == "block_actions") {
    const json& actions = payload.contains("actions") ? payload["actions"] : json::array();
    if (!actions.is_array() || actions.empty() || !actions[0].is_object()) return std::nullopt;
    auto action = action_for(actions[0].value("action_id", std::string{}));
    if (!action) return std::nullopt;
    auto input = Input::of(Input::Kind::click);
    input.user = payload.contains("user") && payload["user"].is_object() ? payload["user"].value("id", std::string{})
                                                                         : std::string{};
    input.action = *action;
    input.request_id = actions[0].value("value", std::string{});
    input.response_url = payload.value("response_url", std::string{});
    inputs.push(std::move(input));
    return std::nullopt;
  }
  logger()->debug("ignored an envelope of type {}", envelope.type);
  return std::nullopt;
}

/// Waits for SIGINT or SIGTERM on a thread of its own (they are blocked everywhere else).
std::thread watch_signals(InputQueue& inputs, sigset_t signals) {
  return std::thread([&inputs, signals] {
    int received = 0;
    sigwait(&signals, &received);
    inputs.push(Input::of(Input::Kind::stop));
  });
}

slack::SlackSettings settings_from(const config::Config& config, std::string app_token, std::string bot_token) {
  slack::SlackSettings settings;
  settings.api_url = config.slack.api_url;
  settings.app_token = std::move(app_token);
  settings.bot_token = std::move(bot_token);
  settings.ca_file = config.slack.ca_file.string();
  settings.channel_post_interval = config.slack.channel_post_interval;
  settings.method_pacing = config.slack.method_pacing;
  settings.ping_timeout = config.slack.ping_timeout;
  return settings;
}

void handle(JitBot& bot, slack::SlackClient& client, const Input& input) {
  try {
    if (input.kind == Input::Kind::command) {
      auto reply = bot.handle_command(input.user, input.text);
      client.respond(input.response_url, slack::ephemeral_reply(reply.text));
    } else {
      auto reply = bot.handle_button(input.user, input.action, input.request_id);
      // A click that works shows on the card itself; one the rules refuse is explained.
      if (!reply.ok) client.respond(input.response_url, slack::ephemeral_reply(reply.text));
    }
  } catch (const std::exception& e) {
    logger()->error("could not handle a {} from {}: {}", input.kind == Input::Kind::command ? "command" : "click",
                    input.user, e.what());
    client.respond(input.response_url,
                   slack::ephemeral_reply("jitbot hit an internal error. Check with /jit status whether anything "
                                          "changed, and tell the jitbot admins if it happens again."));
  }
}

/// Backend calls that may run at once; exec backends are one process per call.
constexpr int concurrent_backend_calls = 16;

}  // namespace

int run_slack(const config::Config& config) {
  std::string problem;
  auto app_token = token_from_environment("SLACK_APP_TOKEN", "xapp-", problem);
  auto bot_token = app_token ? token_from_environment("SLACK_BOT_TOKEN", "xoxb-", problem) : std::nullopt;
  if (!app_token || !bot_token) {
    std::cerr << "jitbot run: " << problem << "\n";
    return exit_usage;
  }
  if (config.database == ":memory:") {
    std::cerr << "jitbot run: [bot] database must be a file; requests must survive a restart\n";
    return exit_usage;
  }

  // Block the stop signals before any thread starts, so only the watcher receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  InputQueue inputs;
  slack::SlackClient client(settings_from(config, *app_token, *bot_token));
  auto identity = client.call("auth.test", json::object());
  if (!identity.ok && (identity.error == "invalid_auth" || identity.error == "not_authed" ||
                       identity.error == "account_inactive" || identity.error == "token_revoked")) {
    std::cerr << "jitbot run: Slack refused SLACK_BOT_TOKEN (" << identity.describe()
              << "). Reinstall the app to the workspace and copy its Bot User OAuth Token.\n";
    return exit_failure;
  }
  if (identity.ok) {
    std::cerr << "jitbot: connected to " << identity.body.value("team", std::string{"Slack"}) << " as @"
              << identity.body.value("user", std::string{"jitbot"}) << "\n";
  } else {
    logger()->warn("auth.test failed ({}); carrying on, Socket Mode will keep trying", identity.describe());
  }

  storage::SqliteStore store(config.database.string());
  slack::SlackDirectory directory(client, config.directory);
  slack::SlackChat chat(client, config.policy);
  SystemClock clock;
  RandomIds ids(clock);
  JitBot bot(config.policy, store, directory, chat, clock, ids, make_backends(config));
  Courier courier(config.database.string(), chat);
  bot.deliver_outbox_elsewhere([&courier] { courier.kick(); });
  bot.run_backends_concurrently(concurrent_backend_calls);

  std::thread signal_watcher = watch_signals(inputs, stop_signals);
  signal_watcher.detach();
  client.start([&inputs](const slack::Envelope& envelope) { return route_envelope(envelope, inputs); },
               [&inputs](const std::string& message) { inputs.push(Input::of(Input::Kind::fatal, message)); });

  bot.run_due();  // finish what a previous run left: overdue expiries, revokes, grants, notices
  int exit_code = exit_ok;
  for (;;) {
    auto wait = 60'000ms;
    if (auto due = bot.next_due()) {
      wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*due - clock.now()), 0ms, wait);
    }
    // Everything that arrived is answered before the backend work it starts, which then runs
    // as one batch (side by side), so a burst of approvals does not queue grant behind grant.
    bool stopping = false;
    for (auto input = inputs.pop(wait); input; input = inputs.pop(0ms)) {
      if (input->kind == Input::Kind::stop) {
        stopping = true;
        break;
      }
      if (input->kind == Input::Kind::fatal) {
        std::cerr << "jitbot run: " << input->text << "\n";
        exit_code = exit_failure;
        stopping = true;
        break;
      }
      handle(bot, client, *input);
    }
    if (stopping) break;
    try {
      bot.run_due();
    } catch (const std::exception& e) {
      logger()->error("scheduled work failed: {}", e.what());
    }
  }
  client.stop();
  return exit_code;
}

}  // namespace jitbot::bot
