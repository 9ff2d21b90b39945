// The rules for new requests: roles, scopes and globs, durations, requesters.
#include <catch2/catch.hpp>

#include "support.hpp"
#include "workflows/rules.hpp"
#include "workflows/wording.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::NewRequest;
using workflows::RefusalReason;

namespace {

workflows::Check check(const workflows::Policy& policy, FakeDirectory& directory, const std::string& user,
                       NewRequest draft) {
  const workflows::Role* role = nullptr;
  return workflows::check_new_request(policy, directory, user, draft, role);
}

NewRequest draft(std::string scope, std::chrono::seconds duration = 1h) {
  return {"aws", "admin", std::move(scope), duration, "INC-1", false};
}

}  // namespace

TEST_CASE("scope patterns: * and ? stay within one segment and never make ..", "[rules][scope]") {
  using workflows::scope_matches;
  CHECK(scope_matches("*", "anything"));
  CHECK(scope_matches("dev-*", "dev-payments"));
  CHECK(scope_matches("dev-*", "dev-"));
  CHECK_FALSE(scope_matches("dev-*", "prod-payments"));
  CHECK_FALSE(scope_matches("dev-*", "xdev-1"));
  CHECK(scope_matches("prod-?", "prod-1"));
  CHECK_FALSE(scope_matches("prod-?", "prod-12"));
  CHECK(scope_matches("a*b*c", "a-x-b-y-c"));
  CHECK_FALSE(scope_matches("a*b*c", "a-x-c-y-b"));
  CHECK(scope_matches("123456789012", "123456789012"));
  CHECK_FALSE(scope_matches("123456789012", "123456789013"));
  // The tricks: a star that would cross into another path segment, or climb out of one.
  CHECK_FALSE(scope_matches("dev-*", "dev-x/../prod"));
  CHECK_FALSE(scope_matches("dev-*", "dev-x/prod"));
  CHECK_FALSE(scope_matches("*", "a/b"));
  CHECK_FALSE(scope_matches("dev-?", "dev-/"));
  CHECK_FALSE(scope_matches("dev*", "dev.."));
  CHECK(scope_matches("/subscriptions/*/resourceGroups/dev-*", "/subscriptions/0000/resourceGroups/dev-web"));
  CHECK_FALSE(scope_matches("/subscriptions/*/resourceGroups/dev-*",
                            "/subscriptions/0000/resourceGroups/dev-web/providers/x/y/z"));
}

TEST_CASE("a malformed or wildcard scope is refused before any pattern, saying what a scope looks like",
          "[rules][scope]") {
  auto policy = two_approver_policy();
  policy.roles.at(0).scopes = {"dev-*"};
  policy.roles.at(0).scope_grammar = {workflows::ScopeKind::gcp_project, ""};
  FakeDirectory directory;
  CHECK_FALSE(check(policy, directory, "U0ALICE", draft("dev-payments")).has_value());
  for (const std::string trick : {"dev-x/../prod-db", "dev-*", "dev-x\r\nHost: evil", "dev-x?alt=1"}) {
    auto refused = check(policy, directory, "U0ALICE", draft(trick));
    INFO(trick);
    REQUIRE(refused);
    CHECK(refused->reason == RefusalReason::scope_malformed);
  }
  auto refused = check(policy, directory, "U0ALICE", draft("dev-*"));
  REQUIRE(refused);
  CHECK(workflows::describe(*refused) ==
        "\"dev-*\" is not a valid scope for aws/admin: * and ? are for role patterns; a request names one scope. "
        "Give a GCP project ID (6 to 30 lowercase letters, digits and hyphens, starting with a letter), like "
        "my-project-123.");
}

TEST_CASE("a request must name a configured role and an allowed scope", "[rules]") {
  auto policy = two_approver_policy();
  FakeDirectory directory;
  CHECK_FALSE(check(policy, directory, "U0ALICE", draft("123456789012")).has_value());
  CHECK_FALSE(check(policy, directory, "U0ALICE", draft("dev-payments")).has_value());

  auto scope = check(policy, directory, "U0ALICE", draft("999999999999"));
  REQUIRE(scope);
  CHECK(scope->reason == RefusalReason::scope_not_allowed);
  CHECK(scope->options == std::vector<std::string>{"123456789012", "dev-*"});  // says what is allowed
  CHECK(workflows::describe(*scope) ==
        "Scope 999999999999 is not allowed for aws/admin. Allowed scopes: 123456789012, dev-*.");

  NewRequest unknown = draft("123456789012");
  unknown.role = "root";
  auto role = check(policy, directory, "U0ALICE", unknown);
  REQUIRE(role);
  CHECK(role->reason == RefusalReason::unknown_role);
  CHECK(role->options == std::vector<std::string>{"admin"});  // says what does exist
  CHECK(workflows::describe(*role).find("Unknown role aws/root") != std::string::npos);
}

TEST_CASE("durations within max_duration and any min_duration", "[rules]") {
  auto policy = two_approver_policy();
  FakeDirectory directory;
  CHECK_FALSE(check(policy, directory, "U0ALICE", draft("dev-x", 4h)).has_value());
  CHECK_FALSE(check(policy, directory, "U0ALICE", draft("dev-x", 1s)).has_value());  // no minimum by default
  auto longer = check(policy, directory, "U0ALICE", draft("dev-x", 4h + 1s));
  REQUIRE(longer);
  CHECK(longer->reason == RefusalReason::duration_too_long);
  CHECK(longer->limit == 4h);
  CHECK(workflows::describe(*longer).find("longer than the maximum of 4h") != std::string::npos);
  policy.roles[0].min_duration = 15min;
  auto shorter = check(policy, directory, "U0ALICE", draft("dev-x", 5min));
  REQUIRE(shorter);
  CHECK(shorter->reason == RefusalReason::duration_too_short);
  CHECK(shorter->limit == 15min);
}

TEST_CASE("requesters by user ID, by group, or anyone", "[rules]") {
  auto policy = two_approver_policy();
  FakeDirectory directory;
  policy.roles[0].requesters = {"U0ALICE", "S0ENG"};
  directory.groups["S0ENG"] = {"U0DAVE"};
  CHECK_FALSE(check(policy, directory, "U0ALICE", draft("dev-x")).has_value());
  CHECK_FALSE(check(policy, directory, "U0DAVE", draft("dev-x")).has_value());
  auto outsider = check(policy, directory, "U0EVE", draft("dev-x"));
  REQUIRE(outsider);
  CHECK(outsider->reason == RefusalReason::not_a_requester);
  CHECK(outsider->role == "aws/admin");
}

TEST_CASE("a user group that cannot be read decides nothing: another entry may still admit", "[rules][directory]") {
  FakeDirectory directory;
  directory.groups["S0UP"] = {"U0DAVE"};
  directory.unreadable = {"S0DOWN"};
  const std::vector<std::string> principals{"U0BOB", "S0DOWN", "S0UP"};
  CHECK(workflows::is_listed(principals, "U0BOB", directory));   // named directly: no lookup
  CHECK(workflows::is_listed(principals, "U0DAVE", directory));  // through the group that answers
  // Nobody can say whether U0EVE is in S0DOWN: neither yes nor no.
  CHECK_THROWS_AS(workflows::is_listed(principals, "U0EVE", directory), workflows::DirectoryUnavailable);
  directory.unreadable.clear();
  CHECK_FALSE(workflows::is_listed(principals, "U0EVE", directory));
}

TEST_CASE("a group that cannot be read in one list never hides a direct entry in another", "[rules][directory]") {
  using namespace std::chrono_literals;
  FakeDirectory directory;
  directory.unreadable = {"S0DOWN"};
  auto policy = two_approver_policy();
  auto& role = policy.roles[0];
  role.approvers = {"S0DOWN"};
  role.escalation_approvers = {"U0ESC"};
  role.requesters = {"S0DOWN"};
  role.break_glass_requesters = {"U0ONCALL"};
  policy.admins = {"S0DOWN", "U0ADMIN"};
  auto now = test_start();
  workflows::Request request;
  request.id = "req_01M7YSPS118T6ST16TZ78XKMA5";
  request.provider = "aws";
  request.role = "admin";
  request.requester = "U0ONCALL";
  request.break_glass = true;
  request.state = workflows::RequestState::active;
  request.duration = 1h;
  request.expires_at = now + 1h;
  request.escalated_at = now;

  CHECK(workflows::is_approver_now(role, directory, "U0ESC", request));  // escalated: named directly
  CHECK(workflows::may_see(policy, directory, "U0ADMIN", request));
  CHECK(workflows::may_see(policy, directory, "U0ESC", request));
  CHECK_FALSE(workflows::check_revoke(role, directory, "U0ONCALL", request, policy.admins));  // the requester
  CHECK_FALSE(workflows::check_revoke(role, directory, "U0ADMIN", request, policy.admins));
  CHECK_FALSE(workflows::check_review(&role, directory, "U0ADMIN", request, policy.admins));
  CHECK_FALSE(workflows::check_extension(role, directory, "U0ONCALL", request, 30min, now));  // break-glass list
  // Someone no entry names: nobody can tell whether the unreadable group would admit them.
  CHECK_THROWS_AS(workflows::check_revoke(role, directory, "U0EVE", request, policy.admins),
                  workflows::DirectoryUnavailable);
  CHECK_THROWS_AS(workflows::may_see(policy, directory, "U0EVE", request), workflows::DirectoryUnavailable);
}

TEST_CASE("break-glass needs the role's allow-list, by user or group", "[rules]") {
  auto policy = two_approver_policy();
  FakeDirectory directory;
  auto glass = draft("123456789012");
  glass.break_glass = true;
  CHECK_FALSE(check(policy, directory, "U0ONCALL", glass).has_value());
  CHECK(check(policy, directory, "U0ALICE", glass)->reason == RefusalReason::not_a_break_glass_requester);
  policy.roles[0].break_glass_requesters = {"S0ONCALL"};
  directory.groups["S0ONCALL"] = {"U0ALICE"};
  CHECK_FALSE(check(policy, directory, "U0ALICE", glass).has_value());
  policy.roles[0].break_glass_requesters.clear();
  auto disabled = check(policy, directory, "U0ALICE", glass);
  REQUIRE(disabled);
  CHECK(disabled->reason == RefusalReason::break_glass_disabled);
}
