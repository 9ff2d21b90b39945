#include "adapters/http/http_client.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <filesystem>

namespace jitbot::adapters::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::use_awaitable;
using tcp = asio::ip::tcp;

constexpr std::size_t response_body_limit = 8 * 1024 * 1024;
constexpr std::size_t idle_connections_per_origin = 8;

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value) {
  long seconds = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (error != std::errc{} || end == value.data() || seconds < 0) return std::nullopt;
  return std::chrono::seconds{seconds};
}

/// A keep-alive connection that went stale fails at once with one of these; the request
/// can then go out again on a fresh connection.
bool is_stale_connection(const boost::system::error_code& error) {
  return error == http::error::end_of_stream || error == asio::error::connection_reset ||
         error == asio::error::broken_pipe || error == asio::error::eof || error == ssl::error::stream_truncated;
}

/// CR or LF would end a header line and start another (request smuggling); NUL cuts it short.
bool has_line_break_or_nul(std::string_view text) {
  return text.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

/// Refuses, before anything is sent, a request whose target or headers could split it.
void refuse_injected_lines(const Url& url, const HttpRequest& request) {
  bool bad = has_line_break_or_nul(url.target) || has_line_break_or_nul(url.host) ||
             has_line_break_or_nul(request.method) || has_line_break_or_nul(request.content_type) ||
             has_line_break_or_nul(request.bearer);
  for (const auto& [name, value] : request.headers)
    bad = bad || has_line_break_or_nul(name) || has_line_break_or_nul(value);
  if (bad) throw std::invalid_argument("refused to send an HTTP request with CR, LF or NUL in its target or a header");
}

}  // namespace

std::optional<Url> parse_url(std::string_view text) {
  // No whitespace or control characters anywhere: they have no place in a URL, and CR/LF in a
  // target would let one request carry a second.
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return std::nullopt;
  }
  Url url;
  std::string_view rest;
  for (auto [scheme, tls] : {std::pair{"https://", true}, {"http://", false}, {"wss://", true}, {"ws://", false}}) {
    std::string_view prefix{scheme};
    if (text.substr(0, prefix.size()) == prefix) {
      url.tls = tls;
      rest = text.substr(prefix.size());
      break;
    }
  }
  if (rest.empty()) return std::nullopt;
  auto slash = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  url.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (url.target.front() == '?') url.target.insert(0, "/");
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  if (authority.front() == '[') {  // [IPv6]:port
    auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    url.host = std::string(authority.substr(1, close - 1));
    if (close + 1 < authority.size() && authority[close + 1] == ':') url.port = authority.substr(close + 2);
  } else if (auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    url.host = std::string(authority.substr(0, colon));
    url.port = std::string(authority.substr(colon + 1));
  } else {
    url.host = std::string(authority);
  }
  if (url.port.empty()) url.port = url.tls ? "443" : "80";
  if (url.host.empty()) return std::nullopt;
  return url;
}

std::string host_header(const Url& url) {
  bool default_port = url.port == (url.tls ? "443" : "80");
  return default_port ? url.host : url.host + ":" + url.port;
}

namespace {

/// Whether `directory` (the first of a colon-separated list) holds certificates under OpenSSL's
/// subject-hash names (`5ad8a5d6.0`), as update-ca-certificates and `openssl rehash` make them.
bool holds_hashed_certificates(std::string_view directories) {
  std::filesystem::path first{std::string(directories.substr(0, directories.find(':')))};
  std::error_code error;
  for (std::filesystem::directory_iterator it(first, error), end; !error && it != end; it.increment(error)) {
    auto name = it->path().filename().string();
    auto dot = name.find('.');
    if (dot == 8 && std::all_of(name.begin(), name.begin() + 8, [](unsigned char c) { return std::isxdigit(c); }))
      return true;
  }
  return false;
}

/// Trusts the system's CAs. Where the system keeps them in a hashed directory (Debian and most
/// distributions do), a handshake reads the one root it needs from there. The alternative,
/// OpenSSL's default paths, also parses the whole bundle file up front: about 140 certificates,
/// over half a megabyte of heap for as long as jitbot runs, for the one root Slack chains to.
/// A bundle named in SSL_CERT_FILE, or a system with no hashed directory, gets the default paths.
void trust_system_store(ssl::context& tls) {
  const char* file = std::getenv(X509_get_default_cert_file_env());
  const char* directory = std::getenv(X509_get_default_cert_dir_env());
  std::string directories = directory && *directory ? directory : X509_get_default_cert_dir();
  if ((file && *file) || !holds_hashed_certificates(directories)) {
    tls.set_default_verify_paths();
    return;
  }
  tls.add_verify_path(directories);  // the hashed-directory lookup takes the colon-separated list
}

}  // namespace

void configure_tls(ssl::context& tls, const TlsTrust& trust) {
  trust_system_store(tls);
  if (!trust.ca_file.empty()) tls.load_verify_file(trust.ca_file);
  if (!trust.ca_pem.empty()) tls.add_certificate_authority(asio::buffer(trust.ca_pem));
  tls.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_min_proto_version(tls.native_handle(), TLS1_2_VERSION);
}

struct HttpClient::Connection {
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
};

HttpClient::HttpClient(asio::io_context& io, ssl::context& tls, NameLookup lookup)
    : io_(io), tls_(tls), lookup_(lookup) {}
HttpClient::~HttpClient() = default;

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    int value = 0;
    if (text[i] == '%' && i + 2 < text.size() &&
        std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16).ptr == text.data() + i + 3) {
      out += static_cast<char>(value);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::string base64(const std::string& text) {
  std::string out(4 * ((text.size() + 2) / 3) + 1, '\0');
  int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

/// True when one NO_PROXY entry names `host`:`port`.
bool bypasses(std::string entry, const std::string& host, const std::string& port) {
  entry.erase(0, entry.find_first_not_of(" \t"));
  entry.erase(entry.find_last_not_of(" \t") + 1);
  if (entry.empty()) return false;
  if (entry == "*") return true;
  bool bracketed = entry.front() == '[';
  if (auto colon = entry.rfind(':'); colon != std::string::npos && (bracketed || entry.find(':') == colon)) {
    if (entry.substr(colon + 1) != port) return false;
    entry = entry.substr(0, colon);
  }
  if (bracketed && entry.size() > 2 && entry.back() == ']') entry = entry.substr(1, entry.size() - 2);
  if (entry.rfind("*.", 0) == 0) entry.erase(0, 1);  // "*.example.com", as Go and others accept it
  if (entry.front() == '.') entry.erase(0, 1);
  entry = lower(entry);
  std::string name = lower(host);
  return name == entry || (name.size() > entry.size() && name.ends_with("." + entry));
}

}  // namespace

std::optional<Proxy> proxy_for(const std::string& host, const std::string& port,
                               const std::function<const char*(const char*)>& environment) {
  auto read = [&](const char* name) -> std::string {
    const char* value = environment ? environment(name) : std::getenv(name);
    return value ? value : "";
  };
  std::string no_proxy = read("NO_PROXY");
  if (no_proxy.empty()) no_proxy = read("no_proxy");
  for (std::size_t start = 0; start <= no_proxy.size();) {
    auto comma = no_proxy.find(',', start);
    if (comma == std::string::npos) comma = no_proxy.size();
    if (bypasses(no_proxy.substr(start, comma - start), host, port)) return std::nullopt;
    start = comma + 1;
  }
  std::string text = read("HTTPS_PROXY");
  if (text.empty()) text = read("https_proxy");
  if (text.empty()) return std::nullopt;
  auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) {
    text = "http://" + text;  // "proxy:3128" is common
  } else {
    text = lower(text.substr(0, scheme_end)) + text.substr(scheme_end);  // schemes ignore case
  }
  if (text.rfind("http://", 0) != 0) {
    throw NetworkError("HTTPS_PROXY must be an http:// proxy (jitbot tunnels TLS through it with CONNECT)");
  }
  Proxy proxy;
  std::string rest = text.substr(7);
  rest = rest.substr(0, rest.find('/'));
  if (auto at = rest.rfind('@'); at != std::string::npos) {
    proxy.authorization = "Basic " + base64(percent_decoded(rest.substr(0, at)));
    rest = rest.substr(at + 1);
  }
  auto url = parse_url("http://" + rest + "/");
  if (!url) throw NetworkError("HTTPS_PROXY is not a proxy URL such as http://proxy.example.com:3128");
  proxy.host = url->host;
  proxy.port = url->port;
  return proxy;
}

asio::awaitable<void> connect_stream(beast::tcp_stream& stream, const Url& url, std::chrono::milliseconds timeout,
                                     NameLookup lookup) {
  auto proxy = url.tls ? proxy_for(url.host, url.port) : std::nullopt;
  tcp::resolver resolver(stream.get_executor());
  const std::string& host = proxy ? proxy->host : url.host;
  const std::string& port = proxy ? proxy->port : url.port;
  // async_resolve starts a thread per io_context, kept for the io_context's life. (Not one
  // conditional expression: GCC 12 miscompiles a co_await inside one.)
  tcp::resolver::results_type endpoints;
  if (lookup == NameLookup::calling_thread) {
    endpoints = resolver.resolve(host, port);
  } else {
    endpoints = co_await resolver.async_resolve(host, port, use_awaitable);
  }
  stream.expires_after(timeout);
  co_await stream.async_connect(endpoints, use_awaitable);
  stream.socket().set_option(tcp::no_delay(true));
  close_on_exec(stream.socket().native_handle());
  if (!proxy) co_return;
  std::string authority =
      url.host.find(':') != std::string::npos ? "[" + url.host + "]:" + url.port : url.host + ":" + url.port;
  http::request<http::empty_body> tunnel{http::verb::connect, authority, 11};
  tunnel.set(http::field::host, authority);
  tunnel.set(http::field::user_agent, "jitbot");
  if (!proxy->authorization.empty()) tunnel.set(http::field::proxy_authorization, proxy->authorization);
  stream.expires_after(timeout);
  co_await http::async_write(stream, tunnel, use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::empty_body> answer;
  answer.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel follows it
  co_await http::async_read_header(stream, buffer, answer, use_awaitable);
  int status = answer.get().result_int();
  if (status < 200 || status >= 300) {
    throw NetworkError("the proxy " + proxy->host + ":" + proxy->port + " refused to tunnel to " + authority +
                       " (HTTP " + std::to_string(status) +
                       (status == 407 ? ": check the user and password in HTTPS_PROXY)" : ")"));
  }
}

asio::awaitable<std::unique_ptr<HttpClient::Connection>> HttpClient::connect(const Url& url,
                                                                             std::chrono::milliseconds timeout) {
  auto connection = std::make_unique<Connection>();
  if (url.tls) {
    connection->secure.emplace(io_, tls_);
    if (!SSL_set_tlsext_host_name(connection->secure->native_handle(), url.host.c_str())) {
      throw boost::system::system_error(
          boost::system::error_code(static_cast<int>(::ERR_get_error()), asio::error::get_ssl_category()));
    }
    connection->secure->set_verify_callback(ssl::host_name_verification(url.host));
  } else {
    connection->plain.emplace(io_);
  }
  co_await connect_stream(connection->tcp(), url, timeout, lookup_);
  if (connection->secure) {
    connection->tcp().expires_after(timeout);
    co_await connection->secure->async_handshake(ssl::stream_base::client, use_awaitable);
  }
  co_return connection;
}

asio::awaitable<HttpResponse> HttpClient::exchange(Connection& connection, const Url& url, const HttpRequest& request,
                                                   std::chrono::milliseconds timeout) {
  http::request<http::string_body> message{http::string_to_verb(request.method), url.target, 11};
  message.set(http::field::host, host_header(url));
  message.set(http::field::user_agent, "jitbot");
  if (!request.content_type.empty()) message.set(http::field::content_type, request.content_type);
  if (!request.bearer.empty()) message.set(http::field::authorization, "Bearer " + request.bearer);
  for (const auto& [name, value] : request.headers) message.set(name, value);
  message.keep_alive(true);
  message.body() = request.body;
  message.prepare_payload();

  http::response_parser<http::string_body> parser;
  parser.body_limit(response_body_limit);
  connection.tcp().expires_after(timeout);
  if (connection.secure) {
    co_await http::async_write(*connection.secure, message, use_awaitable);
    co_await http::async_read(*connection.secure, connection.buffer, parser, use_awaitable);
  } else {
    co_await http::async_write(*connection.plain, message, use_awaitable);
    co_await http::async_read(*connection.plain, connection.buffer, parser, use_awaitable);
  }
  connection.tcp().expires_never();
  auto& response = parser.get();
  HttpResponse result;
  result.status = static_cast<int>(response.result_int());
  result.body = std::move(response.body());
  if (auto header = response.find(http::field::retry_after); header != response.end()) {
    result.retry_after = parse_retry_after(header->value());
  }
  result.keep_alive = response.keep_alive();
  co_return result;
}

asio::awaitable<HttpResponse> HttpClient::send(const Url& url, const HttpRequest& request,
                                               std::chrono::milliseconds timeout) {
  refuse_injected_lines(url, request);
  std::string origin = (url.tls ? "https://" : "http://") + url.host + ":" + url.port;
  auto& pool = idle_[origin];
  while (!pool.empty()) {
    auto connection = std::move(pool.back());
    pool.pop_back();
    try {
      auto response = co_await exchange(*connection, url, request, timeout);
      if (response.keep_alive && pool.size() < idle_connections_per_origin) pool.push_back(std::move(connection));
      co_return response;
    } catch (const boost::system::system_error& e) {
      if (!is_stale_connection(e.code())) throw;
      // The server closed an idle keep-alive connection: try the next one, or a fresh one.
    }
  }
  auto connection = co_await connect(url, timeout);
  auto response = co_await exchange(*connection, url, request, timeout);
  if (response.keep_alive && pool.size() < idle_connections_per_origin) pool.push_back(std::move(connection));
  co_return response;
}

std::string error_text(const std::exception& error) {
  if (const auto* system = dynamic_cast<const boost::system::system_error*>(&error)) return system->code().message();
  return error.what();
}

}  // namespace jitbot::adapters::http
