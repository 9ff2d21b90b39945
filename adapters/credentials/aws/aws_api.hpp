#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "adapters/credentials/aws/sigv4.hpp"
#include "adapters/credentials/cloud.hpp"

namespace jitbot::adapters::aws {

/// An error AWS returned, with its code (e.g. "ConflictException") for callers that treat some
/// codes as success.
class AwsError : public cloud::CloudError {
 public:
  AwsError(const std::string& message, std::string code, bool retryable)
      : CloudError(message, retryable), code_(std::move(code)) {}
  const std::string& code() const { return code_; }

 private:
  std::string code_;
};

/// The environment's AWS_ACCESS_KEY_ID/… or a profile of the shared credentials file.
/// Throws a CloudError saying what to set when neither has keys.
AwsCredentials load_credentials(const std::string& backend, const std::string& profile);

/// One AWS service endpoint, signed with SigV4.
struct AwsService {
  std::string endpoint;      ///< https://sso.us-east-1.amazonaws.com
  std::string signing_name;  ///< "sso"
  std::string region;
};

/// Signs and sends AWS requests; retries throttling and conflicts within the Attempts' budget.
class AwsApi {
 public:
  AwsApi(std::string backend, std::string profile, const http::TlsTrust& trust);

  /// A JSON 1.1 call (X-Amz-Target `target`, e.g. "SWBExternalService.CreateAccountAssignment").
  nlohmann::json json_call(const AwsService& service, const std::string& target, const nlohmann::json& body,
                           cloud::Attempts& attempts);

  /// A Query-protocol call (STS, IAM): form-encoded `parameters`, the XML response body. Signed
  /// with jitbot's own credentials, or with `as` (e.g. a role assumed in another account).
  std::string query_call(const AwsService& service, const std::string& form, cloud::Attempts& attempts,
                         const AwsCredentials* as = nullptr);

  /// An unsigned GET (the federation endpoint), body returned for 2xx.
  std::string get(const std::string& url, cloud::Attempts& attempts);

 private:
  http::HttpResponse signed_post(const AwsService& service, const http::HttpRequest& unsigned_request,
                                 const AwsCredentials& credentials, cloud::Attempts& attempts);

  std::string backend_;
  std::string profile_;
  cloud::CloudHttp http_;
};

/// The text inside the first <tag>…</tag> of an XML document, entities decoded; "" if absent.
std::string xml_text(const std::string& xml, const std::string& tag);

/// RFC 3986 percent-decoding (IAM returns policy documents URL-encoded); bad escapes stay as they are.
std::string percent_decode(const std::string& text);

}  // namespace jitbot::adapters::aws
