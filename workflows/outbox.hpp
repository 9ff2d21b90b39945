#pragma once

#include "workflows/ports.hpp"

namespace jitbot::workflows {

/// Delivers undelivered notices oldest first. A failed notice stays in the outbox for the next
/// pass, and later notices for the same target wait behind it so a card never goes backwards.
/// Returns how many were delivered.
int deliver_outbox(RequestStore& store, ChatSink& chat, int batch = 200);

}  // namespace jitbot::workflows
