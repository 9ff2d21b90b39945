#include "bot/courier.hpp"

#include <spdlog/spdlog.h>

#include <optional>

#include "bot/error_throttle.hpp"
#include "workflows/outbox.hpp"

namespace jitbot::bot {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("courier");
  return instance;
}

constexpr auto poll_interval = 1000ms;

/// Every courier thread fails the same way while the database or Slack is down: said once a minute.
ErrorThrottle& repeated() {
  static ErrorThrottle throttle;
  return throttle;
}
/// A courier that dies mid-post loses its claim after this (at once when jitbot restarts); the
/// notice may then go out twice, which is better than never. It outlasts a Slack call with all
/// its retries, Retry-After waits included.
constexpr auto delivery_lease = 600s;

}  // namespace

Courier::Courier(workflows::RequestStore& store, workflows::ChatSink& chat, const workflows::Policy& policy,
                 const workflows::Clock& clock, LeaseKeeper* leases, int threads)
    : store_(store),
      chat_(chat),
      policy_(policy),
      clock_(clock),
      leases_(leases),
      lease_(leases ? leases->lease(delivery_lease) : delivery_lease) {
  workers_.start("courier", threads, [this] { deliver(); });
}

void Courier::deliver() {
  // After an OS crash a delivered notice may be sent again (its deletion was not yet on disk),
  // never lost; no fsync per message, which would cap how fast cards go out.
  auto& store = store_;
  for (;;) {
    auto ticket = workers_.waker.ticket();
    std::optional<workflows::Instant> next;
    try {
      auto claim = store.claim_notice_for_delivery(clock_.now(), clock_.now() + lease_);
      std::optional<WorkerThreads::Busy> busy;
      if (claim) busy.emplace(workers_);
      while (claim) {
        // Its lease is renewed until its record is written, where replicas share the database.
        LeaseKeeper::Hold held(leases_, storage::LeaseKind::notice, claim->notice.id);
        auto record = workflows::attempt_delivery(chat_, policy_, *claim, clock_.now());
        if (workers_.waker.stopped()) {
          store.record_delivery(record);
          return;
        }
        // One write records this notice and claims the next.
        claim = store.record_delivery_and_claim(record, clock_.now(), clock_.now() + lease_);
        // The next notice in this lane may be due now, and another thread may be idle.
        if (record.result == workflows::DeliveryRecord::Result::delivered) workers_.waker.kick();
      }
      next = store.next_notice_at();
    } catch (const std::exception& e) {
      repeated().error(*logger(), "deliver", std::string{"outbox delivery failed (retrying): "} + e.what());
    }
    auto wait =
        idle_wait(next ? *next - clock_.now() : std::chrono::system_clock::duration{}, next.has_value(), poll_interval);
    if (!workers_.waker.wait(ticket, wait)) return;
  }
}

}  // namespace jitbot::bot
