#include "adapters/http/status_server.hpp"

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>
#include <stdexcept>
#include <thread>

namespace jitbot::adapters::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Response = bhttp::response<bhttp::string_body>;

constexpr auto io_limit = std::chrono::seconds(5);

Response reply(unsigned version, bhttp::status status, std::string body,
               const char* content_type = "text/plain; charset=utf-8") {
  Response response{status, version};
  response.set(bhttp::field::content_type, content_type);
  response.set(bhttp::field::cache_control, "no-store");
  response.keep_alive(false);
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

Response route(const bhttp::request<bhttp::empty_body>& request, const StatusRoutes& routes) {
  unsigned version = request.version();
  std::string_view target{request.target().data(), request.target().size()};
  target = target.substr(0, target.find('?'));  // a scraper may add parameters
  bool known = target == "/healthz" || target == "/readyz" || target == "/metrics";
  if (!known) return reply(version, bhttp::status::not_found, "not found: try /healthz, /readyz or /metrics\n");
  if (request.method() != bhttp::verb::get && request.method() != bhttp::verb::head) {
    auto response = reply(version, bhttp::status::method_not_allowed, "only GET\n");
    response.set(bhttp::field::allow, "GET, HEAD");
    return response;
  }
  if (target == "/healthz") return reply(version, bhttp::status::ok, "ok\n");
  if (target == "/readyz") {
    std::string why;
    bool ready = false;
    try {
      ready = routes.ready(why);
    } catch (const std::exception& e) {
      why = e.what();
    }
    return ready ? reply(version, bhttp::status::ok, "ready\n")
                 : reply(version, bhttp::status::service_unavailable, "not ready: " + why + "\n");
  }
  return reply(version, bhttp::status::ok, routes.metrics(), "text/plain; version=0.0.4; charset=utf-8");
}

/// Probes and scrapes need a handful; more at once is a client gone wrong (or worse), and each
/// would hold a descriptor the rest of jitbot needs.
constexpr int max_connections = 32;

asio::awaitable<void> serve(tcp::socket socket, const StatusRoutes& routes, std::shared_ptr<std::atomic<int>> open) {
  struct Closing {
    std::shared_ptr<std::atomic<int>> open;
    ~Closing() { open->fetch_sub(1); }
  } closing{open};
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer(8192);
  bhttp::request_parser<bhttp::empty_body> parser;
  parser.header_limit(8192);
  stream.expires_after(io_limit);
  auto [read_error, read] = co_await bhttp::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  (void)read;
  if (read_error) co_return;  // a probe that went away, a slow client, a malformed request: nothing to say
  auto response = route(parser.get(), routes);
  if (parser.get().method() == bhttp::verb::head) response.body().clear();
  stream.expires_after(io_limit);
  auto [write_error, written] = co_await bhttp::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
  (void)write_error;
  (void)written;
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> accept_all(tcp::acceptor& acceptor, const StatusRoutes& routes) {
  auto open = std::make_shared<std::atomic<int>>(0);
  asio::steady_timer pause(acceptor.get_executor());
  for (;;) {
    auto [error, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (error == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (error) {
      // Out of descriptors, say: the connection waits in the backlog, so accepting again at once
      // would only spin. Pause, then keep serving.
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    if (open->load() >= max_connections) continue;  // the socket closes as it goes out of scope
    open->fetch_add(1);
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), routes, open), asio::detached);
  }
}

}  // namespace

struct StatusServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  StatusRoutes routes;
  std::thread thread;
};

StatusServer::StatusServer(const std::string& host, int port, StatusRoutes routes) : impl_(std::make_unique<Impl>()) {
  impl_->routes = std::move(routes);
  beast::error_code error;
  auto address = asio::ip::make_address(host, error);
  if (error) throw std::runtime_error("[bot] listen: \"" + host + "\" is not an IP address");
  tcp::endpoint endpoint{address, static_cast<unsigned short>(port)};
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), error);
  if (!error) acceptor.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor.bind(endpoint, error);
  if (!error) acceptor.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    bool v6 = host.find(':') != std::string::npos;
    throw std::runtime_error("cannot listen on " + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + ": " +
                             error.message());
  }
  asio::co_spawn(impl_->io, accept_all(acceptor, impl_->routes), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

StatusServer::~StatusServer() {
  // Unfinished connections are dropped with the io_context; a probe simply tries again.
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

int StatusServer::port() const { return impl_->acceptor.local_endpoint().port(); }

}  // namespace jitbot::adapters::http
