#pragma once

#include <string>
#include <string_view>

namespace jitbot::workflows {

/// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view text);

/// `text` with every ill-formed byte sequence replaced by U+FFFD, so it is valid UTF-8 whatever
/// came in. Text from outside (backend output, cloud errors, chat payloads) passes through this
/// at the edge, so nothing later (JSON encoding, Slack) can choke on it.
std::string repair_utf8(std::string_view text);

/// Cuts `text` to at most `limit` bytes at a character boundary, ending with "…" when cut.
/// The input is repaired first, so the result is always valid UTF-8.
std::string cut_utf8(std::string_view text, std::size_t limit);

}  // namespace jitbot::workflows
