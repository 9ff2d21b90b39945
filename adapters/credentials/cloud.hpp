#pragma once

// What every native credential backend shares: errors worded for the card, retries with backoff
// inside the backend's time budget, HTTP with those rules, and access tokens from the
// environment or a command.

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "adapters/http/web_client.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters::cloud {

using Millis = std::chrono::milliseconds;

/// A request body as JSON text. Text from outside is made valid UTF-8 where it enters jitbot;
/// should a stray byte get this far, it becomes U+FFFD here instead of failing the call for ever.
std::string json_text(const nlohmann::json& value);

/// A cloud call that did not succeed, worded for the people who read the card. Throttling,
/// conflicts and outages are `retryable`; denials and bad input are not.
class CloudError : public std::runtime_error {
 public:
  CloudError(const std::string& message, bool retryable, std::optional<Millis> retry_after = std::nullopt)
      : std::runtime_error(message), retryable_(retryable), retry_after_(retry_after) {}
  bool retryable() const { return retryable_; }
  std::optional<Millis> retry_after() const { return retry_after_; }

 private:
  bool retryable_;
  std::optional<Millis> retry_after_;
};

/// The time one grant or revoke may take, and the pauses between its attempts.
class Attempts {
 public:
  explicit Attempts(workflows::Seconds budget);

  /// Sleeps before the next attempt: the service's hint, or exponential backoff with jitter,
  /// shortened to leave one last attempt before the deadline. False when even that would pass
  /// the budget (or the service asks to wait past it).
  bool pause(std::optional<Millis> hint = std::nullopt);

  /// Throws `last` with the budget's end added: a timeout, not the last error alone, is why the
  /// call stopped. The thrown error is final, so an enclosing retry loop passes it on.
  [[noreturn]] void give_up(const CloudError& last) const;

  /// The time left, at most `cap`, for one HTTP exchange.
  Millis time_for_one_call(Millis cap = Millis{30000}) const;
  int count() const { return count_; }

 private:
  workflows::Seconds budget_;
  std::chrono::steady_clock::time_point deadline_;
  Millis next_backoff_{250};
  int count_ = 1;
};

/// Runs `attempt` until it returns, fails for good, or `attempts` runs out of time (the last
/// error is thrown). Several steps of one grant share one Attempts, so they share its budget.
template <class Attempt>
auto retrying(Attempts& attempts, Attempt attempt) {
  for (;;) {
    try {
      return attempt(attempts);
    } catch (const CloudError& error) {
      if (!error.retryable()) throw;
      if (!attempts.pause(error.retry_after())) attempts.give_up(error);
    }
  }
}

template <class Attempt>
auto retrying(workflows::Seconds budget, Attempt attempt) {
  Attempts attempts(budget);
  return retrying(attempts, attempt);
}

/// HTTP for one backend. Network failures, 429 and 5xx become retryable CloudErrors; every
/// other response goes back to the caller, who knows what the service means by it.
class CloudHttp {
 public:
  CloudHttp(std::string service, const http::TlsTrust& trust);

  http::HttpResponse send(const std::string& url, const http::HttpRequest& request, const Attempts& attempts);

 private:
  std::string service_;
  http::WebClient client_;
};

/// An access token from an environment variable, or from a command's stdout (cached for five
/// minutes, since `gcloud auth print-access-token` takes a second).
class TokenSource {
 public:
  /// `passed_env`: what the token command may see of jitbot's environment besides PATH, HOME,
  /// LANG and TZ (the backend's `env`).
  TokenSource(std::string backend, std::string env_name, std::vector<std::string> command,
              std::vector<std::string> passed_env = {});

  /// Throws a non-retryable CloudError saying what to set when there is no token.
  std::string token();
  /// Forgets a cached token the service refused, so the next call fetches a fresh one.
  void refresh();
  bool from_command() const { return !command_.empty(); }

 private:
  std::string backend_;
  std::string env_name_;
  std::vector<std::string> command_;
  std::vector<std::string> passed_env_;
  std::mutex mutex_;
  std::string cached_;
  std::chrono::steady_clock::time_point fetched_;
};

/// The secret in `env_name`, or a non-retryable CloudError naming the variable.
std::string required_env(const std::string& backend, const std::string& env_name, const std::string& what);

/// Runs a backend's grant or revoke body and turns what it throws into a failed result, logged
/// under the backend's name. `type` names the logger ("aws", "gcp", …).
workflows::BackendResult guarded(const std::string& type, const std::string& backend,
                                 const workflows::BackendCall& call,
                                 const std::function<workflows::BackendResult()>& body);

/// At most `max_bytes` of `text`, cut at a character boundary (JSON refuses broken UTF-8).
std::string utf8_prefix(const std::string& text, std::size_t max_bytes);

/// `text` ending in exactly one full stop, so a service's message and jitbot's advice read as sentences.
std::string sentence(std::string text);

/// `text` as one URL path segment: everything but unreserved characters percent-encoded, '/'
/// included, so a value can never add, leave or climb out of a segment.
std::string path_segment(std::string_view text);

/// "https://host/base/" + "path" with exactly one slash between them.
std::string join_url(const std::string& base, const std::string& path);

/// Who the cloud knows the requester as: [backends.principals] by Slack user ID, then by email,
/// else the email itself (empty when the profile has none).
std::string principal_for(const std::map<std::string, std::string>& principals, const workflows::UserProfile& user);

}  // namespace jitbot::adapters::cloud
