#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "workflows/request.hpp"

namespace jitbot::workflows {

/// Who someone is, for the backend (email is how clouds know people) and for messages.
struct UserProfile {
  std::string user_id;
  std::string email;
  std::string name;
};

/// Resolves users and groups: Slack user groups in Slack, [directory] in the terminal.
class Directory {
 public:
  virtual ~Directory() = default;
  virtual bool is_member(const std::string& user_id, const std::string& group_id) = 0;
  virtual UserProfile profile(const std::string& user_id) = 0;
};

/// What a credential backend is asked to do; the request ID is its idempotency key.
struct BackendCall {
  enum class Action { grant, revoke };
  Action action = Action::grant;
  std::string backend;
  std::string request_id;
  std::string provider;
  std::string role;
  std::string scope;
  Seconds duration{0};
  Instant expires_at;
  std::string reason;
  bool break_glass = false;
  UserProfile requester;
  std::vector<std::string> approvers;
  std::string grant_id;  ///< revoke only
};

struct BackendResult {
  bool ok = false;
  std::string grant_id;
  std::optional<Instant> expires_at;
  std::string console_url;
  std::string message;
  std::string error;  ///< why it failed, fit to show to the people concerned
};

class CredentialBackend {
 public:
  virtual ~CredentialBackend() = default;
  virtual BackendResult grant(const BackendCall& call) = 0;
  virtual BackendResult revoke(const BackendCall& call) = 0;
};

struct RequestFilter {
  std::optional<std::string> requester;
  std::vector<RequestState> states;  ///< empty: any state
  int limit = 50;
};

/// One transition, applied atomically by the store or not at all.
struct Change {
  Request request;                               ///< the request as it is after the transition
  std::optional<std::int64_t> expected_version;  ///< nullopt: a new request
  std::vector<AuditEntry> audit;
  std::vector<Notice> notices;
};

/// Persistence for requests, their audit trail and the outbox of chat notices.
class RequestStore {
 public:
  virtual ~RequestStore() = default;

  /// Inserts or compare-and-sets the request; false (and nothing written) when its version
  /// moved meanwhile, i.e. someone else applied a transition first.
  virtual bool commit(const Change& change) = 0;

  virtual std::optional<Request> find(const std::string& id) = 0;
  virtual std::vector<Request> list(const RequestFilter& filter) = 0;

  /// Open requests the scheduler must act on by `now`: a pending deadline passed, a grant to
  /// (re)do (approved), an expiry reached, or a revoke to finish or retry (ending_as set).
  virtual std::vector<Request> due_requests(Instant now) = 0;

  /// When the scheduler is next needed for any open request not in `except`; nullopt: never.
  virtual std::optional<Instant> next_due_at(const std::set<std::string>& except) = 0;

  virtual std::vector<AuditEntry> audit_trail(const std::string& request_id) = 0;

  virtual std::vector<Notice> undelivered_notices(int limit) = 0;
  virtual void mark_delivered(std::int64_t notice_id) = 0;
  virtual void mark_failed_delivery(std::int64_t notice_id, const std::string& error) = 0;

  /// Where the request's approval card was posted, so it can be updated in place.
  virtual std::optional<std::string> card_location(const std::string& request_id) = 0;
  virtual void save_card_location(const std::string& request_id, const std::string& location) = 0;
};

/// Produces new request IDs ("req_" + ULID).
class IdSource {
 public:
  virtual ~IdSource() = default;
  virtual std::string next_request_id() = 0;
};

}  // namespace jitbot::workflows

namespace jitbot::workflows {

struct Delivery {
  bool ok = false;
  std::string card_location;  ///< for approval cards: where the card now lives
  std::string error;
};

/// Shows notices to people: approval cards (posted once, then updated in place), DMs, alerts.
class ChatSink {
 public:
  virtual ~ChatSink() = default;
  /// `card_location` is where this request's card already is, if it was posted before.
  virtual Delivery deliver(const Notice& notice, const Request& request,
                           const std::optional<std::string>& card_location) = 0;
};

}  // namespace jitbot::workflows
