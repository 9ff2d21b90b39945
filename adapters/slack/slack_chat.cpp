#include "adapters/slack/slack_chat.hpp"

#include <spdlog/spdlog.h>

#include "adapters/slack/cards.hpp"

namespace jitbot::adapters::slack {
namespace {

using workflows::Delivery;
using workflows::NoticeKind;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("slack-chat");
  return instance;
}

Delivery failed(const ApiResult& result) { return {false, {}, result.describe()}; }

}  // namespace

std::string card_location(const std::string& channel, const std::string& ts) { return channel + " " + ts; }

Delivery SlackChat::deliver(const workflows::Notice& notice, const workflows::Request& request,
                            const std::optional<std::string>& card_location) {
  switch (notice.kind) {
    case NoticeKind::approval_card:
      if (card_location) return update_card(notice, request, *card_location);
      return post_card(notice, request);
    case NoticeKind::incident_alert: return post(notice.target, break_glass_alert(request));
    case NoticeKind::requester_dm: {
      std::string error;
      auto channel = dm_channel(notice.target, error);
      if (!channel) return {false, {}, error};
      return post(*channel, requester_dm(notice, request));
    }
  }
  return {false, {}, "unknown notice kind"};
}

Delivery SlackChat::post(const std::string& channel, const SlackMessage& message) {
  auto result = slack_.call("chat.postMessage", {{"channel", channel},
                                                 {"text", message.text},
                                                 {"blocks", message.blocks},
                                                 {"unfurl_links", false},
                                                 {"unfurl_media", false}});
  if (!result.ok) return failed(result);
  return {true, card_location(result.body.value("channel", channel), result.body.value("ts", std::string{})), {}};
}

Delivery SlackChat::post_card(const workflows::Notice& notice, const workflows::Request& request) {
  return post(notice.target, approval_card(request, policy_));
}

Delivery SlackChat::update_card(const workflows::Notice& notice, const workflows::Request& request,
                                const std::string& location) {
  auto space = location.find(' ');
  if (space == std::string::npos) return post_card(notice, request);
  std::string channel = location.substr(0, space);
  std::string ts = location.substr(space + 1);
  auto card = approval_card(request, policy_);
  auto result =
      slack_.call("chat.update", {{"channel", channel}, {"ts", ts}, {"text", card.text}, {"blocks", card.blocks}});
  if (result.ok) return {true, location, {}};
  if (result.error == "message_not_found" || result.error == "cant_update_message") {
    // Someone deleted the card: post it again rather than leave approvers without buttons.
    logger()->warn("the card for {} is gone ({}); posting it again", request.id, result.error);
    return post(channel, card);
  }
  return failed(result);
}

std::optional<std::string> SlackChat::dm_channel(const std::string& user_id, std::string& error) {
  if (auto known = dm_channels_.find(user_id); known != dm_channels_.end()) return known->second;
  auto result = slack_.call("conversations.open", {{"users", user_id}});
  std::string channel;
  if (result.ok && result.body.contains("channel") && result.body["channel"].is_object()) {
    channel = result.body["channel"].value("id", std::string{});
  }
  if (channel.empty()) {
    error = result.ok ? "conversations.open gave no channel" : result.describe();
    return std::nullopt;
  }
  dm_channels_[user_id] = channel;
  return channel;
}

}  // namespace jitbot::adapters::slack
