#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "workflows/policy.hpp"

namespace jitbot::workflows {

/// The first ticket `reason` cites in `system`: a Jira key of one of its projects ("INC-7"), or a
/// GitHub issue of one of its repos ("acme/ops#12", or "#12" when only one repo is configured,
/// which is returned in full). nullopt when it cites none.
std::optional<std::string> cited_ticket(const TicketSystem& system, std::string_view reason);

/// What a citation looks like, for the refusal: "INC-123 or OPS-123", "acme/ops#123".
std::string ticket_example(const TicketSystem& system);

}  // namespace jitbot::workflows
