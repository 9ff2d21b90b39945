// The flow around the approval: approvers reminded in the card's thread, then the request
// escalated to more approvers, all audited and kept across a restart.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "workflows/tickets.hpp"
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

TEST_CASE("a reminder waiting out a chat outage is still said, though a later card update waits too",
          "[flow][reminders][outbox]") {
  Harness h(nudging_policy());
  auto id = h.submit();
  h.chat.down = true;
  h.advance(30min);  // the reminder falls due, and cannot be delivered
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  h.chat.down = false;
  h.advance(10s);
  std::vector<NoticeEvent> card_steps;
  for (const auto& shown : h.chat.shown) {
    if (shown.kind == NoticeKind::approval_card) card_steps.push_back(shown.event);
  }
  // One approval grants it: the approval's redraw is drawn over by the grant's, but the
  // reminder asks approvers to act in the card's thread, so it is not.
  CHECK(card_steps == std::vector<NoticeEvent>{NoticeEvent::submitted, NoticeEvent::reminder, NoticeEvent::granted});
  CHECK(h.store.undelivered_notices().empty());
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

namespace {

workflows::Policy ticket_policy(bool refuse_on_error = false) {
  auto policy = two_approver_policy();
  workflows::TicketSystem jira;
  jira.name = "jira";
  jira.projects = {"INC", "OPS"};
  jira.refuse_on_error = refuse_on_error;
  workflows::TicketSystem github;
  github.name = "github";
  github.repos = {"acme/ops"};
  policy.ticket_systems = {jira, github};
  policy.roles[0].require_ticket = "jira";
  return policy;
}

const std::string ticket_ask = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason ";

}  // namespace

TEST_CASE("a reason cites a ticket of a configured project or repo", "[flow][tickets]") {
  auto policy = ticket_policy();
  const auto& jira = policy.ticket_systems[0];
  const auto& github = policy.ticket_systems[1];
  CHECK(workflows::cited_ticket(jira, "fixing INC-4421 now") == "INC-4421");
  CHECK(workflows::cited_ticket(jira, "see OPS-7, then INC-9") == "OPS-7");  // the first cited
  CHECK_FALSE(workflows::cited_ticket(jira, "XINC-12 is not ours"));
  CHECK_FALSE(workflows::cited_ticket(jira, "INC-12b"));
  CHECK_FALSE(workflows::cited_ticket(jira, "SEC-12 and INC- alone"));
  CHECK(workflows::cited_ticket(github, "acme/ops#12 db") == "acme/ops#12");
  CHECK(workflows::cited_ticket(github, "fix for #12") == "acme/ops#12");  // one repo: #N is unambiguous
  CHECK_FALSE(workflows::cited_ticket(github, "other/repo#12"));
  CHECK_FALSE(workflows::cited_ticket(github, "evil-acme/ops#5"));  // another owner
  CHECK(workflows::cited_ticket(github, "Acme/Ops#5") == "acme/ops#5");
  CHECK(workflows::ticket_example(jira) == "INC-123 or OPS-123");
}

TEST_CASE("a role that requires a ticket checks it exists and is open, and shows it", "[flow][tickets]") {
  Harness h(ticket_policy());
  FakeTickets tickets;
  tickets.tickets["jira INC-7"] = {true, false, "Checkout is down", "https://acme.atlassian.net/browse/INC-7", {}};
  tickets.tickets["jira INC-3"] = {true, true, "Old outage", "https://acme.atlassian.net/browse/INC-3", {}};
  h.jit->workflow().use_tickets(&tickets);

  auto none = h.type("U0ALICE", ticket_ask + "\"db failover\"");
  CHECK(none.refusal == RefusalReason::ticket_missing);
  CHECK(none.text == "aws/admin needs a ticket: cite one in --reason, such as INC-123 or OPS-123.");
  CHECK(tickets.lookups == 0);

  auto missing = h.type("U0ALICE", ticket_ask + "\"INC-404 db failover\"");
  CHECK(missing.refusal == RefusalReason::ticket_not_found);
  CHECK(missing.text.find("Ticket INC-404 was not found") != std::string::npos);

  auto closed = h.type("U0ALICE", ticket_ask + "\"INC-3 db failover\"");
  CHECK(closed.refusal == RefusalReason::ticket_closed);
  CHECK(h.store.list({}).empty());

  auto good = h.type("U0ALICE", ticket_ask + "\"INC-7 db failover\"");
  REQUIRE(good.ok);
  auto request = h.store.list({}).front();
  CHECK(request.ticket == "INC-7");
  CHECK(request.ticket_verified);
  CHECK(request.ticket_title == "Checkout is down");
  CHECK(workflows::status_details(request, h.policy)
            .find("Ticket: INC-7: Checkout is down (https://acme.atlassian.net/browse/INC-7)") != std::string::npos);
  // Refusals are audited like any other.
  CHECK(h.store.verify_audit().intact);

  // Break-glass is for emergencies: no ticket needed.
  CHECK(h.type("U0ONCALL", ticket_ask + "\"all down\" --break-glass").ok);
}

TEST_CASE("an unreachable ticket system lets the request go on marked, or refuses it, as configured",
          "[flow][tickets]") {
  SECTION("on_error = allow") {
    Harness h(ticket_policy(false));
    FakeTickets tickets;
    tickets.unreachable = {"jira"};
    h.jit->workflow().use_tickets(&tickets);
    auto reply = h.type("U0ALICE", ticket_ask + "\"INC-7 db failover\"");
    REQUIRE(reply.ok);
    CHECK(reply.text.find("Ticket INC-7 could not be checked just now") != std::string::npos);
    auto request = h.store.list({}).front();
    CHECK_FALSE(request.ticket_verified);
    CHECK(workflows::ticket_summary(request) == "INC-7 (not verified: the ticket system could not be reached)");
  }
  SECTION("on_error = refuse") {
    Harness h(ticket_policy(true));
    FakeTickets tickets;
    tickets.unreachable = {"jira"};
    h.jit->workflow().use_tickets(&tickets);
    auto reply = h.type("U0ALICE", ticket_ask + "\"INC-7 db failover\"");
    CHECK(reply.refusal == RefusalReason::ticket_unverified);
    CHECK(reply.text.find("jira not reachable (connection refused)") != std::string::npos);
    CHECK(h.store.list({}).empty());
  }
}

TEST_CASE("when a user group cannot be read, its members hear that jitbot cannot tell yet, and nothing changes",
          "[flow][directory]") {
  Harness h;
  auto id = h.submit();
  h.directory.unreadable = {"S0LEADS"};  // U0DAVE approves through S0LEADS
  auto refused = h.click("U0DAVE", "approve", id);
  CHECK(refused.refusal == RefusalReason::directory_unavailable);
  CHECK(refused.text ==
        "jitbot cannot tell yet whether you may do this: user group S0LEADS is unreadable. Nothing was changed; try "
        "again in a minute.");
  CHECK(h.store.find(id)->approvals.empty());
  // The attempt is in the audit trail, as every refusal is.
  auto trail = h.store.audit_trail(id);
  CHECK(std::any_of(trail.begin(), trail.end(), [&](const workflows::AuditEntry& entry) {
    return entry.actor == "U0DAVE" && entry.action == "refused_approve" && entry.detail == refused.text;
  }));
  // Those named directly need no lookup; the rules still decide for them.
  CHECK(h.click("U0BOB", "approve", id).ok);
  CHECK(h.click("U0ALICE", "approve", id).refusal == RefusalReason::own_request);
  // The Home tab and /jit list show what they can rather than fail, and list says what it left out.
  auto dave_home = h.click("U0DAVE", "home", {});
  REQUIRE(dave_home.ok);
  CHECK(dave_home.home_waiting.empty());
  CHECK(h.click("U0CAROL", "home", {}).home_waiting.size() == 1);
  auto dave_list = h.type("U0DAVE", "list --pending");
  CHECK(dave_list.text.find("none.\nSome requests are not shown: Slack did not say") != std::string::npos);
  CHECK(h.type("U0CAROL", "list --pending").text.find(id) != std::string::npos);

  h.directory.unreadable.clear();
  CHECK(h.click("U0DAVE", "approve", id).ok);
  CHECK(h.state(id) == RequestState::active);
}

TEST_CASE("while the admins' user group cannot be read, requesters and approvers still end access",
          "[flow][directory]") {
  auto policy = two_approver_policy();
  policy.admins = {"S0ADMINS"};
  Harness h(policy);
  auto id = h.submit();
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  REQUIRE(h.click("U0CAROL", "approve", id).ok);
  REQUIRE(h.state(id) == RequestState::active);
  h.directory.unreadable = {"S0ADMINS", "S0LEADS"};
  CHECK(h.type("U0ALICE", "status " + id).ok);  // her own
  CHECK(h.type("U0BOB", "status " + id).ok);    // an approver named in the role
  CHECK(h.type("U0EVE", "status " + id).refusal == RefusalReason::directory_unavailable);
  CHECK(h.type("U0EVE", "revoke " + id).refusal == RefusalReason::directory_unavailable);
  CHECK(h.state(id) == RequestState::active);
  auto revoked = h.type("U0ALICE", "revoke " + id);
  CHECK(revoked.ok);
  CHECK(h.state(id) == RequestState::revoked);
}

TEST_CASE("the request form leaves out a role whose user group cannot be read, unless none is left",
          "[flow][directory]") {
  auto policy = two_approver_policy();
  auto open_role = policy.roles[0];
  open_role.name = "viewer";
  policy.roles[0].requesters = {"S0ENG"};
  policy.roles.push_back(open_role);  // requesters: anyone
  Harness h(policy);
  h.directory.groups["S0ENG"] = {"U0DAVE"};
  h.directory.unreadable = {"S0ENG"};
  auto form = h.click("U0DAVE", "request_form", {});
  REQUIRE(form.ok);
  CHECK(form.form_roles == std::vector<std::string>{"aws/viewer"});

  h.policy.roles.pop_back();
  auto none = h.click("U0DAVE", "request_form", {});
  CHECK(none.refusal == RefusalReason::directory_unavailable);
  h.directory.unreadable.clear();
  CHECK(h.click("U0DAVE", "request_form", {}).form_roles == std::vector<std::string>{"aws/admin"});
}

TEST_CASE("Deny asks for a reason first, only of those who may deny, and the reason reaches the requester",
          "[flow][deny]") {
  Harness h;
  auto id = h.submit();
  auto stranger = h.click("U0MALLORY", "deny_form", id);
  CHECK(stranger.refusal == RefusalReason::not_an_approver);
  CHECK(stranger.open_form == jitbot::bot::Form::none);
  auto own = h.click("U0ALICE", "deny_form", id);
  CHECK(own.refusal == RefusalReason::own_request);

  auto form = h.click("U0BOB", "deny_form", id);
  REQUIRE(form.ok);
  CHECK(form.open_form == jitbot::bot::Form::deny);
  CHECK(form.form_request_id == id);
  CHECK(form.text.find("Deny U0ALICE's request " + id + " for aws/admin on 123456789012") != std::string::npos);
  CHECK(h.state(id) == RequestState::pending);  // the form changes nothing

  auto denied = h.jit->handle_button("U0BOB", "deny", id);
  REQUIRE(denied.ok);
  h.jit->settle();
  CHECK(h.state(id) == RequestState::denied);

  Harness with_reason;
  auto second = with_reason.submit();
  workflows::AccessWorkflow& workflow = with_reason.jit->workflow();
  bot::InputHandler handler(with_reason.policy, with_reason.store, workflow);
  workflows::Input input;
  input.kind = workflows::Input::Kind::click;
  input.actor = "U0BOB";
  input.text = "deny";
  input.target = second;
  input.note = "use the read-only role for this";
  input.id = with_reason.store.put_input(input);
  bool consumed = false;
  REQUIRE(handler.handle(input, consumed).ok);
  with_reason.jit->settle();
  auto request = with_reason.store.find(second).value();
  CHECK(request.decision_note == "use the read-only role for this");
  auto dm = std::find_if(with_reason.chat.shown.begin(), with_reason.chat.shown.end(),
                         [](const auto& n) { return n.kind == NoticeKind::requester_dm; });
  REQUIRE(dm != with_reason.chat.shown.end());
  CHECK(workflows::requester_message(*dm, request).find("denied by U0BOB: use the read-only role for this") !=
        std::string::npos);
}
