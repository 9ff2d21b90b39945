#include "adapters/slack/slack_directory.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace jitbot::adapters::slack {
namespace {

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("directory");
  return instance;
}

/// A person waits for these lookups: two tries (about 20 s at worst), not the five a notice gets.
constexpr int lookup_attempts = 2;

std::string first_nonempty(std::initializer_list<std::string> candidates) {
  for (const auto& candidate : candidates) {
    if (!candidate.empty()) return candidate;
  }
  return {};
}

}  // namespace

bool SlackDirectory::is_member(const std::string& user_id, const std::string& group_id) {
  if (auto configured = overrides_.groups.find(group_id); configured != overrides_.groups.end()) {
    const auto& members = configured->second;
    return std::find(members.begin(), members.end(), user_id) != members.end();
  }
  auto members = group_members(group_id);
  if (!members.users) {
    // Neither a yes, which could approve wrongly, nor a no, which would tell an approver that
    // they are not one: the person hears that jitbot cannot tell yet.
    logger()->warn("could not read user group {} to check {}", group_id, user_id);
    throw workflows::DirectoryUnavailable("Slack did not say who is in user group " + group_id + " (" + members.error +
                                          ")");
  }
  return std::find(members.users->begin(), members.users->end(), user_id) != members.users->end();
}

SlackDirectory::Members SlackDirectory::group_members(const std::string& group_id) {
  std::promise<Members> answer;
  std::unique_lock lock(mutex_);
  if (auto cached = groups_.find(group_id); cached != groups_.end() && Clock::now() < cached->second.expires) {
    return {cached->second.value, {}};
  }
  if (auto asking = group_lookups_.find(group_id); asking != group_lookups_.end()) {
    auto pending = asking->second;
    lock.unlock();  // wait for the thread that asks, holding up no other lookup
    return pending.get();
  }
  group_lookups_[group_id] = answer.get_future().share();
  lock.unlock();
  Members members;
  try {
    members = ask_for_group(group_id);
  } catch (...) {
    settle_group_lookup(group_id, answer, {std::nullopt, "the lookup failed"});
    throw;
  }
  settle_group_lookup(group_id, answer, members);
  return members;
}

SlackDirectory::Members SlackDirectory::ask_for_group(const std::string& group_id) {
  auto result = slack_.call("usergroups.users.list", {{"usergroup", group_id}}, lookup_attempts);
  if (!result.ok || !result.body.contains("users") || !result.body["users"].is_array()) {
    logger()->warn("could not read user group {} ({})", group_id, result.describe());
    return {std::nullopt, result.ok ? "an answer without its members" : result.error};
  }
  std::vector<std::string> members;
  for (const auto& member : result.body["users"]) {
    if (member.is_string()) members.push_back(member.get<std::string>());
  }
  return {members, {}};
}

void SlackDirectory::settle_group_lookup(const std::string& group_id, std::promise<Members>& answer,
                                         const Members& members) {
  {
    std::lock_guard lock(mutex_);
    // A failure is not cached: the next click asks again rather than refuse a whole group for
    // a while. Those that waited on this lookup get its answer, failure included.
    if (members.users) groups_[group_id] = {*members.users, Clock::now() + ttl_};
    group_lookups_.erase(group_id);
  }
  answer.set_value(members);
}

workflows::UserProfile SlackDirectory::profile(const std::string& user_id) {
  if (auto configured = overrides_.users.find(user_id); configured != overrides_.users.end()) {
    return {user_id, configured->second.email, configured->second.name};
  }
  {
    std::lock_guard lock(mutex_);
    if (auto cached = profiles_.find(user_id); cached != profiles_.end() && Clock::now() < cached->second.expires) {
      return cached->second.value;
    }
  }
  auto result = slack_.call("users.info", {{"user", user_id}}, lookup_attempts);
  if (!result.ok || !result.body.contains("user") || !result.body["user"].is_object()) {
    if (!result.ok && result.error != "user_not_found") {
      // Slack did not answer: a grant must not go out with no email (the cloud would refuse it
      // for good), so the job that asked is retried later.
      throw std::runtime_error("could not look up " + user_id + " in Slack (" + result.describe() + ")");
    }
    logger()->warn("Slack knows no user {}", user_id);
    workflows::UserProfile unknown{user_id, {}, {}};
    std::lock_guard lock(mutex_);
    profiles_[user_id] = {unknown, Clock::now() + failure_ttl};  // an answer, if a negative one
    return unknown;
  }
  const auto& user = result.body["user"];
  auto profile_json =
      user.contains("profile") && user["profile"].is_object() ? user["profile"] : nlohmann::json::object();
  workflows::UserProfile profile{
      user_id,
      profile_json.value("email", std::string{}),
      first_nonempty({user.value("real_name", std::string{}), profile_json.value("real_name", std::string{}),
                      profile_json.value("display_name", std::string{}), user.value("name", std::string{})}),
  };
  std::lock_guard lock(mutex_);
  profiles_[user_id] = {profile, Clock::now() + ttl_};
  return profile;
}

}  // namespace jitbot::adapters::slack
