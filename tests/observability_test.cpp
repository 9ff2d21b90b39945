// What operators read: the Prometheus exposition, JSON log lines, and the listen address.
#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "adapters/http/web_client.hpp"
#include "adapters/metrics/metrics.hpp"
#include "bot/error_throttle.hpp"
#include "bot/log_format.hpp"
#include "support.hpp"

using namespace jitbot;
using namespace jitbot::testing;
namespace metrics = jitbot::adapters::metrics;

TEST_CASE("counters, gauges and histograms are exposed in the Prometheus text format", "[metrics]") {
  metrics::Registry registry;
  registry.counter("jitbot_calls_total", "Calls made.", {{"method", "chat.postMessage"}, {"status", "ok"}}).add(3);
  registry.counter("jitbot_calls_total", "Calls made.", {{"method", "chat.update"}, {"status", "ratelimited"}}).add();
  registry.gauge("jitbot_in_flight", "Now running.").add(2);
  auto& latency = registry.histogram("jitbot_ack_seconds", "Ack latency.", {}, {0.001, 0.01, 0.1});
  latency.observe(0.0005);
  latency.observe(0.005);
  latency.observe(0.005);
  latency.observe(5);
  auto text = registry.expose();
  CHECK_THAT(text, Catch::Contains("# HELP jitbot_calls_total Calls made.\n# TYPE jitbot_calls_total counter\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_calls_total{method=\"chat.postMessage\",status=\"ok\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_calls_total{method=\"chat.update\",status=\"ratelimited\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE jitbot_in_flight gauge\njitbot_in_flight 2\n"));
  // Buckets are cumulative, end with +Inf, and _count equals the +Inf bucket.
  CHECK_THAT(text, Catch::Contains("jitbot_ack_seconds_bucket{le=\"0.001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_ack_seconds_bucket{le=\"0.01\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_ack_seconds_bucket{le=\"0.1\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_ack_seconds_bucket{le=\"+Inf\"} 4\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_ack_seconds_sum 5.0105\n"));
  CHECK_THAT(text, Catch::Contains("jitbot_ack_seconds_count 4\n"));
  // The same series asked for twice is one series.
  registry.gauge("jitbot_in_flight", "Now running.").add(-1);
  CHECK_THAT(registry.expose(), Catch::Contains("jitbot_in_flight 1\n"));
}

TEST_CASE("label values are escaped, and a computed family that fails is left out", "[metrics]") {
  metrics::Registry registry;
  registry.counter("jitbot_refused_total", "Refusals.", {{"why", "a \"quoted\" back\\slash\nnewline"}}).add();
  registry.computed("jitbot_requests", "Requests by state.", [] {
    return std::vector<metrics::Sample>{{{{"state", "ACTIVE"}}, 4}, {{{"state", "PENDING"}}, 0}};
  });
  registry.computed("jitbot_broken", "Reads a database that is gone.",
                    []() -> std::vector<metrics::Sample> { throw std::runtime_error("database is locked"); });
  auto text = registry.expose();
  CHECK_THAT(text, Catch::Contains("jitbot_refused_total{why=\"a \\\"quoted\\\" back\\\\slash\\nnewline\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE jitbot_requests gauge\njitbot_requests{state=\"ACTIVE\"} 4\n"
                                   "jitbot_requests{state=\"PENDING\"} 0\n"));
  CHECK_THAT(text, !Catch::Contains("jitbot_broken"));
}

TEST_CASE("the process figures come from /proc", "[metrics]") {
  // The kernel counts CPU time in ticks of 10 ms: a test process just started may have none yet.
  for (auto start = std::clock(); std::clock() - start < CLOCKS_PER_SEC / 20;) {
  }
  metrics::Registry registry;
  metrics::register_process_metrics(registry);
  auto text = registry.expose();
  for (const char* name : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                           "process_start_time_seconds"}) {
    INFO(name);
    auto at = text.find(std::string{"\n"} + name + " ");
    REQUIRE(at != std::string::npos);
    double value = std::stod(text.substr(at + std::string{name}.size() + 2));
    CHECK(value > 0);
  }
  CHECK_THAT(text, Catch::Contains("# TYPE process_cpu_seconds_total counter\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE process_resident_memory_bytes gauge\n"));
  // Named first without help (a readiness check reading it), the family still gets its help.
  metrics::Registry later;
  later.gauge("jitbot_sockets", "").add(1);
  later.gauge("jitbot_sockets", "Sockets open now.");
  CHECK_THAT(later.expose(), Catch::Contains("# HELP jitbot_sockets Sockets open now.\n"));
}

TEST_CASE("JSON log lines carry time, level, logger, message and the request named", "[logs]") {
  CHECK(bot::first_request_id("granted req_01JTESTTESTTESTTESTTESTTES until noon") == "req_01JTESTTESTTESTTESTTESTTES");
  CHECK(bot::first_request_id("no request here, not even xreq_01JTESTTESTTESTTESTTESTTES").empty());
  CHECK(bot::first_request_id("req_short").empty());

  bot::JsonLogFormatter formatter;
  std::string text = "job 7 (grant of req_01JTESTTESTTESTTESTTESTTES) failed: \"quota\" \xff\n";
  spdlog::details::log_msg message("exec", spdlog::level::warn, text);
  spdlog::memory_buf_t out;
  formatter.format(message, out);
  std::string line(out.data(), out.size());
  REQUIRE(line.back() == '\n');
  CHECK(std::count(line.begin(), line.end(), '\n') == 1);  // one line, whatever the message holds
  auto parsed = nlohmann::json::parse(line);
  CHECK(parsed["level"] == "warning");
  CHECK(parsed["logger"] == "exec");
  CHECK(parsed["request_id"] == "req_01JTESTTESTTESTTESTTESTTES");
  CHECK(parsed["message"].get<std::string>().find("failed: \"quota\"") != std::string::npos);
  auto time = parsed["time"].get<std::string>();
  CHECK(workflows::parse_rfc3339(time).has_value());
  CHECK(std::regex_match(time, std::regex{R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"}));  // milliseconds
}

TEST_CASE("[bot] listen takes an IP address and a port, and says what to write otherwise", "[config][metrics]") {
  ScratchDir dir;
  dir.write("backend.sh", "#!/bin/sh\n", true);
  auto with_listen = [&](const std::string& value) {
    return "[bot]\nlisten = \"" + value +
           "\"\n[slack]\napprovals_channel = \"C0APPROVALS\"\n[[backends]]\nname = \"demo\"\ntype = \"exec\"\n"
           "command = [\"./backend.sh\"]\n[[roles]]\nprovider = \"aws\"\nname = \"admin\"\n"
           "scopes = [\"123456789012\"]\nbackend = \"demo\"\nrequesters = [\"*\"]\napprovers = [\"U0BOB\"]\n"
           "max_duration = \"1h\"\n";
  };
  auto config = config::load_config(dir.write("jitbot.toml", with_listen("127.0.0.1:9090")));
  REQUIRE(config.listen);
  CHECK(config.listen->host == "127.0.0.1");
  CHECK(config.listen->port == 9090);
  CHECK(config::load_config(dir.write("jitbot.toml", with_listen("[::1]:9091"))).listen->host == "::1");
  for (const char* bad :
       {"localhost:9090", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:99999", ":9090", "999.1.1.1:9090", "cafe:9090"}) {
    INFO(bad);
    CHECK_THAT(config_error_of(dir, with_listen(bad)), Catch::Contains("listen: must be IP:PORT"));
  }
}

TEST_CASE("HTTPS_PROXY and NO_PROXY choose how a TLS connection goes out", "[proxy]") {
  std::map<std::string, std::string> variables;
  auto environment = [&](const char* name) -> const char* {
    auto found = variables.find(name);
    return found == variables.end() ? nullptr : found->second.c_str();
  };
  using adapters::http::proxy_for;
  CHECK_FALSE(proxy_for("slack.com", "443", environment).has_value());

  variables["HTTPS_PROXY"] = "http://proxy.corp.example:3128";
  auto proxy = proxy_for("slack.com", "443", environment);
  REQUIRE(proxy);
  CHECK(proxy->host == "proxy.corp.example");
  CHECK(proxy->port == "3128");
  CHECK(proxy->authorization.empty());

  variables["HTTPS_PROXY"] = "proxy.corp.example:8080";  // no scheme: an http proxy
  CHECK(proxy_for("slack.com", "443", environment)->port == "8080");
  variables["HTTPS_PROXY"] = "HTTP://proxy.corp.example:8081";  // a scheme in capitals is the same scheme
  CHECK(proxy_for("slack.com", "443", environment)->port == "8081");

  variables["HTTPS_PROXY"] = "http://jit%40bot:p%3Ass@10.0.0.5:3128/";
  proxy = proxy_for("slack.com", "443", environment);
  REQUIRE(proxy);
  CHECK(proxy->host == "10.0.0.5");
  CHECK(proxy->authorization == "Basic aml0QGJvdDpwOnNz");  // base64 of "jit@bot:p:ss"

  variables["NO_PROXY"] = "localhost, .internal.example,10.1.2.3,api.example.com:8443";
  CHECK_FALSE(proxy_for("localhost", "443", environment).has_value());
  CHECK_FALSE(proxy_for("vault.internal.example", "443", environment).has_value());
  CHECK_FALSE(proxy_for("internal.example", "443", environment).has_value());
  CHECK(proxy_for("notinternal.example", "443", environment).has_value());
  CHECK_FALSE(proxy_for("10.1.2.3", "443", environment).has_value());
  CHECK_FALSE(proxy_for("api.example.com", "8443", environment).has_value());
  CHECK(proxy_for("api.example.com", "443", environment).has_value());
  CHECK(proxy_for("slack.com", "443", environment).has_value());
  variables["NO_PROXY"] = "*.corp.example";
  CHECK_FALSE(proxy_for("git.corp.example", "443", environment).has_value());
  CHECK(proxy_for("slack.com", "443", environment).has_value());
  variables["NO_PROXY"] = "*";
  CHECK_FALSE(proxy_for("slack.com", "443", environment).has_value());

  variables.erase("NO_PROXY");
  variables.erase("HTTPS_PROXY");
  variables["https_proxy"] = "http://lower.example:3128";
  CHECK(proxy_for("slack.com", "443", environment)->host == "lower.example");
  variables["https_proxy"] = "socks5://nope.example:1080";
  CHECK_THROWS_WITH(proxy_for("slack.com", "443", environment), Catch::Contains("must be an http:// proxy"));
}

TEST_CASE("a failure every thread repeats each second is logged once a minute, with its count", "[logs]") {
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(100);
  spdlog::logger logger("jobs", sink);
  auto now = std::chrono::steady_clock::time_point{};
  bot::ErrorThrottle throttle(std::chrono::seconds{60}, [&now] { return now; });
  for (int i = 0; i < 16; ++i) throttle.error(logger, "claim", "could not claim a job: database down");
  CHECK(sink->last_formatted().size() == 1);
  throttle.error(logger, "look", "could not look for jobs: database down");  // another site
  throttle.error(logger, "claim", "could not claim a job: disk full");       // another failure
  CHECK(sink->last_formatted().size() == 3);
  now += std::chrono::seconds{30};
  throttle.error(logger, "claim", "could not claim a job: disk full");
  CHECK(sink->last_formatted().size() == 3);
  now += std::chrono::seconds{31};
  throttle.error(logger, "claim", "could not claim a job: disk full");
  auto lines = sink->last_formatted();
  REQUIRE(lines.size() == 4);
  CHECK_THAT(lines.back(), Catch::Contains("could not claim a job: disk full (1 more like it in the last 60 s)"));
}
