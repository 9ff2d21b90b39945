#pragma once

#include <chrono>
#include <map>
#include <mutex>

#include "adapters/slack/slack_client.hpp"
#include "config/config.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters::slack {

/// Users and groups from Slack (users.info, usergroups.users.list), cached briefly. Entries in
/// the config's [directory] take precedence, e.g. to map a Slack user to a cloud identity.
/// "No such user" is cached too, briefly; profile() throws when Slack does not answer, so a
/// grant waits for a real answer. Safe to share between threads; no lock is held while Slack
/// is asked, so one slow lookup holds up no other.
class SlackDirectory final : public workflows::Directory {
 public:
  SlackDirectory(SlackClient& slack, config::DirectoryConfig overrides,
                 std::chrono::seconds ttl = std::chrono::seconds{300})
      : slack_(slack), overrides_(std::move(overrides)), ttl_(ttl) {}

  bool is_member(const std::string& user_id, const std::string& group_id) override;
  workflows::UserProfile profile(const std::string& user_id) override;

 private:
  using Clock = std::chrono::steady_clock;
  template <class T>
  struct Cached {
    T value;
    Clock::time_point expires;
  };
  /// "No such user" is remembered this long; a lookup Slack did not answer is not remembered.
  static constexpr std::chrono::seconds failure_ttl{30};

  SlackClient& slack_;
  config::DirectoryConfig overrides_;
  std::chrono::seconds ttl_;
  std::mutex mutex_;
  std::map<std::string, Cached<workflows::UserProfile>> profiles_;
  std::map<std::string, Cached<std::vector<std::string>>> groups_;
};

}  // namespace jitbot::adapters::slack
