// The /jit command parser on arbitrary text: it must answer every input with an action or a
// refusal, never crash, hang or read out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "bot/command_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = jitbot::bot::parse_command(text);
  if (auto* refusal = std::get_if<jitbot::workflows::Refusal>(&parsed)) {
    // Every refusal says something and shows the usage.
    if (jitbot::workflows::describe(*refusal).find("\nUsage: /jit") == std::string::npos) __builtin_trap();
  }
  return 0;
}
