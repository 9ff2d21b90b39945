#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace jitbot::adapters::slack {

struct SlackSettings {
  std::string api_url = "https://slack.com/api/";
  std::string app_token;  ///< xapp-…, for Socket Mode only
  std::string bot_token;  ///< xoxb-…, for every Web API call
  std::string ca_file;    ///< extra trusted CA (PEM); the system store is always trusted
  /// Least time between two chat.postMessage calls to one channel (Slack: about 1 per second).
  std::chrono::milliseconds channel_post_interval{1000};
  /// Spread calls of each method over its Slack rate tier (per minute), so bursts queue here.
  bool method_pacing = true;
  std::chrono::milliseconds call_timeout{10'000};
  /// A socket that has said nothing (not even a pong to our ping) for this long is replaced.
  std::chrono::milliseconds ping_timeout{20'000};
  int max_attempts = 5;  ///< per Web API call, for 5xx, network errors and 429s
};

/// The outcome of one Web API call after retries: the reply, or a typed error.
struct ApiResult {
  bool ok = false;
  std::string method;
  std::string error;  ///< Slack's error code ("channel_not_found"), or "http_503", "network: …"
  nlohmann::json body;

  std::string describe() const { return method + " failed: " + error; }
};

/// One Socket Mode envelope (slash_commands, interactive, events_api).
struct Envelope {
  std::string envelope_id;
  std::string type;
  nlohmann::json payload;
  int retry_attempt = 0;
};

/// Runs on the network thread for each new envelope, after duplicates are dropped; it must
/// return at once. Its result, if any, goes out as the ack's payload.
using EnvelopeHandler = std::function<std::optional<nlohmann::json>(const Envelope&)>;

/// Runs once when the bot cannot go on (bad tokens, Socket Mode turned off), with a message
/// that says what to do.
using FatalHandler = std::function<void(const std::string&)>;

/// Connection counts, for logs and the benchmark.
struct SocketModeStats {
  int connections_opened = 0;
  int envelopes = 0;
  int duplicates_dropped = 0;
};

/// Slack: the Web API (paced, retried, typed errors) and Socket Mode (ack first, open a new
/// socket before closing the old, replace silent sockets). Socket Mode and response_url posts
/// run on threads of their own; a Web API call runs on the thread that makes it, over that
/// thread's own keep-alive connection. The methods here are safe to call from any other thread.
class SlackClient {
 public:
  explicit SlackClient(SlackSettings settings);
  ~SlackClient();
  SlackClient(const SlackClient&) = delete;
  SlackClient& operator=(const SlackClient&) = delete;

  /// Connects Socket Mode and keeps it connected until stop().
  void start(EnvelopeHandler on_envelope, FatalHandler on_fatal);
  void stop();

  /// Calls a Web API method with the bot token and waits for the result, trying at most
  /// `max_attempts` times (0: the settings' max_attempts). Pacing is shared by all threads.
  /// Never call it from the envelope handler: the ack of the next envelope would wait for it.
  ApiResult call(const std::string& method, const nlohmann::json& arguments, int max_attempts = 0);

  /// Posts to a response_url in the background (the answer only the clicker sees).
  void respond(const std::string& response_url, nlohmann::json body);

  SocketModeStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// JSON text that is valid UTF-8 whatever the strings inside hold (bad bytes become U+FFFD).
std::string utf8_json(const nlohmann::json& value);

/// application/x-www-form-urlencoded, with nested values JSON-encoded as Slack expects.
std::string form_encode(const nlohmann::json& arguments);

}  // namespace jitbot::adapters::slack
