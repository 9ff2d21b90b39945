#pragma once
// Test doubles for the workflow ports, and a scratch folder that cleans up after itself.

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "workflows/lifecycle.hpp"
#include "workflows/request_id.hpp"

namespace jitbot::testing {

using namespace std::chrono_literals;

inline workflows::Instant test_start() { return workflows::from_unix_millis(1'800'000'000'000); }

/// Whether `text` shows `secret`, or any 12 characters of it in a row: a secret cut short (an
/// error message truncated, a prefix echoed back) is still a leak. Shorter secrets count whole.
inline bool shows_secret(const std::string& text, const std::string& secret) {
  constexpr std::size_t window = 12;
  if (secret.size() <= window) return text.find(secret) != std::string::npos;
  for (std::size_t at = 0; at + window <= secret.size(); ++at) {
    if (text.find(secret.substr(at, window)) != std::string::npos) return true;
  }
  return false;
}

/// Groups and profiles held in memory.
class FakeDirectory final : public workflows::Directory {
 public:
  std::map<std::string, std::set<std::string>> groups;
  std::set<std::string> unreadable;  ///< groups that cannot be read now, as in a Slack outage
  bool is_member(const std::string& user, const std::string& group) override {
    if (unreadable.count(group) > 0) throw workflows::DirectoryUnavailable("user group " + group + " is unreadable");
    auto found = groups.find(group);
    return found != groups.end() && found->second.count(user) > 0;
  }
  workflows::UserProfile profile(const std::string& user) override {
    return {user, user + "@example.com", "Name of " + user};
  }
};

/// Sequential, valid request IDs.
class CountingIds final : public workflows::IdSource {
 public:
  explicit CountingIds(const workflows::Clock& clock) : clock_(clock) {}
  std::string next_request_id() override {
    std::array<std::uint8_t, 10> bytes{};
    bytes[9] = static_cast<std::uint8_t>(++count_);
    return workflows::make_request_id(clock_.now(), bytes);
  }

 private:
  const workflows::Clock& clock_;
  int count_ = 0;
};

/// A backend that answers as told and remembers what it was asked.
class ScriptedBackend final : public workflows::CredentialBackend {
 public:
  std::vector<workflows::BackendCall> grants;
  std::vector<workflows::BackendCall> revokes;
  bool fail_grants = false;
  std::string grant_error = "no such permission set";
  int failing_revokes = 0;  ///< this many revokes fail before one succeeds

  workflows::BackendResult grant(const workflows::BackendCall& call) override {
    grants.push_back(call);
    if (fail_grants) return {false, {}, {}, {}, {}, grant_error, {}};
    return {true, "grant-" + call.request_id, {}, "https://console.example/" + call.request_id, "granted", {}, {}};
  }
  workflows::BackendResult revoke(const workflows::BackendCall& call) override {
    revokes.push_back(call);
    if (failing_revokes > 0) {
      --failing_revokes;
      return {false, {}, {}, {}, {}, "throttled by the cloud", {}};
    }
    return {true, {}, {}, {}, {}, {}, {}};
  }
  std::vector<workflows::BackendCall> extends;
  std::string extend_error;                          ///< non-empty: extends fail with it
  std::optional<workflows::Instant> extended_until;  ///< set: the end the backend says it gave
  workflows::BackendResult extend(const workflows::BackendCall& call) override {
    extends.push_back(call);
    if (!extend_error.empty()) return {false, {}, {}, {}, {}, extend_error, {}};
    return {true, "other-handle", extended_until, {}, "extended", {}, {}};
  }
};

/// Remembers every notice it was asked to show.
class RecordingChat final : public workflows::ChatSink {
 public:
  std::vector<workflows::Notice> shown;
  bool down = false;
  std::set<std::string> missing_channels;  ///< targets that answer channel_not_found, for good
  std::set<std::string> down_targets;      ///< targets (channels, sinks) that fail for now
  workflows::Delivery deliver(const workflows::Notice& notice, const workflows::Request&,
                              const std::optional<std::string>& location) override {
    if (down) return {false, {}, "slack is down"};
    if (missing_channels.count(notice.target)) return {false, {}, "channel_not_found", true};
    if (down_targets.count(notice.target)) return {false, {}, notice.target + " is down"};
    shown.push_back(notice);
    return {true, location.value_or("C/" + std::to_string(shown.size())), {}};
  }
  int count(workflows::NoticeKind kind, workflows::NoticeEvent event) const {
    int n = 0;
    for (const auto& notice : shown) n += notice.kind == kind && notice.event == event;
    return n;
  }
  int count_to(const std::string& target, workflows::NoticeEvent event) const {
    int n = 0;
    for (const auto& notice : shown) n += notice.target == target && notice.event == event;
    return n;
  }
};

/// Tickets held in memory, by system and key; unreachable systems answer with an error.
class FakeTickets final : public workflows::TicketChecker {
 public:
  std::map<std::string, workflows::TicketAnswer> tickets;  ///< "jira INC-7" -> answer
  std::set<std::string> unreachable;
  int lookups = 0;
  workflows::TicketAnswer check(const std::string& system, const std::string& key) override {
    ++lookups;
    if (unreachable.count(system)) return {false, false, {}, {}, system + " not reachable (connection refused)"};
    auto found = tickets.find(system + " " + key);
    return found != tickets.end() ? found->second : workflows::TicketAnswer{};
  }
};

/// On-call schedules held in memory: who is on call where, and schedules that cannot be read.
class FakeOnCall final : public workflows::OnCallSchedules {
 public:
  std::map<std::string, std::set<std::string>> on_call;  ///< schedule -> emails
  std::set<std::string> unreadable;
  int lookups = 0;
  workflows::OnCallAnswer check(const std::string& schedule, const workflows::UserProfile& person) override {
    ++lookups;
    if (unreadable.count(schedule)) return {false, "HTTP 503"};
    auto found = on_call.find(schedule);
    return {found != on_call.end() && found->second.count(person.email) > 0, {}};
  }
};

/// A scratch folder under the system temp dir, removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() {
    std::random_device device;
    path_ = std::filesystem::temp_directory_path() / ("jitbot-test-" + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path write(const std::string& name, const std::string& text, bool executable = false) const {
    auto file = path_ / name;
    std::ofstream(file) << text;
    if (executable) {
      std::filesystem::permissions(file, std::filesystem::perms::owner_all, std::filesystem::perm_options::add);
    }
    return file;
  }
  std::string read(const std::string& name) const {
    std::ifstream in(path_ / name);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  std::filesystem::path path_;
};

/// The policy most lifecycle tests use: one role with two required approvers.
inline workflows::Policy two_approver_policy() {
  workflows::Policy policy;
  policy.pending_timeout = 30min;
  policy.approvals_channel = "C0APPROVALS";
  policy.incident_channels = {"C0INCIDENT", "C0SECURITY"};
  workflows::Role role;
  role.provider = "aws";
  role.name = "admin";
  role.scopes = {"123456789012", "dev-*"};
  role.backend = "scripted";
  role.requesters = {"*"};
  role.approvers = {"U0BOB", "U0CAROL", "S0LEADS"};
  role.approvals_required = 2;
  role.max_duration = 4h;
  role.break_glass_requesters = {"U0ONCALL"};
  policy.roles.push_back(role);
  return policy;
}

/// A new pending request as a workflow commits it, written straight to a store: alice asks for
/// aws admin on one account for an hour, with its audit record. Requests with different
/// reasons are not duplicates of each other.
inline workflows::Change pending_request_change(const std::string& id, workflows::Instant at,
                                                const std::string& reason) {
  workflows::Change change;
  change.request.id = id;
  change.request.version = 1;
  change.request.state = workflows::RequestState::pending;
  change.request.provider = "aws";
  change.request.role = "admin";
  change.request.scope = "123456789012";
  change.request.duration = 1h;
  change.request.reason = reason;
  change.request.requester = "U0ALICE";
  change.request.created_at = at;
  change.request.pending_deadline = at + 30min;
  change.audit.push_back({0, id, at, "U0ALICE", "request", "", "PENDING", reason});
  return change;
}

/// What load_config says of `text` written as jitbot.toml in `dir`, or "(no error)".
inline std::string config_error_of(const ScratchDir& dir, const std::string& text) {
  auto file = dir.write("jitbot.toml", text);
  try {
    config::load_config(file);
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace jitbot::testing
