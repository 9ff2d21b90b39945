#include "workflows/policy.hpp"

namespace jitbot::workflows {

const Role* Policy::find_role(std::string_view provider, std::string_view name) const {
  for (const auto& role : roles) {
    if (role.provider == provider && role.name == name) return &role;
  }
  return nullptr;
}

std::string Policy::approvals_channel_for(const Role& role) const {
  return role.approvals_channel.value_or(approvals_channel);
}

bool glob_match(std::string_view pattern, std::string_view text) {
  // Iterative matcher with single-star backtracking: linear in practice, no recursion.
  std::size_t p = 0, t = 0, star = std::string_view::npos, star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      star_text = t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace jitbot::workflows
