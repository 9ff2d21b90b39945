#pragma once

// Only for adapters/slack/*.cpp: this header brings in Asio.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace jitbot::adapters::slack {

/// The parts of an http(s):// or ws(s):// URL that a connection needs.
struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  ///< path and query, at least "/"
};

std::optional<Url> parse_url(std::string_view text);

struct HttpRequest {
  std::string method = "POST";
  std::string body;
  std::string content_type;
  std::string bearer;  ///< the token for "Authorization: Bearer"; never logged
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::optional<std::chrono::seconds> retry_after;
  bool keep_alive = false;  ///< the server lets the connection be used again
};

/// A small HTTP/1.1 client over TCP or TLS (peer and host name verified) that keeps
/// connections alive per origin, so a burst of Web API calls does not pay a handshake each.
class HttpClient {
 public:
  HttpClient(boost::asio::io_context& io, boost::asio::ssl::context& tls);
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
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
};

/// Makes a TLS client context that verifies peers against the system store plus `ca_file`.
void configure_tls(boost::asio::ssl::context& tls, const std::string& ca_file);

}  // namespace jitbot::adapters::slack
