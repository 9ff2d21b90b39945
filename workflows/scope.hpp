#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace jitbot::workflows {

/// The shape of a scope for one kind of backend. A scope ends up in cloud URLs and API bodies
/// with jitbot's own credentials behind it, so a value outside its grammar is refused before any
/// rule or backend sees it, never escaped and sent on.
enum class ScopeKind {
  identifier,            ///< exec and http: printable, no whitespace; optionally a configured regex
  aws_account,           ///< a 12-digit account ID
  gcp_project,           ///< a project ID: [a-z][a-z0-9-]{4,28}[a-z0-9]
  kubernetes_namespace,  ///< a DNS-1123 label
  azure_resource,        ///< a subscription GUID, or /subscriptions/<GUID>[/resourceGroups/<name>[/providers/…]]
  duplocloud_tenant,     ///< a tenant name or ID
};

struct ScopeGrammar {
  ScopeKind kind = ScopeKind::identifier;
  /// identifier only: an ECMAScript regular expression the whole scope must also match
  /// ([[backends]] scope_pattern); empty when any identifier will do.
  std::string pattern;
};

/// The longest scope of any kind; longer input is refused before any pattern runs on it.
inline constexpr std::size_t max_scope_length = 512;

/// Why `scope` is not one literal scope of this grammar, or nullopt when it is. Glob characters
/// are refused: a request names one scope, patterns are for roles.
std::optional<std::string> scope_problem(const ScopeGrammar& grammar, std::string_view scope);

/// Why `pattern` cannot be one of a role's scope patterns, or nullopt: its literal characters
/// must be ones the grammar allows, and without wildcards it must be a valid scope.
std::optional<std::string> scope_pattern_problem(const ScopeGrammar& grammar, std::string_view pattern);

/// What a valid scope looks like, for people: "a 12-digit AWS account ID, like 123456789012".
std::string describe(const ScopeGrammar& grammar);

/// A role's scope pattern against a requested scope. '*' matches a run of characters within one
/// path segment and '?' one character, never '/'; neither may produce "..". Everything else is
/// literal.
bool scope_matches(std::string_view pattern, std::string_view scope);

}  // namespace jitbot::workflows
