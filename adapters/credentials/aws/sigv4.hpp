#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace jitbot::adapters::aws {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  ///< empty for long-term keys
};

using Headers = std::vector<std::pair<std::string, std::string>>;

/// A request as it will go on the wire. `path` and `query` are as written in the request
/// line (the signer decodes and re-encodes them canonically).
struct SigningRequest {
  std::string method;
  std::string path = "/";
  std::string query;  ///< without the '?'
  Headers headers;    ///< must include Host
  std::string body;
};

struct SigningOptions {
  std::string region;
  std::string service;
  std::chrono::sys_seconds time;
  bool normalize_path = true;          ///< remove "." and ".." segments and repeated slashes (all but S3)
  bool sign_body = false;              ///< add and sign x-amz-content-sha256
  bool omit_session_token = false;     ///< add the token after signing (services that want it unsigned)
  std::chrono::seconds expires{3600};  ///< presigned URLs only
};

/// Every step of a signature, so tests can compare each with the official suite.
struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;  ///< lower-case hex
  Headers headers;        ///< header mode: X-Amz-Date, tokens, Authorization to add to the request
  std::string query;      ///< query mode: the full query string to send, signature included
};

/// Signature Version 4 in the Authorization header.
Signature sign_with_headers(const SigningRequest& request, const AwsCredentials& credentials,
                            const SigningOptions& options);

/// Signature Version 4 in the query string (a presigned URL).
Signature sign_with_query(const SigningRequest& request, const AwsCredentials& credentials,
                          const SigningOptions& options);

/// RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - . _ ~ (and '/' when `keep_slash`).
std::string uri_encode(std::string_view text, bool keep_slash = false);

/// "20150830T123600Z"
std::string amz_date(std::chrono::sys_seconds time);

}  // namespace jitbot::adapters::aws
