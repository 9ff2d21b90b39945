#include "bot/shell_app.hpp"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <optional>
#include <thread>

#include "adapters/directory/static_directory.hpp"
#include "adapters/oncall/on_call_schedules.hpp"
#include "adapters/shell/terminal_chat.hpp"
#include "adapters/tickets/ticket_lookup.hpp"
#include "bot/assembly.hpp"
#include "bot/random_ids.hpp"
#include "storage/database.hpp"
#include "workflows/text.hpp"

namespace jitbot::bot {
namespace {

using namespace std::chrono_literals;

/// Reads lines from a file descriptor with a timeout, so timers fire while a person thinks.
/// Lines come back as valid UTF-8: this is where typed bytes enter jitbot, and a reason with
/// a stray byte would otherwise reach the database and every backend call made for it.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}

  enum class Status { line, timeout, eof };

  Status read_line(std::string& line, std::optional<std::chrono::milliseconds> timeout) {
    for (;;) {
      if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
        line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        line = workflows::repair_utf8(line);
        return Status::line;
      }
      if (eof_) {
        if (buffer_.empty()) return Status::eof;
        line = workflows::repair_utf8(buffer_);
        buffer_.clear();
        return Status::line;
      }
      pollfd pfd{fd_, POLLIN, 0};
      int ready = ::poll(&pfd, 1, timeout ? static_cast<int>(timeout->count()) : -1);
      if (ready == 0) return Status::timeout;
      if (ready < 0 && errno == EINTR) continue;
      char chunk[4096];
      ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) {
        if (n < 0 && errno == EINTR) continue;
        eof_ = true;
      } else {
        buffer_.append(chunk, static_cast<std::size_t>(n));
      }
    }
  }

 private:
  int fd_;
  std::string buffer_;
  bool eof_ = false;
};

std::string trim(const std::string& text) {
  auto first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return {};
  auto last = text.find_last_not_of(" \t");
  return text.substr(first, last - first + 1);
}

constexpr int max_wait_steps = 100000;  // a guard, far above any real session

constexpr const char* shell_help =
    "Terminal commands:\n"
    "  /as USER        act as another Slack user ID, e.g. /as U0BOB\n"
    "  /jit …          any jitbot command (/jit help lists them); /jit request alone asks field by field\n"
    "  click N         press button [N] on a card\n"
    "  /wait D         let time pass, e.g. /wait 2h (instant with --manual-clock)\n"
    "  /help, /quit";

class ShellSession {
 public:
  ShellSession(const config::Config& config, std::ostream& out, const ShellOptions& options)
      : config_(config),
        out_(out),
        options_(options),
        manual_clock_(system_clock_.now()),
        owned_store_(storage::open_database(config.database.string(), 1, audit_key(config, false))),
        store_(*owned_store_),
        directory_(config.directory),
        chat_(out, config.policy, directory_),
        ids_(clock()),
        bot_(config.policy, store_, directory_, chat_, clock(), ids_, make_backends(config)),
        on_call_(config.on_call),
        tickets_(config.ticket_apis),
        user_(options.initial_user) {
    // The shell reads on-call schedules as `jitbot run` does; alerts to webhooks and pagers are
    // only shown here, never sent.
    bot_.workflow().use_on_call(&on_call_);
    bot_.workflow().use_tickets(&tickets_);
    bot_.observe_backends([this](const workflows::BackendCall& call, const workflows::BackendResult& result) {
      out_ << "\n· backend " << call.backend << " " << workflows::to_string(call.action) << " " << call.request_id
           << ": " << (result.ok ? "ok" : "FAILED — " + adapters::terminal_safe(result.error))
           << (result.message.empty() ? "" : " — " + adapters::terminal_safe(result.message)) << "\n";
    });
  }

  const workflows::Clock& clock() const {
    return options_.manual_clock ? static_cast<const workflows::Clock&>(manual_clock_) : system_clock_;
  }

  int run(int input_fd) {
    bool interactive = ::isatty(input_fd) != 0;
    if (interactive) {
      out_ << "jitbot shell on " << config_.file.string() << "\n" << shell_help << "\n";
    }
    store_
        .release_leases();  // one process per SQLite file: a previous one's claims died with it (a no-op on PostgreSQL)
    bot_.run_due();         // finish what a previous run left: overdue timeouts, revokes, grants, notices
    LineReader reader(input_fd);
    for (;;) {
      if (interactive) out_ << "\n" << user_ << "> " << std::flush;
      std::string line;
      auto status = reader.read_line(line, time_until_due());
      if (status == LineReader::Status::eof) break;
      if (status == LineReader::Status::timeout) {
        if (interactive) out_ << "\n";
        bot_.run_due();
        continue;
      }
      line = trim(line);
      if (line.empty() || line.front() == '#') continue;
      // Input that arrives quickly never starves the timers: what is due happens first.
      bot_.run_due();
      if (!interactive) out_ << "\n" << user_ << "> " << line << "\n";
      if (line == "/quit" || line == "/exit") break;
      if (denying_) {
        finish_deny(line);
      } else if (form_) {
        fill_form(line);
      } else {
        execute(line);
      }
      out_.flush();
    }
    out_.flush();
    return 0;
  }

 private:
  std::optional<std::chrono::milliseconds> time_until_due() {
    if (options_.manual_clock) return std::nullopt;
    auto due = bot_.next_due();
    if (!due) return std::nullopt;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(*due - clock().now());
    return std::clamp<std::chrono::milliseconds>(wait, 0ms, 60s);
  }

  void reply(const Reply& answer) {
    std::string text = adapters::terminal_safe_multiline(answer.text);
    out_ << (answer.ok ? "  → " : "  ✗ ") << text << "\n";
  }

  void execute(const std::string& line) {
    if (line == "/help") {
      out_ << shell_help << "\n";
    } else if (line.rfind("/as", 0) == 0) {
      std::string user = trim(line.substr(3));
      if (user.empty() || user.find(' ') != std::string::npos) {
        out_ << "  ✗ Usage: /as USER_ID, e.g. /as U0BOB\n";
        return;
      }
      user_ = user;
      out_ << "  → now acting as " << adapters::terminal_safe(user_) << "\n";
    } else if (line.rfind("/jit ", 0) == 0 && trim(line.substr(5)) == "request") {
      start_form();
    } else if (line.rfind("/jit", 0) == 0 && (line.size() == 4 || line[4] == ' ')) {
      reply(bot_.handle_command(user_, line.substr(4)));
      bot_.settle();
    } else if (line.rfind("click", 0) == 0) {
      click(trim(line.substr(5)));
    } else if (line.rfind("/wait", 0) == 0) {
      wait(trim(line.substr(5)));
    } else {
      out_ << "  ✗ Unknown input \"" << adapters::terminal_safe(line) << "\".\n" << shell_help << "\n";
    }
  }

  /// The terminal's request form: the same questions as Slack's modal, one line each.
  struct RequestDraft {
    std::vector<std::string> roles;
    std::vector<std::string> break_glass_roles;
    workflows::NewRequest draft;
    int step = 0;  ///< 0 role, 1 scope, 2 duration, 3 reason, 4 break-glass
  };

  /// What a terminal form asked for, done as the user the shell acts as.
  Reply perform(workflows::Action::Kind kind, std::string request_id = {}, std::string note = {}) {
    workflows::Action action;
    action.kind = kind;
    action.request_id = std::move(request_id);
    action.note = std::move(note);
    return bot_.perform(user_, action);
  }

  void start_form() {
    auto offer = perform(workflows::Action::Kind::request_form);
    if (offer.open_form != Form::request) return reply(offer);
    form_ = RequestDraft{offer.form_roles, offer.form_break_glass_roles, {}, 0};
    out_ << "  A new request (/cancel to stop). Role:\n";
    for (std::size_t i = 0; i < form_->roles.size(); ++i) {
      out_ << "    " << i + 1 << ") " << adapters::terminal_safe(form_->roles[i]) << "\n";
    }
    out_ << "  ? role number or name\n";
  }

  const workflows::Role* form_role() const {
    return config_.policy.find_role(form_->draft.provider, form_->draft.role);
  }

  void fill_form(const std::string& answer) {
    if (answer == "/cancel") {
      form_.reset();
      out_ << "  → No request made.\n";
      return;
    }
    auto& draft = form_->draft;
    switch (form_->step) {
      case 0: {
        std::string chosen = answer;
        if (!answer.empty() &&
            std::all_of(answer.begin(), answer.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
          auto index = static_cast<std::size_t>(std::stoul(answer.substr(0, 6)));
          chosen = index >= 1 && index <= form_->roles.size() ? form_->roles[index - 1] : "";
        }
        if (std::find(form_->roles.begin(), form_->roles.end(), chosen) == form_->roles.end()) {
          out_ << "  ✗ Choose one of the roles listed, by number or name.\n";
          return;
        }
        auto slash = chosen.find('/');
        draft.provider = chosen.substr(0, slash);
        draft.role = chosen.substr(slash + 1);
        std::string scopes;
        for (const auto& scope : form_role()->scopes) scopes += (scopes.empty() ? "" : ", ") + scope;
        out_ << "  ? scope (allowed: " << adapters::terminal_safe(scopes) << ")\n";
        break;
      }
      case 1:
        draft.scope = answer;
        out_ << "  ? duration (at most " << workflows::format_duration(form_role()->max_duration) << ")\n";
        break;
      case 2: {
        auto duration = workflows::parse_duration(answer);
        if (!duration) {
          out_ << "  ✗ Give a duration like 30m, 2h or 2h30m.\n";
          return;
        }
        draft.duration = *duration;
        out_ << "  ? reason (a ticket, an incident)\n";
        break;
      }
      case 3: {
        draft.reason = answer;
        std::string key = draft.provider + "/" + draft.role;
        bool may_break_glass = std::find(form_->break_glass_roles.begin(), form_->break_glass_roles.end(), key) !=
                               form_->break_glass_roles.end();
        if (may_break_glass) {
          out_ << "  ? break glass: grant now without approval, alerting the incident channels? (yes/no)\n";
          break;
        }
        return submit_form();
      }
      case 4: draft.break_glass = answer == "yes" || answer == "y"; return submit_form();
    }
    ++form_->step;
  }

  void submit_form() {
    auto draft = form_->draft;
    form_.reset();
    workflows::Action request;
    request.kind = workflows::Action::Kind::request;
    request.request = draft;
    reply(bot_.perform(user_, request));
    bot_.settle();
  }

  void click(const std::string& argument) {
    int number = 0;
    try {
      number = std::stoi(argument);
    } catch (const std::exception&) {
      out_ << "  ✗ Usage: click N, where N is a button number shown in [brackets]\n";
      return;
    }
    auto button = chat_.button(number);
    if (!button) {
      out_ << "  ✗ There is no button [" << number << "].\n";
      return;
    }
    if (button->action == "deny") return start_deny(button->request_id);
    reply(bot_.handle_button(user_, button->action, button->request_id));
    bot_.settle();
  }

  /// Deny asks for the reason the requester will read, as Slack's Deny form does.
  void start_deny(const std::string& request_id) {
    auto offer = perform(workflows::Action::Kind::deny_form, request_id);
    if (offer.open_form != Form::deny) return reply(offer);
    out_ << "  " << adapters::terminal_safe(offer.text) << "\n  ? reason for the requester (- for none)\n";
    denying_ = request_id;
  }
  void finish_deny(const std::string& answer) {
    std::string request_id = *denying_;
    denying_.reset();
    if (!answer.empty() && answer.front() == '/') {
      // A command, not a reason: nothing is denied, and the command runs as typed.
      out_ << "  → Not denied.\n";
      if (answer != "/cancel") execute(answer);
      return;
    }
    reply(perform(workflows::Action::Kind::deny, request_id, answer == "-" ? std::string{} : answer));
    bot_.settle();
  }

  void wait(const std::string& argument) {
    auto duration = workflows::parse_duration(argument);
    if (!duration) {
      out_ << "  ✗ Usage: /wait D, e.g. /wait 90s or /wait 2h\n";
      return;
    }
    const auto until = clock().now() + *duration;
    if (options_.manual_clock) {
      // Step through every due moment in order, so each event happens at its own time.
      int steps = 0;
      for (auto due = bot_.next_due(); due && *due <= until && steps < max_wait_steps; due = bot_.next_due(), ++steps) {
        manual_clock_.set(std::max(*due, manual_clock_.now()));
        bot_.run_due();
      }
      manual_clock_.set(until);
      bot_.run_due();
    } else {
      while (clock().now() < until) {
        auto next = std::min(until, bot_.next_due().value_or(until));
        std::this_thread::sleep_until(std::chrono::system_clock::time_point{std::max(next, clock().now())});
        bot_.run_due();
      }
    }
    out_ << "  → it is now " << workflows::format_rfc3339(clock().now()) << "\n";
  }

  const config::Config& config_;
  std::ostream& out_;
  ShellOptions options_;
  SystemClock system_clock_;
  workflows::ManualClock manual_clock_;
  std::unique_ptr<storage::Database> owned_store_;
  storage::Database& store_;
  adapters::StaticDirectory directory_;
  adapters::TerminalChat chat_;
  RandomIds ids_;
  JitBot bot_;
  adapters::OnCallDirectory on_call_;
  adapters::TicketLookup tickets_;
  std::optional<RequestDraft> form_;
  std::optional<std::string> denying_;  ///< the request a Deny click asks a reason for
  std::string user_;
};

}  // namespace

int run_shell(const config::Config& config, int input_fd, std::ostream& out, const ShellOptions& options) {
  ShellSession session(config, out, options);
  return session.run(input_fd);
}

}  // namespace jitbot::bot
