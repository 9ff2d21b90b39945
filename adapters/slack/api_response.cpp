#include "adapters/slack/api_response.hpp"

#include <cstddef>
#include <string>

namespace jitbot::adapters::slack {
namespace {

using json = nlohmann::json;

/// nlohmann's DOM builder, except that a "message" key at one depth, and everything in its value,
/// is read past (depth 1: a key of the top-level object).
class WithoutMessage {
 public:
  WithoutMessage(json& out, int message_depth) : dom_(out, false), message_depth_(message_depth) {}

  bool null() { return skipped_value() || dom_.null(); }
  bool boolean(bool value) { return skipped_value() || dom_.boolean(value); }
  bool number_integer(json::number_integer_t value) { return skipped_value() || dom_.number_integer(value); }
  bool number_unsigned(json::number_unsigned_t value) { return skipped_value() || dom_.number_unsigned(value); }
  bool number_float(json::number_float_t value, const json::string_t& text) {
    return skipped_value() || dom_.number_float(value, text);
  }
  bool string(json::string_t& value) { return skipped_value() || dom_.string(value); }
  bool binary(json::binary_t& value) { return skipped_value() || dom_.binary(value); }

  bool start_object(std::size_t size) { return entered() || dom_.start_object(size); }
  bool start_array(std::size_t size) { return entered() || dom_.start_array(size); }
  bool end_object() { return left() || dom_.end_object(); }
  bool end_array() { return left() || dom_.end_array(); }

  bool key(json::string_t& name) {
    if (skip_from_ != 0) return true;
    if (depth_ == message_depth_ && name == "message") {
      next_skipped_ = true;
      return true;
    }
    return dom_.key(name);
  }

  template <class Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& error) {
    return dom_.parse_error(position, token, error);
  }

 private:
  /// True when this scalar is the echo, or inside it.
  bool skipped_value() {
    if (skip_from_ != 0) return true;
    return std::exchange(next_skipped_, false);
  }
  /// True when this object or array is the echo, or inside it.
  bool entered() {
    ++depth_;
    if (skip_from_ != 0) return true;
    if (std::exchange(next_skipped_, false)) skip_from_ = depth_;
    return skip_from_ != 0;
  }
  /// True when the object or array closed is the echo, or inside it.
  bool left() {
    bool skipped = skip_from_ != 0;
    if (depth_ == skip_from_) skip_from_ = 0;
    --depth_;
    return skipped;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  int message_depth_;          ///< depth of the objects whose "message" is read past
  int depth_ = 0;              ///< objects and arrays open, the skipped ones included
  int skip_from_ = 0;          ///< depth of the echo being read past; 0 when none is
  bool next_skipped_ = false;  ///< the next value is the echo
};

json parse_without_message(std::string_view text, int message_depth) {
  json out;
  WithoutMessage builder(out, message_depth);
  if (!json::sax_parse(text, &builder)) return json(json::value_t::discarded);
  return out;
}

}  // namespace

json parse_api_response(std::string_view body) { return parse_without_message(body, 1); }

json parse_socket_frame(std::string_view text) { return parse_without_message(text, 2); }

}  // namespace jitbot::adapters::slack
