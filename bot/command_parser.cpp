#include "bot/command_parser.hpp"

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>

#include "workflows/request_id.hpp"

namespace jitbot::bot {
namespace {

constexpr std::string_view usage_request =
    "/jit request --provider P --role R --scope S --duration D --reason TEXT [--break-glass]";
constexpr std::string_view usage_approve = "/jit approve ID";
constexpr std::string_view usage_deny = "/jit deny ID [reason]";
constexpr std::string_view usage_revoke = "/jit revoke ID";
constexpr std::string_view usage_cancel = "/jit cancel ID";
constexpr std::string_view usage_status = "/jit status [ID]";
constexpr std::string_view usage_extend = "/jit extend ID DURATION [--reason TEXT]";
constexpr std::string_view usage_ack = "/jit ack ID [note]   (review a break-glass request)";
constexpr std::string_view usage_list = "/jit list [--mine|--pending|--active|--unreviewed]";
constexpr std::string_view usage_help = "/jit help";

using workflows::Action;
using workflows::Refusal;
using workflows::RefusalReason;

/// Why a command cannot be read; `asked` is the word at fault, where there is one.
Refusal error(RefusalReason reason, std::string_view usage, std::string asked = {}) {
  Refusal refusal;
  refusal.reason = reason;
  refusal.expected = std::string{usage};
  refusal.asked = std::move(asked);
  return refusal;
}

/// The closing quote for an opening quote at the start of `text`, and the opener's length.
struct Quote {
  std::size_t open_length;
  std::vector<std::string_view> closers;
};

std::optional<Quote> quote_at(std::string_view text) {
  if (text.starts_with("\"")) return Quote{1, {"\""}};
  if (text.starts_with("'")) return Quote{1, {"'"}};
  // Slack clients "smarten" quotes; people also paste them the wrong way round.
  if (text.starts_with("\u201c")) return Quote{3, {"\u201d", "\u201c"}};
  if (text.starts_with("\u201d")) return Quote{3, {"\u201d", "\u201c"}};
  if (text.starts_with("\u2018")) return Quote{3, {"\u2019", "\u2018"}};
  if (text.starts_with("\u2019")) return Quote{3, {"\u2019", "\u2018"}};
  return std::nullopt;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string normalize_id(std::string id) {
  for (std::size_t i = 4; i < id.size(); ++i)
    id[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(id[i])));
  return id;
}

bool is_flag(const Word& word) { return !word.quoted && word.text.starts_with("--"); }

std::variant<std::string, Refusal> request_id_argument(const std::vector<Word>& words, std::string_view usage) {
  if (words.size() < 2) return error(RefusalReason::request_id_missing, usage);
  if (!workflows::looks_like_request_id(words[1].text)) {
    return error(RefusalReason::request_id_malformed, usage, words[1].text);
  }
  return normalize_id(words[1].text);
}

/// Reads a duration word, or says what is wrong with it.
std::variant<workflows::Seconds, Refusal> duration_argument(const std::string& text, std::string_view usage) {
  auto duration = workflows::parse_duration(text);
  if (duration) return *duration;
  if (workflows::is_too_long_duration(text)) {
    auto refusal = error(RefusalReason::duration_beyond_limit, usage, text);
    refusal.limit = workflows::longest_duration;
    return refusal;
  }
  return error(RefusalReason::duration_malformed, usage, text);
}

/// `extend ID DURATION [--reason TEXT]`: the reason is optional (the request's own still holds).
ParseResult parse_extend(const std::vector<Word>& words) {
  auto id = request_id_argument(words, usage_extend);
  if (auto* failure = std::get_if<Refusal>(&id)) return *failure;
  if (words.size() < 3 || is_flag(words[2])) return error(RefusalReason::duration_missing, usage_extend);
  auto by = duration_argument(words[2].text, usage_extend);
  if (auto* failure = std::get_if<Refusal>(&by)) return *failure;
  Action command;
  command.kind = Action::Kind::extend;
  command.request_id = std::get<std::string>(id);
  command.extend_by = std::get<workflows::Seconds>(by);
  for (std::size_t i = 3; i < words.size(); ++i) {
    std::string word = words[i].text;
    bool reason_flag = is_flag(words[i]) && (word == "--reason" || word.starts_with("--reason="));
    if (!reason_flag || !command.note.empty()) return error(RefusalReason::extra_after_duration, usage_extend, word);
    std::string reason = word == "--reason" ? "" : word.substr(9);
    // Like request's --reason: the words up to the next flag.
    while (i + 1 < words.size() && !is_flag(words[i + 1])) reason += (reason.empty() ? "" : " ") + words[++i].text;
    if (reason.find_first_not_of(" \t") == std::string::npos) {
      return error(RefusalReason::option_needs_value, usage_extend, "--reason");
    }
    command.note = reason;
  }
  return command;
}

ParseResult parse_request(const std::vector<Word>& words) {
  std::map<std::string, std::string> values;
  bool break_glass = false;
  static const std::vector<std::string> known{"provider", "role", "scope", "duration", "reason"};
  for (std::size_t i = 1; i < words.size(); ++i) {
    const std::string& word = words[i].text;
    if (!is_flag(words[i])) return error(RefusalReason::value_without_flag, usage_request, word);
    std::string name = word.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "break-glass") {
      if (inline_value) return error(RefusalReason::option_takes_no_value, usage_request, "--break-glass");
      break_glass = true;
      continue;
    }
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return error(RefusalReason::unknown_option, usage_request, "--" + name);
    }
    if (values.count(name)) return error(RefusalReason::option_repeated, usage_request, "--" + name);
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else {
      if (i + 1 >= words.size() || is_flag(words[i + 1])) {
        return error(RefusalReason::option_needs_value, usage_request, "--" + name);
      }
      value = words[++i].text;
    }
    // An unquoted reason may run over several words: take them up to the next flag.
    while (name == "reason" && i + 1 < words.size() && !is_flag(words[i + 1])) value += " " + words[++i].text;
    if (value.empty()) return error(RefusalReason::option_needs_value, usage_request, "--" + name);
    values[name] = value;
  }
  auto missing = error(RefusalReason::options_missing, usage_request);
  for (const auto& name : known) {
    if (!values.count(name)) missing.options.push_back("--" + name);
  }
  if (!missing.options.empty()) return missing;
  auto duration = duration_argument(values["duration"], usage_request);
  if (auto* failure = std::get_if<Refusal>(&duration)) return *failure;
  Action command;
  command.kind = Action::Kind::request;
  command.request = {values["provider"], values["role"], values["scope"], std::get<workflows::Seconds>(duration),
                     values["reason"],   break_glass};
  return command;
}

}  // namespace

std::string decode_slack_entities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string_view rest = text.substr(i);
    if (rest.starts_with("&amp;")) {
      out += '&';
      i += 4;
    } else if (rest.starts_with("&lt;")) {
      out += '<';
      i += 3;
    } else if (rest.starts_with("&gt;")) {
      out += '>';
      i += 3;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::variant<std::vector<Word>, Refusal> split_words(std::string_view text) {
  std::vector<Word> words;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i >= text.size()) break;
    std::string word;
    bool quoted_any = false;
    bool starts_quoted = false;  // "--x" is a value; --x="y" is still a flag
    // A quote opens at the start of a word or right after "=", so apostrophes inside
    // words (don't, don’t) stay literal.
    while (i < text.size() && !is_space(text[i])) {
      bool may_open = word.empty() || word.back() == '=';
      auto quote = may_open ? quote_at(text.substr(i)) : std::nullopt;
      if (!quote) {
        word += text[i++];
        continue;
      }
      std::size_t start = i + quote->open_length;
      std::size_t end = std::string_view::npos;
      std::size_t closer_length = 0;
      std::string value;
      for (std::size_t from = start;;) {
        end = std::string_view::npos;
        for (auto closer : quote->closers) {
          auto found = text.find(closer, from);
          if (found < end) {
            end = found;
            closer_length = closer.size();
          }
        }
        // A straight quote written twice inside a value stands for itself: 'it''s fine'.
        bool doubled =
            end != std::string_view::npos && closer_length == 1 && end + 1 < text.size() && text[end + 1] == text[end];
        if (!doubled) break;
        value += text.substr(from, end + 1 - from);
        from = end + 2;
        start = from;
      }
      if (end == std::string_view::npos) {
        return error(RefusalReason::quote_unclosed, usage_help);
      }
      if (word.empty()) starts_quoted = true;
      word += value;
      word += text.substr(start, end - start);
      quoted_any = true;
      i = end + closer_length;
    }
    if (!word.empty() || quoted_any) words.push_back({word, starts_quoted});
  }
  return words;
}

ParseResult parse_command(std::string_view raw) {
  std::string text = decode_slack_entities(raw);
  auto split = split_words(text);
  if (auto* failure = std::get_if<Refusal>(&split)) return *failure;
  auto words = std::get<std::vector<Word>>(split);
  if (!words.empty() && words.front().text == "/jit") words.erase(words.begin());
  if (words.empty()) return Action{};

  std::string verb = words.front().text;
  std::transform(verb.begin(), verb.end(), verb.begin(), [](unsigned char c) { return std::tolower(c); });
  if (verb == "request") return parse_request(words);
  if (verb == "help") return Action{};
  if (verb == "extend") return parse_extend(words);

  Action command;
  auto take_id = [&](Action::Kind kind, std::string_view usage, std::size_t max_words) -> ParseResult {
    auto id = request_id_argument(words, usage);
    if (auto* failure = std::get_if<Refusal>(&id)) return *failure;
    if (words.size() > max_words) return error(RefusalReason::words_after_id, usage);
    command.kind = kind;
    command.request_id = std::get<std::string>(id);
    return command;
  };
  if (verb == "approve") return take_id(Action::Kind::approve, usage_approve, 2);
  if (verb == "revoke") return take_id(Action::Kind::revoke, usage_revoke, 2);
  if (verb == "cancel") return take_id(Action::Kind::cancel, usage_cancel, 2);
  if (verb == "deny" || verb == "ack") {
    bool ack = verb == "ack";
    auto result =
        take_id(ack ? Action::Kind::acknowledge : Action::Kind::deny, ack ? usage_ack : usage_deny, words.size());
    if (auto* parsed = std::get_if<Action>(&result)) {
      for (std::size_t i = 2; i < words.size(); ++i) parsed->note += (i > 2 ? " " : "") + words[i].text;
    }
    return result;
  }
  if (verb == "status") {
    if (words.size() == 1) {
      command.kind = Action::Kind::status;
      return command;
    }
    return take_id(Action::Kind::status, usage_status, 2);
  }
  if (verb == "list") {
    command.kind = Action::Kind::list;
    if (words.size() > 2) return error(RefusalReason::too_many_options, usage_list);
    if (words.size() == 2) {
      const std::string& option = words[1].text;
      if (option == "--mine") {
        command.list_scope = workflows::ListScope::mine;
      } else if (option == "--pending") {
        command.list_scope = workflows::ListScope::pending;
      } else if (option == "--active") {
        command.list_scope = workflows::ListScope::active;
      } else if (option == "--unreviewed") {
        command.list_scope = workflows::ListScope::unreviewed;
      } else {
        return error(RefusalReason::unknown_option, usage_list, option);
      }
    }
    return command;
  }
  return error(RefusalReason::unknown_command, usage_help, words.front().text);
}

namespace {

/// Each click's stored name. "extend" and "deny" name the button and the form's submission,
/// as rows already in an inbox table spell them.
constexpr std::pair<Action::Kind, std::string_view> click_names[] = {
    {Action::Kind::approve, "approve"},           {Action::Kind::deny, "deny"},
    {Action::Kind::deny_form, "deny_form"},       {Action::Kind::revoke, "revoke"},
    {Action::Kind::acknowledge, "acknowledge"},   {Action::Kind::take_extension, "extend"},
    {Action::Kind::request_form, "request_form"}, {Action::Kind::home, "home"},
};

}  // namespace

std::string_view click_name(Action::Kind kind) {
  for (const auto& [known, name] : click_names) {
    if (known == kind) return name;
  }
  return {};
}

std::optional<Action::Kind> click_kind(std::string_view name) {
  for (const auto& [kind, known] : click_names) {
    if (known == name) return kind;
  }
  return std::nullopt;
}

std::optional<Refusal> read_action(workflows::Input& input) {
  if (input.action) return std::nullopt;
  if (input.kind == workflows::Input::Kind::command) {
    auto parsed = parse_command(input.text);
    if (auto* failure = std::get_if<Refusal>(&parsed)) return *failure;
    input.action = std::get<Action>(std::move(parsed));
    return std::nullopt;
  }
  auto kind = click_kind(input.text);
  if (!kind) {
    Refusal refusal;
    refusal.reason = RefusalReason::unknown_button;
    refusal.request_id = input.target;
    refusal.asked = input.text;
    return refusal;
  }
  Action action;
  action.kind = *kind;
  action.request_id = input.target;
  action.note = input.note;
  input.action = std::move(action);
  return std::nullopt;
}

std::string help_text() {
  std::string out = "Usage:\n";
  for (auto line : {usage_request, usage_approve, usage_deny, usage_extend, usage_revoke, usage_cancel, usage_ack,
                    usage_status, usage_list, usage_help}) {
    out += "  " + std::string{line} + "\n";
  }
  out += "Durations look like 90s, 30m, 2h or 2h30m.";
  return out;
}

}  // namespace jitbot::bot
