#pragma once

// HTTP for every adapter, without Asio in the header: the types, and a blocking client that
// credential backends call from their worker threads.

#include <fcntl.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace jitbot::adapters::http {

/// The parts of an http(s):// or ws(s):// URL that a connection needs.
struct Url {
  bool tls = false;
  std::string host;
  std::string port;
  std::string target;  ///< path and query, at least "/"
};

/// Marks a descriptor close-on-exec (Asio opens sockets without it), so no program jitbot starts
/// inherits a connection; run_process also closes everything above stderr in the child.
inline void close_on_exec(int fd) { ::fcntl(fd, F_SETFD, ::fcntl(fd, F_GETFD) | FD_CLOEXEC); }

std::optional<Url> parse_url(std::string_view text);

/// The Host header jitbot sends for `url` (the port only when it is not the scheme's default);
/// request signers must sign exactly this value.
std::string host_header(const Url& url);

/// An HTTP proxy that tunnels TLS with CONNECT.
struct Proxy {
  std::string host;
  std::string port;
  std::string authorization;  ///< "Basic …" from the proxy URL's user:password, or ""; never logged
};

/// The proxy for a TLS connection to `host`:`port`: HTTPS_PROXY (or https_proxy), unless NO_PROXY
/// (or no_proxy) names the host: "*", a host name (matching it and its subdomains; a leading dot
/// is allowed), or an IP address, each optionally with ":port". nullopt: connect directly.
/// `environment` reads a variable (getenv by default; tests pass their own).
std::optional<Proxy> proxy_for(const std::string& host, const std::string& port,
                               const std::function<const char*(const char*)>& environment = {});

struct HttpRequest {
  std::string method = "POST";
  std::string body;
  std::string content_type;
  std::string bearer;                                        ///< for "Authorization: Bearer"; never logged
  std::vector<std::pair<std::string, std::string>> headers;  ///< any others, sent as given
};

struct HttpResponse {
  int status = 0;
  std::string body;
  std::optional<std::chrono::seconds> retry_after;
  bool keep_alive = false;  ///< the server lets the connection be used again
};

/// The request never got a response: DNS, connect, TLS, a reset or the timeout.
class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Trust for a client's TLS: the system store, plus a CA file and/or PEM text.
struct TlsTrust {
  std::string ca_file;
  std::string ca_pem;
};

/// Blocking HTTP/1.1 over TCP or verified TLS, keeping connections alive per origin. Calls run
/// on the client's own network thread, so any number of threads may call send() at once.
class WebClient {
 public:
  explicit WebClient(const TlsTrust& trust = {});
  ~WebClient();
  WebClient(const WebClient&) = delete;
  WebClient& operator=(const WebClient&) = delete;

  /// Throws NetworkError when no response arrived within `timeout`.
  HttpResponse send(const Url& url, const HttpRequest& request, std::chrono::milliseconds timeout);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jitbot::adapters::http
