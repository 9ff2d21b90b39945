// Incident access: break-glass alerts fanned out to every sink (each on its own), reviewed by
// the right people, re-alerted until they are, limited against abuse; and on-call requesters
// approved by their schedule.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "workflows/wording.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::AlertSink;
using workflows::NoticeEvent;
using workflows::NoticeKind;
using workflows::RefusalReason;
using workflows::RequestState;

namespace {

const std::string break_glass_text =
    "request --provider aws --role admin --scope 123456789012 --duration 1h --reason \"INC-9 db down\" --break-glass";

/// The standard policy with three sinks: Slack (one channel, pinging a group), a webhook and a pager.
workflows::Policy incident_policy(AlertSink::ResolveOn resolve_on = AlertSink::ResolveOn::acknowledge) {
  auto policy = two_approver_policy();
  policy.admins = {"U0ADMIN"};
  AlertSink slack;
  slack.name = "incident";
  slack.channels = {"C0INCIDENT"};
  slack.mention = "S0ONCALL";
  AlertSink webhook;
  webhook.name = "siem";
  webhook.type = AlertSink::Type::webhook;
  AlertSink pager;
  pager.name = "pager";
  pager.type = AlertSink::Type::pagerduty;
  pager.resolve_on = resolve_on;
  policy.alerts = {slack, webhook, pager};
  return policy;
}

std::string break_glass(Harness& h, const std::string& who = "U0ONCALL") {
  auto reply = h.type(who, break_glass_text);
  REQUIRE(reply.ok);
  return reply.text.substr(reply.text.find("req_"), 30);
}

}  // namespace

TEST_CASE("a break-glass reaches every sink once, and a sink that is down gets it when it recovers",
          "[incident][outbox]") {
  Harness h(incident_policy());
  h.chat.down_targets = {"pager"};
  auto id = break_glass(h);
  CHECK(h.state(id) == RequestState::active);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::break_glass) == 1);
  CHECK(h.chat.count_to("siem", NoticeEvent::break_glass) == 1);
  CHECK(h.chat.count_to("pager", NoticeEvent::break_glass) == 0);
  // The old default (every incident channel) gives way to the configured sinks.
  CHECK(h.chat.count_to("C0SECURITY", NoticeEvent::break_glass) == 0);

  // The pager's failures hold up nothing else: the card and the other sinks are current.
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::granted) == 1);
  auto waiting = h.store.undelivered_notices();
  REQUIRE(!waiting.empty());
  CHECK(std::all_of(waiting.begin(), waiting.end(), [](const auto& n) { return n.target == "pager"; }));

  h.chat.down_targets.clear();
  h.advance(1min);
  CHECK(h.chat.count_to("pager", NoticeEvent::break_glass) == 1);
  h.advance(10min);
  CHECK(h.chat.count_to("pager", NoticeEvent::break_glass) == 1);
  CHECK(h.chat.count_to("siem", NoticeEvent::break_glass) == 1);
  CHECK(h.store.undelivered_notices().empty());
}

TEST_CASE("the Slack alert is one message per channel, updated as the break-glass goes on", "[incident]") {
  Harness h(incident_policy());
  auto id = break_glass(h);
  auto location = h.store.alert_location(id, "C0INCIDENT");
  REQUIRE(location.has_value());
  std::vector<std::string> events;
  for (const auto& notice : h.chat.shown) {
    if (notice.target == "C0INCIDENT") events.push_back(std::string{workflows::to_string(notice.event)});
  }
  CHECK(events == std::vector<std::string>{"break_glass", "granted"});
  CHECK(h.store.alert_location(id, "C0INCIDENT") == location);  // edited in place, never posted twice
}

TEST_CASE("a break-glass whose grant failed is announced as failed wherever it was announced", "[incident]") {
  Harness h(incident_policy());
  h.backend->fail_grants = true;
  h.backend->grant_error = "AccessDenied: not allowed";
  auto id = break_glass(h);
  CHECK(h.state(id) == RequestState::grant_failed);
  for (const char* sink : {"C0INCIDENT", "siem", "pager"}) {
    INFO(sink);
    CHECK(h.chat.count_to(sink, NoticeEvent::break_glass) == 1);
    CHECK(h.chat.count_to(sink, NoticeEvent::grant_failed) == 1);
    CHECK(h.chat.count_to(sink, NoticeEvent::granted) == 0);
  }
  auto request = h.store.find(id).value();
  auto failed = std::find_if(h.chat.shown.begin(), h.chat.shown.end(),
                             [](const auto& n) { return n.target == "pager" && n.event == NoticeEvent::grant_failed; });
  CHECK(workflows::alert_summary(*failed, request, h.policy).find("Grant failed: AccessDenied") != std::string::npos);
}

TEST_CASE("only an approver or an admin reviews a break-glass, never the one who broke glass", "[incident][rules]") {
  Harness h(incident_policy());
  auto id = break_glass(h);

  auto own = h.type("U0ONCALL", "ack " + id + " all good");
  CHECK_FALSE(own.ok);
  CHECK(own.refusal == RefusalReason::own_break_glass);
  auto stranger = h.click("U0MALLORY", "acknowledge", id);
  CHECK(stranger.refusal == RefusalReason::not_a_reviewer);
  auto trail = h.store.audit_trail(id);
  CHECK(std::count_if(trail.begin(), trail.end(), [](const auto& e) { return e.action == "refused_review"; }) == 2);
  CHECK_FALSE(h.store.find(id)->reviewed_at.has_value());

  auto reviewed = h.type("U0BOB", "ack " + id + " checked with the IC, INC-9");
  CHECK(reviewed.ok);
  auto request = h.store.find(id).value();
  CHECK(request.reviewed_by == "U0BOB");
  CHECK(request.reviewed_at == h.clock.now());
  CHECK(request.review_note == "checked with the IC, INC-9");
  CHECK_FALSE(request.next_realert_at.has_value());
  // Every alert and the card say so, and the page is resolved.
  for (const char* target : {"C0INCIDENT", "siem", "pager", "C0APPROVALS"}) {
    INFO(target);
    CHECK(h.chat.count_to(target, NoticeEvent::reviewed) == 1);
  }
  CHECK(h.state(id) == RequestState::active);  // a review ends nothing by itself

  auto again = h.click("U0ADMIN", "acknowledge", id);
  CHECK(again.refusal == RefusalReason::already_reviewed);
  CHECK(again.text.find("U0BOB") != std::string::npos);
  auto refused_normal = h.type("U0BOB", "ack " + h.submit());
  CHECK(refused_normal.refusal == RefusalReason::not_break_glass);
}

TEST_CASE("an unreviewed break-glass is alerted again until reviewed, also after access ended",
          "[incident][scheduler]") {
  auto policy = incident_policy();
  policy.break_glass.realert_after = 30min;
  Harness h(policy);
  auto id = break_glass(h);
  h.advance(29min);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::realert) == 0);
  h.advance(1min);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::realert) == 1);
  CHECK(h.chat.count_to("siem", NoticeEvent::realert) == 1);
  CHECK(h.chat.count_to("pager", NoticeEvent::realert) == 0);  // the page is still open; it escalates itself

  h.advance(40min);  // the 1h access expires meanwhile
  CHECK(h.state(id) == RequestState::expired);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::realert) == 2);
  h.advance(30min);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::realert) == 3);

  REQUIRE(h.type("U0DAVE", "ack " + id).ok);
  h.advance(3h);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::realert) == 3);
  auto trail = h.store.audit_trail(id);
  CHECK(std::count_if(trail.begin(), trail.end(), [](const auto& e) { return e.action == "realert"; }) == 3);
}

TEST_CASE("after downtime one re-alert goes out, not one per missed interval", "[incident][scheduler]") {
  Harness h(incident_policy());
  break_glass(h);
  h.advance(5h);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::realert) == 1);
}

TEST_CASE("PagerDuty is resolved at the end of access when the config says so", "[incident]") {
  Harness h(incident_policy(AlertSink::ResolveOn::end));
  auto id = break_glass(h);
  REQUIRE(h.type("U0BOB", "ack " + id).ok);
  CHECK(h.chat.count_to("pager", NoticeEvent::reviewed) == 0);
  CHECK(h.chat.count_to("siem", NoticeEvent::reviewed) == 1);
  h.advance(1h);
  CHECK(h.state(id) == RequestState::expired);
  CHECK(h.chat.count_to("pager", NoticeEvent::expired) == 1);
}

TEST_CASE("break-glass beyond the limits becomes a normal request, and the requester is told why",
          "[incident][rules]") {
  auto policy = incident_policy();
  policy.break_glass.max_per_user = 2;
  policy.break_glass.window = 24h;
  policy.break_glass.max_duration = 1h;
  Harness h(policy);
  break_glass(h);
  break_glass(h);
  auto third = h.type("U0ONCALL", break_glass_text);
  REQUIRE(third.ok);
  CHECK(third.text.find("Break-glass was not used: you have broken glass 2 times in the last 24h") !=
        std::string::npos);
  auto newest = h.store.list({}).front();
  CHECK_FALSE(newest.break_glass);
  CHECK(newest.state == RequestState::pending);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::break_glass) == 2);
  auto trail = h.store.audit_trail(newest.id);
  CHECK(trail.front().detail.find("break-glass refused") != std::string::npos);

  h.advance(24h + 1min);
  auto longer = h.type("U0ONCALL",
                       "request --provider aws --role admin --scope 123456789012 --duration 2h "
                       "--reason x --break-glass");
  CHECK(longer.text.find("break-glass access lasts at most 1h") != std::string::npos);
  CHECK_FALSE(h.store.list({}).front().break_glass);
  break_glass(h);  // within both limits again
  CHECK(h.store.list({}).front().break_glass);
}

TEST_CASE("/jit list --unreviewed shows the break-glass requests waiting for review", "[incident]") {
  Harness h(incident_policy());
  auto id = break_glass(h);
  auto listed = h.type("U0BOB", "list --unreviewed");
  CHECK(listed.text.find(id) != std::string::npos);
  CHECK(listed.text.find("NOT reviewed") != std::string::npos);
  REQUIRE(h.type("U0BOB", "ack " + id).ok);
  CHECK(h.type("U0BOB", "list --unreviewed").text.find(id) == std::string::npos);
}

TEST_CASE("an alert sink that refuses for good is announced in Slack, and a Slack channel's to the others",
          "[incident][outbox]") {
  Harness h(incident_policy());
  h.chat.missing_channels = {"siem", "C0INCIDENT"};
  break_glass(h);
  CHECK(h.chat.count_to("C0INCIDENT", NoticeEvent::notice_parked) == 0);  // it is missing too
  CHECK(h.chat.count_to("pager", NoticeEvent::notice_parked) >= 1);       // the Slack channel's failure
  // The webhook's failure went to Slack, where it was parked in turn without announcing again.
  auto parked = h.store.list_notices({true, 100});
  CHECK(std::any_of(parked.begin(), parked.end(),
                    [](const auto& n) { return n.target == "C0INCIDENT" && n.event == NoticeEvent::notice_parked; }));
}

TEST_CASE("a requester on call in the role's schedule is approved by jitbot", "[incident][oncall]") {
  auto policy = incident_policy();
  policy.roles[0].approvals_required = 1;
  policy.roles[0].auto_approve_oncall = {"opsgenie:platform", "pagerduty:P1ABCDE"};
  Harness h(policy);
  FakeOnCall on_call;
  on_call.on_call["pagerduty:P1ABCDE"] = {"U0ALICE@example.com"};
  h.jit->workflow().use_on_call(&on_call);

  auto reply = h.type("U0ALICE", "request --provider aws --role admin --scope 123456789012 --duration 1h --reason x");
  REQUIRE(reply.ok);
  CHECK(reply.text.find("You are on call in pagerduty:P1ABCDE") != std::string::npos);
  auto request = h.store.list({}).front();
  CHECK(request.state == RequestState::active);
  REQUIRE(request.approvals.size() == 1);
  CHECK(workflows::on_call_schedule(request.approvals[0].approver) == "pagerduty:P1ABCDE");
  CHECK_FALSE(request.break_glass);
  CHECK(h.backend->grants.size() == 1);
  auto trail = h.store.audit_trail(request.id);
  CHECK(std::any_of(trail.begin(), trail.end(), [](const auto& e) {
    return e.action == "approve" && e.actor == "jitbot" && e.detail.find("pagerduty:P1ABCDE") != std::string::npos;
  }));
  CHECK(workflows::status_details(request, h.policy).find("jitbot (on call in pagerduty:P1ABCDE)") !=
        std::string::npos);
}

TEST_CASE("on call counts as one approval; off call or an unreadable schedule waits for people", "[incident][oncall]") {
  auto policy = incident_policy();
  policy.roles[0].auto_approve_oncall = {"pagerduty:P1ABCDE"};  // approvals_required = 2
  Harness h(policy);
  FakeOnCall on_call;
  on_call.on_call["pagerduty:P1ABCDE"] = {"U0ALICE@example.com"};
  h.jit->workflow().use_on_call(&on_call);
  const std::string ask = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason x";

  auto one_of_two = h.type("U0ALICE", ask);
  CHECK(one_of_two.text.find("needs 1 more approval") != std::string::npos);
  auto first = h.store.list({}).front();
  CHECK(first.state == RequestState::pending);
  REQUIRE(h.click("U0BOB", "approve", first.id).ok);
  CHECK(h.state(first.id) == RequestState::active);

  auto off_call = h.type("U0CAROL", ask);
  CHECK(off_call.text.find("You are not on call in pagerduty:P1ABCDE") != std::string::npos);
  CHECK(h.store.list({}).front().approvals.empty());

  on_call.unreadable = {"pagerduty:P1ABCDE"};
  auto unreadable = h.type("U0ALICE", ask);
  CHECK(unreadable.ok);
  CHECK(unreadable.text.find("could not read the on-call schedule (pagerduty:P1ABCDE: HTTP 503)") != std::string::npos);
  auto waiting = h.store.list({}).front();
  CHECK(waiting.state == RequestState::pending);
  CHECK(waiting.approvals.empty());
}

TEST_CASE("on-call approval never skips the role's rules", "[incident][oncall][rules]") {
  auto policy = incident_policy();
  policy.roles[0].approvals_required = 1;
  policy.roles[0].requesters = {"U0BOB"};
  policy.roles[0].auto_approve_oncall = {"pagerduty:P1ABCDE"};
  Harness h(policy);
  FakeOnCall on_call;
  on_call.on_call["pagerduty:P1ABCDE"] = {"U0ALICE@example.com"};
  h.jit->workflow().use_on_call(&on_call);
  auto not_requester =
      h.type("U0ALICE", "request --provider aws --role admin --scope 123456789012 --duration 1h --reason x");
  CHECK(not_requester.refusal == RefusalReason::not_a_requester);
  auto too_long =
      h.type("U0ALICE", "request --provider aws --role admin --scope 123456789012 --duration 8h --reason x");
  CHECK(too_long.refusal == RefusalReason::duration_too_long);
  CHECK(on_call.lookups == 0);
  CHECK(h.backend->grants.empty());
}

TEST_CASE("requests people get wrong are refused with what to do next", "[lifecycle][messages]") {
  auto policy = two_approver_policy();
  policy.roles[0].requesters = {"U0ALICE"};
  Harness h(policy);
  const std::string ask = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason ";

  auto blank = h.type("U0ALICE", ask + "\"   \"");
  CHECK(blank.refusal == RefusalReason::reason_missing);

  auto outsider = h.type("U0MALLORY", ask + "x");
  CHECK(outsider.refusal == RefusalReason::not_a_requester);
  CHECK(outsider.text.find("Ask one of its approvers (U0BOB, U0CAROL, S0LEADS) to add you") != std::string::npos);

  auto first = h.type("U0ALICE", ask + "x");
  REQUIRE(first.ok);
  auto id = h.store.list({}).front().id;
  auto again = h.type("U0ALICE", ask + "x");
  CHECK(again.refusal == RefusalReason::duplicate_request);
  CHECK(again.text.find("You already asked for exactly this: aws/admin on 123456789012, " + id) != std::string::npos);
  CHECK(again.text.find("/jit cancel " + id) != std::string::npos);
  CHECK(h.store.list({}).size() == 1);
  auto stranger = h.click("U0MALLORY", "approve", id);
  CHECK(stranger.text == "You are not an approver for aws/admin. Its approvers are U0BOB, U0CAROL, S0LEADS.");
  // Another scope or reason, or the same once the first is decided, is a request of its own.
  CHECK(h.type("U0ALICE", "request --provider aws --role admin --scope dev-1 --duration 1h --reason x").ok);
  CHECK(h.type("U0ALICE", ask + "\"INC-2, another incident\"").ok);
  REQUIRE(h.type("U0ALICE", "cancel " + id).ok);
  CHECK(h.type("U0ALICE", ask + "x").ok);
}

TEST_CASE("a repeated request is refused however many requests the requester has pending", "[lifecycle][messages]") {
  Harness h(two_approver_policy());
  const std::string ask = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason ";
  // The duplicate check once looked at the requester's newest 100 pending requests only.
  for (int i = 0; i < 150; ++i) REQUIRE(h.type("U0ALICE", ask + "INC-" + std::to_string(i)).ok);
  auto oldest = h.type("U0ALICE", ask + "INC-0");
  CHECK(oldest.refusal == RefusalReason::duplicate_request);
  auto newest = h.type("U0ALICE", ask + "INC-149");
  CHECK(newest.refusal == RefusalReason::duplicate_request);
  workflows::RequestFilter all;
  all.limit = 0;
  CHECK(h.store.list(all).size() == 150);
  // Same reason, other duration: a request of its own.
  CHECK(h.type("U0ALICE", "request --provider aws --role admin --scope 123456789012 --duration 2h --reason INC-0").ok);
}

TEST_CASE("two identical requests committed at once: the second is refused, pointing to the first",
          "[lifecycle][messages][race]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  Harness h(two_approver_policy(), file);
  storage::SqliteStore other(file);  // a second connection, as a second inbox thread has
  workflows::AccessWorkflow second(h.policy, other, h.directory, h.clock, h.ids);
  // Both checked for a duplicate before either committed: simulated by committing the first
  // request straight to the store after the second workflow has looked.
  workflows::NewRequest draft{"aws", "admin", "123456789012", 1h, "INC-1", false};
  auto first = h.jit->workflow().submit("U0ALICE", draft);
  REQUIRE(first.ok);
  workflows::Change racing;
  racing.request = h.store.find(first.request_id).value();
  racing.request.id = "req_01M8TRHN5VETXKNC8AFDMDME78";
  racing.only_identical_pending = true;
  CHECK_FALSE(other.commit(racing));  // the store itself refuses the twin
  CHECK(h.store.list({}).size() == 1);
  auto again = second.submit("U0ALICE", draft);
  CHECK(again.refusal == RefusalReason::duplicate_request);
  CHECK(again.request_id == first.request_id);
}
