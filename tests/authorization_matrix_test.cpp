// Every action against every kind of actor: allowed or refused exactly as the rules say, and
// every refusal audited with who tried.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "harness.hpp"

using namespace jitbot;
using namespace jitbot::testing;

namespace {

// The actors: the requester, an approver named directly, one through the S0LEADS group, someone
// with no part in the role, the role's break-glass requester, and a jitbot admin.
const std::vector<std::string> actors{"U0ALICE", "U0BOB", "U0DAVE", "U0MALLORY", "U0ONCALL", "U0ADMIN"};

workflows::Policy matrix_policy() {
  auto policy = two_approver_policy();
  auto& role = policy.roles.at(0);
  role.requesters = {"U0ALICE", "U0ONCALL"};
  role.approvers = {"U0BOB", "S0LEADS"};  // U0DAVE is in S0LEADS
  role.approvals_required = 1;
  role.break_glass_requesters = {"U0ONCALL"};
  policy.admins = {"U0ADMIN"};
  return policy;
}

const std::string request_text = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason x";

/// What happens when `actor` does `action` in a fresh world where Alice has a request (pending,
/// or active for revoke). Returns whether it was allowed, and checks the audit either way.
bool attempt(const std::string& action, const std::string& actor) {
  Harness h(matrix_policy());
  std::string id;
  if (action == "acknowledge") {
    REQUIRE(h.type("U0ONCALL", request_text + " --break-glass").ok);
    id = h.store.list({}).front().id;
  } else if (action != "request" && action != "break-glass") {
    id = h.submit("1h");
    if (action == "revoke") REQUIRE(h.click("U0BOB", "approve", id).ok);
  }
  bot::Reply reply;
  if (action == "request") reply = h.type(actor, request_text);
  if (action == "break-glass") reply = h.type(actor, request_text + " --break-glass");
  if (action == "approve" || action == "deny" || action == "revoke" || action == "acknowledge") {
    reply = h.click(actor, action, id);
  }
  if (action == "cancel") reply = h.type(actor, "cancel " + id);
  if (action == "status") reply = h.type(actor, "status " + id);
  if (action == "list") {
    // Always answered; allowed means Alice's request is among what they are shown.
    reply = h.type(actor, "list");
    REQUIRE(reply.ok);
    return reply.text.find(id) != std::string::npos;
  }
  if (!reply.ok) {
    INFO(action << " by " << actor << " refused: " << reply.text);
    auto trail = h.store.audit_trail(id);  // "" for refused requests
    bool audited = std::any_of(trail.begin(), trail.end(), [&](const workflows::AuditEntry& entry) {
      return entry.actor == actor && entry.action.rfind("refused_", 0) == 0 && entry.detail == reply.text;
    });
    CHECK(audited);
    CHECK(h.store.verify_audit().intact);
  }
  return reply.ok;
}

}  // namespace

TEST_CASE("the authorization matrix: every action against every kind of actor", "[rules][security][matrix]") {
  // Who may, per action; everyone else must be refused.
  const std::map<std::string, std::set<std::string>> allowed{
      {"request", {"U0ALICE", "U0ONCALL"}},
      {"break-glass", {"U0ONCALL"}},
      {"approve", {"U0BOB", "U0DAVE"}},  // never the requester, and admins only read
      {"deny", {"U0BOB", "U0DAVE"}},
      // Admins answer break-glass alerts, so they may end access; never grant it.
      {"revoke", {"U0ALICE", "U0BOB", "U0DAVE", "U0ADMIN"}},
      // Reviewing break-glass (by U0ONCALL): approvers and admins, never the one who broke glass.
      {"acknowledge", {"U0BOB", "U0DAVE", "U0ADMIN"}},
      {"cancel", {"U0ALICE"}},
      {"status", {"U0ALICE", "U0BOB", "U0DAVE", "U0ADMIN"}},
      {"list", {"U0ALICE", "U0BOB", "U0DAVE", "U0ADMIN"}},
  };
  for (const auto& [action, who] : allowed) {
    for (const auto& actor : actors) {
      bool expected = who.count(actor) > 0;
      INFO(action << " by " << actor << " should be " << (expected ? "allowed" : "refused"));
      CHECK(attempt(action, actor) == expected);
    }
  }
}
