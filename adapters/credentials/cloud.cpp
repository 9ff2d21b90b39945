#include "adapters/credentials/cloud.hpp"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <cctype>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "adapters/credentials/aws/sigv4.hpp"
#include "adapters/credentials/process.hpp"

namespace jitbot::adapters::cloud {

std::string json_text(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
namespace {

using Clock = std::chrono::steady_clock;

constexpr Millis max_backoff{8000};
constexpr auto token_lifetime = std::chrono::minutes{5};

Millis jittered(Millis base) {
  thread_local std::mt19937 random{std::random_device{}()};
  std::uniform_int_distribution<long> spread(base.count() / 2, base.count());
  return Millis{spread(random)};
}

bool is_retryable_status(int status) { return status == 429 || (status >= 500 && status != 501); }

std::shared_ptr<spdlog::logger> logger_for(const std::string& type) {
  static std::mutex mutex;
  std::lock_guard lock(mutex);
  if (auto existing = spdlog::get(type)) return existing;
  auto logger = spdlog::default_logger()->clone(type);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace

Attempts::Attempts(workflows::Seconds budget) : budget_(budget), deadline_(Clock::now() + budget) {}

bool Attempts::pause(std::optional<Millis> hint) {
  // A service's hint is a floor, not an exact time: a "Retry-After: 0" must not become a tight
  // loop, and jitter keeps parallel workers from retrying in step.
  Millis wait = std::max(hint.value_or(Millis{0}), jittered(next_backoff_));
  next_backoff_ = std::min(next_backoff_ * 2, max_backoff);
  auto left = std::chrono::duration_cast<Millis>(deadline_ - Clock::now());
  if (hint && *hint >= left) return false;  // the service itself says not before the deadline
  if (wait >= left) {
    // Rather than give up with time in hand, wait until one short last call still fits.
    constexpr Millis last_call{500};
    if (left <= last_call) return false;
    wait = left - last_call;
  }
  std::this_thread::sleep_for(wait);
  ++count_;
  return true;
}

void Attempts::give_up(const CloudError& last) const {
  std::string message = last.what();
  while (!message.empty() && message.back() == '.') message.pop_back();
  throw CloudError(message + "; gave up after " + std::to_string(count_) + (count_ == 1 ? " try" : " tries") +
                       " when the backend's timeout (" + workflows::format_duration(budget_) + ") ran out",
                   false);
}

Millis Attempts::time_for_one_call(Millis cap) const {
  auto left = std::chrono::duration_cast<Millis>(deadline_ - Clock::now());
  return std::clamp(left, Millis{1}, cap);
}

CloudHttp::CloudHttp(std::string service, const http::TlsTrust& trust) : service_(std::move(service)), client_(trust) {}

http::HttpResponse CloudHttp::send(const std::string& url, const http::HttpRequest& request, const Attempts& attempts) {
  auto parsed = http::parse_url(url);
  // Never the URL itself: its query may carry credentials (the AWS sign-in token request does).
  if (!parsed) throw CloudError(service_ + ": a configured URL is not an http(s) URL", false);
  http::HttpResponse response;
  try {
    response = client_.send(*parsed, request, attempts.time_for_one_call());
  } catch (const http::NetworkError& e) {
    throw CloudError(service_ + " could not be reached (" + e.what() + ")", true);
  }
  if (is_retryable_status(response.status)) {
    std::optional<Millis> hint;
    if (response.retry_after) hint = std::chrono::duration_cast<Millis>(*response.retry_after);
    throw CloudError(service_ + " answered HTTP " + std::to_string(response.status) +
                         (response.status == 429 ? " (throttled)" : " (unavailable)"),
                     true, hint);
  }
  return response;
}

TokenSource::TokenSource(std::string backend, std::string env_name, std::vector<std::string> command,
                         std::vector<std::string> passed_env)
    : backend_(std::move(backend)),
      env_name_(std::move(env_name)),
      command_(std::move(command)),
      passed_env_(std::move(passed_env)) {}

std::string TokenSource::token() {
  if (command_.empty()) return required_env(backend_, env_name_, "an access token");
  std::lock_guard lock(mutex_);
  if (!cached_.empty() && Clock::now() - fetched_ < token_lifetime) return cached_;
  auto argv = command_;
  argv.front() = find_program(argv.front());
  auto outcome = run_process(argv, "", workflows::Seconds{30}, passed_env_);
  bool succeeded = !outcome.timed_out && WIFEXITED(outcome.wait_status) && WEXITSTATUS(outcome.wait_status) == 0;
  // Not last_line(): tokens are JWTs of a few kilobytes and must not be cut.
  std::string token = outcome.out;
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  token.erase(0, std::min(token.find_last_of('\n') + 1, token.size()));
  if (!succeeded || token.empty()) {
    auto reason = last_line(outcome.err);
    throw CloudError("backend " + backend_ + ": token_command " + command_.front() + " did not print a token" +
                         (reason.empty() ? "" : " (" + reason + ")"),
                     false);
  }
  cached_ = token;
  fetched_ = Clock::now();
  return cached_;
}

void TokenSource::refresh() {
  std::lock_guard lock(mutex_);
  cached_.clear();
}

std::string required_env(const std::string& backend, const std::string& env_name, const std::string& what) {
  const char* value = std::getenv(env_name.c_str());
  if (value == nullptr || *value == '\0') {
    throw CloudError(
        "backend " + backend + " needs " + what + " in the environment variable " + env_name + ", which is not set",
        false);
  }
  return value;
}

workflows::BackendResult guarded(const std::string& type, const std::string& backend,
                                 const workflows::BackendCall& call,
                                 const std::function<workflows::BackendResult()>& body) {
  auto action = workflows::to_string(call.action);
  auto started = Clock::now();
  auto took = [&] { return std::chrono::duration_cast<Millis>(Clock::now() - started).count(); };
  workflows::BackendResult result;
  try {
    result = body();
  } catch (const CloudError& e) {
    result.error = e.what();
  } catch (const std::exception& e) {
    result.error = "backend " + backend + " failed unexpectedly: " + e.what();
  }
  auto logger = spdlog::default_logger();
  try {
    logger = logger_for(type);
  } catch (const spdlog::spdlog_ex&) {
    // Registered elsewhere meanwhile: the default logger will do.
  }
  if (result.ok) {
    logger->info("{} {} for {} succeeded in {} ms", backend, action, call.request_id, took());
  } else {
    logger->warn("{} {} for {} failed in {} ms: {}", backend, action, call.request_id, took(), result.error);
  }
  return result;
}

std::string utf8_prefix(const std::string& text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t end = max_bytes;
  // Step back over continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

std::string sentence(std::string text) {
  while (!text.empty() && (text.back() == '.' || text.back() == ' ' || text.back() == '\n')) text.pop_back();
  return text + ".";
}

std::string path_segment(std::string_view text) { return aws::uri_encode(text, false); }

std::string join_url(const std::string& base, const std::string& path) {
  std::string_view tail{path};
  while (!tail.empty() && tail.front() == '/') tail.remove_prefix(1);
  return (!base.empty() && base.back() == '/' ? base : base + "/") + std::string(tail);
}

std::string principal_for(const std::map<std::string, std::string>& principals, const workflows::UserProfile& user) {
  if (auto by_id = principals.find(user.user_id); by_id != principals.end()) return by_id->second;
  if (auto by_email = principals.find(user.email); !user.email.empty() && by_email != principals.end()) {
    return by_email->second;
  }
  return user.email;
}

}  // namespace jitbot::adapters::cloud
