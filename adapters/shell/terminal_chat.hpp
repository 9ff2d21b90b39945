#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>

#include "workflows/policy.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// A button printed on a terminal card, pressed with `click N`.
struct TerminalButton {
  std::string action;  ///< "approve", "deny" or "revoke"
  std::string request_id;
};

/// The terminal's chat: prints cards, DMs and alerts with the channel or user they go to,
/// numbering every button so `click N` can press it.
class TerminalChat final : public workflows::ChatSink {
 public:
  TerminalChat(std::ostream& out, const workflows::Policy& policy, workflows::Directory& directory)
      : out_(out), policy_(policy), directory_(directory) {}

  workflows::Delivery deliver(const workflows::Notice& notice, const workflows::Request& request,
                              const std::optional<std::string>& card_location) override;

  std::optional<TerminalButton> button(int number) const;

 private:
  void print_card(const workflows::Notice& notice, const workflows::Request& request, bool update);
  void print_alert(const workflows::Notice& notice, const workflows::Request& request);
  void print_dm(const workflows::Notice& notice, const workflows::Request& request);
  /// A webhook or PagerDuty alert: shown here as it would be sent (the shell sends nothing).
  void print_external(const workflows::Notice& notice, const workflows::Request& request);
  /// A reminder or escalation, shown as a reply under the card.
  void print_nudge(const workflows::Notice& notice, const workflows::Request& request);
  void print_review_buttons(const workflows::Request& request);
  std::string add_button(const std::string& label, const std::string& action, const std::string& request_id);
  std::string person(const std::string& user_id);
  /// `text` made safe, with the request's people shown as "U0BOB (Bob Stone)".
  std::string named(const std::string& text, const workflows::Request& request);

  std::ostream& out_;
  const workflows::Policy& policy_;
  workflows::Directory& directory_;
  std::map<int, TerminalButton> buttons_;
  int next_button_ = 1;
  int next_card_ = 1;
};

/// Makes untrusted text safe for a terminal: control characters (escape sequences that
/// could rewrite the screen) become visible "\xNN".
std::string terminal_safe(const std::string& text);

/// terminal_safe, but keeps line breaks, indenting continuation lines by `indent`.
std::string terminal_safe_multiline(const std::string& text, const std::string& indent = "    ");

}  // namespace jitbot::adapters
