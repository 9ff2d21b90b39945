#include "workflows/request_id.hpp"

#include <cctype>

namespace jitbot::workflows {
namespace {

constexpr std::string_view crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr std::string_view prefix = "req_";
constexpr std::size_t ulid_length = 26;

}  // namespace

std::string make_request_id(Instant created, const std::array<std::uint8_t, 10>& randomness) {
  // 128 bits: 48-bit timestamp then 80 random bits, encoded 5 bits at a time from the top.
  std::array<std::uint8_t, 16> bytes{};
  auto millis = static_cast<std::uint64_t>(to_unix_millis(created));
  for (int i = 0; i < 6; ++i) bytes[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(millis >> (40 - 8 * i));
  for (std::size_t i = 0; i < randomness.size(); ++i) bytes[6 + i] = randomness[i];

  std::string id{prefix};
  // 26 characters * 5 bits = 130 bits: the first character carries only the top 3 bits.
  for (std::size_t c = 0; c < ulid_length; ++c) {
    int bit = static_cast<int>(c) * 5 - 2;  // position of this character's first bit in the 128
    unsigned value = 0;
    for (int b = 0; b < 5; ++b, ++bit) {
      value <<= 1;
      if (bit < 0) continue;
      value |= (bytes[static_cast<std::size_t>(bit / 8)] >> (7 - bit % 8)) & 1U;
    }
    id += crockford[value];
  }
  return id;
}

bool looks_like_request_id(std::string_view text) {
  if (text.size() != prefix.size() + ulid_length || text.substr(0, prefix.size()) != prefix) return false;
  for (char c : text.substr(prefix.size())) {
    if (crockford.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c)))) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace jitbot::workflows
