#pragma once

#include "workflows/policy.hpp"
#include "workflows/ports.hpp"

namespace jitbot::workflows {

/// How hard the outbox tries before it sets a notice aside: with these, about an hour of
/// failures (most Slack outages are shorter); errors that cannot pass are parked at once.
struct DeliveryRetries {
  int max_attempts = 20;
  Seconds first_retry{2};
  Seconds max_retry{300};
};

/// A card notice that only redraws the card: the card always shows the request as it is when
/// drawn, so a later card notice of the same lane draws over it. Those that also reply in the
/// card's thread to ask approvers to act are not, nor is any other kind.
bool only_redraws_card(const Notice& notice);

/// When a notice that has failed `attempts` times is due again: exponential backoff with a
/// jitter of ±20% drawn from the notice's ID, so retries of many notices spread out.
Instant next_delivery_attempt(const Notice& notice, int attempts, Instant now, const DeliveryRetries& retries);

/// Reads what delivering a claimed notice needs: whether a later card notice supersedes it,
/// the request, and where its card or alert already is.
NoticeClaim read_for_delivery(RequestStore& store, Notice notice);

/// Delivers one claimed notice and says what to record: delivered, due again later, or parked
/// (a permanent error, or too many attempts), parking announced once to the incident channels.
/// Whatever the chat adapter throws counts as a failed attempt of this notice only.
DeliveryRecord attempt_delivery(ChatSink& chat, const Policy& policy, const NoticeClaim& claim, Instant now,
                                const DeliveryRetries& retries = {});

/// attempt_delivery, recorded. Returns true when the notice was delivered.
bool deliver_notice(RequestStore& store, ChatSink& chat, const Policy& policy, const NoticeClaim& claim, Instant now,
                    const DeliveryRetries& retries = {});

/// Delivers every notice due at the clock's time, one after another; for the terminal, where
/// nothing else waits. Returns how many were delivered.
int deliver_due_notices(RequestStore& store, ChatSink& chat, const Policy& policy, const Clock& clock);

}  // namespace jitbot::workflows
