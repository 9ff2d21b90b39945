// One contract, two stores: everything the engine relies on a store for holds on a SQLite file
// and on PostgreSQL alike. Each case runs once per store ("sqlite: …" and "postgresql: …"); the
// PostgreSQL ones use a database of their own on the throwaway cluster of the ctest fixture.
//
// Several handles on one database stand for several threads or replicas: what one commits,
// the others see, and what they race for, exactly one wins.
#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <thread>

#include "harness.hpp"
#include "postgres_support.hpp"
#include "storage/database.hpp"
#include "storage/migrations.hpp"
#include "storage/postgres_store.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::Instant;
using workflows::RequestState;

namespace {

/// Opens handles on one fresh database of either kind.
class Stores {
 public:
  virtual ~Stores() = default;
  virtual std::string location() const = 0;
  std::unique_ptr<storage::Database> open(const std::string& key = {}) {
    return storage::open_database(location(), 4, key);
  }
};

class SqliteStores final : public Stores {
 public:
  std::string location() const override { return (dir_.path() / "jitbot.db").string(); }

 private:
  ScratchDir dir_;
};

class PostgresStores final : public Stores {
 public:
  std::string location() const override { return database_.url(); }
  const ScratchPostgres& database() const { return database_; }

 private:
  ScratchPostgres database_;
};

#define STORE_CONTRACT(name, body)                           \
  TEST_CASE("sqlite: " name, "[contract][sqlite]") {         \
    SqliteStores stores;                                     \
    body(stores);                                            \
  }                                                          \
  TEST_CASE("postgresql: " name, "[contract][postgresql]") { \
    PostgresStores stores;                                   \
    body(stores);                                            \
  }

const Instant t0 = test_start();

/// A request with every field set to something other than its default.
workflows::Request full_request(const std::string& id) {
  workflows::Request r;
  r.id = id;
  r.version = 3;
  r.state = RequestState::active;
  r.provider = "aws";
  r.role = "admin";
  r.scope = "123456789012";
  r.duration = std::chrono::seconds{7200};
  r.reason = "INC-4421 \"quoted\" and 'single' — ünïcødé; DROP TABLE requests;";
  r.break_glass = true;
  r.requester = "U0ALICE";
  r.created_at = t0;
  r.pending_deadline = t0 + 30min;
  r.approvals = {{"U0BOB", t0 + 1min}, {"U0CAROL", t0 + 1min}};
  r.decided_by = "U0CAROL";
  r.decision_note = "ok";
  r.decided_at = t0 + 1min;
  r.grant_started_at = t0 + 2min;
  r.whole_target = true;
  r.granted_at = t0 + 3min;
  r.expires_at = t0 + 2h;
  r.ended_at = t0 + 3h;
  r.lingers_until = t0 + 4h;
  r.grant_id = "arn:aws:iam::123456789012:role/x";
  r.backend = "aws-prod";
  r.ending_as = RequestState::revoked;
  r.revoke_attempts = 2;
  r.next_revoke_attempt = t0 + 5h;
  r.last_error = "throttled";
  r.reminders_sent = 1;
  r.next_reminder_at = t0 + 6h;
  r.escalate_at = t0 + 7h;
  r.escalated_at = t0 + 8h;
  r.ticket = "INC-4421";
  r.ticket_title = "Prod down";
  r.ticket_url = "https://tickets.example.com/INC-4421";
  r.ticket_verified = true;
  r.reviewed_by = "U0DAVE";
  r.reviewed_at = t0 + 9h;
  r.review_note = "fine";
  r.next_realert_at = t0 + 10h;
  r.extension.status = workflows::Extension::Status::pending;
  r.extension.by = std::chrono::seconds{1800};
  r.extension.reason = "still on it";
  r.extension.requested_at = t0 + 11h;
  r.extension.approvers = {"U0BOB", "U0CAROL"};
  r.extension.decided_by = "U0BOB";
  r.extension.note = "note";
  r.extended_by = std::chrono::seconds{900};
  r.warn_at = t0 + 12h;
  return r;
}

/// A fresh pending request, as submit commits it.
workflows::Change new_request(const std::string& id, const std::string& reason = "INC-1") {
  auto change = pending_request_change(id, t0, reason);
  change.only_identical_pending = true;
  return change;
}

workflows::Notice card(const std::string& request_id, workflows::NoticeEvent event,
                       const std::string& target = "C0APPROVALS") {
  workflows::Notice notice;
  notice.kind = workflows::NoticeKind::approval_card;
  notice.event = event;
  notice.target = target;
  notice.request_id = request_id;
  return notice;
}

workflows::Job job(const std::string& request_id, workflows::BackendCall::Action action, Instant not_before,
                   const std::string& backend = "scripted") {
  workflows::Job out;
  out.request_id = request_id;
  out.action = action;
  out.backend = backend;
  out.not_before = not_before;
  return out;
}

// ------------------------------------------------------------------------------------------

void every_field_round_trips(Stores& stores) {
  auto store = stores.open();
  auto request = full_request("R1");
  workflows::Change change;
  change.request = request;
  REQUIRE(store->commit(change));
  auto found = stores.open()->find("R1");
  REQUIRE(found);
  CHECK(found->version == request.version);
  CHECK(found->state == request.state);
  CHECK(found->reason == request.reason);
  CHECK(found->break_glass);
  CHECK(found->duration == request.duration);
  CHECK(found->created_at == request.created_at);
  CHECK(found->pending_deadline == request.pending_deadline);
  REQUIRE(found->approvals.size() == 2);
  CHECK(found->approvals[0].approver == "U0BOB");
  CHECK(found->approvals[1].approver == "U0CAROL");
  CHECK(found->decided_by == request.decided_by);
  CHECK(found->decision_note == request.decision_note);
  CHECK(found->decided_at == request.decided_at);
  CHECK(found->grant_started_at == request.grant_started_at);
  CHECK(found->whole_target);
  CHECK(found->granted_at == request.granted_at);
  CHECK(found->expires_at == request.expires_at);
  CHECK(found->ended_at == request.ended_at);
  CHECK(found->lingers_until == request.lingers_until);
  CHECK(found->grant_id == request.grant_id);
  CHECK(found->backend == request.backend);
  CHECK(found->ending_as == request.ending_as);
  CHECK(found->revoke_attempts == 2);
  CHECK(found->next_revoke_attempt == request.next_revoke_attempt);
  CHECK(found->last_error == request.last_error);
  CHECK(found->reminders_sent == 1);
  CHECK(found->next_reminder_at == request.next_reminder_at);
  CHECK(found->escalate_at == request.escalate_at);
  CHECK(found->escalated_at == request.escalated_at);
  CHECK(found->ticket == request.ticket);
  CHECK(found->ticket_title == request.ticket_title);
  CHECK(found->ticket_url == request.ticket_url);
  CHECK(found->ticket_verified);
  CHECK(found->reviewed_by == request.reviewed_by);
  CHECK(found->reviewed_at == request.reviewed_at);
  CHECK(found->review_note == request.review_note);
  CHECK(found->next_realert_at == request.next_realert_at);
  CHECK(found->extension.status == request.extension.status);
  CHECK(found->extension.by == request.extension.by);
  CHECK(found->extension.reason == request.extension.reason);
  CHECK(found->extension.requested_at == request.extension.requested_at);
  CHECK(found->extension.approvers == request.extension.approvers);
  CHECK(found->extension.decided_by == request.extension.decided_by);
  CHECK(found->extension.note == request.extension.note);
  CHECK(found->extended_by == request.extended_by);
  CHECK(found->warn_at == request.warn_at);
  CHECK_FALSE(store->find("R2"));
}
STORE_CONTRACT("every field of a request round-trips, quotes and Unicode included", every_field_round_trips)

void compare_and_set(Stores& stores) {
  auto first = stores.open();
  auto second = stores.open();
  REQUIRE(first->commit(new_request("R1")));
  // Both read version 1 and decide; exactly one decision lands.
  auto seen = first->find("R1").value();
  workflows::Change approve;
  approve.request = seen;
  approve.request.version = 2;
  approve.request.state = RequestState::approved;
  approve.expected_version = 1;
  workflows::Change deny = approve;
  deny.request.state = RequestState::denied;
  CHECK(first->commit(approve));
  CHECK_FALSE(second->commit(deny));
  CHECK(second->find("R1")->state == RequestState::approved);
  CHECK(second->audit_trail("R1").size() == 1);  // the loser's audit record was rolled back with it
}
STORE_CONTRACT("a transition is compare-and-set on the version: of two, one lands", compare_and_set)

void racing_writers(Stores& stores) {
  auto setup = stores.open();
  REQUIRE(setup->commit(new_request("R1")));
  // Four handles approve the same version at once, many times over: each round has one winner.
  std::vector<std::unique_ptr<storage::Database>> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(stores.open());
  std::atomic<int> wins{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 25; ++round) {
        for (;;) {
          auto seen = handles[static_cast<std::size_t>(t)]->find("R1").value();
          if (seen.version > round + 1) break;  // someone else won this round
          workflows::Change change;
          change.request = seen;
          change.request.version = seen.version + 1;
          change.expected_version = seen.version;
          change.audit.push_back({0, "R1", t0, "U0T" + std::to_string(t), "touch", "PENDING", "PENDING", ""});
          if (handles[static_cast<std::size_t>(t)]->commit(change)) {
            ++wins;
            break;
          }
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto final_version = setup->find("R1")->version;
  CHECK(wins.load() == final_version - 1);
  // Every win appended one record to one chain, with no gaps and no forks.
  auto verdict = setup->verify_audit();
  CHECK(verdict.intact);
  CHECK(verdict.records == final_version);
}
STORE_CONTRACT("racing writers: every version is written once, and the audit chain stays one line", racing_writers)

void identical_pending(Stores& stores) {
  auto store = stores.open();
  REQUIRE(store->commit(new_request("R1")));
  CHECK_FALSE(store->commit(new_request("R2")));  // same requester, access and reason
  CHECK_FALSE(store->find("R2"));
  CHECK(store->commit(new_request("R3", "INC-2")));
  // Sent at once from several handles: one gets in.
  std::vector<std::unique_ptr<storage::Database>> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(stores.open());
  std::atomic<int> accepted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      if (handles[static_cast<std::size_t>(t)]->commit(new_request("S" + std::to_string(t), "INC-3"))) ++accepted;
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(accepted.load() == 1);
}
STORE_CONTRACT("an identical pending request is refused, even when sent at once", identical_pending)

void lists_and_due(Stores& stores) {
  auto store = stores.open();
  REQUIRE(store->commit(new_request("R1", "a")));
  auto active = full_request("R2");
  active.break_glass = false;
  active.ending_as.reset();
  active.next_realert_at.reset();
  active.next_reminder_at.reset();
  active.escalate_at.reset();
  active.warn_at.reset();
  active.requester = "U0BOB";
  active.created_at = t0 + 1s;
  active.expires_at = t0 + 2h;
  workflows::Change change;
  change.request = active;
  REQUIRE(store->commit(change));

  workflows::RequestFilter mine;
  mine.requester = "U0ALICE";
  auto listed = store->list(mine);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == "R1");
  workflows::RequestFilter actives;
  actives.states = {RequestState::active};
  REQUIRE(store->list(actives).size() == 1);
  CHECK(store->list({}).front().id == "R2");  // newest first

  CHECK(store->next_due_at() == t0 + 30min);  // R1's pending deadline
  CHECK(store->due_requests(t0 + 29min).empty());
  auto due = store->due_requests(t0 + 3h);
  std::set<std::string> ids;
  for (const auto& r : due) ids.insert(r.id);
  CHECK(ids == std::set<std::string>{"R1", "R2"});
}
STORE_CONTRACT("lists filter and order alike, and due work is found by its time", lists_and_due)

void jobs_are_claimed_once(Stores& stores) {
  auto store = stores.open();
  for (int i = 0; i < 20; ++i) {
    auto change = new_request("R" + std::to_string(i), "job " + std::to_string(i));
    change.jobs.push_back(job(change.request.id, workflows::BackendCall::Action::grant, t0));
    REQUIRE(store->commit(change));
  }
  CHECK(store->next_job_at() == t0);
  std::vector<std::unique_ptr<storage::Database>> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(stores.open());
  std::mutex mutex;
  std::multiset<std::string> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      while (auto got = handles[static_cast<std::size_t>(t)]->claim_job(t0, t0 + 60s, {})) {
        std::lock_guard lock(mutex);
        claimed.insert(got->request_id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(claimed.size() == 20);
  CHECK(std::set<std::string>(claimed.begin(), claimed.end()).size() == 20);
  // All leased: nothing more until the leases run out, and then each counts as an attempt.
  CHECK_FALSE(store->claim_job(t0 + 59s, t0 + 120s, {}));
  CHECK(store->next_job_at() == t0 + 60s);
  auto again = store->claim_job(t0 + 61s, t0 + 120s, {});
  REQUIRE(again);
  CHECK(again->attempts == 1);
  store->settle_job({again->id, t0 + 200s, "throttled"}, std::nullopt);
  auto rescheduled = store->jobs_of(again->request_id);
  REQUIRE(rescheduled.size() == 1);
  CHECK(rescheduled[0].attempts == 2);
  CHECK(rescheduled[0].last_error == "throttled");
  CHECK(rescheduled[0].not_before == t0 + 200s);
  store->settle_job({again->id, std::nullopt, ""},
                    workflows::AuditEntry{0, again->request_id, t0, "jitbot", "grant", "APPROVED", "ACTIVE", ""});
  CHECK(store->jobs_of(again->request_id).empty());
  CHECK(store->audit_trail(again->request_id).size() == 2);
}
STORE_CONTRACT("each due job is claimed by one worker; a lapsed lease is an attempt", jobs_are_claimed_once)

void one_job_per_request_at_a_time(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R1");
  change.jobs.push_back(job("R1", workflows::BackendCall::Action::extend, t0));
  change.jobs.push_back(job("R1", workflows::BackendCall::Action::revoke, t0));
  REQUIRE(store->commit(change));
  auto other = new_request("R2", "other");
  other.jobs.push_back(job("R2", workflows::BackendCall::Action::grant, t0, "slow"));
  REQUIRE(store->commit(other));

  auto first = store->claim_job(t0, t0 + 60s, {{"slow"}, std::nullopt});
  REQUIRE(first);
  CHECK(first->request_id == "R1");
  // The revoke waits for the extend; R2's backend is busy.
  CHECK_FALSE(stores.open()->claim_job(t0, t0 + 60s, {{"slow"}, std::nullopt}));
  auto r2 = store->claim_job(t0, t0 + 60s, {{}, std::string{"R2"}});
  REQUIRE(r2);
  CHECK(r2->backend == "slow");
  // Enqueueing the same job again only brings it forward.
  workflows::Change sooner;
  sooner.request = store->find("R2").value();
  sooner.expected_version = sooner.request.version;
  sooner.request.version += 1;
  sooner.jobs.push_back(job("R2", workflows::BackendCall::Action::grant, t0 - 10s, "slow"));
  REQUIRE(store->commit(sooner));
  REQUIRE(store->jobs_of("R2").size() == 1);
  CHECK(store->jobs_of("R2")[0].not_before == t0 - 10s);
}
STORE_CONTRACT("one backend call per request at a time; busy backends wait", one_job_per_request_at_a_time)

void notice_claimed_with_what_delivery_reads(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R1");
  auto alert = card("R1", workflows::NoticeEvent::break_glass, "C0INCIDENT");
  alert.kind = workflows::NoticeKind::incident_alert;
  change.notices = {card("R1", workflows::NoticeEvent::submitted), alert,
                    card("R9", workflows::NoticeEvent::submitted)};
  REQUIRE(store->commit(change));

  // Three lanes (R1's card, R1's alert, R9's card), in no promised order.
  std::vector<workflows::NoticeClaim> claims;
  while (auto claim = store->claim_notice_for_delivery(t0, t0 + 60s)) claims.push_back(*claim);
  REQUIRE(claims.size() == 3);
  for (const auto& claim : claims) {
    CHECK_FALSE(claim.superseded);
    CHECK_FALSE(claim.location);  // nothing posted yet
    if (claim.notice.request_id == "R9") {
      CHECK_FALSE(claim.request);  // its request is gone: nothing to draw
      continue;
    }
    REQUIRE(claim.request);
    CHECK(claim.request->id == "R1");
    CHECK(claim.request->reason == "INC-1");
    if (claim.notice.kind == workflows::NoticeKind::approval_card) {
      store->mark_posted(claim.notice.id,
                         {workflows::PostedMessage::Kind::card, "R1", "C0APPROVALS", "C0APPROVALS:1.5"});
    } else {
      store->mark_delivered(claim.notice.id);
    }
  }

  workflows::Change later;
  later.request = store->find("R1").value();
  later.expected_version = later.request.version;
  later.request.version += 1;
  later.notices = {card("R1", workflows::NoticeEvent::approval_added), card("R1", workflows::NoticeEvent::granted)};
  REQUIRE(store->commit(later));
  auto redraw = store->claim_notice_for_delivery(t0, t0 + 60s);
  REQUIRE(redraw);
  CHECK(redraw->notice.event == workflows::NoticeEvent::approval_added);
  CHECK(redraw->superseded);  // the granted card waits behind it: drawn once, with the latest state
  store->mark_delivered(redraw->notice.id);
  auto granted = store->claim_notice_for_delivery(t0, t0 + 60s);
  REQUIRE(granted);
  CHECK(granted->notice.event == workflows::NoticeEvent::granted);
  CHECK_FALSE(granted->superseded);
  CHECK(granted->location == "C0APPROVALS:1.5");  // updated in place, not posted again
  REQUIRE(granted->request);
  CHECK(granted->request->version == later.request.version);
}
STORE_CONTRACT("a claimed notice comes with its request, where its card is, and whether a newer card supersedes it",
               notice_claimed_with_what_delivery_reads)

void held_card_replaced_by_a_later_card(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R1");
  change.notices = {card("R1", workflows::NoticeEvent::submitted)};
  REQUIRE(store->commit(change));
  auto post = store->claim_notice_for_delivery(t0, t0 + 60s);
  REQUIRE(post);
  store->mark_posted(post->notice.id, {workflows::PostedMessage::Kind::card, "R1", "C0APPROVALS", "C0APPROVALS:1.5"});

  // "Approved, granting…": held for a second; the requester's DM in its own lane is not held.
  auto next_version = [&] {
    workflows::Change next;
    next.request = store->find("R1").value();
    next.expected_version = next.request.version;
    next.request.version += 1;
    return next;
  };
  auto approved = next_version();
  auto held = card("R1", workflows::NoticeEvent::approval_added);
  held.next_attempt_at = t0 + 1s;
  auto dm = card("R1", workflows::NoticeEvent::approval_added, "U0ALICE");
  dm.kind = workflows::NoticeKind::requester_dm;
  approved.notices = {held, dm};
  REQUIRE(store->commit(approved));
  auto first = store->claim_notice_for_delivery(t0, t0 + 60s);
  REQUIRE(first);
  CHECK(first->notice.kind == workflows::NoticeKind::requester_dm);
  store->mark_delivered(first->notice.id);
  CHECK_FALSE(store->claim_notice_for_delivery(t0, t0 + 60s));  // the held card is not due yet
  CHECK(store->next_notice_at() == t0 + 1s);

  // The grant ended first: its card replaces the held one, goes out at once, and is the only one.
  auto granted = next_version();
  granted.notices = {card("R1", workflows::NoticeEvent::granted)};
  REQUIRE(store->commit(granted));
  auto update = store->claim_notice_for_delivery(t0, t0 + 60s);
  REQUIRE(update);
  CHECK(update->notice.event == workflows::NoticeEvent::granted);
  CHECK_FALSE(update->superseded);
  CHECK(update->location == "C0APPROVALS:1.5");
  store->mark_delivered(update->notice.id);
  CHECK_FALSE(store->claim_notice_for_delivery(t0 + 5s, t0 + 65s));  // the held card is gone
  CHECK_FALSE(store->next_notice_at());

  // A held card already being drawn (leased) stays, and the next card waits behind it.
  auto revoking = next_version();
  auto drawing = card("R1", workflows::NoticeEvent::revoking);
  drawing.next_attempt_at = t0 + 1s;
  revoking.notices = {drawing};
  REQUIRE(store->commit(revoking));
  auto leased = store->claim_notice_for_delivery(t0 + 1s, t0 + 61s);
  REQUIRE(leased);
  CHECK(leased->notice.event == workflows::NoticeEvent::revoking);
  auto revoked = next_version();
  revoked.notices = {card("R1", workflows::NoticeEvent::revoked)};
  REQUIRE(store->commit(revoked));
  CHECK_FALSE(store->claim_notice_for_delivery(t0 + 1s, t0 + 61s));  // behind the one being drawn
  store->mark_delivered(leased->notice.id);
  auto last = store->claim_notice_for_delivery(t0 + 1s, t0 + 61s);
  REQUIRE(last);
  CHECK(last->notice.event == workflows::NoticeEvent::revoked);
}
STORE_CONTRACT("a held card notice goes out at its time, unless a later card of its lane replaces it first",
               held_card_replaced_by_a_later_card)

void record_and_claim_in_one_step(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R1");
  change.notices = {card("R1", workflows::NoticeEvent::submitted), card("R1", workflows::NoticeEvent::granted)};
  REQUIRE(store->commit(change));
  auto post = store->claim_notice_for_delivery(t0, t0 + 60s);
  REQUIRE(post);
  CHECK_FALSE(store->claim_notice_for_delivery(t0, t0 + 60s));  // the update waits for the post

  workflows::DeliveryRecord posted;
  posted.notice = post->notice;
  posted.posted =
      workflows::PostedMessage{workflows::PostedMessage::Kind::card, "R1", "C0APPROVALS", "C0APPROVALS:2.5"};
  auto update = store->record_delivery_and_claim(posted, t0, t0 + 60s);
  REQUIRE(update);
  CHECK(update->notice.event == workflows::NoticeEvent::granted);
  CHECK(update->location == "C0APPROVALS:2.5");  // it edits the card just posted, never posts a second

  workflows::DeliveryRecord failed;
  failed.notice = update->notice;
  failed.result = workflows::DeliveryRecord::Result::failed;
  failed.error = "ratelimited";
  failed.retry_at = t0 + 30s;
  CHECK_FALSE(store->record_delivery_and_claim(failed, t0, t0 + 60s));  // nothing else is due
  CHECK(store->next_notice_at() == t0 + 30s);
  auto retried = store->claim_notice_for_delivery(t0 + 30s, t0 + 90s);
  REQUIRE(retried);
  CHECK(retried->notice.attempts == 1);
  CHECK(retried->notice.last_error == "ratelimited");
}
STORE_CONTRACT("a courier records a notice and claims the next in one step, the next seeing what the first posted",
               record_and_claim_in_one_step)

void outbox_lanes(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R1");
  change.notices = {card("R1", workflows::NoticeEvent::submitted), card("R1", workflows::NoticeEvent::approval_added),
                    card("R2", workflows::NoticeEvent::submitted)};
  REQUIRE(store->commit(change));
  auto other = stores.open();
  auto posted = store->claim_notice(t0, t0 + 60s);
  REQUIRE(posted);
  CHECK(posted->request_id == "R1");
  CHECK(posted->event == workflows::NoticeEvent::submitted);
  // R1's update waits for its post, held elsewhere; R2's lane is free.
  auto next = other->claim_notice(t0, t0 + 60s);
  REQUIRE(next);
  CHECK(next->request_id == "R2");
  CHECK_FALSE(other->claim_notice(t0, t0 + 60s));
  store->mark_delivered(posted->id);
  auto update = other->claim_notice(t0, t0 + 60s);
  REQUIRE(update);
  CHECK(update->event == workflows::NoticeEvent::approval_added);

  // Failing: retried at its time, then parked with an announcement, then retried by hand.
  other->mark_delivered(next->id);
  other->mark_failed_delivery(*update, "channel_not_found", t0 + 30s, {});
  CHECK(store->next_notice_at() == t0 + 30s);
  auto retried = store->claim_notice(t0 + 61s, t0 + 120s);
  REQUIRE(retried);
  CHECK(retried->attempts == 1);
  CHECK(retried->last_error == "channel_not_found");
  auto announcement = card("R1", workflows::NoticeEvent::submitted, "C0INCIDENT");
  announcement.kind = workflows::NoticeKind::incident_alert;
  store->mark_failed_delivery(*retried, "channel_not_found", std::nullopt, {announcement});
  workflows::OutboxFilter parked;
  parked.parked_only = true;
  auto parked_rows = store->list_notices(parked);
  REQUIRE(parked_rows.size() == 1);
  CHECK(parked_rows[0].parked);
  CHECK(store->list_notices({}).size() == 2);  // the parked one and the announcement
  auto figures = store->figures(t0 + 61s);
  CHECK(figures.outbox_parked == 1);
  CHECK(figures.outbox_waiting == 1);
  CHECK(figures.oldest_undelivered.has_value());
  CHECK(store->retry_notice(parked_rows[0].id, t0 + 70s));
  CHECK_FALSE(store->retry_notice(999999, t0 + 70s));
  CHECK(store->list_notices(parked).empty());
}
STORE_CONTRACT("notices keep their lane's order across handles; failures retry, park and come back", outbox_lanes)

void notices_claimed_once(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R0");
  for (int i = 0; i < 30; ++i)
    change.notices.push_back(card("R" + std::to_string(i), workflows::NoticeEvent::submitted));
  REQUIRE(store->commit(change));
  std::vector<std::unique_ptr<storage::Database>> handles;
  for (int i = 0; i < 3; ++i) handles.push_back(stores.open());
  std::mutex mutex;
  std::multiset<std::int64_t> claimed;
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      auto& mine = *handles[static_cast<std::size_t>(t)];
      while (auto notice = mine.claim_notice(t0, t0 + 60s)) {
        {
          std::lock_guard lock(mutex);
          claimed.insert(notice->id);
        }
        mine.mark_delivered(notice->id);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(claimed.size() == 30);
  CHECK(std::set<std::int64_t>(claimed.begin(), claimed.end()).size() == 30);
  CHECK(store->list_notices({}).empty());
}
STORE_CONTRACT("many deliverers: every notice goes out once", notices_claimed_once)

void inbox(Stores& stores) {
  auto store = stores.open();
  workflows::Input input;
  input.kind = workflows::Input::Kind::click;
  input.actor = "U0BOB";
  input.text = "approve";
  input.target = "R1";
  input.reply_to = "https://hooks.slack.test/response/1";
  input.note = "looks fine";
  input.received_at = t0;
  auto id = store->put_input(input);
  CHECK(id > 0);
  auto claimed = stores.open()->claim_input(t0, t0 + 120s);
  REQUIRE(claimed);
  CHECK(claimed->id == id);
  CHECK(claimed->kind == workflows::Input::Kind::click);
  CHECK(claimed->note == "looks fine");
  CHECK(claimed->reply_to == input.reply_to);
  CHECK_FALSE(store->claim_input(t0 + 1s, t0 + 120s));
  // The holder died: claimed again once its lease runs out, counted.
  auto again = store->claim_input(t0 + 121s, t0 + 240s);
  REQUIRE(again);
  CHECK(again->attempts == 1);
  // The transition that handles it consumes it, once.
  auto change = new_request("R1");
  change.consumes_input = id;
  REQUIRE(store->commit(change));
  auto twice = new_request("R9", "other");
  twice.consumes_input = id;
  CHECK_THROWS_AS(store->commit(twice), workflows::InputAlreadyHandled);
  CHECK_FALSE(store->find("R9"));
  CHECK(store->figures(t0).inbox_waiting == 0);
}
STORE_CONTRACT("inputs are kept, leased, and consumed by exactly one transition", inbox)

void input_written_claimed(Stores& stores) {
  auto store = stores.open();
  workflows::Input input;
  input.actor = "U0ALICE";
  input.text = "request --role admin";
  input.received_at = t0;
  input.lease_until = t0 + 120s;  // handed straight to a thread of the writer's
  auto id = store->put_input(input);
  CHECK_FALSE(stores.open()->claim_input(t0 + 1s, t0 + 240s));
  CHECK(store->figures(t0).inbox_waiting == 1);
  // The writer died with it: taken up like any lapsed claim, and counted.
  auto orphan = stores.open()->claim_input(t0 + 121s, t0 + 240s);
  REQUIRE(orphan);
  CHECK(orphan->id == id);
  CHECK(orphan->attempts == 1);

  // Its handling failed (a locked database): handed back, it may be claimed again from the
  // time given, long before its lease would have run out, and that try is counted too.
  store->retry_input(id, t0 + 125s);
  CHECK_FALSE(stores.open()->claim_input(t0 + 124s, t0 + 300s));
  auto retried = stores.open()->claim_input(t0 + 125s, t0 + 300s);
  REQUIRE(retried);
  CHECK(retried->id == id);
  CHECK(retried->attempts == 2);
}
STORE_CONTRACT("an input written already claimed is left to its writer until the claim lapses", input_written_claimed)

/// Counts what a store announces, as the running bot's WorkBell would wake threads for it.
struct CountingListener final : storage::WorkListener {
  int jobs = 0;
  int notices = 0;
  void jobs_written() override { ++jobs; }
  void notices_written() override { ++notices; }
};

void commits_announce_work(Stores& stores) {
  auto store = stores.open();
  CountingListener heard;
  store->listen_for_work(&heard);
  REQUIRE(store->commit(new_request("R1")));  // neither a job nor a notice: nobody woken
  CHECK(heard.jobs == 0);
  CHECK(heard.notices == 0);
  auto posted = new_request("R2", "INC-2");
  posted.notices.push_back(card("R2", workflows::NoticeEvent::submitted));
  REQUIRE(store->commit(posted));
  CHECK(heard.jobs == 0);
  CHECK(heard.notices == 1);
  auto approved = new_request("R3", "INC-3");
  approved.jobs.push_back(job("R3", workflows::BackendCall::Action::grant, t0));
  approved.notices.push_back(card("R3", workflows::NoticeEvent::granted));
  REQUIRE(store->commit(approved));
  CHECK(heard.jobs == 1);
  CHECK(heard.notices == 2);
  // A commit that lost its race wrote nothing, so it wakes nobody.
  auto stale = new_request("R3", "INC-3");
  stale.expected_version = 7;
  stale.jobs.push_back(job("R3", workflows::BackendCall::Action::revoke, t0));
  CHECK_FALSE(store->commit(stale));
  CHECK(heard.jobs == 1);
  store->listen_for_work(nullptr);
}
STORE_CONTRACT("a commit that writes jobs or notices wakes their threads, and only then", commits_announce_work)

void posted_with_delivery(Stores& stores) {
  auto store = stores.open();
  auto change = new_request("R1");
  change.notices.push_back(card("R1", workflows::NoticeEvent::submitted));
  workflows::Notice alert = card("R1", workflows::NoticeEvent::break_glass, "C0INCIDENT");
  alert.kind = workflows::NoticeKind::incident_alert;
  change.notices.push_back(alert);
  REQUIRE(store->commit(change));
  auto first = store->claim_notice(t0, t0 + 60s);
  auto second = store->claim_notice(t0, t0 + 60s);
  REQUIRE(first);
  REQUIRE(second);
  using Kind = workflows::PostedMessage::Kind;
  store->mark_posted(first->id, {Kind::card, "R1", "C0APPROVALS", "C0APPROVALS/1.000"});
  store->mark_posted(second->id, {Kind::alert, "R1", "C0INCIDENT", "C0INCIDENT/2.000"});
  auto reader = stores.open();
  CHECK(reader->card_location("R1") == "C0APPROVALS/1.000");
  CHECK(reader->alert_location("R1", "C0INCIDENT") == "C0INCIDENT/2.000");
  CHECK_FALSE(reader->alert_location("R1", "C0APPROVALS"));
  CHECK(reader->list_notices({}).empty());
}
STORE_CONTRACT("a posted card or alert is delivered and found again, in one step", posted_with_delivery)

void locations_and_counts(Stores& stores) {
  auto store = stores.open();
  CHECK_FALSE(store->card_location("R1"));
  store->save_card_location("R1", "C0APPROVALS/1.000");
  store->save_card_location("R1", "C0APPROVALS/2.000");
  CHECK(store->card_location("R1") == "C0APPROVALS/2.000");
  store->save_alert_location("R1", "C0INCIDENT", "C0INCIDENT/3.000");
  CHECK(store->alert_location("R1", "C0INCIDENT") == "C0INCIDENT/3.000");
  CHECK_FALSE(store->alert_location("R1", "C0SECURITY"));
  auto glass = full_request("R2");
  workflows::Change change;
  change.request = glass;
  REQUIRE(store->commit(change));
  CHECK(store->count_break_glass("U0ALICE", t0 - 1h) == 1);
  CHECK(store->count_break_glass("U0ALICE", t0 + 1h) == 0);
  auto figures = store->figures(t0);
  CHECK(figures.requests_by_state["ACTIVE"] == 1);
}
STORE_CONTRACT("card and alert locations, break-glass counts and figures", locations_and_counts)

void keyed_audit(Stores& stores) {
  {
    auto keyed = stores.open("the-audit-key");
    REQUIRE(keyed->commit(new_request("R1")));
    keyed->record_refusal({0, "R1", t0, "U0MALLORY", "refused", "PENDING", "PENDING", "not an approver"});
    auto verdict = keyed->verify_audit();
    CHECK(verdict.records == 2);
    CHECK(verdict.keyed_records == 2);
    CHECK_FALSE(verdict.intact);  // no anchor to check the end against, with a key in hand
  }
  auto keyless = stores.open();
  CHECK_THROWS_WITH(keyless->commit(new_request("R2", "other")), Catch::Contains("sealed with a key"));
  CHECK_FALSE(keyless->find("R2"));
  auto records = 0;
  keyless->for_each_audit(std::nullopt, [&](const storage::AuditRecord& record) {
    ++records;
    CHECK(record.keyed);
  });
  CHECK(records == 2);
}
STORE_CONTRACT("a chain sealed with a key takes no plain records", keyed_audit)

void whole_flow(Stores& stores) {
  std::string id;
  {
    Harness h(two_approver_policy(), stores.location());
    id = h.submit("1h");
    h.click("U0BOB", "approve", id);
    h.click("U0CAROL", "approve", id);
    CHECK(h.state(id) == RequestState::active);
    CHECK(h.backend->grants.size() == 1);
  }
  // A second process on the same database carries on where the first stopped.
  Harness later(two_approver_policy(), stores.location());
  later.clock.advance(2h);
  later.jit->run_due();
  later.jit->settle();
  CHECK(later.state(id) == RequestState::expired);
  CHECK(later.backend->revokes.size() == 1);
  CHECK(later.store.verify_audit().intact);
  std::vector<std::string> actions;
  for (const auto& entry : later.store.audit_trail(id)) actions.push_back(entry.action);
  CHECK(actions == std::vector<std::string>{"request", "approve", "approve", "grant", "expire", "revoke_done"});
}
STORE_CONTRACT("a whole flow: request, two approvals, grant, expiry and revoke", whole_flow)

}  // namespace

TEST_CASE("postgresql: a replica refuses a database whose schema is newer than it knows", "[contract][postgresql]") {
  ScratchPostgres database;
  storage::PostgresStore running(database.url(), 1);
  CHECK(running.figures(t0).inbox_waiting == 0);
  database.sql("UPDATE jitbot_schema SET version = version + 1");
  // One already running learns it at its next probe: not ready, and why.
  CHECK_THROWS_WITH(running.figures(t0), Catch::Contains("newer than this jitbot's"));
  CHECK_THROWS_WITH(
      storage::PostgresStore(database.url(), 1),
      Catch::Contains("newer than this jitbot understands") &&
          Catch::Contains("version " + std::to_string(storage::PostgresStore::known_schema_version() + 1)));
}

TEST_CASE("postgresql: each audit head is posted by one replica", "[contract][postgresql]") {
  ScratchPostgres database;
  storage::PostgresStore first(database.url(), 1);
  storage::PostgresStore second(database.url(), 1);
  CHECK(first.claim_head_post(5));
  CHECK_FALSE(second.claim_head_post(5));  // the same head
  CHECK_FALSE(second.claim_head_post(4));  // an older one
  first.release_head_post(5);              // its post failed: anyone may post it again
  CHECK(second.claim_head_post(5));
  CHECK(first.claim_head_post(7));
  second.release_head_post(5);  // too late: head 7 covers it
  CHECK_FALSE(first.claim_head_post(6));
}

TEST_CASE("postgresql: connections the server closed while idle are replaced, and nobody's call fails",
          "[contract][postgresql]") {
  ScratchPostgres database;
  storage::PostgresStore store(database.url(), 2);
  REQUIRE(store.commit(new_request("R1")));
  // What a server restart or a failover does to every idle connection.
  database.sql(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> "
      "pg_backend_pid()");
  // pg_terminate_backend only signals; the sessions end a moment later.
  std::this_thread::sleep_for(std::chrono::milliseconds{500});
  auto found = store.find("R1");
  REQUIRE(found);
  CHECK(found->state == RequestState::pending);
  CHECK(store.commit(new_request("R2", "other")));
}

TEST_CASE("postgresql: replicas starting together migrate once", "[contract][postgresql]") {
  ScratchPostgres database;
  std::atomic<int> opened{0};
  std::vector<std::thread> replicas;
  for (int i = 0; i < 3; ++i) {
    replicas.emplace_back([&] {
      storage::PostgresStore store(database.url(), 1);
      if (store.schema_version() == storage::PostgresStore::known_schema_version()) ++opened;
    });
  }
  for (auto& replica : replicas) replica.join();
  CHECK(opened.load() == 3);
}

TEST_CASE("postgresql: a server that cannot be reached is named, and no password is shown", "[contract][postgresql]") {
  postgres_cluster();  // sets PGPASSWORD, which must not appear either
  std::string url = "postgresql://jitbot:hunter2secret@127.0.0.1:1/jitbot";
  try {
    storage::PostgresStore store(url, 1);
    FAIL("connected to a closed port");
  } catch (const std::exception& e) {
    std::string message = e.what();
    CHECK_THAT(message, Catch::Contains("127.0.0.1"));
    CHECK_FALSE(shows_secret(message, "hunter2secret"));
    CHECK_FALSE(shows_secret(message, postgres_cluster().at("PGPASSWORD")));
  }
}

TEST_CASE("describe_location hides a URL's password", "[contract]") {
  CHECK(storage::describe_location("postgresql://jitbot:s3cret@db.example.com:5432/jitbot") ==
        "postgresql://jitbot@db.example.com:5432/jitbot");
  CHECK(storage::describe_location("postgresql://db.example.com/jitbot") == "postgresql://db.example.com/jitbot");
  CHECK(storage::describe_location("/var/lib/jitbot/jitbot.db") == "/var/lib/jitbot/jitbot.db");
  CHECK(storage::is_postgresql_url("postgres://x/y"));
  CHECK_FALSE(storage::is_postgresql_url("jitbot.db"));
}
