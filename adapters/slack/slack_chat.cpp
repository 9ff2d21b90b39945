#include "adapters/slack/slack_chat.hpp"

#include <spdlog/spdlog.h>

#include <set>

#include "adapters/slack/cards.hpp"

namespace jitbot::adapters::slack {
namespace {

using workflows::Delivery;
using workflows::NoticeKind;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("slack-chat");
  return instance;
}

/// Slack errors that no retry can fix: the message or its target is wrong until a human acts.
bool is_permanent(const std::string& error) {
  // Token and scope errors (invalid_auth, missing_scope) are not here: they stop every notice
  // alike, an outage to retry, not a reason to park notices one by one.
  static const std::set<std::string> permanent{
      "channel_not_found",     "not_in_channel", "is_archived",   "channel_is_archived", "invalid_blocks",
      "invalid_blocks_format", "msg_too_long",   "no_text",       "invalid_arguments",   "user_not_found",
      "user_not_visible",      "user_disabled",  "cannot_dm_bot", "restricted_action",   "too_many_attachments"};
  return permanent.count(error) > 0;
}

Delivery failed(const ApiResult& result) { return {false, {}, result.describe(), is_permanent(result.error)}; }

/// "CHANNEL ts" split in two; nullopt for a location of another form.
std::optional<std::pair<std::string, std::string>> split_location(const std::string& location) {
  auto space = location.find(' ');
  if (space == std::string::npos) return std::nullopt;
  return std::make_pair(location.substr(0, space), location.substr(space + 1));
}

}  // namespace

std::string card_location(const std::string& channel, const std::string& ts) { return channel + " " + ts; }

Delivery SlackChat::deliver(const workflows::Notice& notice, const workflows::Request& request,
                            const std::optional<std::string>& card_location) {
  switch (notice.kind) {
    case NoticeKind::approval_card: {
      // Edits notify nobody, so what asks approvers to act is also said in the card's thread.
      bool nudge = notice.event == workflows::NoticeEvent::reminder ||
                   notice.event == workflows::NoticeEvent::escalated ||
                   (notice.event == workflows::NoticeEvent::extension_requested &&
                    request.extension.status == workflows::Extension::Status::pending);
      Delivery card = card_location ? update_card(notice, request, *card_location) : post_card(notice, request);
      if (!nudge || !card.ok) return card;
      return reply_in_thread(card.card_location, approval_reminder(notice, request, policy_), card);
    }
    case NoticeKind::incident_alert:
      if (request.break_glass && workflows::is_break_glass_news(notice.event)) {
        return deliver_break_glass(notice, request, card_location);
      }
      return post(notice.target, incident_alert(notice, request));
    case NoticeKind::external_alert: return {false, {}, "no sink named " + notice.target + " in this chat", true};
    case NoticeKind::requester_dm: {
      Delivery failure;
      auto channel = dm_channel(notice.target, failure);
      if (!channel) return failure;
      return post(*channel, requester_dm(notice, request));
    }
  }
  return {false, {}, "unknown notice kind"};
}

Delivery SlackChat::post(const std::string& channel, SlackMessage message) {
  // Moved, not copied, into the call: a card's blocks are a tree of many small allocations.
  auto result = slack_.call("chat.postMessage", {{"channel", channel},
                                                 {"text", std::move(message.text)},
                                                 {"blocks", std::move(message.blocks)},
                                                 {"unfurl_links", false},
                                                 {"unfurl_media", false}});
  if (!result.ok) return failed(result);
  return {true, card_location(result.body.value("channel", channel), result.body.value("ts", std::string{})), {}};
}

Delivery SlackChat::deliver_break_glass(const workflows::Notice& notice, const workflows::Request& request,
                                        const std::optional<std::string>& location) {
  std::string mention_text = policy_.alert_mention(notice.target);
  auto alert = break_glass_alert(request, policy_, mention_text);
  auto where = location ? split_location(*location) : std::nullopt;
  if (!where) return post(notice.target, alert);  // first news, or the first post was lost: post it whole
  if (notice.event == workflows::NoticeEvent::realert) {
    // A reply in the alert's thread, also shown in the channel, so it is noticed; the alert itself
    // keeps its place and its buttons.
    auto reminder = break_glass_reminder(notice, request, mention_text);
    auto result = slack_.call("chat.postMessage", {{"channel", where->first},
                                                   {"thread_ts", where->second},
                                                   {"reply_broadcast", true},
                                                   {"text", reminder.text},
                                                   {"blocks", reminder.blocks}});
    if (!result.ok) return failed(result);
    return {true, *location, {}};
  }
  // Edits carry no mention: people were pinged when it was posted.
  alert = break_glass_alert(request, policy_);
  auto result = slack_.call("chat.update", {{"channel", where->first},
                                            {"ts", where->second},
                                            {"text", std::move(alert.text)},
                                            {"blocks", std::move(alert.blocks)}});
  if (result.ok) return {true, *location, {}};
  if (result.error == "message_not_found" || result.error == "cant_update_message") {
    logger()->warn("the alert for {} in {} is gone ({}); posting it again", request.id, where->first, result.error);
    return post(where->first, break_glass_alert(request, policy_));
  }
  return failed(result);
}

Delivery SlackChat::reply_in_thread(const std::string& location, const SlackMessage& message, Delivery done) {
  auto where = split_location(location);
  if (!where) return done;
  auto result = slack_.call(
      "chat.postMessage",
      {{"channel", where->first}, {"thread_ts", where->second}, {"text", message.text}, {"blocks", message.blocks}});
  // Retried whole: the card update before it is idempotent.
  if (!result.ok) return failed(result);
  return done;
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
  auto result = slack_.call(
      "chat.update",
      {{"channel", channel}, {"ts", ts}, {"text", std::move(card.text)}, {"blocks", std::move(card.blocks)}});
  if (result.ok) return {true, location, {}};
  if (result.error == "message_not_found" || result.error == "cant_update_message") {
    // Someone deleted the card: post it again rather than leave approvers without buttons.
    logger()->warn("the card for {} is gone ({}); posting it again", request.id, result.error);
    return post(channel, approval_card(request, policy_));
  }
  return failed(result);
}

std::optional<std::string> SlackChat::dm_channel(const std::string& user_id, Delivery& failure) {
  {
    std::lock_guard lock(mutex_);
    if (auto known = dm_channels_.find(user_id); known != dm_channels_.end()) return known->second;
  }
  auto result = slack_.call("conversations.open", {{"users", user_id}});
  std::string channel;
  if (result.ok && result.body.contains("channel") && result.body["channel"].is_object()) {
    channel = result.body["channel"].value("id", std::string{});
  }
  if (channel.empty()) {
    failure = result.ok ? Delivery{false, {}, "conversations.open gave no channel", false} : failed(result);
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  dm_channels_[user_id] = channel;
  return channel;
}

}  // namespace jitbot::adapters::slack
