#include "adapters/slack/socket_mode.hpp"

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <set>

#include "adapters/http/http_client.hpp"
#include "adapters/metrics/metrics.hpp"
#include "adapters/slack/api_response.hpp"

namespace jitbot::adapters::slack {

using adapters::http::parse_url;
using adapters::http::Url;

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using asio::use_awaitable;
using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("socket-mode");
  return instance;
}

constexpr auto connect_timeout = 10s;
constexpr std::size_t remembered_ids = 10'000;
constexpr auto max_backoff = 30s;

/// apps.connections.open errors that no retry can fix (the Node SDK's list, plus revoked tokens).
bool is_fatal_open_error(const std::string& error) {
  static const std::set<std::string> fatal{
      "not_authed",    "invalid_auth",  "account_inactive", "user_removed_from_team",
      "team_disabled", "token_revoked", "token_expired",    "not_allowed_token_type"};
  return fatal.count(error) > 0;
}

}  // namespace

/// One WebSocket to Slack, plain (ws://, for a local fake) or TLS (wss://).
class SocketSession {
 public:
  explicit SocketSession(int id) : id_(id) {}
  virtual ~SocketSession() = default;

  virtual asio::awaitable<void> open(const Url& url, std::chrono::milliseconds ping_timeout) = 0;
  /// The next text frame; binary frames come back empty. Throws when the socket ends.
  virtual asio::awaitable<std::string> read_text() = 0;
  /// Queues a text frame; frames go out in order, one write at a time.
  virtual void send(std::string text) = 0;
  /// Starts a close handshake; the read loop ends when it completes or times out.
  virtual void close() = 0;

  int id() const { return id_; }
  bool dead = false;
  bool wants_replacement = false;
  std::string disconnect_reason;

 private:
  int id_;
};

namespace {

template <class Stream>
class WebSocketSession final : public SocketSession, public std::enable_shared_from_this<WebSocketSession<Stream>> {
 public:
  static constexpr bool tls = std::is_same_v<Stream, beast::ssl_stream<beast::tcp_stream>>;

  WebSocketSession(int id, asio::io_context& io, ssl::context& context)
      : SocketSession(id), io_(io), ws_(make_stream(io, context)) {}

  asio::awaitable<void> open(const Url& url, std::chrono::milliseconds ping_timeout) override {
    auto& tcp = beast::get_lowest_layer(ws_);
    co_await adapters::http::connect_stream(tcp, url, connect_timeout);  // through HTTPS_PROXY where set
    if constexpr (tls) {
      if (!SSL_set_tlsext_host_name(ws_.next_layer().native_handle(), url.host.c_str())) {
        throw std::runtime_error("could not set the TLS server name");
      }
      ws_.next_layer().set_verify_callback(ssl::host_name_verification(url.host));
      tcp.expires_after(connect_timeout);
      co_await ws_.next_layer().async_handshake(ssl::stream_base::client, use_awaitable);
    }
    tcp.expires_never();
    // Beast's WebSocket never times out by default: with keep-alive pings, a socket that
    // answers nothing (half-open) for ping_timeout fails the pending read, and is replaced.
    websocket::stream_base::timeout timeouts{connect_timeout, ping_timeout, true};
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::request_type& request) { request.set(beast::http::field::user_agent, "jitbot"); }));
    // Kept out of the co_await expression: g++ 12 destroys a conditional's temporary twice there.
    std::string host = url.host;
    if (url.port != (url.tls ? "443" : "80")) host += ":" + url.port;
    co_await ws_.async_handshake(host, url.target, use_awaitable);
  }

  asio::awaitable<std::string> read_text() override {
    beast::flat_buffer buffer;
    co_await ws_.async_read(buffer, use_awaitable);
    if (!ws_.got_text()) co_return std::string{};
    co_return beast::buffers_to_string(buffer.data());
  }

  void send(std::string text) override {
    outgoing_.push_back(std::move(text));
    if (writing_) return;
    writing_ = true;
    asio::co_spawn(io_, write_all(this->shared_from_this()), asio::detached);
  }

  void close() override {
    if (closing_) return;
    closing_ = true;
    auto self = this->shared_from_this();
    asio::co_spawn(
        io_,
        [self]() -> asio::awaitable<void> {
          boost::system::error_code ignored;
          websocket::close_reason reason{websocket::close_code::normal};
          co_await self->ws_.async_close(reason, asio::redirect_error(use_awaitable, ignored));
          beast::get_lowest_layer(self->ws_).socket().close(ignored);
        },
        asio::detached);
  }

 private:
  static websocket::stream<Stream> make_stream(asio::io_context& io, ssl::context& context) {
    if constexpr (tls) {
      return websocket::stream<Stream>(io, context);
    } else {
      (void)context;
      return websocket::stream<Stream>(io);
    }
  }

  static asio::awaitable<void> write_all(std::shared_ptr<WebSocketSession> self) {
    try {
      while (!self->outgoing_.empty()) {
        std::string frame = std::move(self->outgoing_.front());
        self->outgoing_.pop_front();
        self->ws_.text(true);
        co_await self->ws_.async_write(asio::buffer(frame), use_awaitable);
      }
    } catch (const std::exception& e) {
      logger()->info("socket {}: a write failed ({}); the socket will be replaced", self->id(),
                     adapters::http::error_text(e));
      self->outgoing_.clear();
    }
    self->writing_ = false;
  }

  asio::io_context& io_;
  websocket::stream<Stream> ws_;
  std::deque<std::string> outgoing_;
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace

SocketMode::SocketMode(asio::io_context& io, ssl::context& tls, OpenUrl open_url,
                       std::chrono::milliseconds ping_timeout, EnvelopeHandler on_envelope, FatalHandler on_fatal)
    : io_(io),
      tls_(tls),
      open_url_(std::move(open_url)),
      ping_timeout_(ping_timeout),
      on_envelope_(std::move(on_envelope)),
      on_fatal_(std::move(on_fatal)),
      attention_(io) {}

SocketMode::~SocketMode() = default;

void SocketMode::start() { asio::co_spawn(io_, supervise(), asio::detached); }

void SocketMode::stop() {
  stopping_ = true;
  for (auto& weak : sessions_) {
    if (auto session = weak.lock(); session && !session->dead) session->close();
  }
  wake_supervisor();
}

void SocketMode::wake_supervisor() { attention_.cancel(); }

void SocketMode::fail(const std::string& message) {
  if (stopping_) return;
  stopping_ = true;
  logger()->critical("{}", message);
  wake_supervisor();
  if (on_fatal_) on_fatal_(message);
}

std::chrono::milliseconds SocketMode::backoff(int failures) {
  auto ceiling = std::min<std::chrono::milliseconds>(max_backoff, 1000ms * (1 << std::min(failures - 1, 10)));
  std::uniform_int_distribution<long> jitter(ceiling.count() / 2, ceiling.count());
  return std::chrono::milliseconds{jitter(random_)};
}

asio::awaitable<void> SocketMode::supervise() {
  int failures = 0;
  while (!stopping_) {
    bool replace = !current_ || current_->dead || current_->wants_replacement;
    if (!replace) {
      attention_.expires_at(asio::steady_timer::time_point::max());
      boost::system::error_code woken;
      co_await attention_.async_wait(asio::redirect_error(use_awaitable, woken));
      continue;
    }
    // Slack refuses an extra socket here, so this one closes first; otherwise the old socket
    // keeps delivering until the new one has said hello, and no event waits for a reconnect.
    if (current_ && !current_->dead && current_->disconnect_reason == "too_many_websockets") current_->close();
    if (failures > 0) {
      asio::steady_timer pause(io_, backoff(failures));
      boost::system::error_code ignored;
      co_await pause.async_wait(asio::redirect_error(use_awaitable, ignored));
    }
    if (stopping_) break;
    auto fresh = co_await connect_once();
    if (!fresh) {
      ++failures;
      continue;
    }
    failures = 0;
    auto old = std::exchange(current_, fresh);
    if (old && !old->dead) old->close();
    asio::co_spawn(io_, read_loop(fresh), asio::detached);
  }
  if (current_ && !current_->dead) current_->close();
}

asio::awaitable<std::shared_ptr<SocketSession>> SocketMode::connect_once() {
  ApiResult opened = co_await open_url_();
  if (!opened.ok) {
    if (is_fatal_open_error(opened.error)) {
      fail("Slack refused the app-level token (" + opened.describe() +
           "). Create an app-level token with the connections:write scope (api.slack.com/apps → Basic "
           "Information → App-Level Tokens), set SLACK_APP_TOKEN to it, and check that Socket Mode is on.");
    } else {
      logger()->warn("could not get a Socket Mode URL ({}); retrying", opened.describe());
    }
    co_return nullptr;
  }
  auto url = parse_url(opened.body.value("url", std::string{}));
  if (!url) {
    logger()->warn("apps.connections.open gave no usable WebSocket URL; retrying");
    co_return nullptr;
  }
  std::shared_ptr<SocketSession> session;
  int id = next_session_id_++;
  if (url->tls) {
    session = std::make_shared<WebSocketSession<beast::ssl_stream<beast::tcp_stream>>>(id, io_, tls_);
  } else {
    session = std::make_shared<WebSocketSession<beast::tcp_stream>>(id, io_, tls_);
  }
  try {
    co_await session->open(*url, ping_timeout_);
    // Slack greets every new socket; until then it is not ready to deliver anything.
    std::string first_frame = co_await session->read_text();
    auto greeting = nlohmann::json::parse(first_frame, nullptr, false);
    std::string type = greeting.is_object() ? greeting.value("type", std::string{}) : std::string{};
    if (type != "hello") {
      std::string reason = greeting.is_object() ? greeting.value("reason", std::string{}) : std::string{};
      logger()->warn("socket {} opened without hello ({} {}); retrying", id, type, reason);
      session->close();
      co_return nullptr;
    }
  } catch (const std::exception& e) {
    logger()->warn("socket {} could not connect to {}:{}: {}; retrying", id, url->host, url->port,
                   adapters::http::error_text(e));
    co_return nullptr;
  }
  ++stats_.connections_opened;
  auto& registry = metrics::process_registry();
  registry
      .counter("jitbot_slack_socket_connections_opened_total",
               "Socket Mode connections opened (the first, then one per reconnect).")
      .add();
  registry.gauge("jitbot_slack_socket_connections", "Socket Mode connections open now (readiness needs one).").add(1);
  sessions_.erase(std::remove_if(sessions_.begin(), sessions_.end(), [](auto& weak) { return weak.expired(); }),
                  sessions_.end());
  sessions_.push_back(session);
  logger()->info("socket {} connected to Slack", id);
  co_return session;
}

asio::awaitable<void> SocketMode::read_loop(std::shared_ptr<SocketSession> session) {
  try {
    for (;;) {
      std::string text = co_await session->read_text();
      if (!text.empty()) on_frame(*session, text);
    }
  } catch (const std::exception& e) {
    if (!stopping_) logger()->info("socket {} ended: {}", session->id(), adapters::http::error_text(e));
  }
  session->dead = true;
  metrics::process_registry()
      .gauge("jitbot_slack_socket_connections", "Socket Mode connections open now (readiness needs one).")
      .add(-1);
  if (session == current_) wake_supervisor();
}

void SocketMode::on_frame(SocketSession& session, const std::string& text) {
  auto frame = parse_socket_frame(text);
  if (!frame.is_object()) {
    logger()->warn("socket {}: ignored a frame that is not a JSON object ({} bytes)", session.id(), text.size());
    return;
  }
  if (frame.contains("envelope_id") && frame["envelope_id"].is_string()) {
    on_envelope(session, std::move(frame));
    return;
  }
  std::string type = frame.value("type", std::string{});
  if (type == "disconnect") {
    std::string reason = frame.value("reason", std::string{});
    logger()->info("socket {}: Slack asks to reconnect ({})", session.id(), reason);
    if (reason == "link_disabled") {
      fail(
          "Slack turned Socket Mode off for this app (disconnect: link_disabled). Turn it on at api.slack.com/apps "
          "→ Socket Mode, then start jitbot again.");
      return;
    }
    session.disconnect_reason = reason;
    session.wants_replacement = true;
    if (current_.get() == &session) wake_supervisor();
  } else if (type != "hello") {
    logger()->debug("socket {}: ignored a '{}' frame", session.id(), type);
  }
}

void SocketMode::on_envelope(SocketSession& session, nlohmann::json frame) {
  auto arrived = std::chrono::steady_clock::now();
  Envelope envelope;
  envelope.envelope_id = frame["envelope_id"].get<std::string>();
  envelope.type = frame.value("type", std::string{});
  if (auto payload = frame.find("payload"); payload != frame.end()) envelope.payload = std::move(*payload);
  if (auto attempt = frame.find("retry_attempt"); attempt != frame.end() && attempt->is_number_integer()) {
    envelope.retry_attempt = attempt->get<int>();
  }
  ++stats_.envelopes;
  // Slack redelivers an unacked event with a new envelope ID but the same event_id.
  bool fresh = first_sighting("envelope:" + envelope.envelope_id);
  if (fresh && envelope.payload.is_object()) {
    if (auto event_id = envelope.payload.find("event_id");
        event_id != envelope.payload.end() && event_id->is_string()) {
      fresh = first_sighting("event:" + event_id->get<std::string>());
    }
  }
  std::optional<nlohmann::json> ack_payload;
  if (fresh) {
    try {
      ack_payload = on_envelope_(envelope);
    } catch (const std::exception& e) {
      logger()->error("an envelope of type {} could not be handled: {}", envelope.type, e.what());
    }
  } else {
    ++stats_.duplicates_dropped;
  }
  nlohmann::json ack = {{"envelope_id", envelope.envelope_id}};
  if (ack_payload) ack["payload"] = std::move(*ack_payload);
  session.send(utf8_json(ack));
  auto& registry = metrics::process_registry();
  registry
      .counter("jitbot_slack_envelopes_received_total", "Socket Mode envelopes received, by type.",
               {{"type", envelope.type}})
      .add();
  registry.counter("jitbot_slack_envelopes_acked_total", "Socket Mode envelopes acked (duplicates included).").add();
  registry
      .histogram("jitbot_slack_ack_seconds",
                 "From an envelope's arrival to its ack being queued on the socket (the inbox write included).")
      .observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - arrived).count());
}

bool SocketMode::first_sighting(const std::string& key) {
  if (!seen_.insert(key).second) return false;
  seen_order_.push_back(key);
  if (seen_order_.size() > remembered_ids) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  return true;
}

}  // namespace jitbot::adapters::slack
