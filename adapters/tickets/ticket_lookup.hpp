#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "adapters/http/web_client.hpp"
#include "config/config.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// Looks tickets up in Jira (REST v2, GET /rest/api/2/issue/KEY?fields=status,summary; closed
/// means its status category is "done") and GitHub (GET /repos/OWNER/REPO/issues/N; closed
/// means state "closed").
class TicketLookup final : public workflows::TicketChecker {
 public:
  explicit TicketLookup(const std::vector<config::TicketApiConfig>& apis);

  workflows::TicketAnswer check(const std::string& system, const std::string& key) override;

 private:
  workflows::TicketAnswer check_jira(const config::TicketApiConfig& api, const std::string& key);
  workflows::TicketAnswer check_github(const config::TicketApiConfig& api, const std::string& key);
  /// The response to a GET, or an answer carrying the error when there was none worth reading.
  std::optional<http::HttpResponse> get(const config::TicketApiConfig& api, const std::string& url,
                                        const std::vector<std::pair<std::string, std::string>>& headers,
                                        workflows::TicketAnswer& failure);

  std::map<std::string, config::TicketApiConfig> apis_;
  std::map<std::string, std::unique_ptr<http::WebClient>> clients_;
};

}  // namespace jitbot::adapters
