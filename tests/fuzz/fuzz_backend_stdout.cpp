// What an exec or http backend prints: any bytes must become a result (success with the
// fields it gave, or a failure saying why) whose text is valid UTF-8, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "adapters/credentials/exec_backend.hpp"
#include "workflows/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto result = jitbot::adapters::parse_backend_reply("fuzz", text);
  for (const auto* field : {&result.grant_id, &result.message, &result.error, &result.console_url}) {
    if (!jitbot::workflows::is_valid_utf8(*field)) __builtin_trap();
  }
  return 0;
}
