#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "workflows/rules.hpp"

namespace jitbot::bot {

enum class Verb { request, approve, deny, revoke, cancel, ack, extend, status, list, help };
enum class ListScope { recent, mine, pending, active, unreviewed };

/// A parsed `/jit …` command, the same for every chat adapter.
struct Command {
  Verb verb = Verb::help;
  workflows::NewRequest request;    ///< for `request`
  std::string request_id;           ///< for approve, deny, revoke, cancel, status (may be empty for status)
  std::string note;                 ///< the deny reason, the review note of `ack`, or why to extend
  workflows::Seconds extend_by{0};  ///< for `extend`
  ListScope list_scope = ListScope::recent;
};

/// What went wrong, worded for the person who typed it, with the usage line to follow.
struct ParseError {
  std::string message;
  std::string usage;
};

using ParseResult = std::variant<Command, ParseError>;

/// Parses the text after `/jit` (a leading "/jit" is tolerated). Accepts `--flag value` and
/// `--flag=value`; straight and curly quotes; Slack's &amp; &lt; &gt; entities.
ParseResult parse_command(std::string_view text);

/// One word of a command; a quoted word is always a value, never a flag.
struct Word {
  std::string text;
  bool quoted = false;
  bool operator==(const Word&) const = default;
};

/// Splits into words, honouring quotes. Exposed for tests.
std::variant<std::vector<Word>, ParseError> split_words(std::string_view text);

/// Decodes the three entities Slack escapes in slash-command text.
std::string decode_slack_entities(std::string_view text);

/// Every usage line, for /jit help.
std::string help_text();

}  // namespace jitbot::bot
