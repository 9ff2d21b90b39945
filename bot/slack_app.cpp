#include "bot/slack_app.hpp"

#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <optional>
#include <thread>

#include "adapters/oncall/on_call_schedules.hpp"
#include "adapters/slack/cards.hpp"
#include "adapters/slack/slack_chat.hpp"
#include "adapters/slack/slack_client.hpp"
#include "adapters/slack/slack_directory.hpp"
#include "adapters/tickets/ticket_lookup.hpp"
#include "bot/anchor_poster.hpp"
#include "bot/assembly.hpp"
#include "bot/command_parser.hpp"
#include "bot/courier.hpp"
#include "bot/inbox.hpp"
#include "bot/job_workers.hpp"
#include "bot/log_format.hpp"
#include "bot/notice_router.hpp"
#include "bot/random_ids.hpp"
#include "bot/status_endpoint.hpp"
#include "storage/audit_chain.hpp"
#include "storage/postgres_store.hpp"
#include "storage/shared_connections.hpp"

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

/// How the main thread learns that it is time to stop: a signal, or a fatal Slack error.
class StopSignal {
 public:
  void stop(int exit_code, std::string message = {}) {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      exit_code_ = exit_code;
      message_ = std::move(message);
    }
    changed_.notify_all();
  }

  /// Waits for stop(); returns the exit code, and the message (if any) in `message`.
  int wait(std::string& message) {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return stopped_; });
    message = message_;
    return exit_code_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopped_ = false;
  int exit_code_ = 0;
  std::string message_;
};

/// "127.0.0.1:9090", "[::1]:9090".
std::string listen_text(const std::string& host, int port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

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

/// A string field of a JSON object, or "" when it is missing or not a string (never throws).
std::string text_field(const json& object, const char* key) {
  if (!object.is_object()) return {};
  auto found = object.find(key);
  return found != object.end() && found->is_string() ? found->get<std::string>() : std::string{};
}

using ActionKind = workflows::Action::Kind;

std::optional<ActionKind> action_for(std::string_view action_id) {
  if (action_id == slack::approve_action) return ActionKind::approve;
  // The Deny button asks for a reason first; the form's submission denies.
  if (action_id == slack::deny_action) return ActionKind::deny_form;
  if (action_id == slack::revoke_action) return ActionKind::revoke;
  if (action_id == slack::acknowledge_action) return ActionKind::acknowledge;
  if (action_id == slack::extend_action) return ActionKind::take_extension;
  return std::nullopt;
}

/// Makes `input` a click, as the inbox stores one: its name, and the request it is about.
void make_click(workflows::Input& input, ActionKind kind, std::string target = {}) {
  input.kind = workflows::Input::Kind::click;
  input.text = std::string{click_name(kind)};
  input.target = std::move(target);
}

bool is_form_submission(const slack::Envelope& envelope, std::string_view callback_id) {
  if (envelope.type != "interactive" || text_field(envelope.payload, "type") != "view_submission") return false;
  auto view = envelope.payload.find("view");
  return view != envelope.payload.end() && text_field(*view, "callback_id") == callback_id;
}

/// "/jit request" with nothing after it: the person wants the form.
bool is_bare_request(std::string_view text) {
  auto words = split_words(text);
  auto* list = std::get_if<std::vector<Word>>(&words);
  if (list == nullptr || list->size() != 1) return false;
  std::string word = (*list)[0].text;
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::tolower(c); });
  return word == "request";
}

/// Runs on the network thread, before the ack: reads what the input asks for, once; answers
/// what needs no database in the ack itself, queues read-only questions, and keeps everything
/// else in the inbox table.
std::optional<json> route_envelope(const slack::Envelope& envelope, Inbox& inbox, const workflows::Policy& policy) {
  auto input = input_of(envelope);
  if (!input) {
    logger()->debug("ignored an envelope of type {}", envelope.type);
    return std::nullopt;
  }
  if (is_form_submission(envelope, slack::request_form_callback)) {
    // Field problems are answered in the form itself, which Slack allows only in the ack.
    if (auto errors = slack::request_form_errors(policy, slack::request_form_values(envelope.payload["view"]))) {
      return errors;
    }
  }
  if (auto refusal = read_action(*input)) return slack::ephemeral_reply(InputHandler::refusal_reply(*refusal).text);
  if (input->action->kind == ActionKind::help) return slack::ephemeral_reply(help_text());
  if (input->action->read_only()) {
    // A question or a form changes nothing, so it need not survive a crash: the person asks again.
    if (inbox.ask(std::move(*input))) return std::nullopt;
    return slack::ephemeral_reply("jitbot is very busy right now; ask again in a moment.");
  }
  try {
    inbox.keep(std::move(*input));
  } catch (const std::exception& e) {
    logger()->error("could not keep an input: {}", e.what());
    return slack::ephemeral_reply(
        "jitbot could not record this (its database is unavailable); nothing was changed. "
        "Try again in a moment.");
  }
  return std::nullopt;
}

/// Waits for SIGINT or SIGTERM on a thread of its own (they are blocked everywhere else). Until
/// the engine runs there is nothing to finish, so a stop then ends the process at once, even
/// while start-up still waits on Slack.
class SignalWatcher {
 public:
  SignalWatcher(StopSignal& stop, sigset_t signals)
      : thread_([this, &stop, signals] {
          int received = 0;
          sigwait(&signals, &received);
          if (closing_) return;
          if (!engine_running_) {
            tell_operator(spdlog::level::info, "jitbot run", "stopped during start-up");
            std::_Exit(exit_ok);
          }
          stop.stop(exit_ok);
        }) {}
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  void engine_running() { engine_running_ = true; }

  ~SignalWatcher() {
    // A signal aimed at the watcher ends its sigwait() when we stop for another reason.
    closing_ = true;
    pthread_kill(thread_.native_handle(), SIGTERM);
    thread_.join();
  }

 private:
  std::atomic<bool> engine_running_{false};
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

/// An orderly stop finishes what is in hand, but a hung Slack or a slow backend must not keep a
/// stopping process past a supervisor's grace period (Kubernetes gives 30 s). After 10 s Slack is
/// closed, so calls waiting on it give up; after 20 s the process exits and leaves the rest to the
/// next start: it is all in the database, and an unfinished transaction rolls back.
class StopDeadline {
 public:
  StopDeadline(slack::SlackClient& client, int exit_code)
      : thread_([this, &client, exit_code] {
          std::unique_lock lock(mutex_);
          if (done_changed_.wait_for(lock, 10s, [this] { return done_; })) return;
          logger()->warn("still stopping after 10s: closing Slack, so calls waiting on it give up");
          lock.unlock();
          client.stop();
          lock.lock();
          if (done_changed_.wait_for(lock, 10s, [this] { return done_; })) return;
          logger()->warn("still stopping after 20s (a backend call in progress?): the next start finishes it");
          spdlog::default_logger()->flush();
          std::_Exit(exit_code);
        }) {}
  ~StopDeadline() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    done_changed_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_changed_;
  bool done_ = false;
  std::thread thread_;
};

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

/// A message to the person alone, for an answer with no response_url (a form's submission).
void direct_message(slack::SlackClient& client, const std::string& user, const std::string& text) {
  auto opened = client.call("conversations.open", {{"users", user}});
  if (!opened.ok || !opened.body.contains("channel") || !opened.body["channel"].is_object()) return;
  std::string channel = opened.body["channel"].value("id", std::string{});
  client.call("chat.postMessage",
              {{"channel", channel}, {"text", slack::escape_mrkdwn(slack::truncate_utf8(text, 3000))}});
}

/// Wakes the job workers when a commit writes a job, and the couriers when one writes a notice,
/// for as long as it lives.
class WorkBell final : public storage::WorkListener {
 public:
  WorkBell(storage::Database& database, JobWorkers& jobs, Courier& courier)
      : database_(database), jobs_(jobs), courier_(courier) {
    database_.listen_for_work(this);
  }
  ~WorkBell() override { database_.listen_for_work(nullptr); }
  WorkBell(const WorkBell&) = delete;
  WorkBell& operator=(const WorkBell&) = delete;

  void jobs_written() override { jobs_.kick(); }
  void notices_written() override { courier_.kick(); }

 private:
  storage::Database& database_;
  JobWorkers& jobs_;
  Courier& courier_;
};

/// Opens the form a reply asks for (the Deny reason), or says why it could not.
void open_form(slack::SlackClient& client, const workflows::Input& input, const Reply& reply,
               const workflows::Policy& policy) {
  if (reply.open_form == Form::home) {
    auto published = client.call(
        "views.publish",
        {{"user_id", input.actor}, {"view", slack::home_view(policy, reply.home_mine, reply.home_waiting)}});
    if (!published.ok) logger()->warn("could not publish the Home tab of {}: {}", input.actor, published.describe());
    return;
  }
  bool deny = reply.open_form == Form::deny;
  json view = deny ? slack::deny_form(reply.form_request_id, reply.text)
                   : slack::request_form(policy, reply.form_roles, reply.form_break_glass_roles);
  auto opened = client.call("views.open", {{"trigger_id", input.trigger_id}, {"view", view}});
  if (opened.ok) return;
  std::string instead = deny ? "Deny with /jit deny " + reply.form_request_id + " [reason] instead."
                             : "Use /jit request --provider P --role R --scope S --duration D --reason TEXT instead.";
  std::string text = "The form could not open (Slack: " + opened.error + "). " + instead;
  if (input.reply_to.empty()) return direct_message(client, input.actor, text);
  client.respond(input.reply_to, slack::ephemeral_reply(text));
}

/// Sends a person the answer to what they typed or clicked. A click on a card that works shows
/// on the card itself; one the rules refuse is explained. The Extend button is in the
/// requester's DM, where the card's change is not seen, so its answer is always said.
void answer(slack::SlackClient& client, const workflows::Input& input, const Reply& reply,
            const workflows::Policy& policy) {
  if (reply.open_form != Form::none) return open_form(client, input, reply, policy);
  bool said_on_card =
      input.kind == workflows::Input::Kind::click && input.action && input.action->kind != ActionKind::take_extension;
  if (said_on_card && reply.ok) return;
  if (input.reply_to.empty()) return direct_message(client, input.actor, reply.text);
  client.respond(input.reply_to, slack::ephemeral_reply(reply.text));
}

}  // namespace

std::optional<workflows::Input> input_of(const adapters::slack::Envelope& envelope) {
  const json& payload = envelope.payload;
  if (!payload.is_object()) return std::nullopt;
  workflows::Input input;
  input.reply_to = text_field(payload, "response_url");
  if (envelope.type == "slash_commands") {
    input.kind = workflows::Input::Kind::command;
    input.text = text_field(payload, "text");
    // In Slack a bare "/jit request" opens the form; the terminal asks field by field.
    if (is_bare_request(input.text)) make_click(input, ActionKind::request_form);
    input.actor = text_field(payload, "user_id");
    input.trigger_id = text_field(payload, "trigger_id");
    return input;
  }
  if (envelope.type == "interactive" && text_field(payload, "type") == "block_actions") {
    auto actions = payload.find("actions");
    if (actions == payload.end() || !actions->is_array() || actions->empty() || !(*actions)[0].is_object()) {
      return std::nullopt;
    }
    const json& first = (*actions)[0];
    auto action = action_for(text_field(first, "action_id"));
    if (!action) return std::nullopt;
    make_click(input, *action, text_field(first, "value"));
    auto user = payload.find("user");
    input.actor = user != payload.end() ? text_field(*user, "id") : std::string{};
    input.trigger_id = text_field(payload, "trigger_id");
    return input;
  }
  if (envelope.type == "events_api" && payload.contains("event") &&
      text_field(payload["event"], "type") == "app_home_opened") {
    if (text_field(payload["event"], "tab") != "home") return std::nullopt;
    make_click(input, ActionKind::home);
    input.actor = text_field(payload["event"], "user");
    return input;
  }
  if (envelope.type == "interactive" && text_field(payload, "type") == "shortcut" &&
      text_field(payload, "callback_id") == slack::request_shortcut) {
    make_click(input, ActionKind::request_form);
    auto user = payload.find("user");
    input.actor = user != payload.end() ? text_field(*user, "id") : std::string{};
    input.trigger_id = text_field(payload, "trigger_id");
    return input;
  }
  if (envelope.type == "interactive" && text_field(payload, "type") == "view_submission") {
    auto view = payload.find("view");
    if (view != payload.end() && text_field(*view, "callback_id") == slack::request_form_callback) {
      input.kind = workflows::Input::Kind::command;
      auto user = payload.find("user");
      input.actor = user != payload.end() ? text_field(*user, "id") : std::string{};
      input.text = slack::request_command(slack::request_form_values(*view));
      return input;
    }
    if (view == payload.end() || text_field(*view, "callback_id") != slack::deny_form_callback) return std::nullopt;
    make_click(input, ActionKind::deny, text_field(*view, "private_metadata"));
    auto user = payload.find("user");
    input.actor = user != payload.end() ? text_field(*user, "id") : std::string{};
    // view.state.values.reason.reason.value; a form sent with the field empty has no value.
    const json* field = &*view;
    for (const char* key : {"state", "values", slack::deny_reason_field.data(), slack::deny_reason_field.data()}) {
      if (!field->is_object() || !field->contains(key)) {
        field = nullptr;
        break;
      }
      field = &(*field)[key];
    }
    if (field != nullptr) input.note = text_field(*field, "value");
    return input;
  }
  return std::nullopt;
}

int run_slack(const config::Config& config) {
  std::string problem;
  auto app_token = token_from_environment("SLACK_APP_TOKEN", "xapp-", problem);
  auto bot_token = app_token ? token_from_environment("SLACK_BOT_TOKEN", "xoxb-", problem) : std::nullopt;
  if (!app_token || !bot_token) {
    tell_operator(spdlog::level::err, "jitbot run", problem);
    return exit_usage;
  }
  if (config.database == ":memory:") {
    tell_operator(spdlog::level::err, "jitbot run", "[bot] database must be a file; requests must survive a restart");
    return exit_usage;
  }
  std::string key;
  try {
    key = audit_key(config, true);
  } catch (const std::exception& e) {
    tell_operator(spdlog::level::err, "jitbot run", e.what());
    return exit_usage;
  }
  if (key.empty()) logger()->warn("[bot] unkeyed_audit = true: the audit trail is not sealed with a key");

  // Block the stop signals before any thread starts, so only the watcher receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  StopSignal stop;
  SignalWatcher signal_watcher(stop, stop_signals);

  slack::SlackClient client(settings_from(config, *app_token, *bot_token));
  auto identity = client.call("auth.test", json::object());
  if (!identity.ok && (identity.error == "invalid_auth" || identity.error == "not_authed" ||
                       identity.error == "account_inactive" || identity.error == "token_revoked")) {
    tell_operator(spdlog::level::err, "jitbot run",
                  "Slack refused SLACK_BOT_TOKEN (" + identity.describe() +
                      "). Reinstall the app to the workspace and copy its Bot User OAuth Token.");
    return exit_failure;
  }
  if (identity.ok) {
    tell_operator(spdlog::level::info, "jitbot",
                  "connected to " + identity.body.value("team", std::string{"Slack"}) + " as @" +
                      identity.body.value("user", std::string{"jitbot"}));
  } else {
    logger()->warn("auth.test failed ({}); carrying on, Socket Mode will keep trying", identity.describe());
  }

  slack::SlackDirectory directory(client, config.directory);
  slack::SlackChat chat(client, config.policy);
  adapters::ExternalAlerts external_alerts(config.alert_sinks, config.policy);
  NoticeRouter notices(chat, external_alerts);
  adapters::OnCallDirectory on_call(config.on_call);
  adapters::TicketLookup tickets(config.ticket_apis);
  SystemClock clock;
  RandomIds ids(clock);
  Backends backends = make_backends(config);
  // A few connections serve all the engine's threads (see SharedConnections): on SQLite none
  // waits on anything but the file; on PostgreSQL each waits a network round trip, so more.
  std::unique_ptr<storage::Database> database;
  try {
    database = storage::open_database(config.database.string(), config.database_is_postgresql() ? 8 : 4, key);
  } catch (const std::exception& e) {
    tell_operator(spdlog::level::err, "jitbot run", e.what());
    return exit_failure;
  }
  // One SQLite file serves one process: whatever a previous process held died with it. Replicas
  // on PostgreSQL leave each other's leases to run out.
  database->release_leases();
  storage::Database& connections = *database;
  LeaseKeeper leases(connections, clock);
  EngineParts parts{config.database.string(), connections, config.policy, directory, clock, ids, &on_call, &tickets};
  parts.leases = &leases;
  // Probes and scrapes: a listen address that cannot be bound stops the start, as a bad config does.
  std::optional<StatusEndpoint> status;
  if (config.listen) {
    try {
      status.emplace(*config.listen, connections, clock);
    } catch (const std::exception& e) {
      tell_operator(spdlog::level::err, "jitbot run", e.what());
      return exit_usage;
    }
  }
  logger()->info(
      "jitbot {} started: config {}, database {}, listen {}, workspace {}", JITBOT_VERSION, config.file.string(),
      storage::describe_location(config.database.string()),
      config.listen ? listen_text(config.listen->host, status->port()) : std::string{"off"},
      identity.ok ? identity.body.value("team", std::string{"?"}) : std::string{"unknown (auth.test failed)"});

  // Each part works from the database on threads of its own, and a commit that leaves work for
  // the job workers or the couriers wakes them; none waits for another.
  Courier courier(connections, notices, config.policy, clock, &leases);
  JobWorkers jobs(parts, backends);
  WorkBell bell(connections, jobs, courier);
  SchedulerThread scheduler(parts);
  Inbox inbox(parts, [&client, &config](const workflows::Input& input, const Reply& reply) {
    answer(client, input, reply, config.policy);
  });

  std::optional<AnchorPoster> anchor_poster;
  if (!config.slack.audit_channel.empty()) {
    AnchorPoster::ReadHead read_head = [file = storage::anchor_path(config.database)] {
      return storage::read_anchor(file);
    };
    AnchorPoster::Turns turns;
    if (auto* shared = dynamic_cast<storage::PostgresStore*>(database.get())) {
      read_head = [shared] { return shared->audit_head(); };
      turns.claim = [shared](std::int64_t sequence) { return shared->claim_head_post(sequence); };
      turns.release = [shared](std::int64_t sequence) { shared->release_head_post(sequence); };
    }
    anchor_poster.emplace(
        read_head, config.slack.audit_channel, config.slack.audit_anchor_interval,
        [&client](const std::string& channel, const std::string& text) -> std::string {
          auto result = client.call("chat.postMessage", {{"channel", channel}, {"text", text}});
          return result.ok ? std::string{} : result.describe();
        },
        turns);
  }

  signal_watcher.engine_running();
  client.start(
      [&inbox, &config](const slack::Envelope& envelope) { return route_envelope(envelope, inbox, config.policy); },
      [&stop](const std::string& message) { stop.stop(exit_failure, message); });

  std::string message;
  int exit_code = stop.wait(message);
  if (!message.empty()) tell_operator(exit_code == 0 ? spdlog::level::info : spdlog::level::err, "jitbot run", message);
  // Stop taking work, finish what is in hand while Slack is still there to look people up and
  // answer them, then close Slack. Whatever is left is in the database for the next start.
  StopDeadline deadline(client, exit_code);
  inbox.stop();
  if (anchor_poster) anchor_poster->stop();
  scheduler.stop();
  jobs.stop();
  courier.stop();
  client.stop();
  return exit_code;
}

}  // namespace jitbot::bot
