#pragma once

// Only for .cpp files that already use Asio (adapters/http, adapters/slack): this header brings
// in Asio. Everyone else uses web_client.hpp.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "adapters/http/web_client.hpp"

namespace jitbot::adapters::http {

/// A small HTTP/1.1 client over TCP or TLS (peer and host name verified) that keeps
/// connections alive per origin, so a burst of Web API calls does not pay a handshake each.
/// How a client looks up host names.
enum class NameLookup {
  /// On a thread Asio starts for the client's io_context: its other work goes on meanwhile.
  background,
  /// On the thread running the call, for an io_context that serves one call at a time on its
  /// caller's thread: nothing else waits on it, and no extra thread is started.
  calling_thread,
};

class HttpClient {
 public:
  HttpClient(boost::asio::io_context& io, boost::asio::ssl::context& tls, NameLookup lookup = NameLookup::background);
  ~HttpClient();

  /// Sends one request; throws boost::system::system_error on a network error or timeout.
  boost::asio::awaitable<HttpResponse> send(const Url& url, const HttpRequest& request,
                                            std::chrono::milliseconds timeout);

 private:
  struct Connection;
  boost::asio::awaitable<std::unique_ptr<Connection>> connect(const Url& url, std::chrono::milliseconds timeout);
  boost::asio::awaitable<HttpResponse> exchange(Connection& connection, const Url& url, const HttpRequest& request,
                                                std::chrono::milliseconds timeout);

  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  NameLookup lookup_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

/// Opens a TCP connection for `url` on `stream`: to its host, or, for TLS, through the proxy
/// proxy_for() names, with a CONNECT tunnel (TLS then runs end to end with the host). Throws
/// NetworkError naming the proxy when it refuses.
boost::asio::awaitable<void> connect_stream(boost::beast::tcp_stream& stream, const Url& url,
                                            std::chrono::milliseconds timeout,
                                            NameLookup lookup = NameLookup::background);

/// What went wrong, for people: a Boost error's own message ("Connection refused"), without the
/// source file and line Boost appends to what(); any other exception's what().
std::string error_text(const std::exception& error);

/// Makes a TLS client context that verifies peers against the system store plus `trust`.
void configure_tls(boost::asio::ssl::context& tls, const TlsTrust& trust);

}  // namespace jitbot::adapters::http
