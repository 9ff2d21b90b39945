// Extending active access: a new decision on the same card, applied by the backend, bounded by
// the role, warned about before the end, and never in the way of the revoke.
#include <algorithm>
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "workflows/wording.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::Extension;
using workflows::NoticeEvent;
using workflows::NoticeKind;
using workflows::RefusalReason;
using workflows::RequestState;

namespace {

/// Submits the standard 1h request and has both approvers approve it, so it is ACTIVE.
std::string active_request(Harness& h, const std::string& duration = "1h") {
  auto id = h.submit(duration);
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  REQUIRE(h.click("U0CAROL", "approve", id).ok);
  REQUIRE(h.state(id) == RequestState::active);
  return id;
}

const workflows::Notice* last_dm(const Harness& h) {
  for (auto it = h.chat.shown.rbegin(); it != h.chat.shown.rend(); ++it) {
    if (it->kind == NoticeKind::requester_dm) return &*it;
  }
  return nullptr;
}

bool audited(Harness& h, const std::string& id, const std::string& action) {
  auto trail = h.store.audit_trail(id);
  return std::any_of(trail.begin(), trail.end(), [&](const auto& entry) { return entry.action == action; });
}

}  // namespace

TEST_CASE("an extension is decided on the card by the role's approvers, then moves the expiry", "[extend]") {
  Harness h;
  auto id = active_request(h);
  auto old_expiry = *h.store.find(id)->expires_at;

  auto asked = h.type("U0ALICE", "extend " + id + " 1h --reason \"the migration runs long\"");
  REQUIRE(asked.ok);
  CHECK(asked.text.find("It needs 2 approvals") != std::string::npos);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::extension_requested) == 1);
  auto request = h.store.find(id).value();
  CHECK(request.extension.status == Extension::Status::pending);
  CHECK(workflows::state_summary(request, h.policy)
            .find("extension by 1h asked for (0 of 2 approvals): the "
                  "migration runs long") != std::string::npos);
  CHECK(h.backend->extends.empty());

  CHECK(h.click("U0ALICE", "approve", id).refusal == RefusalReason::own_request);
  CHECK(h.click("U0MALLORY", "approve", id).refusal == RefusalReason::not_an_approver);
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  CHECK(h.click("U0BOB", "approve", id).refusal == RefusalReason::already_approved_by_you);
  CHECK(h.backend->extends.empty());               // 1 of 2
  auto second = h.click("U0DAVE", "approve", id);  // through S0LEADS
  REQUIRE(second.ok);
  CHECK(second.text.find("the expiry is being moved") != std::string::npos);

  REQUIRE(h.backend->extends.size() == 1);
  const auto& call = h.backend->extends[0];
  CHECK(call.action == workflows::BackendCall::Action::extend);
  CHECK(call.previous_expires_at == old_expiry);
  CHECK(call.expires_at == old_expiry + 1h);
  CHECK(call.duration == 2h);
  request = h.store.find(id).value();
  CHECK(request.expires_at == old_expiry + 1h);
  CHECK(request.extended_by == 1h);
  CHECK(request.extension.status == Extension::Status::done);
  CHECK(request.state == RequestState::active);
  REQUIRE(last_dm(h) != nullptr);
  CHECK(last_dm(h)->event == NoticeEvent::extended);
  CHECK(workflows::requester_message(*last_dm(h), request)
            .find("was extended: it now ends at " + workflows::format_rfc3339(old_expiry + 1h)) != std::string::npos);
  CHECK(audited(h, id, "request_extension"));
  CHECK(audited(h, id, "approve_extension"));
  CHECK(audited(h, id, "extend"));

  // The old end passes with access intact; the new one ends it.
  h.advance(std::chrono::duration_cast<std::chrono::milliseconds>(old_expiry - h.clock.now()) + 1min);
  CHECK(h.state(id) == RequestState::active);
  CHECK(h.backend->revokes.empty());
  h.advance(1h);
  CHECK(h.state(id) == RequestState::expired);
  CHECK(h.backend->revokes.size() == 1);
}

TEST_CASE("a denied extension leaves the expiry where it was, and the requester hears why", "[extend]") {
  Harness h;
  auto id = active_request(h);
  auto old_expiry = h.store.find(id)->expires_at;
  REQUIRE(h.type("U0ALICE", "extend " + id + " 30m").ok);

  // The Deny button opens the form only for who may decide, and says it is about the extension.
  CHECK(h.click("U0ALICE", "deny_form", id).refusal == RefusalReason::own_request);
  auto form = h.click("U0BOB", "deny_form", id);
  REQUIRE(form.open_form == jitbot::bot::Form::deny);
  CHECK(form.text.find("Deny the extension by 30m of U0ALICE's access " + id) != std::string::npos);

  auto denied = h.type("U0BOB", "deny " + id + " finish it tomorrow");
  REQUIRE(denied.ok);
  CHECK(denied.text.find("You denied the extension of " + id) != std::string::npos);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::active);
  CHECK(request.expires_at == old_expiry);
  CHECK(request.extension.status == Extension::Status::denied);
  CHECK(h.backend->extends.empty());
  REQUIRE(last_dm(h) != nullptr);
  CHECK(last_dm(h)->event == NoticeEvent::extension_denied);
  CHECK(workflows::requester_message(*last_dm(h), request).find("denied by U0BOB: finish it tomorrow") !=
        std::string::npos);
  CHECK(workflows::state_summary(request, h.policy).find("extension by 30m denied by U0BOB: finish it tomorrow") !=
        std::string::npos);
  // Decided: a second deny or approve finds nothing to decide.
  CHECK(h.click("U0CAROL", "approve", id).refusal == RefusalReason::wrong_state);
  // The requester may ask again.
  CHECK(h.type("U0ALICE", "extend " + id + " 15m").ok);
}

TEST_CASE("self_extend applies at once, and the role's limit counts every extension", "[extend]") {
  auto policy = two_approver_policy();
  policy.roles[0].self_extend = true;
  policy.roles[0].max_extended_duration = 3h;
  Harness h(policy);
  auto id = active_request(h);

  auto first = h.type("U0ALICE", "extend " + id + " 1h");
  REQUIRE(first.ok);
  CHECK(h.backend->extends.size() == 1);
  CHECK(h.store.find(id)->extended_by == 1h);
  CHECK(audited(h, id, "approve_extension"));

  auto too_long = h.type("U0ALICE", "extend " + id + " 2h");
  CHECK(too_long.refusal == RefusalReason::extension_too_long);
  CHECK(too_long.text.find("past its limit of 3h in all; ask for 1h or less") != std::string::npos);
  CHECK(h.backend->extends.size() == 1);

  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  CHECK(h.store.find(id)->extended_by == 2h);
  auto spent = h.type("U0ALICE", "extend " + id + " 1m");
  CHECK(spent.refusal == RefusalReason::extension_too_long);
  CHECK(spent.text.find("cannot be extended any further") != std::string::npos);
}

TEST_CASE("without max_extended_duration the role's max_duration bounds the whole access", "[extend]") {
  Harness h;  // max_duration 4h
  auto id = active_request(h, "4h");
  CHECK(h.type("U0ALICE", "extend " + id + " 1m").refusal == RefusalReason::extension_too_long);
}

TEST_CASE("only the requester extends, only active access, one extension at a time", "[extend]") {
  Harness h;
  auto pending = h.submit();
  CHECK(h.type("U0ALICE", "extend " + pending + " 1h").refusal == RefusalReason::wrong_state);
  auto id = active_request(h);
  auto by_bob = h.type("U0BOB", "extend " + id + " 1h");
  CHECK(by_bob.refusal == RefusalReason::only_requester_extends);
  CHECK(by_bob.text.find("Only the requester can extend " + id) != std::string::npos);
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  auto again = h.type("U0ALICE", "extend " + id + " 30m");
  CHECK(again.refusal == RefusalReason::extension_open);
  CHECK(again.text.find("already waiting for approval") != std::string::npos);
  CHECK(audited(h, id, "refused_extend"));
  REQUIRE(h.type("U0BOB", "revoke " + id).ok);
  CHECK(h.type("U0ALICE", "extend " + id + " 1h").refusal == RefusalReason::wrong_state);
}

TEST_CASE("the requester is warned before the end, and the warning's Extend button asks for as long again",
          "[extend][warning]") {
  Harness h;
  auto id = active_request(h);
  h.advance(49min);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 0);
  h.advance(1min);
  REQUIRE(h.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 1);
  const auto* warning = last_dm(h);
  CHECK(warning->detail == "1h");  // the Extend button's offer
  CHECK(workflows::requester_message(*warning, *h.store.find(id)).find("Need more time? Extend it by 1h") !=
        std::string::npos);
  h.advance(5min);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 1);  // once

  CHECK(h.click("U0BOB", "extend", id).refusal == RefusalReason::only_requester_extends);
  REQUIRE(h.click("U0ALICE", "extend", id).ok);
  auto request = h.store.find(id).value();
  CHECK(request.extension.status == Extension::Status::pending);
  CHECK(request.extension.by == 1h);
  CHECK(request.extension.reason.empty());  // the request's own reason still holds

  // Approved and applied, the new end is warned about in its turn.
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  REQUIRE(h.click("U0CAROL", "approve", id).ok);
  REQUIRE(h.store.find(id)->extended_by == 1h);
  h.advance(55min);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 2);
  // Again as long as the request asked for: 2h of the role's 4h are left.
  CHECK(last_dm(h)->detail == "1h");
}

TEST_CASE("a warning for access that cannot be extended says so, and warn_before = 0s turns warnings off",
          "[extend][warning]") {
  Harness limited;
  auto id = active_request(limited, "4h");
  limited.advance(3h + 50min);
  REQUIRE(limited.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 1);
  CHECK(last_dm(limited)->detail.empty());
  CHECK(
      workflows::requester_message(*last_dm(limited), *limited.store.find(id)).find("cannot be extended any further") !=
      std::string::npos);

  auto policy = two_approver_policy();
  policy.warn_before = workflows::Seconds{0};
  Harness quiet(policy);
  active_request(quiet);
  quiet.advance(1h);
  CHECK(quiet.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 0);
}

TEST_CASE("an extension the backend refuses keeps the old end and tells the requester why", "[extend]") {
  auto policy = two_approver_policy();
  policy.roles[0].self_extend = true;
  Harness h(policy);
  auto id = active_request(h);
  auto old_expiry = h.store.find(id)->expires_at;
  h.backend->extend_error = "the binding is gone";
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  auto request = h.store.find(id).value();
  CHECK(request.expires_at == old_expiry);
  CHECK(request.extension.status == Extension::Status::failed);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::extension_failed) == 1);
  REQUIRE(last_dm(h) != nullptr);
  CHECK(workflows::requester_message(*last_dm(h), request).find("could not be extended: the binding is gone") !=
        std::string::npos);
  CHECK(audited(h, id, "extend_failed"));
  h.advance(1h);
  CHECK(h.state(id) == RequestState::expired);
}

TEST_CASE("an extension not decided before the end is dropped: the revoke has the last word", "[extend]") {
  Harness h;
  auto id = active_request(h);
  h.advance(55min);
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  h.advance(5min);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::expired);
  CHECK(request.extension.status == Extension::Status::failed);
  CHECK(request.extension.note == "access ended before the extension could be applied");
  CHECK(h.click("U0BOB", "approve", id).refusal == RefusalReason::wrong_state);
  CHECK(h.backend->extends.empty());
}

TEST_CASE("one backend call per request at a time: a revoke waits for a running extend", "[extend][jobs]") {
  Harness h;
  auto id = active_request(h);
  auto request = h.store.find(id).value();
  workflows::Change change;
  change.expected_version = request.version;
  request.version += 1;
  change.request = request;
  for (auto action : {workflows::BackendCall::Action::extend, workflows::BackendCall::Action::revoke}) {
    workflows::Job job;
    job.request_id = id;
    job.action = action;
    job.backend = "scripted";
    job.not_before = h.clock.now();
    change.jobs.push_back(job);
  }
  REQUIRE(h.store.commit(change));
  auto now = h.clock.now();
  auto first = h.store.claim_job(now, now + 1min, {});
  REQUIRE(first.has_value());
  CHECK(first->action == workflows::BackendCall::Action::extend);
  CHECK_FALSE(h.store.claim_job(now, now + 1min, {}).has_value());  // the revoke waits
  h.store.settle_job({first->id, std::nullopt, {}}, std::nullopt);
  auto second = h.store.claim_job(now, now + 1min, {});
  REQUIRE(second.has_value());
  CHECK(second->action == workflows::BackendCall::Action::revoke);
}

TEST_CASE("extensions and the warning survive a restart", "[extend][restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  {
    Harness h(two_approver_policy(), file);
    id = active_request(h);
    REQUIRE(h.type("U0ALICE", "extend " + id + " 1h --reason more tests").ok);
    REQUIRE(h.click("U0BOB", "approve", id).ok);
  }
  Harness restarted(two_approver_policy(), file);
  auto request = restarted.store.find(id).value();
  CHECK(request.extension.status == Extension::Status::pending);
  CHECK(request.extension.by == 1h);
  CHECK(request.extension.reason == "more tests");
  CHECK(request.extension.approvers == std::vector<std::string>{"U0BOB"});
  CHECK(request.warn_at == *request.expires_at - 10min);
  CHECK(restarted.click("U0BOB", "approve", id).refusal == RefusalReason::already_approved_by_you);
  REQUIRE(restarted.click("U0CAROL", "approve", id).ok);
  CHECK(restarted.store.find(id)->extended_by == 1h);
}

TEST_CASE("extend is parsed with its duration and optional reason", "[extend][parser]") {
  Harness h;
  auto id = active_request(h);
  CHECK(h.type("U0ALICE", "extend " + id).text.find("How much longer? Give a duration such as 1h.") !=
        std::string::npos);
  CHECK(h.type("U0ALICE", "extend " + id + " soon").text.find("\"soon\" is not a duration") != std::string::npos);
  CHECK(h.type("U0ALICE", "extend " + id + " 1h please").text.find("give a reason with --reason") != std::string::npos);
  CHECK(h.type("U0ALICE", "extend " + id + " 1h --reason").text.find("--reason needs a value") != std::string::npos);
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h --reason=db migration, step 2").ok);
  CHECK(h.store.find(id)->extension.reason == "db migration, step 2");
  CHECK(h.type("U0ALICE", "help").text.find("/jit extend ID DURATION [--reason TEXT]") != std::string::npos);
}

TEST_CASE("the Home tab lists an extension among what waits on an approver", "[extend][home]") {
  Harness h;
  auto id = active_request(h);
  CHECK(h.click("U0BOB", "home", {}).home_waiting.empty());
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  auto bob = h.click("U0BOB", "home", {});
  REQUIRE(bob.home_waiting.size() == 1);
  CHECK(bob.home_waiting[0].id == id);
  CHECK(h.click("U0ALICE", "home", {}).home_waiting.empty());  // not her own
  REQUIRE(h.click("U0BOB", "approve", id).ok);
  CHECK(h.click("U0BOB", "home", {}).home_waiting.empty());  // he has decided
  CHECK(h.click("U0CAROL", "home", {}).home_waiting.size() == 1);
}

TEST_CASE("a warning while an extension waits says so instead of offering another", "[extend][warning]") {
  Harness h;
  auto id = active_request(h);
  h.advance(45min);
  REQUIRE(h.type("U0ALICE", "extend " + id + " 30m").ok);
  h.advance(5min);
  REQUIRE(h.chat.count(NoticeKind::requester_dm, NoticeEvent::expiry_warning) == 1);
  CHECK(last_dm(h)->detail.empty());  // no button: one extension at a time
  auto text = workflows::requester_message(*last_dm(h), *h.store.find(id));
  CHECK(text.find("unless the extension by 30m you asked for is approved and applied before then") !=
        std::string::npos);
  CHECK(text.find("cannot be extended") == std::string::npos);
}

TEST_CASE("break-glass access is extended only with approval, whatever self_extend says", "[extend][security]") {
  auto policy = two_approver_policy();
  policy.roles[0].self_extend = true;
  Harness h(policy);
  REQUIRE(h.type("U0ONCALL",
                 "request --provider aws --role admin --scope 123456789012 --duration 1h "
                 "--reason \"INC-9 db down\" --break-glass")
              .ok);
  auto id = h.store.list({}).front().id;
  REQUIRE(h.state(id) == RequestState::active);
  REQUIRE(h.type("U0ONCALL", "extend " + id + " 1h").ok);
  CHECK(h.store.find(id)->extension.status == Extension::Status::pending);
  CHECK(h.backend->extends.empty());
}

TEST_CASE("someone taken off the role's requesters may not extend what they still hold", "[extend][security]") {
  Harness h;
  auto id = active_request(h);
  h.policy.roles[0].requesters = {"U0BOB"};  // the config changed; Alice's access runs on
  auto refused = h.type("U0ALICE", "extend " + id + " 30m");
  CHECK(refused.refusal == RefusalReason::not_a_requester);
  CHECK(h.store.find(id)->extension.status == Extension::Status::none);
}

TEST_CASE("an extension approved after the role's limit shrank is refused, and one applied keeps the revoke's handle",
          "[extend]") {
  Harness h;
  auto id = active_request(h);
  REQUIRE(h.type("U0ALICE", "extend " + id + " 2h").ok);
  h.policy.roles[0].max_duration = 1h;  // now nothing more may be added
  auto late = h.click("U0BOB", "approve", id);
  CHECK(late.refusal == RefusalReason::extension_too_long);
  CHECK(late.text.find("the role's limits changed") != std::string::npos);
  CHECK(h.backend->extends.empty());

  Harness again;
  auto other = active_request(again);
  auto granted_handle = again.store.find(other)->grant_id;
  again.policy.roles[0].self_extend = true;
  REQUIRE(again.type("U0ALICE", "extend " + other + " 1h").ok);
  CHECK(again.store.find(other)->extended_by == 1h);
  CHECK(again.store.find(other)->grant_id == granted_handle);  // "other-handle" does not replace it
}

TEST_CASE("a backend that says its access ends no later than before has not extended it", "[extend]") {
  auto policy = two_approver_policy();
  policy.roles[0].self_extend = true;
  Harness h(policy);
  auto id = active_request(h);
  auto old_end = *h.store.find(id)->expires_at;
  h.backend->extended_until = old_end;
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  auto request = h.store.find(id).value();
  CHECK(request.expires_at == old_end);
  CHECK(request.extension.status == Extension::Status::failed);
  CHECK(request.extended_by == workflows::Seconds{0});
  CHECK(audited(h, id, "extend_failed"));

  h.backend->extended_until = old_end + 20min;  // less than asked: never claim longer than the backend gives
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  CHECK(h.store.find(id)->expires_at == old_end + 20min);
  CHECK(h.store.find(id)->extended_by == 20min);
}

TEST_CASE("the extension's approvers, not the request's, are named to the backend", "[extend]") {
  Harness h;
  auto id = active_request(h);
  REQUIRE(h.type("U0ALICE", "extend " + id + " 1h").ok);
  REQUIRE(h.click("U0DAVE", "approve", id).ok);
  REQUIRE(h.click("U0CAROL", "approve", id).ok);
  REQUIRE(h.backend->extends.size() == 1);
  CHECK(h.backend->extends[0].approvers == std::vector<std::string>{"U0DAVE", "U0CAROL"});
}
