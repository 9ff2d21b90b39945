#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "adapters/http/status_server.hpp"
#include "adapters/metrics/metrics.hpp"
#include "config/config.hpp"
#include "storage/database.hpp"
#include "workflows/time.hpp"

namespace jitbot::bot {

/// [bot] listen for `jitbot run`: /healthz, /readyz (a Socket Mode connection is open and the
/// database answers) and /metrics (the process registry's counters, plus requests, jobs, outbox
/// and inbox read from the database, and the process's CPU and memory).
///
/// A thread of its own reads the database every 2 s; the answers come from its latest reading, so
/// no probe or scrape ever waits on a database that does not answer: /healthz stays instant,
/// /readyz says "not ready" within seconds, and /metrics still carries the process's figures.
class StatusEndpoint {
 public:
  /// Binds at once; throws naming the address when it cannot.
  StatusEndpoint(const config::Config::Listen& listen, storage::Database& connections, const workflows::Clock& clock);
  ~StatusEndpoint();

  int port() const { return server_->port(); }

 private:
  bool ready(std::string& why);
  std::string metrics();
  void probe_until_stopped();
  /// The latest reading if it is recent; otherwise nullopt and, in `why`, what is wrong.
  std::optional<storage::StoreFigures> fresh_figures(std::string* why = nullptr);

  storage::Database& connections_;
  const workflows::Clock& clock_;
  adapters::metrics::Registry scraped_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<storage::StoreFigures> figures_;
  std::chrono::steady_clock::time_point read_at_;  ///< of figures_
  std::string last_error_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::thread prober_;

  std::unique_ptr<adapters::http::StatusServer> server_;  ///< last: stops before the rest goes
};

}  // namespace jitbot::bot
