// The flow around the approval: approvers reminded in the card's thread, then the request
// escalated to more approvers, all audited and kept across a restart.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "workflows/wording.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::NoticeEvent;
using workflows::NoticeKind;
using workflows::RefusalReason;
using workflows::RequestState;

namespace {

workflows::Policy nudging_policy() {
  auto policy = two_approver_policy();
  policy.pending_timeout = 4h;
  policy.remind_after = 30min;
  policy.max_reminders = 2;
  auto& role = policy.roles[0];
  role.approvals_required = 1;
  role.escalate_after = 2h;
  role.escalation_approvers = {"U0MANAGER", "S0DIRECTORS"};
  return policy;
}

int reminders(const Harness& h) { return h.chat.count(NoticeKind::approval_card, NoticeEvent::reminder); }

}  // namespace

TEST_CASE("a pending request reminds its approvers in the card's thread, at most max_reminders times",
          "[flow][reminders]") {
  Harness h(nudging_policy());
  auto id = h.submit();
  h.advance(29min);
  CHECK(reminders(h) == 0);
  h.advance(1min);
  CHECK(reminders(h) == 1);
  CHECK(h.chat.shown.back().target == "C0APPROVALS");
  h.advance(30min);
  CHECK(reminders(h) == 2);
  h.advance(50min);
  CHECK(reminders(h) == 2);  // max_reminders = 2
  auto request = h.store.find(id).value();
  CHECK(request.reminders_sent == 2);
  CHECK_FALSE(request.next_reminder_at.has_value());
  auto trail = h.store.audit_trail(id);
  CHECK(std::count_if(trail.begin(), trail.end(), [](const auto& e) { return e.action == "remind"; }) == 2);
}

TEST_CASE("a decided request is never reminded", "[flow][reminders]") {
  Harness h(nudging_policy());
  auto id = h.submit();
  h.advance(10min);
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  h.advance(3h);
  CHECK(reminders(h) == 0);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::escalated) == 0);
  CHECK_FALSE(h.store.find(id)->next_reminder_at.has_value());
}

TEST_CASE("after escalate_after, the escalation approvers may decide, are asked, and the card says so",
          "[flow][escalation]") {
  Harness h(nudging_policy());
  auto id = h.submit();
  auto early = h.click("U0MANAGER", "approve", id);
  CHECK(early.refusal == RefusalReason::not_an_approver);

  h.advance(2h);
  auto request = h.store.find(id).value();
  CHECK(request.escalated_at == h.clock.now());
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::escalated) == 1);
  // The person is DMed; the group is mentioned in the thread (Slack cannot DM a group).
  CHECK(h.chat.count_to("U0MANAGER", NoticeEvent::escalated) == 1);
  CHECK(h.chat.count_to("S0DIRECTORS", NoticeEvent::escalated) == 0);
  CHECK(workflows::state_summary(request, h.policy).find("escalated to U0MANAGER, S0DIRECTORS") != std::string::npos);
  auto dm =
      std::find_if(h.chat.shown.begin(), h.chat.shown.end(), [](const auto& n) { return n.target == "U0MANAGER"; });
  CHECK(workflows::requester_message(*dm, request).find("was escalated to you") != std::string::npos);
  auto trail = h.store.audit_trail(id);
  CHECK(std::any_of(trail.begin(), trail.end(), [](const auto& e) {
    return e.action == "escalate" && e.detail == "escalation approvers added: U0MANAGER, S0DIRECTORS";
  }));
  // The manager now waits on it, and may approve.
  CHECK(h.type("U0MANAGER", "list --pending").text.find(id) != std::string::npos);
  CHECK(h.click("U0MANAGER", "approve", id).ok);
  CHECK(h.state(id) == RequestState::active);
}

TEST_CASE("reminders and escalation survive a restart", "[flow][restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  workflows::Instant left_at;
  {
    Harness h(nudging_policy(), file);
    id = h.submit();
    h.advance(31min);
    REQUIRE(reminders(h) == 1);
    left_at = h.clock.now();
  }
  Harness h(nudging_policy(), file);
  h.clock.set(left_at + 2h);
  h.jit->run_due();  // start-up after downtime: one reminder, not one per missed interval, and the escalation
  CHECK(reminders(h) == 1);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::escalated) == 1);
  CHECK(h.store.find(id)->reminders_sent == 2);
}
