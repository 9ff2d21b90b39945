// A Socket Mode frame from the network, as jitbot reads it: JSON, then the envelope, then the
// typed input (a slash command or a click), then the action it asks for. Any JSON, however
// mistyped (a number where a string should be, arrays for objects), must be ignored or
// turned into an input, never throw.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "bot/command_parser.hpp"
#include "bot/slack_app.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto frame = nlohmann::json::parse(data, data + size, nullptr, false);
  if (!frame.is_object()) return 0;
  jitbot::adapters::slack::Envelope envelope;
  auto type = frame.find("type");
  envelope.type = type != frame.end() && type->is_string() ? type->get<std::string>() : std::string{};
  auto payload = frame.find("payload");
  if (payload != frame.end()) envelope.payload = *payload;
  auto input = jitbot::bot::input_of(envelope);
  if (input) jitbot::bot::read_action(*input);
  return 0;
}
