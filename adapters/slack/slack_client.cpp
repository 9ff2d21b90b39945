#include "adapters/slack/slack_client.hpp"
#include "adapters/metrics/metrics.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "adapters/http/http_client.hpp"
#include "adapters/slack/api_response.hpp"
#include "adapters/slack/socket_mode.hpp"

namespace jitbot::adapters::slack {

using adapters::http::configure_tls;
using adapters::http::HttpClient;
using adapters::http::HttpRequest;
using adapters::http::HttpResponse;
using adapters::http::parse_url;
using adapters::http::TlsTrust;

namespace {

namespace asio = boost::asio;
using asio::use_awaitable;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("slack");
  return instance;
}

/// RFC 3986's unreserved characters, which a form sends as they are. A table, not std::isalnum:
/// a card's JSON is thousands of characters, and isalnum consults the locale for each.
constexpr std::array<bool, 256> unreserved = [] {
  std::array<bool, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) table[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) table[c] = true;
  for (char c : {'-', '_', '.', '~'}) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

void append_url_encoded(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  for (unsigned char c : text) {
    if (unreserved[c]) {
      out += static_cast<char>(c);
    } else {
      const char escaped[3] = {'%', hex[c >> 4], hex[c & 15]};
      out.append(escaped, 3);
    }
  }
}

/// Slack's rate tiers in calls per minute (api.slack.com/apis/rate-limits); methods not listed
/// are not paced here (chat.postMessage is paced per channel instead).
int calls_per_minute(const std::string& method) {
  static const std::map<std::string, int> tiers{
      {"chat.update", 50},        {"chat.postEphemeral", 100}, {"views.open", 100},
      {"conversations.open", 50}, {"users.info", 100},         {"usergroups.users.list", 20},
  };
  auto found = tiers.find(method);
  return found == tiers.end() ? 0 : found->second;
}

/// Errors that say "try again", as opposed to "this call is wrong".
bool is_transient(const std::string& error) {
  static const std::set<std::string> transient{"internal_error", "fatal_error", "service_unavailable",
                                               "request_timeout", "ratelimited"};
  return transient.count(error) > 0;
}

/// A token bucket holding one minute's allowance, so ordinary bursts pass at once and only a
/// sustained flood queues.
struct MethodBucket {
  double tokens = 0;
  Clock::time_point refilled;
};

}  // namespace

std::string utf8_json(const nlohmann::json& value) {
  // Replace, never throw: one notice with broken text must not stop the outbox.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string form_encode(const nlohmann::json& arguments) {
  std::string body;
  for (const auto& [key, value] : arguments.items()) {
    if (value.is_null()) continue;
    if (!body.empty()) body += '&';
    append_url_encoded(body, key);
    body += '=';
    if (value.is_string()) {
      append_url_encoded(body, value.get_ref<const std::string&>());
    } else {
      append_url_encoded(body, utf8_json(value));
    }
  }
  return body;
}

/// An io_context whose pending work can be destroyed before the context itself: a call spawned on
/// one context may be owed to the other, so both must drop their pending work before either goes.
class IoContext : public asio::io_context {
 public:
  using asio::execution_context::shutdown;
  using asio::io_context::io_context;
};

struct SlackClient::Impl {
  explicit Impl(SlackSettings settings_in) : settings(std::move(settings_in)), http(io, tls) {
    configure_tls(tls, TlsTrust{settings.ca_file, {}});
    thread = std::thread([this] { io.run(); });
    pthread_setname_np(thread.native_handle(), "slack-http");
    socket_thread = std::thread([this] { socket_io.run(); });
    pthread_setname_np(socket_thread.native_handle(), "slack-socket");
  }

  ~Impl() {
    stop_threads();
    io.shutdown();
    socket_io.shutdown();
    for (auto& [thread, loop] : caller_loops) loop->io.shutdown();
  }

  /// The event loop and keep-alive connections of one thread that makes Web API calls. A call
  /// runs on the thread that makes it: handing it to the network thread and the answer back cost
  /// two thread switches per call, more CPU than the call itself.
  struct CallerLoop {
    explicit CallerLoop(asio::ssl::context& tls) : http(io, tls, adapters::http::NameLookup::calling_thread) {}
    IoContext io{1};
    HttpClient http;
  };

  /// This thread's loop, ready to run, or nullptr once jitbot is stopping.
  CallerLoop* caller_loop() {
    std::lock_guard lock(loops_mutex);
    if (stopped) return nullptr;
    auto& loop = caller_loops[std::this_thread::get_id()];
    if (!loop) loop = std::make_unique<CallerLoop>(tls);
    loop->io.restart();
    return loop.get();
  }

  /// Ends every caller's call at once, Retry-After waits included.
  void stop_caller_loops() {
    std::lock_guard lock(loops_mutex);
    for (auto& [thread, loop] : caller_loops) loop->io.stop();
  }

  void stop_threads() {
    work.reset();
    socket_work.reset();
    io.stop();
    socket_io.stop();
    if (thread.joinable()) thread.join();
    if (socket_thread.joinable()) socket_thread.join();
  }

  static asio::awaitable<void> sleep(Clock::duration duration) {
    asio::steady_timer timer(co_await asio::this_coro::executor, duration);
    boost::system::error_code ignored;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ignored));
  }

  /// Waits until the method (and, for posts, the channel) may be called, then takes the slot.
  asio::awaitable<void> pace(const std::string& method, const std::string& channel) {
    while (auto wait = take_slot(method, channel)) co_await sleep(*wait);
  }

  /// Takes the method's (and channel's) next slot and returns nullopt, or says how long to wait
  /// before asking again. Calls run on many threads, so the pacing state is locked.
  std::optional<Clock::duration> take_slot(const std::string& method, const std::string& channel) {
    std::lock_guard lock(pacing_mutex);
    {
      auto now = Clock::now();
      auto ready = std::max(held_until["method:" + method], held_until["channel:" + channel]);
      int per_minute = settings.method_pacing ? calls_per_minute(method) : 0;
      if (per_minute > 0) {
        // Slack counts calls as they arrive, a little after they are counted here and not all
        // equally late: a burst stays a few calls short of a minute's allowance, so that jitter
        // on the way never makes one too many.
        double burst = per_minute - std::max(1, per_minute / 20);
        auto& bucket = buckets[method];
        if (bucket.refilled == Clock::time_point{}) bucket = {burst, now};
        double elapsed = std::chrono::duration<double>(now - bucket.refilled).count();
        bucket.tokens = std::min<double>(burst, bucket.tokens + elapsed * per_minute / 60.0);
        bucket.refilled = now;
        if (bucket.tokens < 1) {
          auto wait = std::chrono::duration<double>((1 - bucket.tokens) * 60.0 / per_minute);
          ready = std::max(ready, now + std::chrono::duration_cast<Clock::duration>(wait));
        }
      }
      if (ready > now) return ready - now;
    }
    if (settings.method_pacing && calls_per_minute(method) > 0) buckets[method].tokens -= 1;
    if (method == "chat.postMessage" && !channel.empty()) {
      held_until["channel:" + channel] = Clock::now() + settings.channel_post_interval;
    }
    return std::nullopt;
  }

  /// After a 429, holds every call of the method for as long as Slack asks.
  void hold_method(const std::string& method, Clock::duration wait) {
    std::lock_guard lock(pacing_mutex);
    auto& until = held_until["method:" + method];
    until = std::max(until, Clock::now() + wait);
  }

  /// One attempt's outcome, for /metrics: "ok", Slack's error code, "ratelimited", "http_503"…
  static void count_attempt(const std::string& method, const std::string& status) {
    metrics::process_registry()
        .counter("jitbot_slack_api_calls_total", "Slack Web API call attempts, by method and result.",
                 {{"method", method}, {"status", status}})
        .add();
  }

  /// `channel` paces chat.postMessage (empty for other methods). The arguments come encoded in
  /// `content`: a card is not copied again into the call.
  asio::awaitable<ApiResult> call_async(HttpClient& client, std::string method, std::string channel, std::string token,
                                        std::string content, int max_attempts = 0) {
    if (max_attempts <= 0) max_attempts = settings.max_attempts;
    ApiResult result;
    result.method = method;
    auto url = parse_url(settings.api_url + method);
    if (!url) {
      result.error = "bad api_url";
      co_return result;
    }
    HttpRequest request{"POST", std::move(content), "application/x-www-form-urlencoded", token, {}};
    for (int attempt = 1;; ++attempt) {
      bool last = attempt >= max_attempts;
      co_await pace(method, channel);
      HttpResponse response;
      bool sent = false;
      try {
        response = co_await client.send(*url, request, settings.call_timeout);
        sent = true;
      } catch (const std::exception& e) {
        // The host, so a certificate refused for another name says which name jitbot dialled.
        result.error = "network: " + url->host + ":" + url->port + ": " + adapters::http::error_text(e);
        count_attempt(method, "network_error");
      }
      if (!sent) {
        if (last) co_return result;
        logger()->warn("{} failed ({}); retrying", method, result.error);
        co_await sleep(retry_delay(attempt));
        continue;
      }
      if (response.status == 429) {
        // Slack says how long to wait; the whole method waits, so queued calls do not pile on.
        auto wait = response.retry_after.value_or(30s);
        hold_method(method, wait);
        result.error = "ratelimited";
        count_attempt(method, result.error);
        logger()->warn("{} was rate limited; waiting {} s as Slack asks", method, wait.count());
        if (last) co_return result;
        continue;
      }
      if (response.status >= 500) {
        result.error = "http_" + std::to_string(response.status);
        count_attempt(method, result.error);
        if (last) co_return result;
        logger()->warn("{} failed ({}); retrying", method, result.error);
        co_await sleep(retry_delay(attempt));
        continue;
      }
      if (response.status != 200) {
        result.error = "http_" + std::to_string(response.status);
        count_attempt(method, result.error);
        co_return result;
      }
      auto body = parse_api_response(response.body);
      if (!body.is_object()) {
        result.error = "invalid_response";
        count_attempt(method, result.error);
        co_return result;
      }
      if (body.value("ok", false)) {
        count_attempt(method, "ok");
        result.ok = true;
        result.error.clear();
        result.body = std::move(body);
        co_return result;
      }
      result.error = body.value("error", std::string{"unknown_error"});
      count_attempt(method, result.error);
      result.body = std::move(body);
      if (!is_transient(result.error) || last) co_return result;
      co_await sleep(retry_delay(attempt));
    }
  }

  /// 0.5 s, 1 s, 2 s, 4 s … capped at 10 s.
  static Clock::duration retry_delay(int attempt) { return std::min<Clock::duration>(250ms * (1 << attempt), 10s); }

  asio::awaitable<void> post_response(std::string response_url, nlohmann::json body) {
    auto url = parse_url(response_url);
    if (!url) {
      logger()->warn("ignored a response_url that is not http(s)");
      co_return;
    }
    HttpRequest request{"POST", utf8_json(body), "application/json; charset=utf-8", {}, {}};
    for (int attempt = 1; attempt <= 3; ++attempt) {
      try {
        auto response = co_await http.send(*url, request, settings.call_timeout);
        if (response.status < 500) {
          if (response.status >= 300) logger()->warn("a response_url post got HTTP {}", response.status);
          co_return;
        }
      } catch (const std::exception& e) {
        logger()->warn("a response_url post failed: {}", adapters::http::error_text(e));
      }
      co_await sleep(retry_delay(attempt));
    }
  }

  SlackSettings settings;
  IoContext io{1};  ///< Web API calls and answers
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  /// The Socket Mode connection has a thread of its own, so an ack never waits behind the
  /// TLS and parsing of Web API traffic, however much of it there is.
  IoContext socket_io{1};
  asio::executor_work_guard<asio::io_context::executor_type> socket_work = asio::make_work_guard(socket_io);
  asio::ssl::context tls{asio::ssl::context::tls_client};
  HttpClient http;
  std::mutex pacing_mutex;
  std::map<std::string, Clock::time_point> held_until;
  std::map<std::string, MethodBucket> buckets;
  std::unique_ptr<SocketMode> socket_mode;
  std::atomic<bool> stopped{false};
  std::mutex loops_mutex;
  std::map<std::thread::id, std::unique_ptr<CallerLoop>> caller_loops;
  std::thread thread;
  std::thread socket_thread;
};

SlackClient::SlackClient(SlackSettings settings) : impl_(std::make_unique<Impl>(std::move(settings))) {}

SlackClient::~SlackClient() { stop(); }

void SlackClient::start(EnvelopeHandler on_envelope, FatalHandler on_fatal) {
  asio::post(impl_->socket_io, [this, on_envelope = std::move(on_envelope), on_fatal = std::move(on_fatal)]() mutable {
    // apps.connections.open runs on the network thread, whose HTTP client also posts to response_urls.
    auto open_url = [this]() {
      return asio::co_spawn(impl_->io,
                            impl_->call_async(impl_->http, "apps.connections.open", {}, impl_->settings.app_token, ""),
                            use_awaitable);
    };
    impl_->socket_mode =
        std::make_unique<SocketMode>(impl_->socket_io, impl_->tls, open_url, impl_->settings.ping_timeout,
                                     std::move(on_envelope), std::move(on_fatal));
    impl_->socket_mode->start();
  });
}

void SlackClient::stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  impl_->stop_caller_loops();
  auto closed = std::make_shared<std::promise<void>>();
  auto done = closed->get_future();
  asio::post(impl_->socket_io, [this, closed] {
    if (impl_->socket_mode) impl_->socket_mode->stop();
    closed->set_value();
  });
  done.wait_for(2s);
  // Give close handshakes a moment, then end the network thread.
  std::this_thread::sleep_for(100ms);
  impl_->stop_threads();
}

ApiResult SlackClient::call(const std::string& method, const nlohmann::json& arguments, int max_attempts) {
  ApiResult not_sent;
  not_sent.method = method;
  not_sent.error = "not sent: jitbot is stopping";
  auto* loop = impl_->caller_loop();
  if (!loop) return not_sent;
  auto future = asio::co_spawn(
      loop->io,
      impl_->call_async(loop->http, method, arguments.is_object() ? arguments.value("channel", std::string{}) : "",
                        impl_->settings.bot_token, form_encode(arguments), max_attempts),
      asio::use_future);
  // Returns when the call is done, or at once when stop() stops the loop, even mid-Retry-After.
  loop->io.run();
  if (future.wait_for(0s) != std::future_status::ready) return not_sent;
  try {
    return future.get();
  } catch (const std::exception& e) {
    not_sent.error = std::string("not sent: ") + e.what();
    return not_sent;
  }
}

void SlackClient::respond(const std::string& response_url, nlohmann::json body) {
  asio::co_spawn(impl_->io, impl_->post_response(response_url, std::move(body)), asio::detached);
}

SocketModeStats SlackClient::stats() const {
  auto promise = std::make_shared<std::promise<SocketModeStats>>();
  auto future = promise->get_future();
  asio::post(impl_->socket_io, [this, promise] {
    promise->set_value(impl_->socket_mode ? impl_->socket_mode->stats() : SocketModeStats{});
  });
  if (future.wait_for(1s) != std::future_status::ready) return {};
  return future.get();
}

}  // namespace jitbot::adapters::slack
