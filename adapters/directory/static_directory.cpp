#include "adapters/directory/static_directory.hpp"

#include <algorithm>

namespace jitbot::adapters {

bool StaticDirectory::is_member(const std::string& user_id, const std::string& group_id) {
  auto group = directory_.groups.find(group_id);
  if (group == directory_.groups.end()) return false;
  return std::find(group->second.begin(), group->second.end(), user_id) != group->second.end();
}

workflows::UserProfile StaticDirectory::profile(const std::string& user_id) {
  workflows::UserProfile profile{user_id, {}, {}};
  if (auto user = directory_.users.find(user_id); user != directory_.users.end()) {
    profile.email = user->second.email;
    profile.name = user->second.name;
  }
  return profile;
}

}  // namespace jitbot::adapters
