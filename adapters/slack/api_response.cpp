#include "adapters/slack/api_response.hpp"

#include <cstddef>
#include <string>

namespace jitbot::adapters::slack {
namespace {

using json = nlohmann::json;

/// nlohmann's DOM builder, except that the top-level "message" and everything in it is read past.
class WithoutEchoedMessage {
 public:
  explicit WithoutEchoedMessage(json& out) : dom_(out, false) {}

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
    if (depth_ == 1 && name == "message") {
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
  int depth_ = 0;              ///< objects and arrays open, the skipped ones included
  int skip_from_ = 0;          ///< depth of the echo being read past; 0 when none is
  bool next_skipped_ = false;  ///< the next value is the echo
};

}  // namespace

json parse_api_response(std::string_view body) {
  json out;
  WithoutEchoedMessage builder(out);
  if (!json::sax_parse(body, &builder)) return json(json::value_t::discarded);
  return out;
}

}  // namespace jitbot::adapters::slack
