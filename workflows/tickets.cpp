#include "workflows/tickets.hpp"

#include <algorithm>
#include <cctype>

namespace jitbot::workflows {
namespace {

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// The digits at `at`, or "" when there are none.
std::string digits_at(std::string_view text, std::size_t at) {
  std::string out;
  while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])) && out.size() < 12) out += text[at++];
  return out;
}

/// True when `needle` starts at `at` as a word of its own on the left (not "XINC-1").
bool word_starts(std::string_view text, std::size_t at) { return at == 0 || !is_word_char(text[at - 1]); }

/// The same for a GitHub owner, whose names may hold "-" and "." ("evil-acme/ops" is not "acme/ops").
bool owner_starts(std::string_view text, std::size_t at) {
  return word_starts(text, at) && (at == 0 || (text[at - 1] != '-' && text[at - 1] != '.' && text[at - 1] != '/'));
}

bool same_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::optional<std::string> cited_jira(const TicketSystem& system, std::string_view reason) {
  std::optional<std::pair<std::size_t, std::string>> first;
  for (const auto& project : system.projects) {
    std::string prefix = project + "-";
    for (auto at = reason.find(prefix); at != std::string_view::npos; at = reason.find(prefix, at + 1)) {
      std::string number = digits_at(reason, at + prefix.size());
      std::size_t end = at + prefix.size() + number.size();
      bool whole = !number.empty() && word_starts(reason, at) && (end == reason.size() || !is_word_char(reason[end]));
      if (!whole) continue;
      if (!first || at < first->first) first = {at, prefix + number};
      break;
    }
  }
  if (!first) return std::nullopt;
  return first->second;
}

std::optional<std::string> cited_github(const TicketSystem& system, std::string_view reason) {
  for (auto at = reason.find('#'); at != std::string_view::npos; at = reason.find('#', at + 1)) {
    std::string number = digits_at(reason, at + 1);
    if (number.empty()) continue;
    for (const auto& repo : system.repos) {
      // GitHub names are case-insensitive; the configured spelling is the one looked up.
      bool named = at >= repo.size() && same_ignoring_case(reason.substr(at - repo.size(), repo.size()), repo) &&
                   owner_starts(reason, at - repo.size());
      if (named) return repo + "#" + number;
    }
    // "#12" alone is unambiguous only with one repo.
    if (system.repos.size() == 1 && word_starts(reason, at)) return system.repos.front() + "#" + number;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> cited_ticket(const TicketSystem& system, std::string_view reason) {
  return system.name == "jira" ? cited_jira(system, reason) : cited_github(system, reason);
}

std::string ticket_example(const TicketSystem& system) {
  std::string out;
  if (system.name == "jira") {
    for (const auto& project : system.projects) out += (out.empty() ? "" : " or ") + project + "-123";
  } else {
    for (const auto& repo : system.repos) out += (out.empty() ? "" : " or ") + repo + "#123";
  }
  return out;
}

}  // namespace jitbot::workflows
