#pragma once

// Only for adapters/slack/*.cpp: this header brings in Asio.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <memory>
#include <random>
#include <unordered_set>
#include <vector>

#include "adapters/slack/slack_client.hpp"

namespace jitbot::adapters::slack {

class SocketSession;

/// Keeps one Socket Mode connection alive: a fresh URL for every connection, a new socket
/// opened and greeted before the old one closes, silent sockets replaced, fatal auth errors
/// reported, everything else retried with capped, jittered backoff. Runs on the io thread.
class SocketMode {
 public:
  using OpenUrl = std::function<boost::asio::awaitable<ApiResult>()>;

  SocketMode(boost::asio::io_context& io, boost::asio::ssl::context& tls, OpenUrl open_url,
             std::chrono::milliseconds ping_timeout, EnvelopeHandler on_envelope, FatalHandler on_fatal);
  ~SocketMode();

  void start();
  void stop();
  const SocketModeStats& stats() const { return stats_; }

 private:
  boost::asio::awaitable<void> supervise();
  boost::asio::awaitable<std::shared_ptr<SocketSession>> connect_once();
  boost::asio::awaitable<void> read_loop(std::shared_ptr<SocketSession> session);
  void on_frame(SocketSession& session, const std::string& text);
  void on_envelope(SocketSession& session, nlohmann::json frame);
  bool first_sighting(const std::string& key);
  void wake_supervisor();
  void fail(const std::string& message);
  std::chrono::milliseconds backoff(int failures);

  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  OpenUrl open_url_;
  std::chrono::milliseconds ping_timeout_;
  EnvelopeHandler on_envelope_;
  FatalHandler on_fatal_;
  boost::asio::steady_timer attention_;
  std::shared_ptr<SocketSession> current_;
  std::vector<std::weak_ptr<SocketSession>> sessions_;
  bool stopping_ = false;
  int next_session_id_ = 1;
  SocketModeStats stats_;
  std::unordered_set<std::string> seen_;
  std::deque<std::string> seen_order_;
  std::mt19937 random_{std::random_device{}()};
};

}  // namespace jitbot::adapters::slack
