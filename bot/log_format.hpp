#pragma once

#include <spdlog/formatter.h>

#include <memory>
#include <string>

namespace jitbot::bot {

/// `--log-format json`: one JSON object per line, for log shippers: time (RFC 3339, UTC,
/// milliseconds), level, logger, message, and request_id when the message names a request.
/// Text that is not valid UTF-8 is repaired, never dropped.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& message, spdlog::memory_buf_t& out) override;
  std::unique_ptr<spdlog::formatter> clone() const override;
};

/// Chooses `--log-format`: "json" sets JsonLogFormatter on every logger; otherwise text.
void use_log_format(const std::string& format);

/// Says something to the operator that must be seen whatever the log level (start-up problems,
/// "connected to"): on stderr as "PREFIX: text" in text mode, as a log line in JSON mode, so a
/// JSON log stays JSON from its first line.
void tell_operator(spdlog::level::level_enum level, const std::string& prefix, const std::string& text);

/// The first request ID ("req_" and 26 Crockford base32 letters) in `text`, or "".
std::string first_request_id(std::string_view text);

}  // namespace jitbot::bot
