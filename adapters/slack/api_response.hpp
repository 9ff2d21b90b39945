#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

namespace jitbot::adapters::slack {

/// A Web API response body as JSON, less its top-level "message": chat.postMessage and
/// chat.update echo the whole message back, blocks and all, and jitbot reads only the channel
/// and timestamp beside it. The echo is read past without building it, which is most of the
/// work of reading such a response. Anything that is not JSON gives a discarded value.
nlohmann::json parse_api_response(std::string_view body);

}  // namespace jitbot::adapters::slack
