#pragma once

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/slack/slack_client.hpp"
#include "config/config.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters::slack {

/// Users and groups from Slack (users.info, usergroups.users.list), cached briefly. Entries in
/// the config's [directory] take precedence, e.g. to map a Slack user to a cloud identity.
/// "No such user" is cached too, briefly; profile() throws when Slack does not answer, so a
/// grant waits for a real answer, and is_member() throws DirectoryUnavailable, so nobody is
/// told they are not an approver because Slack was down. Safe to share between threads; no lock is held while Slack
/// is asked, so one slow lookup holds up no other. A group is asked for once at a time: those
/// who need it meanwhile wait for that answer (usergroups.users.list allows about 20 calls a
/// minute, and a burst of clicks on one group's cards would otherwise use them up).
class SlackDirectory final : public workflows::Directory {
 public:
  SlackDirectory(SlackClient& slack, config::DirectoryConfig overrides,
                 std::chrono::seconds ttl = std::chrono::seconds{300})
      : slack_(slack), overrides_(std::move(overrides)), ttl_(ttl) {}

  bool is_member(const std::string& user_id, const std::string& group_id) override;
  workflows::UserProfile profile(const std::string& user_id) override;

 private:
  using Clock = std::chrono::steady_clock;
  /// What Slack said about a group: who is in it, or why it did not say.
  struct Members {
    std::optional<std::vector<std::string>> users;
    std::string error;  ///< when users is unset
  };

  /// From the cache, from the lookup another thread has under way, or from Slack now.
  Members group_members(const std::string& group_id);
  Members ask_for_group(const std::string& group_id);
  /// Caches an answer, ends the lookup and hands its result to those who waited on it.
  void settle_group_lookup(const std::string& group_id, std::promise<Members>& answer, const Members& members);

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
  std::map<std::string, std::shared_future<Members>> group_lookups_;  ///< groups being asked for now
};

}  // namespace jitbot::adapters::slack
