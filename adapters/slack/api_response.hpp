#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace jitbot::adapters::slack {

/// A Web API response body as JSON, less its top-level "message": chat.postMessage and
/// chat.update echo the whole message back, blocks and all, and jitbot reads only the channel
/// and timestamp beside it. The echo is read past without building it, which is most of the
/// work of reading such a response. Anything that is not JSON gives a discarded value.
nlohmann::json parse_api_response(std::string_view body);

/// A Socket Mode frame as JSON, less its payload's "message": a button click carries the whole
/// message the button was on, which jitbot never reads (the click is checked against the
/// database). Anything that is not JSON gives a discarded value.
nlohmann::json parse_socket_frame(std::string_view text);

}  // namespace jitbot::adapters::slack
