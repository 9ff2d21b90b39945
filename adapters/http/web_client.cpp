#include "adapters/http/web_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/system/system_error.hpp>
#include <future>
#include <thread>

#include "adapters/http/http_client.hpp"

namespace jitbot::adapters::http {

namespace asio = boost::asio;

struct WebClient::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  asio::ssl::context tls{asio::ssl::context::tls_client};
  HttpClient client{io, tls};
  std::thread thread;

  explicit Impl(const TlsTrust& trust) {
    configure_tls(tls, trust);
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    work.reset();
    io.stop();
    if (thread.joinable()) thread.join();
  }
};

WebClient::WebClient(const TlsTrust& trust) : impl_(std::make_unique<Impl>(trust)) {}
WebClient::~WebClient() = default;

HttpResponse WebClient::send(const Url& url, const HttpRequest& request, std::chrono::milliseconds timeout) {
  // The pool of idle connections lives on the network thread, so callers only ever hand work to it.
  auto response = asio::co_spawn(impl_->io, impl_->client.send(url, request, timeout), asio::use_future);
  try {
    return response.get();
  } catch (const boost::system::system_error& e) {
    throw NetworkError(url.host + ":" + url.port + ": " + e.code().message());
  } catch (const std::future_error& e) {
    throw NetworkError(url.host + ":" + url.port + ": the HTTP client stopped (" + std::string(e.what()) + ")");
  }
}

}  // namespace jitbot::adapters::http
