#include "workflows/outbox.hpp"

#include <exception>

namespace jitbot::workflows {
namespace {

/// In the terminal one thread does everything, so a lease only guards against a crash.
constexpr std::chrono::minutes terminal_lease{1};

std::string describe_failure(const Notice& notice, const std::string& error) {
  std::string what = notice.kind == NoticeKind::approval_card    ? "approval card"
                     : notice.kind == NoticeKind::requester_dm   ? "DM"
                     : notice.kind == NoticeKind::external_alert ? "alert to sink"
                                                                 : "alert";
  return std::string{what} + " (" + std::string{to_string(notice.event)} + ") to " + notice.target + ": " + error;
}

/// Tells the alert sinks that a notice was set aside: a Slack alert that failed is announced to
/// the webhook and pager sinks, and theirs to Slack. An announcement that is itself parked is not
/// announced again, so nothing loops.
std::vector<Notice> parking_announcements(const Notice& parked, const Policy& policy, const std::string& error) {
  std::vector<Notice> announcements;
  if (parked.event == NoticeEvent::notice_parked) return announcements;
  Notice alert;
  alert.event = NoticeEvent::notice_parked;
  alert.request_id = parked.request_id;
  alert.detail = "#" + std::to_string(parked.id) + " " + describe_failure(parked, error);
  for (const auto& sink : policy.alert_sinks()) {
    if (sink.type == AlertSink::Type::slack) {
      if (parked.kind == NoticeKind::incident_alert) continue;
      alert.kind = NoticeKind::incident_alert;
      for (const auto& channel : sink.channels) {
        alert.target = channel;
        announcements.push_back(alert);
      }
    } else if (parked.kind != NoticeKind::external_alert) {
      alert.kind = NoticeKind::external_alert;
      alert.target = sink.name;
      announcements.push_back(alert);
    }
  }
  return announcements;
}

/// Break-glass alerts in a channel are one message, posted once and then edited (or, for a
/// re-alert, answered in its thread): where it is lives with the request and channel.
bool has_alert_message(const Notice& notice) {
  if (notice.kind != NoticeKind::incident_alert) return false;
  switch (notice.event) {
    case NoticeEvent::break_glass:
    case NoticeEvent::granted:
    case NoticeEvent::grant_failed:
    case NoticeEvent::reviewed:
    case NoticeEvent::realert:
    case NoticeEvent::revoked:
    case NoticeEvent::expired: return true;
    default: return false;
  }
}

/// Delivers the notice; a message it posted where later notices will edit it comes back in
/// `posted`, to be saved with the delivery.
Delivery attempt(ChatSink& chat, const NoticeClaim& claim, std::optional<PostedMessage>& posted) {
  const auto& notice = claim.notice;
  const auto& location = claim.location;
  try {
    bool card = notice.kind == NoticeKind::approval_card;
    bool alert = has_alert_message(notice);
    Delivery delivery = chat.deliver(notice, *claim.request, location);
    if (delivery.ok && (card || alert) && !delivery.card_location.empty() && delivery.card_location != location) {
      posted = PostedMessage{card ? PostedMessage::Kind::card : PostedMessage::Kind::alert, notice.request_id,
                             notice.target, delivery.card_location};
    }
    return delivery;
  } catch (const std::exception& e) {
    return {false, {}, std::string{"internal error: "} + e.what(), false};
  }
}

}  // namespace

bool only_redraws_card(const Notice& notice) {
  if (notice.kind != NoticeKind::approval_card) return false;
  switch (notice.event) {
    case NoticeEvent::reminder:
    case NoticeEvent::escalated:
    case NoticeEvent::extension_requested: return false;
    default: return true;
  }
}

Instant next_delivery_attempt(const Notice& notice, int attempts, Instant now, const DeliveryRetries& retries) {
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(retries.first_retry);
  for (int i = 1; i < attempts && delay < retries.max_retry; ++i) delay *= 2;
  delay = std::min(delay, std::chrono::duration_cast<std::chrono::milliseconds>(retries.max_retry));
  // Knuth's multiplicative hash: a well-spread fraction per (notice, attempt) with no randomness.
  auto spread = static_cast<std::uint64_t>(notice.id) * 2654435761u + static_cast<std::uint64_t>(attempts) * 40503u;
  double fraction = static_cast<double>(spread % 1000) / 1000.0;
  return now + std::chrono::milliseconds{
                   static_cast<std::int64_t>(static_cast<double>(delay.count()) * (0.8 + 0.4 * fraction))};
}

NoticeClaim read_for_delivery(RequestStore& store, Notice notice) {
  NoticeClaim claim;
  // Under a backlog a card is drawn once with its latest state, not once per step (one Slack
  // call instead of several, and approvers never see a state already gone). The later notice
  // posts the card if this one was to.
  try {
    claim.superseded = only_redraws_card(notice) && store.newer_card_waits(notice);
    if (!claim.superseded) {
      claim.request = store.find(notice.request_id);
      if (notice.kind == NoticeKind::approval_card) {
        claim.location = store.card_location(notice.request_id);
      } else if (has_alert_message(notice)) {
        claim.location = store.alert_location(notice.request_id, notice.target);
      }
    }
  } catch (const std::exception& e) {
    claim = NoticeClaim{};
    claim.read_error = std::string{"cannot read the request: "} + e.what();
  }
  claim.notice = std::move(notice);
  return claim;
}

std::optional<NoticeClaim> RequestStore::claim_notice_for_delivery(Instant now, Instant lease_until) {
  auto notice = claim_notice(now, lease_until);
  if (!notice) return std::nullopt;
  return read_for_delivery(*this, std::move(*notice));
}

DeliveryRecord attempt_delivery(ChatSink& chat, const Policy& policy, const NoticeClaim& claim, Instant now,
                                const DeliveryRetries& retries) {
  DeliveryRecord record;
  record.notice = claim.notice;
  if (claim.superseded) return record;
  Delivery delivery;
  if (!claim.read_error.empty()) {
    delivery.error = claim.read_error;
  } else if (!claim.request) {
    record.result = DeliveryRecord::Result::dropped;  // nothing left to talk about
    return record;
  } else {
    delivery = attempt(chat, claim, record.posted);
    if (delivery.ok) return record;
  }
  record.result = DeliveryRecord::Result::failed;
  record.error = delivery.error;
  int attempts = claim.notice.attempts + 1;
  if (delivery.permanent || attempts >= retries.max_attempts) {
    record.announcements = parking_announcements(claim.notice, policy, delivery.error);
  } else {
    record.retry_at = next_delivery_attempt(claim.notice, attempts, now, retries);
  }
  return record;
}

void RequestStore::record_delivery(const DeliveryRecord& record) {
  if (record.result == DeliveryRecord::Result::failed) {
    mark_failed_delivery(record.notice, record.error, record.retry_at, record.announcements);
  } else if (record.posted) {
    mark_posted(record.notice.id, *record.posted);
  } else {
    mark_delivered(record.notice.id);
  }
}

std::optional<NoticeClaim> RequestStore::record_delivery_and_claim(const DeliveryRecord& record, Instant now,
                                                                   Instant lease_until) {
  record_delivery(record);
  return claim_notice_for_delivery(now, lease_until);
}

bool deliver_notice(RequestStore& store, ChatSink& chat, const Policy& policy, const NoticeClaim& claim, Instant now,
                    const DeliveryRetries& retries) {
  auto record = attempt_delivery(chat, policy, claim, now, retries);
  store.record_delivery(record);
  return record.result == DeliveryRecord::Result::delivered;
}

int deliver_due_notices(RequestStore& store, ChatSink& chat, const Policy& policy, const Clock& clock) {
  int delivered = 0;
  while (auto claim = store.claim_notice_for_delivery(clock.now(), clock.now() + terminal_lease)) {
    if (deliver_notice(store, chat, policy, *claim, clock.now())) ++delivered;
  }
  return delivered;
}

}  // namespace jitbot::workflows
