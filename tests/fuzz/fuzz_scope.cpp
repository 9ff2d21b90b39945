// The scope grammars and role patterns: whatever a grammar accepts can never carry a path
// trick, a wildcard or whitespace into a cloud URL, and a pattern never matches across '/'.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "workflows/scope.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jitbot::workflows;
  if (size < 2) return 0;
  // First byte: the kind; then "pattern\0scope" (or the whole rest as the scope).
  auto kind = static_cast<ScopeKind>(data[0] % 6);
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  auto split = rest.find('\0');
  std::string_view pattern = split == std::string_view::npos ? std::string_view{"*"} : rest.substr(0, split);
  std::string_view scope = split == std::string_view::npos ? rest : rest.substr(split + 1);
  ScopeGrammar grammar{kind, ""};
  if (!scope_problem(grammar, scope)) {
    if (scope.find("..") != std::string_view::npos && kind != ScopeKind::azure_resource) __builtin_trap();
    bool in_urls = kind != ScopeKind::identifier;  // exec and http send it in a JSON body
    for (char c : scope) {
      if (c == '*' || c == '?' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) __builtin_trap();
      if (in_urls && (c == '#' || c == '%')) __builtin_trap();
    }
  }
  if (scope_matches(pattern, scope)) {
    // A pattern without '/' never matches a scope with one.
    if (pattern.find('/') == std::string_view::npos && scope.find('/') != std::string_view::npos) __builtin_trap();
    if (scope.find("..") != std::string_view::npos) __builtin_trap();
  }
  scope_pattern_problem(grammar, pattern);
  return 0;
}
