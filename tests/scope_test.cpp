// Scope grammars: what each backend type accepts as a scope, checked before any rule or backend.
#include <catch2/catch.hpp>

#include "workflows/scope.hpp"

using jitbot::workflows::scope_pattern_problem;
using jitbot::workflows::scope_problem;
using jitbot::workflows::ScopeGrammar;
using jitbot::workflows::ScopeKind;

namespace {

bool valid(ScopeKind kind, std::string_view scope) { return !scope_problem(ScopeGrammar{kind, ""}, scope); }

}  // namespace

TEST_CASE("an AWS scope is a 12-digit account ID", "[scope]") {
  CHECK(valid(ScopeKind::aws_account, "123456789012"));
  CHECK_FALSE(valid(ScopeKind::aws_account, "12345678901"));
  CHECK_FALSE(valid(ScopeKind::aws_account, "1234567890123"));
  CHECK_FALSE(valid(ScopeKind::aws_account, "12345678901a"));
  CHECK_FALSE(valid(ScopeKind::aws_account, "*"));
}

TEST_CASE("a GCP scope is a project ID", "[scope]") {
  CHECK(valid(ScopeKind::gcp_project, "my-project-123"));
  CHECK(valid(ScopeKind::gcp_project, "abcdef"));
  CHECK_FALSE(valid(ScopeKind::gcp_project, "abcde"));  // too short
  CHECK_FALSE(valid(ScopeKind::gcp_project, "1project"));
  CHECK_FALSE(valid(ScopeKind::gcp_project, "project-"));
  CHECK_FALSE(valid(ScopeKind::gcp_project, "My-Project"));
  CHECK_FALSE(valid(ScopeKind::gcp_project, "dev-x/../prod-db"));
  CHECK_FALSE(valid(ScopeKind::gcp_project, "dev-x:setIamPolicy"));
  CHECK_FALSE(valid(ScopeKind::gcp_project, "dev-x\r\nHost: evil"));
}

TEST_CASE("a Kubernetes scope is a DNS-1123 namespace", "[scope]") {
  CHECK(valid(ScopeKind::kubernetes_namespace, "payments"));
  CHECK(valid(ScopeKind::kubernetes_namespace, "a"));
  CHECK_FALSE(valid(ScopeKind::kubernetes_namespace, "kube system"));
  CHECK_FALSE(valid(ScopeKind::kubernetes_namespace, "*"));
  CHECK_FALSE(valid(ScopeKind::kubernetes_namespace, "-payments"));
  CHECK_FALSE(valid(ScopeKind::kubernetes_namespace, "Payments"));
  CHECK_FALSE(valid(ScopeKind::kubernetes_namespace, std::string(64, 'a')));
  CHECK_FALSE(valid(ScopeKind::kubernetes_namespace, "default/rolebindings/x"));
}

TEST_CASE("an Azure scope is a subscription or a resource ID of known segments", "[scope]") {
  const std::string sub = "/subscriptions/00000000-0000-0000-0000-000000000000";
  CHECK(valid(ScopeKind::azure_resource, "00000000-0000-0000-0000-000000000000"));
  CHECK(valid(ScopeKind::azure_resource, sub));
  CHECK(valid(ScopeKind::azure_resource, sub + "/resourceGroups/my-group"));
  CHECK(valid(ScopeKind::azure_resource, sub + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/resourceGroups/../x"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "//resourceGroups/x"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/resourceGroups/x/"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/resourceGroups/x?api-version=1"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/resourceGroups/x#frag"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/somethingElse/x"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, "/subscriptions/not-a-guid"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/resourceGroups"));
  CHECK_FALSE(valid(ScopeKind::azure_resource, sub + "/providers/Microsoft.Storage"));
}

TEST_CASE("a DuploCloud scope is a tenant name or ID", "[scope]") {
  CHECK(valid(ScopeKind::duplocloud_tenant, "prod"));
  CHECK(valid(ScopeKind::duplocloud_tenant, "3f1c2a44-8a3e-4a0e-9c51-1d0b8d1f2e3a"));
  CHECK_FALSE(valid(ScopeKind::duplocloud_tenant, "prod/../admin"));
  CHECK_FALSE(valid(ScopeKind::duplocloud_tenant, "prod tenant"));
}

TEST_CASE("an exec or http scope is printable, has no whitespace, and may have to match a pattern", "[scope]") {
  CHECK(valid(ScopeKind::identifier, "db:orders/read"));
  CHECK_FALSE(valid(ScopeKind::identifier, "a b"));
  CHECK_FALSE(valid(ScopeKind::identifier, "a\tb"));
  CHECK_FALSE(valid(ScopeKind::identifier, "a\nb"));
  CHECK_FALSE(valid(ScopeKind::identifier, std::string("a\0b", 3)));
  CHECK_FALSE(valid(ScopeKind::identifier, "dev-*"));
  CHECK_FALSE(valid(ScopeKind::identifier, "dev-?"));
  CHECK_FALSE(valid(ScopeKind::identifier, "x/../y"));
  CHECK_FALSE(valid(ScopeKind::identifier, "caf\xc3\xa9"));
  CHECK_FALSE(valid(ScopeKind::identifier, std::string(600, 'a')));
  ScopeGrammar strict{ScopeKind::identifier, "db-[a-z]+"};
  CHECK_FALSE(scope_problem(strict, "db-orders"));
  CHECK(scope_problem(strict, "db-orders-2"));
  CHECK(scope_problem(strict, "xdb-orders"));
}

TEST_CASE("the refusal says what is wrong", "[scope]") {
  auto problem = scope_problem(ScopeGrammar{ScopeKind::aws_account, ""}, "dev-*");
  REQUIRE(problem);
  CHECK(*problem == "* and ? are for role patterns; a request names one scope");
  problem = scope_problem(ScopeGrammar{ScopeKind::kubernetes_namespace, ""}, "kube system");
  REQUIRE(problem);
  CHECK(*problem == "it contains a space");
}

TEST_CASE("role patterns may only hold characters a scope of their backend can hold", "[scope]") {
  CHECK_FALSE(scope_pattern_problem(ScopeGrammar{ScopeKind::gcp_project, ""}, "dev-*"));
  CHECK_FALSE(scope_pattern_problem(ScopeGrammar{ScopeKind::aws_account, ""}, "*"));
  CHECK_FALSE(scope_pattern_problem(ScopeGrammar{ScopeKind::aws_account, ""}, "123456789012"));
  CHECK(scope_pattern_problem(ScopeGrammar{ScopeKind::aws_account, ""}, "12345678901"));  // no wildcard: must be valid
  CHECK(scope_pattern_problem(ScopeGrammar{ScopeKind::gcp_project, ""}, "Dev-*"));
  CHECK(scope_pattern_problem(ScopeGrammar{ScopeKind::kubernetes_namespace, ""}, "team a*"));
  CHECK(scope_pattern_problem(ScopeGrammar{ScopeKind::identifier, ""}, "x/../*"));
}
