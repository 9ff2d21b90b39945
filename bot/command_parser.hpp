#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "workflows/action.hpp"
#include "workflows/ports.hpp"
#include "workflows/refusal.hpp"

namespace jitbot::bot {

/// The action a `/jit` line asks for, or why it cannot be read (a refusal whose `expected` is the
/// usage line of the command meant).
using ParseResult = std::variant<workflows::Action, workflows::Refusal>;

/// Parses the text after `/jit` (a leading "/jit" is tolerated). Accepts `--flag value` and
/// `--flag=value`; straight and curly quotes; Slack's &amp; &lt; &gt; entities.
ParseResult parse_command(std::string_view text);

/// How a click is stored in the inbox table ("approve", "deny_form", …), and read back.
std::string_view click_name(workflows::Action::Kind kind);
std::optional<workflows::Action::Kind> click_kind(std::string_view name);

/// Reads what an input asks for, once, where it enters: a command's text is parsed, a click's
/// name looked up. Sets `input.action`, or returns why it cannot be read (then it is unset).
std::optional<workflows::Refusal> read_action(workflows::Input& input);

/// One word of a command; a quoted word is always a value, never a flag.
struct Word {
  std::string text;
  bool quoted = false;
  bool operator==(const Word&) const = default;
};

/// Splits into words, honouring quotes. Exposed for tests.
std::variant<std::vector<Word>, workflows::Refusal> split_words(std::string_view text);

/// Decodes the three entities Slack escapes in slash-command text.
std::string decode_slack_entities(std::string_view text);

/// Every usage line, for /jit help.
std::string help_text();

}  // namespace jitbot::bot
