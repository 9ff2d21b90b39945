#include "bot/log_format.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include <cctype>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>

namespace jitbot::bot {
namespace {

std::atomic<bool> json_logs{false};

/// "2026-12-02T09:17:24.123Z": RFC 3339 in UTC, to the millisecond, as the text format shows.
std::string utc_millis(std::chrono::system_clock::time_point at) {
  auto seconds = std::chrono::floor<std::chrono::seconds>(at);
  auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(at - seconds).count();
  std::time_t whole = std::chrono::system_clock::to_time_t(seconds);
  std::tm utc{};
  gmtime_r(&whole, &utc);
  char text[96];  // room for any int the compiler imagines in each field
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return text;
}

}  // namespace

void use_log_format(const std::string& format) {
  json_logs = format == "json";
  if (json_logs) spdlog::set_formatter(std::make_unique<JsonLogFormatter>());
}

void tell_operator(spdlog::level::level_enum level, const std::string& prefix, const std::string& text) {
  if (json_logs) {
    spdlog::default_logger()->log(level, "{}", text);
  } else {
    std::cerr << prefix << ": " << text << "\n";
  }
}

std::string first_request_id(std::string_view text) {
  constexpr std::size_t id_length = 4 + 26;
  for (auto at = text.find("req_"); at != std::string_view::npos; at = text.find("req_", at + 1)) {
    if (at > 0 && (std::isalnum(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '_')) continue;
    if (text.size() - at < id_length) break;
    auto candidate = text.substr(at, id_length);
    bool letters = std::all_of(candidate.begin() + 4, candidate.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) || (std::isupper(static_cast<unsigned char>(c)) != 0);
    });
    bool ends = text.size() == at + id_length || !std::isalnum(static_cast<unsigned char>(text[at + id_length]));
    if (letters && ends) return std::string{candidate};
  }
  return {};
}

void JsonLogFormatter::format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) {
  std::string_view text{message.payload.data(), message.payload.size()};
  nlohmann::json line{
      {"time", utc_millis(message.time)},
      {"level", std::string{spdlog::level::to_string_view(message.level).data(),
                            spdlog::level::to_string_view(message.level).size()}},
      {"logger", std::string{message.logger_name.data(), message.logger_name.size()}},
      {"message", std::string{text}},
  };
  if (auto id = first_request_id(text); !id.empty()) line["request_id"] = id;
  auto encoded = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out.append(encoded.data(), encoded.data() + encoded.size());
  out.push_back('\n');
}

std::unique_ptr<spdlog::formatter> JsonLogFormatter::clone() const { return std::make_unique<JsonLogFormatter>(); }

}  // namespace jitbot::bot
