// Expiry with a fake clock, and what start-up does with what a crash or downtime left behind.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::RequestState;

TEST_CASE("next_due re-arms for the earliest deadline", "[expiry]") {
  Harness h;
  CHECK_FALSE(h.jit->next_due().has_value());
  auto id = h.submit("1h");
  CHECK(h.jit->next_due() == h.clock.now() + 30min);  // the pending timeout
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  CHECK(h.jit->next_due() == h.clock.now() + 50min);  // the warning, 10m before the end
  h.advance(50min);
  CHECK(h.jit->next_due() == h.clock.now() + 10min);  // the expiry
}

TEST_CASE("start-up after downtime: overdue revokes and timeouts happen, the rest is re-armed", "[expiry][restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string expired_id, pending_id, later_id, fresh_pending_id;
  auto now = test_start();
  {
    Harness h(two_approver_policy(), file);
    expired_id = h.submit("1h");
    h.click("U0BOB", "approve", expired_id);
    h.click("U0CAROL", "approve", expired_id);
    pending_id = h.submit();
    h.clock.advance(20min);
    later_id = h.submit("4h");
    h.click("U0BOB", "approve", later_id);
    h.click("U0CAROL", "approve", later_id);
    h.clock.advance(15min);
    fresh_pending_id = h.submit();
    now = h.clock.now();
  }  // the bot stops here, and is down for 25 minutes

  Harness restarted(two_approver_policy(), file);
  restarted.clock.set(now + 25min);
  restarted.jit->run_due();
  CHECK(restarted.state(expired_id) == RequestState::expired);  // overdue: revoked at start-up
  REQUIRE(restarted.backend->revokes.size() == 1);
  CHECK(restarted.backend->revokes[0].request_id == expired_id);
  CHECK(restarted.state(pending_id) == RequestState::timed_out);
  CHECK(restarted.state(later_id) == RequestState::active);
  CHECK(restarted.state(fresh_pending_id) == RequestState::pending);
  // Re-armed: the fresh request times out at its own deadline, 30m after it was made.
  CHECK(restarted.jit->next_due() == now + 30min);
  restarted.advance(5min);
  CHECK(restarted.state(fresh_pending_id) == RequestState::timed_out);
  auto later_expiry = *restarted.store.find(later_id)->expires_at;
  CHECK(restarted.jit->next_due() == later_expiry - 10min);  // its requester is warned first
  restarted.clock.set(later_expiry - 10min);
  restarted.jit->run_due();
  CHECK(restarted.jit->next_due() == later_expiry);
}

TEST_CASE("a crash after approval but before the grant is finished at start-up, once", "[restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  {
    Harness h(two_approver_policy(), file);
    id = h.submit();
    h.jit->handle_button("U0BOB", "approve", id);
    h.jit->handle_button("U0CAROL", "approve", id);
    // No settle(): the process dies with the APPROVED state committed and the grant not yet run.
    REQUIRE(h.state(id) == RequestState::approved);
    REQUIRE(h.backend->grants.empty());
  }
  Harness restarted(two_approver_policy(), file);
  restarted.jit->run_due();
  CHECK(restarted.state(id) == RequestState::active);
  REQUIRE(restarted.backend->grants.size() == 1);
  CHECK(restarted.backend->grants[0].request_id == id);  // the same idempotency key
  restarted.jit->run_due();
  CHECK(restarted.backend->grants.size() == 1);  // and never twice
}

TEST_CASE("a crash in the middle of a revoke finishes the revoke at start-up", "[restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  {
    Harness h(two_approver_policy(), file);
    id = h.submit();
    h.click("U0BOB", "approve", id);
    h.click("U0CAROL", "approve", id);
    h.jit->handle_command("U0ALICE", "revoke " + id);  // committed, backend not yet called
    auto request = h.store.find(id).value();
    REQUIRE(request.state == RequestState::active);  // not shown as ended: access may exist
    REQUIRE(request.ending_as == RequestState::revoked);
  }
  Harness restarted(two_approver_policy(), file);
  restarted.jit->run_due();
  CHECK(restarted.state(id) == RequestState::revoked);
  CHECK(restarted.backend->revokes.size() == 1);
}

TEST_CASE("a revoke goes to the backend that granted, even after the role's backend changed", "[restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  {
    Harness h(two_approver_policy(), file);
    id = h.submit("1h");
    h.click("U0BOB", "approve", id);
    h.click("U0CAROL", "approve", id);
    REQUIRE(h.state(id) == RequestState::active);
  }
  auto changed = two_approver_policy();
  changed.roles[0].backend = "another";  // the config moved on while access was live
  Harness restarted(changed, file);
  restarted.advance(1h);
  CHECK(restarted.state(id) == RequestState::expired);
  REQUIRE(restarted.backend->revokes.size() == 1);  // the harness registers its backend as "scripted"
  CHECK(restarted.backend->revokes[0].backend == "scripted");
}

TEST_CASE("the scheduler loads only what is due, and knows when the next thing is", "[expiry]") {
  jitbot::testing::Harness h;
  auto active = h.submit("1h");
  h.click("U0BOB", "approve", active);
  h.click("U0CAROL", "approve", active);  // active until start + 1h
  h.clock.advance(10min);
  auto pending = h.submit("2h");  // times out at start + 40m
  REQUIRE(h.store.due_requests(h.clock.now()).empty());
  CHECK(h.store.next_due_at() == h.clock.now() + 30min);
  h.clock.advance(30min);
  auto due = h.store.due_requests(h.clock.now());
  REQUIRE(due.size() == 1);
  CHECK(due.front().id == pending);
}
