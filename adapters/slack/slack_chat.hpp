#pragma once

#include <map>
#include <mutex>

#include "adapters/slack/cards.hpp"
#include "adapters/slack/slack_client.hpp"
#include "workflows/policy.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters::slack {

/// Shows the workflow's notices in Slack: approval cards posted once and then updated in
/// place, break-glass and trouble alerts in the incident channels, and DMs to the requester.
/// Safe to call from several threads; notices of one request and target come one at a time.
class SlackChat final : public workflows::ChatSink {
 public:
  SlackChat(SlackClient& slack, const workflows::Policy& policy) : slack_(slack), policy_(policy) {}

  workflows::Delivery deliver(const workflows::Notice& notice, const workflows::Request& request,
                              const std::optional<std::string>& card_location) override;

 private:
  /// The break-glass alert in one channel: posted once, edited as the request changes, and
  /// answered in its thread for a re-alert.
  workflows::Delivery deliver_break_glass(const workflows::Notice& notice, const workflows::Request& request,
                                          const std::optional<std::string>& location);
  /// Posts `message` in the thread of the message at `location`; `done` (the card's delivery) on success.
  workflows::Delivery reply_in_thread(const std::string& location, const SlackMessage& message,
                                      workflows::Delivery done);
  workflows::Delivery post_card(const workflows::Notice& notice, const workflows::Request& request);
  workflows::Delivery update_card(const workflows::Notice& notice, const workflows::Request& request,
                                  const std::string& location);
  workflows::Delivery post(const std::string& channel, SlackMessage message);
  std::optional<std::string> dm_channel(const std::string& user_id, workflows::Delivery& failure);

  SlackClient& slack_;
  const workflows::Policy& policy_;
  std::mutex mutex_;                                ///< couriers deliver from several threads
  std::map<std::string, std::string> dm_channels_;  ///< user ID -> D… channel
};

/// A card's location is "CHANNEL ts", e.g. "C0APPROVALS 1700000000.000100".
std::string card_location(const std::string& channel, const std::string& ts);

}  // namespace jitbot::adapters::slack
