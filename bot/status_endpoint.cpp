#include "bot/status_endpoint.hpp"

namespace jitbot::bot {
namespace {

using adapters::metrics::Sample;
using namespace std::chrono_literals;

constexpr auto probe_every = 2s;
/// A reading older than this means the database stopped answering (it is read every 2 s).
constexpr auto stale_after = 6s;

}  // namespace

StatusEndpoint::StatusEndpoint(const config::Config::Listen& listen, storage::Database& connections,
                               const workflows::Clock& clock)
    : connections_(connections), clock_(clock) {
  adapters::metrics::register_process_metrics(scraped_);
  scraped_.computed("jitbot_build_info", "The running version.", [] {
    return std::vector<Sample>{{{{"version", JITBOT_VERSION}}, 1}};
  });
  auto from_database = [this](auto read) {
    return [this, read] {
      auto figures = fresh_figures();
      if (!figures) throw std::runtime_error("the database does not answer");  // the family is left out
      return read(*figures);
    };
  };
  scraped_.computed("jitbot_requests", "Requests in the database, by state.",
                    from_database([](const storage::StoreFigures& now) {
                      std::vector<Sample> out;
                      for (const auto& [state, count] : now.requests_by_state) {
                        out.push_back({{{"state", state}}, static_cast<double>(count)});
                      }
                      return out;
                    }));
  scraped_.computed("jitbot_jobs", "Backend calls to make: running (leased by a worker) or waiting.",
                    from_database([](const storage::StoreFigures& now) {
                      return std::vector<Sample>{{{{"status", "running"}}, static_cast<double>(now.jobs_running)},
                                                 {{{"status", "waiting"}}, static_cast<double>(now.jobs_waiting)}};
                    }));
  scraped_.computed("jitbot_outbox_notices", "Chat and alert notices not yet delivered: waiting or parked.",
                    from_database([](const storage::StoreFigures& now) {
                      return std::vector<Sample>{{{{"status", "waiting"}}, static_cast<double>(now.outbox_waiting)},
                                                 {{{"status", "parked"}}, static_cast<double>(now.outbox_parked)}};
                    }));
  scraped_.computed("jitbot_outbox_oldest_waiting_seconds",
                    "How long the oldest notice still waiting for delivery has waited (0: none).",
                    from_database([this](const storage::StoreFigures& now) {
                      double age = 0;
                      if (now.oldest_undelivered) {
                        age = std::chrono::duration<double>(clock_.now() - *now.oldest_undelivered).count();
                      }
                      return std::vector<Sample>{{{}, age > 0 ? age : 0}};
                    }));
  scraped_.computed("jitbot_inbox_inputs", "Commands and clicks acked and not yet handled.",
                    from_database([](const storage::StoreFigures& now) {
                      return std::vector<Sample>{{{}, static_cast<double>(now.inbox_waiting)}};
                    }));
  // The server first: when the address cannot be had, nothing else has started yet.
  server_ = std::make_unique<adapters::http::StatusServer>(
      listen.host, listen.port,
      adapters::http::StatusRoutes{[this](std::string& why) { return ready(why); }, [this] { return metrics(); }});
  prober_ = std::thread([this] { probe_until_stopped(); });
}

StatusEndpoint::~StatusEndpoint() {
  server_.reset();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  prober_.join();
}

void StatusEndpoint::probe_until_stopped() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    std::optional<storage::StoreFigures> figures;
    std::string error;
    try {
      figures = connections_.figures(clock_.now());
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    if (figures) {
      figures_ = std::move(figures);
      read_at_ = std::chrono::steady_clock::now();
      last_error_.clear();
    } else {
      last_error_ = error;
    }
    wake_.wait_for(lock, probe_every, [this] { return stopping_; });
  }
}

std::optional<storage::StoreFigures> StatusEndpoint::fresh_figures(std::string* why) {
  std::lock_guard lock(mutex_);
  auto now = std::chrono::steady_clock::now();
  if (figures_ && now - read_at_ <= stale_after && last_error_.empty()) return figures_;
  if (why != nullptr) {
    if (!last_error_.empty()) {
      *why = "the database cannot be used: " + last_error_;
    } else if (!figures_ && now - started_ <= stale_after) {
      *why = "the database has not been read yet";
    } else {
      auto since = std::chrono::duration_cast<std::chrono::seconds>(now - (figures_ ? read_at_ : started_));
      *why = "the database has not answered for " + std::to_string(since.count()) + " s";
    }
  }
  return std::nullopt;
}

bool StatusEndpoint::ready(std::string& why) {
  auto& sockets = adapters::metrics::process_registry().gauge(
      "jitbot_slack_socket_connections", "Socket Mode connections open now (readiness needs one).");
  if (sockets.value() <= 0) {
    why = "no Socket Mode connection to Slack (jitbot keeps trying to connect)";
    return false;
  }
  return fresh_figures(&why).has_value();
}

std::string StatusEndpoint::metrics() { return adapters::metrics::process_registry().expose() + scraped_.expose(); }

}  // namespace jitbot::bot
