#pragma once

#include "adapters/alerts/external_alerts.hpp"
#include "workflows/ports.hpp"

namespace jitbot::bot {

/// Sends each notice to whoever shows it: webhook and PagerDuty alerts to their sinks, the rest
/// to the chat.
class NoticeRouter final : public workflows::ChatSink {
 public:
  NoticeRouter(workflows::ChatSink& chat, adapters::ExternalAlerts& external) : chat_(chat), external_(external) {}

  workflows::Delivery deliver(const workflows::Notice& notice, const workflows::Request& request,
                              const std::optional<std::string>& location) override {
    if (notice.kind == workflows::NoticeKind::external_alert) return external_.deliver(notice, request);
    return chat_.deliver(notice, request, location);
  }

 private:
  workflows::ChatSink& chat_;
  adapters::ExternalAlerts& external_;
};

}  // namespace jitbot::bot
