#include "adapters/credentials/aws/aws_api.hpp"

#include <cstdlib>
#include <fstream>

namespace jitbot::adapters::aws {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string trim(std::string_view text) {
  auto first = text.find_first_not_of(" \t\r");
  if (first == std::string_view::npos) return {};
  auto last = text.find_last_not_of(" \t\r");
  return std::string(text.substr(first, last - first + 1));
}

/// The [profile] section of an INI-style credentials file.
AwsCredentials read_profile(const std::string& file, const std::string& profile) {
  AwsCredentials credentials;
  std::ifstream in(file);
  std::string line;
  bool in_profile = false;
  while (std::getline(in, line)) {
    auto text = trim(line);
    if (text.empty() || text.front() == '#' || text.front() == ';') continue;
    if (text.front() == '[') {
      in_profile = trim(std::string_view(text).substr(1, text.find(']') - 1)) == profile;
      continue;
    }
    auto equals = text.find('=');
    if (!in_profile || equals == std::string::npos) continue;
    auto key = trim(std::string_view(text).substr(0, equals));
    auto value = trim(std::string_view(text).substr(equals + 1));
    if (key == "aws_access_key_id") credentials.access_key_id = value;
    if (key == "aws_secret_access_key") credentials.secret_access_key = value;
    if (key == "aws_session_token") credentials.session_token = value;
  }
  return credentials;
}

std::chrono::sys_seconds now() {
  return std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
}

/// Codes AWS uses for "slow down" or "busy, try again"; conflicts are an operation on the same
/// assignment still in progress.
bool is_retryable_code(const std::string& code) {
  for (const char* retryable :
       {"ThrottlingException", "TooManyRequestsException", "Throttling", "RequestLimitExceeded", "ConflictException",
        "InternalServerException", "ServiceUnavailable", "IDPCommunicationError"}) {
    if (code == retryable) return true;
  }
  return false;
}

std::string advice_for(const std::string& code) {
  if (code == "AccessDeniedException" || code == "AccessDenied") {
    return " Check that jitbot's AWS identity is allowed to make this call.";
  }
  if (code == "InvalidSignatureException" || code == "SignatureDoesNotMatch") {
    return " Check jitbot's AWS secret access key and the machine's clock.";
  }
  if (code == "UnrecognizedClientException" || code == "InvalidClientTokenId" || code == "ExpiredTokenException" ||
      code == "ExpiredToken") {
    return " Check jitbot's AWS access key (and session token, which may have expired).";
  }
  return "";
}

/// AWS's own message, made safe to show: a signature error goes on to echo the canonical
/// request AWS computed (the session token among its headers), so only its first paragraph is
/// kept, and any credential still in it is blotted out.
std::string shareable(std::string message, const AwsCredentials& credentials) {
  if (auto paragraph = message.find("\n\n"); paragraph != std::string::npos) message.resize(paragraph);
  for (const auto* secret : {&credentials.session_token, &credentials.secret_access_key}) {
    if (secret->empty()) continue;
    for (auto at = message.find(*secret); at != std::string::npos; at = message.find(*secret)) {
      message.replace(at, secret->size(), "[redacted]");
    }
  }
  if (message.size() > 400) message = message.substr(0, 400) + "…";
  return message;
}

[[noreturn]] void throw_aws_error(const std::string& what, const std::string& code, const std::string& message,
                                  const AwsCredentials& credentials) {
  auto safe = shareable(message, credentials);
  throw AwsError(what + " failed: " + cloud::sentence(code + (safe.empty() ? "" : ": " + safe)) + advice_for(code),
                 code, is_retryable_code(code));
}

}  // namespace

AwsCredentials load_credentials(const std::string& backend, const std::string& profile) {
  AwsCredentials credentials{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (profile.empty() && !credentials.access_key_id.empty() && !credentials.secret_access_key.empty()) {
    return credentials;
  }
  std::string name = !profile.empty() ? profile : !env("AWS_PROFILE").empty() ? env("AWS_PROFILE") : "default";
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) file = env("HOME") + "/.aws/credentials";
  credentials = read_profile(file, name);
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty()) {
    throw cloud::CloudError("backend " + backend +
                                " has no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give "
                                "profile \"" +
                                name + "\" aws_access_key_id and aws_secret_access_key in " + file,
                            false);
  }
  return credentials;
}

AwsApi::AwsApi(std::string backend, std::string profile, const http::TlsTrust& trust)
    : backend_(std::move(backend)), profile_(std::move(profile)), http_("AWS (backend " + backend_ + ")", trust) {}

http::HttpResponse AwsApi::signed_post(const AwsService& service, const http::HttpRequest& unsigned_request,
                                       const AwsCredentials& credentials, cloud::Attempts& attempts) {
  auto url = http::parse_url(service.endpoint);
  if (!url) throw cloud::CloudError("backend " + backend_ + ": bad AWS endpoint " + service.endpoint, false);
  SigningRequest to_sign{"POST", url->target, "", {{"Host", http::host_header(*url)}}, unsigned_request.body};
  to_sign.headers.emplace_back("Content-Type", unsigned_request.content_type);
  for (const auto& header : unsigned_request.headers) to_sign.headers.push_back(header);
  auto query = to_sign.path.find('?');
  if (query != std::string::npos) {
    to_sign.query = to_sign.path.substr(query + 1);
    to_sign.path.resize(query);
  }
  SigningOptions options{service.region, service.signing_name, now()};
  auto signature = sign_with_headers(to_sign, credentials, options);
  http::HttpRequest request = unsigned_request;
  for (const auto& header : signature.headers) request.headers.push_back(header);
  return http_.send(service.endpoint, request, attempts);
}

nlohmann::json AwsApi::json_call(const AwsService& service, const std::string& target, const nlohmann::json& body,
                                 cloud::Attempts& attempts) {
  return cloud::retrying(attempts, [&](cloud::Attempts& tries) {
    http::HttpRequest request{
        "POST", cloud::json_text(body), "application/x-amz-json-1.1", {}, {{"X-Amz-Target", target}}};
    // Read per attempt, so rotated keys and refreshed session tokens are picked up.
    auto credentials = load_credentials(backend_, profile_);
    auto response = signed_post(service, request, credentials, tries);
    auto reply = nlohmann::json::parse(response.body, nullptr, false);
    std::string operation = "AWS " + target.substr(target.find('.') + 1);
    if (response.status >= 200 && response.status < 300) {
      if (reply.is_discarded()) throw cloud::CloudError(operation + " answered with something that is not JSON", false);
      return reply;
    }
    std::string code = reply.is_object() ? reply.value("__type", std::string{}) : std::string{};
    code = code.substr(code.find('#') + 1);  // "com.amazonaws.x#ConflictException" -> "ConflictException"
    if (code.empty()) code = "HTTP " + std::to_string(response.status);
    code = code.substr(0, code.find(':'));  // "Code:http://internal.amazon.com/…" -> "Code"
    std::string message = reply.is_object() ? reply.value("message", reply.value("Message", std::string{})) : "";
    throw_aws_error(operation, code, message, credentials);
  });
}

std::string AwsApi::query_call(const AwsService& service, const std::string& form, cloud::Attempts& attempts,
                               const AwsCredentials* as) {
  return cloud::retrying(attempts, [&](cloud::Attempts& tries) {
    http::HttpRequest request{"POST", form, "application/x-www-form-urlencoded; charset=utf-8", {}, {}};
    auto credentials = as != nullptr ? *as : load_credentials(backend_, profile_);
    auto response = signed_post(service, request, credentials, tries);
    if (response.status >= 200 && response.status < 300) return response.body;
    std::string action = form.substr(0, form.find('&'));
    action = action.substr(action.find('=') + 1);
    std::string code = xml_text(response.body, "Code");
    std::string service_name = service.signing_name;
    for (auto& c : service_name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    throw_aws_error("AWS " + service_name + " " + action,
                    code.empty() ? "HTTP " + std::to_string(response.status) : code, xml_text(response.body, "Message"),
                    credentials);
  });
}

std::string AwsApi::get(const std::string& url, cloud::Attempts& attempts) {
  return cloud::retrying(attempts, [&](cloud::Attempts& tries) {
    auto response = http_.send(url, http::HttpRequest{"GET", "", "", {}, {}}, tries);
    if (response.status >= 200 && response.status < 300) return response.body;
    throw cloud::CloudError("the AWS sign-in endpoint answered HTTP " + std::to_string(response.status), false);
  });
}

std::string xml_text(const std::string& xml, const std::string& tag) {
  auto open = xml.find("<" + tag + ">");
  if (open == std::string::npos) return {};
  auto start = open + tag.size() + 2;
  auto close = xml.find("</" + tag + ">", start);
  if (close == std::string::npos) return {};
  std::string raw = xml.substr(start, close - start), text;
  for (std::size_t i = 0; i < raw.size(); ++i) {
    bool decoded = false;
    for (auto [entity, character] :
         {std::pair{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}}) {
      std::string_view name{entity};
      if (raw.compare(i, name.size(), name) == 0) {
        text += character;
        i += name.size() - 1;
        decoded = true;
        break;
      }
    }
    if (!decoded) text += raw[i];
  }
  return text;
}

std::string percent_decode(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace jitbot::adapters::aws
