#include "workflows/scope.hpp"

#include <regex>
#include <vector>

namespace jitbot::workflows {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_alnum(char c) { return is_digit(c) || is_lower(c) || (c >= 'A' && c <= 'Z'); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_glob(char c) { return c == '*' || c == '?'; }

/// Printable ASCII without space: what an identifier scope may hold.
bool is_visible_ascii(char c) { return c > ' ' && c < 0x7f; }

bool is_guid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !is_hex(text[i])) return false;
  }
  return true;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

/// The characters each kind allows, wildcards aside.
bool allowed_character(ScopeKind kind, char c) {
  switch (kind) {
    case ScopeKind::aws_account: return is_digit(c);
    case ScopeKind::gcp_project:
    case ScopeKind::kubernetes_namespace: return is_digit(c) || is_lower(c) || c == '-';
    case ScopeKind::azure_resource:
      return is_alnum(c) || c == '-' || c == '_' || c == '.' || c == '(' || c == ')' || c == '/';
    case ScopeKind::duplocloud_tenant: return is_alnum(c) || c == '-' || c == '_';
    case ScopeKind::identifier: return is_visible_ascii(c);
  }
  return false;
}

std::optional<std::string> azure_problem(std::string_view scope) {
  if (is_guid(scope)) return std::nullopt;  // a subscription, the short way
  if (scope.empty() || scope.front() != '/') return "it is neither a subscription ID nor a resource ID starting with /";
  auto segments = split(scope.substr(1), '/');
  for (auto segment : segments) {
    if (segment.empty()) return "it has an empty segment (//, or / at the end)";
    if (segment == "." || segment == "..") return "it has a . or .. segment";
  }
  if (segments.size() < 2 || segments[0] != "subscriptions" || !is_guid(segments[1])) {
    return "it does not start with /subscriptions/ and a subscription GUID";
  }
  // After the subscription: resourceGroups/<name>, then providers/<namespace>/<type>/<name>/….
  std::size_t i = 2;
  if (i < segments.size()) {
    if (segments[i] != "resourceGroups" && segments[i] != "providers") {
      return "after the subscription comes resourceGroups/… or providers/…, not " + std::string(segments[i]);
    }
    if (segments[i] == "resourceGroups") {
      if (i + 1 >= segments.size()) return "resourceGroups has no name after it";
      i += 2;
    }
  }
  if (i < segments.size()) {
    if (segments[i] != "providers")
      return "after the resource group comes providers/…, not " + std::string(segments[i]);
    if (segments.size() - i < 4 || (segments.size() - i) % 2 != 0) {
      return "providers/ must be followed by a namespace and type/name pairs";
    }
  }
  return std::nullopt;
}

std::optional<std::string> shape_problem(const ScopeGrammar& grammar, std::string_view scope) {
  switch (grammar.kind) {
    case ScopeKind::aws_account:
      if (scope.size() != 12) return "an AWS account ID has exactly 12 digits";
      return std::nullopt;
    case ScopeKind::gcp_project:
      if (scope.size() < 6 || scope.size() > 30) return "a GCP project ID has 6 to 30 characters";
      if (!is_lower(scope.front())) return "a GCP project ID starts with a lowercase letter";
      if (scope.back() == '-') return "a GCP project ID does not end with a hyphen";
      return std::nullopt;
    case ScopeKind::kubernetes_namespace:
      if (scope.empty() || scope.size() > 63) return "a Kubernetes namespace has 1 to 63 characters";
      if (scope.front() == '-' || scope.back() == '-')
        return "a Kubernetes namespace starts and ends with a letter or digit";
      return std::nullopt;
    case ScopeKind::azure_resource: return azure_problem(scope);
    case ScopeKind::duplocloud_tenant:
      if (scope.size() > 64) return "a DuploCloud tenant name has at most 64 characters";
      return std::nullopt;
    case ScopeKind::identifier:
      if (scope.find("..") != std::string_view::npos) return "it contains ..";
      if (!grammar.pattern.empty()) {
        try {
          std::regex pattern(grammar.pattern, std::regex::ECMAScript);
          if (!std::regex_match(scope.begin(), scope.end(), pattern)) {
            return "it does not match this backend's scope_pattern " + grammar.pattern;
          }
        } catch (const std::regex_error&) {
          return "this backend's scope_pattern could not be checked against it";
        }
      }
      return std::nullopt;
  }
  return std::nullopt;
}

std::string printable(char c) {
  if (c == ' ') return "a space";
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return "a control character";
  if (static_cast<unsigned char>(c) >= 0x80) return "a non-ASCII character";
  return std::string("\"") + c + "\"";
}

}  // namespace

std::optional<std::string> scope_problem(const ScopeGrammar& grammar, std::string_view scope) {
  if (scope.empty()) return "it is empty";
  if (scope.size() > max_scope_length) return "it is longer than " + std::to_string(max_scope_length) + " characters";
  if (scope.find_first_of("*?") != std::string_view::npos) {
    return "* and ? are for role patterns; a request names one scope";
  }
  for (char c : scope) {
    if (!allowed_character(grammar.kind, c)) return "it contains " + printable(c);
  }
  return shape_problem(grammar, scope);
}

std::optional<std::string> scope_pattern_problem(const ScopeGrammar& grammar, std::string_view pattern) {
  if (pattern.empty()) return "it is empty";
  if (pattern.size() > max_scope_length) return "it is longer than " + std::to_string(max_scope_length) + " characters";
  bool wildcard = false;
  for (char c : pattern) {
    if (is_glob(c)) {
      wildcard = true;
    } else if (!allowed_character(grammar.kind, c)) {
      return "it contains " + printable(c) + ", which no scope of this backend can hold";
    }
  }
  if (pattern.find("..") != std::string_view::npos) return "it contains ..";
  if (!wildcard) return scope_problem(grammar, pattern);
  return std::nullopt;
}

std::string describe(const ScopeGrammar& grammar) {
  switch (grammar.kind) {
    case ScopeKind::aws_account: return "a 12-digit AWS account ID, like 123456789012";
    case ScopeKind::gcp_project:
      return "a GCP project ID (6 to 30 lowercase letters, digits and hyphens, starting with a letter), like "
             "my-project-123";
    case ScopeKind::kubernetes_namespace:
      return "a Kubernetes namespace (lowercase letters, digits and hyphens, at most 63), like payments";
    case ScopeKind::azure_resource:
      return "an Azure subscription ID, or a resource ID like "
             "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/my-group";
    case ScopeKind::duplocloud_tenant: return "a DuploCloud tenant name or ID (letters, digits, - and _), like prod";
    case ScopeKind::identifier:
      return grammar.pattern.empty() ? "one value of printable characters without spaces"
                                     : "one value matching " + grammar.pattern;
  }
  return "a valid scope";
}

bool scope_matches(std::string_view pattern, std::string_view scope) {
  // Iterative matcher with single-star backtracking (linear in practice, no recursion). A star
  // may not swallow '/', so "dev-*" never reaches another segment; ".." is refused outright.
  if (scope.find("..") != std::string_view::npos) return false;
  std::size_t p = 0, s = 0, star = std::string_view::npos, star_scope = 0;
  while (s < scope.size()) {
    if (p < pattern.size() && pattern[p] == '?' && scope[s] != '/') {
      ++p;
      ++s;
    } else if (p < pattern.size() && pattern[p] != '*' && pattern[p] != '?' && pattern[p] == scope[s]) {
      ++p;
      ++s;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_scope = s;
    } else if (star != std::string_view::npos && scope[star_scope] != '/') {
      p = star + 1;
      s = ++star_scope;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace jitbot::workflows
