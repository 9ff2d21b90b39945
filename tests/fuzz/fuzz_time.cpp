// Durations and RFC 3339 times from people and services: parsed or refused, and what parses
// prints back to something that parses to the same value.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "workflows/time.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace jitbot::workflows;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto duration = parse_duration(text)) {
    if (duration->count() <= 0 || *duration > longest_duration) __builtin_trap();
    if (parse_duration(format_duration(*duration)) != duration) __builtin_trap();
    if (is_too_long_duration(text)) __builtin_trap();
  }
  if (auto instant = parse_rfc3339(text)) {
    auto again = parse_rfc3339(format_rfc3339(*instant));
    // format_rfc3339 prints whole seconds.
    if (!again || *again != std::chrono::floor<std::chrono::seconds>(*instant)) __builtin_trap();
  }
  return 0;
}
