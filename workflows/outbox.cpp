#include "workflows/outbox.hpp"

#include <set>

namespace jitbot::workflows {

int deliver_outbox(RequestStore& store, ChatSink& chat, int batch) {
  int delivered = 0;
  std::set<std::string> blocked_targets;
  for (const auto& notice : store.undelivered_notices(batch)) {
    std::string lane = notice.target + "|" + notice.request_id;
    if (blocked_targets.count(lane)) continue;
    auto request = store.find(notice.request_id);
    if (!request) {
      store.mark_delivered(notice.id);  // nothing left to talk about
      continue;
    }
    auto location = notice.kind == NoticeKind::approval_card ? store.card_location(notice.request_id) : std::nullopt;
    Delivery delivery = chat.deliver(notice, *request, location);
    if (!delivery.ok) {
      store.mark_failed_delivery(notice.id, delivery.error);
      blocked_targets.insert(lane);
      continue;
    }
    if (notice.kind == NoticeKind::approval_card && !delivery.card_location.empty() &&
        delivery.card_location != location) {
      store.save_card_location(notice.request_id, delivery.card_location);
    }
    store.mark_delivered(notice.id);
    ++delivered;
  }
  return delivered;
}

}  // namespace jitbot::workflows
