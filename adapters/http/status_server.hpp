#pragma once

#include <functional>
#include <memory>
#include <string>

namespace jitbot::adapters::http {

/// What the status server answers, from the process that runs it.
struct StatusRoutes {
  /// True when the process can do its work; otherwise `why` says what is missing.
  std::function<bool(std::string& why)> ready;
  /// The Prometheus text exposition.
  std::function<std::string()> metrics;
};

/// A small HTTP/1.1 listener for probes and scrapes ([bot] listen): GET /healthz (the process
/// is alive), /readyz (503 with the reason when not ready) and /metrics. One thread of its own;
/// every connection is one request, answered and closed, with a 5 s limit on reading and
/// writing, so a stuck client holds nothing up.
class StatusServer {
 public:
  /// Binds `host:port` at once (port 0: any free one) and throws, naming the address, when it
  /// cannot; then serves until destroyed.
  StatusServer(const std::string& host, int port, StatusRoutes routes);
  ~StatusServer();
  StatusServer(const StatusServer&) = delete;
  StatusServer& operator=(const StatusServer&) = delete;

  /// The port actually bound.
  int port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace jitbot::adapters::http
