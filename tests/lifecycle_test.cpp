// Every lifecycle transition and approval rule, driven through commands and clicks.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "workflows/outbox.hpp"
#include "workflows/wording.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::NoticeEvent;
using workflows::NoticeKind;
using workflows::RequestState;

TEST_CASE("a request waits for its approvers and posts one card", "[lifecycle]") {
  Harness h;
  auto id = h.submit();
  CHECK(h.state(id) == RequestState::pending);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::submitted) == 1);
  CHECK(h.chat.shown.back().target == "C0APPROVALS");
  CHECK(h.backend->grants.empty());
  auto trail = h.store.audit_trail(id);
  REQUIRE(trail.size() == 1);
  CHECK(trail[0].actor == "U0ALICE");
  CHECK(trail[0].to_state == "PENDING");
}

TEST_CASE("two distinct approvers are needed, then the grant runs and the requester hears", "[lifecycle]") {
  Harness h;
  auto id = h.submit();
  auto first = h.click("U0BOB", "approve", id);
  CHECK(first.ok);
  CHECK(first.text.find("1 of 2") != std::string::npos);
  CHECK(h.state(id) == RequestState::pending);

  auto again = h.click("U0BOB", "approve", id);
  CHECK_FALSE(again.ok);
  CHECK(again.refusal == workflows::RefusalReason::already_approved_by_you);
  CHECK(h.state(id) == RequestState::pending);

  CHECK(h.click("U0DAVE", "approve", id).ok);  // through the S0LEADS group
  CHECK(h.state(id) == RequestState::active);
  REQUIRE(h.backend->grants.size() == 1);
  const auto& call = h.backend->grants[0];
  CHECK(call.request_id == id);
  CHECK(call.requester.email == "U0ALICE@example.com");
  CHECK(call.approvers == std::vector<std::string>{"U0BOB", "U0DAVE"});
  CHECK(call.duration == 2h);

  auto request = h.store.find(id).value();
  CHECK(request.granted_at == h.clock.now());
  CHECK(request.expires_at == h.clock.now() + 2h);
  CHECK(request.grant_id == "grant-" + id);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::granted) == 1);
  CHECK(h.chat.shown.back().console_url == "https://console.example/" + id);
}

TEST_CASE("the approval that starts the grant redraws the card once the grant has ended, or after a second",
          "[lifecycle]") {
  Harness h;
  auto quick = h.submit();
  REQUIRE(h.click("U0BOB", "approve", quick).ok);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::approval_added) == 1);  // 1 of 2: drawn at once
  REQUIRE(h.click("U0DAVE", "approve", quick).ok);
  CHECK(h.state(quick) == RequestState::active);
  // "Approved, granting…" was held, and the grant's card replaced it: the card changed once.
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::approval_added) == 1);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::granted) == 1);
  CHECK(h.store.undelivered_notices().empty());

  // A grant still running a second later: the held card says it is being granted.
  auto slow = h.submit();
  REQUIRE(h.click("U0BOB", "approve", slow).ok);
  REQUIRE(h.jit->handle_button("U0DAVE", "approve", slow).ok);  // the job is not run yet
  h.clock.advance(std::chrono::milliseconds{999});
  workflows::deliver_due_notices(h.store, h.chat, h.policy, h.clock);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::approval_added) == 2);  // still held
  h.advance(std::chrono::milliseconds{1});
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::approval_added) == 3);
  CHECK(h.state(slow) == RequestState::active);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::granted) == 2);
}

TEST_CASE("nobody approves or denies their own request, even as a listed approver", "[lifecycle][rules]") {
  Harness h;
  auto reply = h.type("U0BOB", "request --provider aws --role admin --scope 123456789012 --duration 1h --reason x");
  REQUIRE(reply.ok);
  auto id = h.store.list({}).front().id;
  auto approve = h.click("U0BOB", "approve", id);
  CHECK_FALSE(approve.ok);
  CHECK(approve.refusal == workflows::RefusalReason::own_request);
  CHECK_FALSE(h.type("U0BOB", "deny " + id).ok);
  CHECK(h.state(id) == RequestState::pending);
  CHECK(h.store.find(id)->approvals.empty());
}

TEST_CASE("someone who is not an approver changes nothing", "[lifecycle][rules]") {
  Harness h;
  auto id = h.submit();
  auto reply = h.click("U0MALLORY", "approve", id);
  CHECK_FALSE(reply.ok);
  CHECK(reply.refusal == workflows::RefusalReason::not_an_approver);
  CHECK_FALSE(h.click("U0MALLORY", "deny", id).ok);
  CHECK(h.state(id) == RequestState::pending);
  // The request itself, and the two refusals (who tried, and why not); nothing else.
  auto trail = h.store.audit_trail(id);
  REQUIRE(trail.size() == 3);
  CHECK(trail[1].action == "refused_approve");
  CHECK(trail[2].action == "refused_deny");
  CHECK(trail[2].actor == "U0MALLORY");
  CHECK(h.store.find(id)->version == 1);
}

TEST_CASE("one deny ends the request, even after an approval", "[lifecycle]") {
  Harness h;
  auto id = h.submit();
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  auto reply = h.type("U0CAROL", "deny " + id + " not during the freeze");
  CHECK(reply.ok);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::denied);
  CHECK(request.decided_by == "U0CAROL");
  CHECK(request.decision_note == "not during the freeze");
  CHECK(h.backend->grants.empty());
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::denied) == 1);
  // A late approval on the old card is refused.
  auto late = h.click("U0DAVE", "approve", id);
  CHECK_FALSE(late.ok);
  CHECK(late.refusal == workflows::RefusalReason::wrong_state);
  CHECK(late.text.find("denied") != std::string::npos);
}

TEST_CASE("the requester may cancel a pending request, nobody else may", "[lifecycle]") {
  Harness h;
  auto id = h.submit();
  CHECK_FALSE(h.type("U0BOB", "cancel " + id).ok);
  CHECK(h.type("U0ALICE", "cancel " + id).ok);
  CHECK(h.state(id) == RequestState::cancelled);
  CHECK_FALSE(h.type("U0ALICE", "cancel " + id).ok);
}

TEST_CASE("an undecided request times out after pending_timeout", "[lifecycle][expiry]") {
  Harness h;
  auto id = h.submit();
  h.advance(29min);
  CHECK(h.state(id) == RequestState::pending);
  h.advance(1min);
  CHECK(h.state(id) == RequestState::timed_out);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::timed_out) == 1);
  CHECK_FALSE(h.click("U0BOB", "approve", id).ok);
}

TEST_CASE("a failed grant ends the request and says why", "[lifecycle]") {
  Harness h;
  h.backend->fail_grants = true;
  auto id = h.submit();
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::grant_failed);
  CHECK(request.last_error == "no such permission set");
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::grant_failed) == 1);
  auto dm = std::find_if(h.chat.shown.begin(), h.chat.shown.end(),
                         [](const auto& n) { return n.kind == NoticeKind::requester_dm; });
  REQUIRE(dm != h.chat.shown.end());
  CHECK(dm->detail == "no such permission set");
  // A late failure may have left something behind: one idempotent clean-up revoke, then it is over.
  REQUIRE(h.backend->revokes.size() == 1);
  CHECK(h.backend->revokes[0].request_id == id);
  CHECK_FALSE(request.ending_as.has_value());
  CHECK(request.ended_at.has_value());
}

TEST_CASE("a failed grant's clean-up is retried until it succeeds", "[lifecycle][expiry]") {
  Harness h;
  h.backend->fail_grants = true;
  h.backend->failing_revokes = 1;
  auto id = h.submit();
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::grant_failed);
  CHECK(request.ending_as == RequestState::grant_failed);  // not over: access may exist
  CHECK(h.jit->next_due() == h.clock.now() + 30s);
  h.advance(30s);
  CHECK(h.backend->revokes.size() == 2);
  CHECK_FALSE(h.store.find(id)->ending_as.has_value());
  CHECK(h.store.find(id)->last_error == "no such permission set");  // still the reason people need
}

TEST_CASE("approvals after the pending deadline are refused even before the timer runs", "[lifecycle][rules]") {
  Harness h;
  auto id = h.submit();
  h.clock.advance(30min);  // no run_due: a click races the scheduler
  auto reply = h.jit->handle_button("U0BOB", "approve", id);
  CHECK_FALSE(reply.ok);
  CHECK(reply.refusal == workflows::RefusalReason::past_deadline);
  CHECK(h.store.find(id)->approvals.empty());
}

TEST_CASE("an approver who approved can still deny", "[lifecycle][rules]") {
  Harness h;
  auto id = h.submit();
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  CHECK(h.click("U0BOB", "deny", id).ok);
  CHECK(h.state(id) == RequestState::denied);
}

TEST_CASE("access expires at the end of its duration and is revoked", "[lifecycle][expiry]") {
  Harness h;
  auto id = h.submit("1h");
  h.advance(10min);  // approval takes a while; access still lasts 1h from the grant
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  REQUIRE(h.state(id) == RequestState::active);
  h.advance(59min);
  CHECK(h.state(id) == RequestState::active);
  CHECK(h.backend->revokes.empty());
  h.advance(1min);
  CHECK(h.state(id) == RequestState::expired);
  REQUIRE(h.backend->revokes.size() == 1);
  CHECK(h.backend->revokes[0].grant_id == "grant-" + id);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::expired) == 1);
}

TEST_CASE("the requester or an approver can revoke early; others cannot", "[lifecycle]") {
  Harness h;
  auto id = h.submit();
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  auto stranger = h.click("U0MALLORY", "revoke", id);
  CHECK_FALSE(stranger.ok);
  CHECK(h.state(id) == RequestState::active);
  CHECK(h.type("U0ALICE", "revoke " + id).ok);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::revoked);
  CHECK(request.decided_by == "U0ALICE");
  CHECK(h.backend->revokes.size() == 1);
  CHECK_FALSE(h.click("U0BOB", "revoke", id).ok);
}

TEST_CASE("a failed revoke is retried with backoff and never shown as ended meanwhile", "[lifecycle][expiry]") {
  Harness h;
  auto id = h.submit("1h");
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  h.backend->failing_revokes = 2;
  h.advance(1h);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::revoke_failed);
  CHECK_FALSE(workflows::is_final(request.state));
  CHECK(request.last_error == "throttled by the cloud");
  CHECK(request.next_revoke_attempt == h.clock.now() + 30s);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::revoke_failed) == 1);

  h.advance(29s);
  CHECK(h.backend->revokes.size() == 1);
  h.advance(1s);
  CHECK(h.backend->revokes.size() == 2);
  request = h.store.find(id).value();
  CHECK(request.state == RequestState::revoke_failed);
  CHECK(request.next_revoke_attempt == h.clock.now() + 60s);  // doubled
  // The card shows every attempt; the incident channels and the requester hear once.
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::revoke_failed) == 2);
  CHECK(h.chat.count(NoticeKind::incident_alert, NoticeEvent::revoke_failed) == 2);  // one per incident channel
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::revoke_failed) == 1);
  CHECK(workflows::state_summary(request, h.policy).find("attempt 2") != std::string::npos);

  h.advance(60s);
  CHECK(h.backend->revokes.size() == 3);
  CHECK(h.state(id) == RequestState::expired);
}

TEST_CASE("a failed grant whose clean-up fails alerts and tells the requester once, and the card counts attempts",
          "[lifecycle][grant]") {
  Harness h;
  auto id = h.submit("1h");
  h.backend->fail_grants = true;
  h.backend->failing_revokes = 2;
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  // The grant failed; the clean-up revoke (the grant may have left access behind) failed too.
  auto request = h.store.find(id).value();
  REQUIRE(request.state == RequestState::grant_failed);
  CHECK(request.ending_as == RequestState::grant_failed);  // not over until the clean-up succeeds
  CHECK(request.last_error == "no such permission set");   // what people need to fix
  CHECK(request.next_revoke_attempt == h.clock.now() + 30s);
  CHECK(h.backend->revokes.size() == 1);
  CHECK(h.chat.count(NoticeKind::incident_alert, NoticeEvent::cleanup_failed) == 2);  // one per incident channel
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::cleanup_failed) == 1);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::cleanup_failed) == 1);
  CHECK(workflows::state_summary(request, h.policy).find("attempt 1") != std::string::npos);

  h.advance(30s);  // the second clean-up fails: the card says so, nobody is alerted again
  CHECK(h.backend->revokes.size() == 2);
  request = h.store.find(id).value();
  CHECK(request.next_revoke_attempt == h.clock.now() + 60s);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::cleanup_failed) == 2);
  CHECK(h.chat.count(NoticeKind::incident_alert, NoticeEvent::cleanup_failed) == 2);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::cleanup_failed) == 1);
  CHECK(workflows::state_summary(request, h.policy).find("attempt 2") != std::string::npos);

  h.advance(60s);  // the third succeeds: the request is over, as a failed grant
  CHECK(h.backend->revokes.size() == 3);
  request = h.store.find(id).value();
  CHECK(request.state == RequestState::grant_failed);
  CHECK_FALSE(request.ending_as.has_value());
  CHECK(request.ended_at == h.clock.now());
}

TEST_CASE("revoke retries back off, doubling from 30 s, and stop growing at 30 minutes", "[lifecycle][expiry]") {
  Harness h;
  auto id = h.submit("1h");
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  h.backend->failing_revokes = 10;
  h.advance(1h);
  std::vector<std::chrono::seconds> delays;
  for (int attempt = 1; attempt <= 10; ++attempt) {
    auto request = h.store.find(id).value();
    REQUIRE(request.state == RequestState::revoke_failed);
    REQUIRE(request.next_revoke_attempt);
    auto delay = std::chrono::duration_cast<std::chrono::seconds>(*request.next_revoke_attempt - h.clock.now());
    delays.push_back(delay);
    h.advance(delay);
  }
  // Never more than 30 minutes between tries of a revoke whose access may still exist.
  const std::vector<std::chrono::seconds> expected{30s, 60s, 120s, 240s, 480s, 960s, 1800s, 1800s, 1800s, 1800s};
  CHECK(delays == expected);
  CHECK(h.backend->revokes.size() == 11);
  CHECK(h.state(id) == RequestState::expired);
}

TEST_CASE("only the requester's DM carries the grant's console link", "[lifecycle][security]") {
  Harness h;
  auto id = h.submit("1h");
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  REQUIRE(h.state(id) == RequestState::active);
  int with_link = 0;
  for (const auto& notice : h.chat.shown) {
    if (notice.console_url.empty()) continue;
    ++with_link;
    CHECK(notice.kind == NoticeKind::requester_dm);
    CHECK(notice.event == NoticeEvent::granted);
    CHECK(notice.console_url == "https://console.example/" + id);
  }
  CHECK(with_link == 1);
}

TEST_CASE("break-glass grants at once, alerts every incident channel and stays flagged", "[lifecycle][rules]") {
  Harness h;
  auto reply = h.type("U0ONCALL",
                      "request --provider aws --role admin --scope 123456789012 --duration 30m --reason SEV1 "
                      "--break-glass");
  REQUIRE(reply.ok);
  auto request = h.store.list({}).front();
  CHECK(request.state == RequestState::active);
  CHECK(request.break_glass);
  CHECK(request.approvals.empty());
  REQUIRE(h.backend->grants.size() == 1);
  CHECK(h.backend->grants[0].break_glass);
  std::set<std::string> alerted;
  for (const auto& notice : h.chat.shown) {
    if (notice.kind == NoticeKind::incident_alert) alerted.insert(notice.target);
  }
  CHECK(alerted == std::set<std::string>{"C0INCIDENT", "C0SECURITY"});
}

TEST_CASE("break-glass is only for the role's break_glass_requesters", "[lifecycle][rules]") {
  Harness h;
  auto reply = h.type("U0ALICE",
                      "request --provider aws --role admin --scope 123456789012 --duration 30m --reason x "
                      "--break-glass");
  CHECK_FALSE(reply.ok);
  CHECK(reply.refusal == workflows::RefusalReason::not_a_break_glass_requester);
  CHECK(h.store.list({}).empty());
  CHECK(h.backend->grants.empty());
  CHECK(h.chat.shown.empty());
}

TEST_CASE("a bad command creates nothing and explains itself", "[lifecycle]") {
  Harness h;
  auto reply = h.type("U0ALICE", "request --provider aws --role admin --scope 123456789012 --reason x");
  CHECK_FALSE(reply.ok);
  CHECK(reply.text.find("Missing --duration") != std::string::npos);
  CHECK(reply.text.find("Usage: /jit request") != std::string::npos);
  CHECK(h.store.list({}).empty());
  CHECK(h.chat.shown.empty());
}

TEST_CASE("a stale copy loses the compare-and-set instead of applying twice", "[lifecycle][storage]") {
  Harness h;
  auto id = h.submit();
  auto stale = h.store.find(id).value();
  REQUIRE(h.click("U0BOB", "approve", id).ok);  // version moves on

  workflows::Change change;
  change.expected_version = stale.version;
  change.request = stale;
  change.request.version = stale.version + 1;
  change.request.state = RequestState::denied;
  CHECK_FALSE(h.store.commit(change));
  CHECK(h.state(id) == RequestState::pending);
  CHECK(h.store.find(id)->approvals.size() == 1);
}

TEST_CASE("notices survive a chat outage, and the card comes back once with its latest state", "[lifecycle][outbox]") {
  Harness h;
  h.chat.down = true;
  auto id = h.submit();
  h.click("U0BOB", "approve", id);
  CHECK(h.chat.shown.empty());
  CHECK(h.store.undelivered_notices().size() == 2);
  h.chat.down = false;
  h.jit->settle();
  CHECK(h.chat.shown.empty());  // each failed notice waits for its own retry time
  h.advance(3s);
  // The card is drawn from the request as it is now, so the later notice draws it once, with
  // the approval, instead of posting the submitted card and editing it at once.
  REQUIRE(h.chat.shown.size() == 1);
  CHECK(h.chat.shown[0].event == NoticeEvent::approval_added);
  CHECK(h.store.undelivered_notices().empty());
  CHECK(h.store.card_location(id) == "C/1");
}

TEST_CASE("a request's details are for its requester, its role's approvers and admins", "[rules][security]") {
  auto policy = two_approver_policy();
  policy.admins = {"U0AUDITOR"};
  Harness h(policy);
  auto id = h.submit();  // alice's, with the reason "INC-1 deploy fix"
  for (const std::string reader : {"U0ALICE", "U0BOB", "U0DAVE" /* via S0LEADS */, "U0AUDITOR"}) {
    auto reply = h.type(reader, "status " + id);
    INFO(reader << ": " << reply.text);
    CHECK(reply.ok);
    CHECK(reply.text.find("INC-1 deploy fix") != std::string::npos);
  }
  auto stranger = h.type("U0MALLORY", "status " + id);
  CHECK_FALSE(stranger.ok);
  CHECK(stranger.refusal == workflows::RefusalReason::not_yours_to_see);
  CHECK(stranger.text.find("INC-1") == std::string::npos);
  CHECK(stranger.text.find("not yours to see") != std::string::npos);

  // Lists: a stranger sees nothing of alice's; an approver sees what waits on them.
  for (const std::string scope : {"", " --pending", " --active", " --mine"}) {
    auto listed = h.type("U0MALLORY", "list" + scope);
    INFO("list" << scope << ": " << listed.text);
    CHECK(listed.text.find(id) == std::string::npos);
  }
  CHECK(h.type("U0BOB", "list --pending").text.find(id) != std::string::npos);
  CHECK(h.type("U0ALICE", "list").text.find(id) != std::string::npos);
  CHECK(h.type("U0AUDITOR", "list").text.find(id) != std::string::npos);
}

TEST_CASE("a whole-target grant is revoked as one, even after the role's config changed", "[lifecycle][security]") {
  auto policy = two_approver_policy();
  policy.roles.at(0).whole_target = true;  // as cluster_wide = true would set it
  Harness h(policy);
  auto id = h.submit("1h");
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  REQUIRE(h.backend->grants.size() == 1);
  CHECK(h.backend->grants.at(0).whole_target);
  // The operator turns the setting off (or removes the role) while access is live.
  h.policy.roles.at(0).whole_target = false;
  h.advance(std::chrono::hours{2});
  REQUIRE(h.backend->revokes.size() == 1);
  CHECK(h.backend->revokes.at(0).whole_target);
  // New requests follow the new config.
  auto later = h.submit("1h");
  h.click("U0BOB", "approve", later);
  h.click("U0CAROL", "approve", later);
  REQUIRE(h.backend->grants.size() == 2);
  CHECK_FALSE(h.backend->grants.at(1).whole_target);
}
