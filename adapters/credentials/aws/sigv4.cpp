#include "adapters/credentials/aws/sigv4.hpp"

#include <algorithm>
#include <cctype>

#include "adapters/credentials/digest.hpp"

namespace jitbot::adapters::aws {
namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";

std::string lower(std::string_view text) {
  std::string result(text);
  for (auto& c : result) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return result;
}

/// Header values are trimmed and every run of whitespace (folded lines included) becomes one space.
std::string canonical_header_value(std::string_view value) {
  std::string result;
  bool pending_space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      pending_space = !result.empty();
      continue;
    }
    if (pending_space) result += ' ';
    pending_space = false;
    result += c;
  }
  return result;
}

std::string percent_decode(std::string_view text) {
  std::string result;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
      result += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      result += text[i];
    }
  }
  return result;
}

/// Drops "." segments and empty ones (repeated slashes), resolves "..", keeps a trailing slash.
std::string normalize_path(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto segment = path.substr(start, end - start);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  std::string result;
  for (auto segment : segments) result += "/" + std::string(segment);
  bool trailing_slash = path.size() > 1 && path.back() == '/';
  if (result.empty() || trailing_slash) result += '/';
  return result;
}

std::string canonical_path(const SigningRequest& request, const SigningOptions& options) {
  std::string path = request.path.empty() ? "/" : request.path;
  if (options.normalize_path) path = normalize_path(path);
  return uri_encode(percent_decode(path), /*keep_slash=*/true);
}

using Parameters = std::vector<std::pair<std::string, std::string>>;

/// Query parameters decoded from the request line, then encoded canonically.
Parameters canonical_parameters(std::string_view query) {
  Parameters parameters;
  std::size_t start = 0;
  while (start < query.size()) {
    auto end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    auto pair = query.substr(start, end - start);
    if (!pair.empty()) {
      auto equals = pair.find('=');
      auto key = pair.substr(0, equals);
      auto value = equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
      parameters.emplace_back(uri_encode(percent_decode(key)), uri_encode(percent_decode(value)));
    }
    start = end + 1;
  }
  return parameters;
}

std::string join_query(Parameters parameters) {
  std::sort(parameters.begin(), parameters.end());
  std::string result;
  for (const auto& [key, value] : parameters) {
    if (!result.empty()) result += '&';
    result += key + "=" + value;
  }
  return result;
}

struct CanonicalHeaders {
  std::string block;         ///< "name:value\n" lines
  std::string signed_names;  ///< "a;b;c"
};

/// Names lower-cased and sorted; repeated headers join their values with ',' in request order.
CanonicalHeaders canonical_headers(const Headers& headers) {
  std::vector<std::pair<std::string, std::string>> merged;
  for (const auto& [name, value] : headers) {
    auto key = lower(name);
    auto found = std::find_if(merged.begin(), merged.end(), [&](const auto& entry) { return entry.first == key; });
    if (found == merged.end()) {
      merged.emplace_back(key, canonical_header_value(value));
    } else {
      found->second += "," + canonical_header_value(value);
    }
  }
  std::stable_sort(merged.begin(), merged.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  CanonicalHeaders result;
  for (const auto& [name, value] : merged) {
    result.block += name + ":" + value + "\n";
    if (!result.signed_names.empty()) result.signed_names += ';';
    result.signed_names += name;
  }
  return result;
}

std::string credential_scope(const SigningOptions& options) {
  return amz_date(options.time).substr(0, 8) + "/" + options.region + "/" + options.service + "/aws4_request";
}

std::string signing_key(const AwsCredentials& credentials, const SigningOptions& options) {
  auto key = hmac_sha256("AWS4" + credentials.secret_access_key, amz_date(options.time).substr(0, 8));
  key = hmac_sha256(key, options.region);
  key = hmac_sha256(key, options.service);
  return hmac_sha256(key, "aws4_request");
}

/// Builds the canonical request, the string to sign and the signature from prepared parts.
Signature finish(const SigningRequest& request, const std::string& query, const CanonicalHeaders& headers,
                 const std::string& payload_hash, const AwsCredentials& credentials, const SigningOptions& options) {
  Signature signature;
  signature.canonical_request = request.method + "\n" + canonical_path(request, options) + "\n" + query + "\n" +
                                headers.block + "\n" + headers.signed_names + "\n" + payload_hash;
  signature.string_to_sign = std::string(algorithm) + "\n" + amz_date(options.time) + "\n" + credential_scope(options) +
                             "\n" + to_hex(sha256(signature.canonical_request));
  signature.signature = to_hex(hmac_sha256(signing_key(credentials, options), signature.string_to_sign));
  return signature;
}

}  // namespace

std::string uri_encode(std::string_view text, bool keep_slash) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string result;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
      result += static_cast<char>(c);
    } else {
      result += '%';
      result += digits[c >> 4];
      result += digits[c & 0x0f];
    }
  }
  return result;
}

std::string amz_date(std::chrono::sys_seconds time) {
  auto days = std::chrono::floor<std::chrono::days>(time);
  std::chrono::year_month_day date{days};
  std::chrono::hh_mm_ss clock{time - days};
  char text[64];
  std::snprintf(text, sizeof text, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(date.year()),
                static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                static_cast<int>(clock.seconds().count()));
  return text;
}

Signature sign_with_headers(const SigningRequest& request, const AwsCredentials& credentials,
                            const SigningOptions& options) {
  std::string payload_hash = to_hex(sha256(request.body));
  Headers added{{"X-Amz-Date", amz_date(options.time)}};
  if (!credentials.session_token.empty() && !options.omit_session_token) {
    added.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  if (options.sign_body) added.emplace_back("x-amz-content-sha256", payload_hash);

  Headers signed_headers = request.headers;
  signed_headers.insert(signed_headers.end(), added.begin(), added.end());
  auto headers = canonical_headers(signed_headers);
  auto query = join_query(canonical_parameters(request.query));
  auto signature = finish(request, query, headers, payload_hash, credentials, options);

  if (!credentials.session_token.empty() && options.omit_session_token) {
    added.emplace_back("X-Amz-Security-Token", credentials.session_token);
  }
  added.emplace_back("Authorization", std::string(algorithm) + " Credential=" + credentials.access_key_id + "/" +
                                          credential_scope(options) + ", SignedHeaders=" + headers.signed_names +
                                          ", Signature=" + signature.signature);
  signature.headers = std::move(added);
  return signature;
}

Signature sign_with_query(const SigningRequest& request, const AwsCredentials& credentials,
                          const SigningOptions& options) {
  auto headers = canonical_headers(request.headers);
  auto parameters = canonical_parameters(request.query);
  auto add = [&](std::string key, std::string_view value) {
    parameters.emplace_back(std::move(key), uri_encode(value));
  };
  add("X-Amz-Algorithm", algorithm);
  add("X-Amz-Credential", credentials.access_key_id + "/" + credential_scope(options));
  add("X-Amz-Date", amz_date(options.time));
  add("X-Amz-Expires", std::to_string(options.expires.count()));
  add("X-Amz-SignedHeaders", headers.signed_names);
  bool token_signed = !credentials.session_token.empty() && !options.omit_session_token;
  if (token_signed) add("X-Amz-Security-Token", credentials.session_token);

  auto query = join_query(parameters);
  auto signature = finish(request, query, headers, to_hex(sha256(request.body)), credentials, options);
  signature.query = query;
  if (!credentials.session_token.empty() && !token_signed) {
    signature.query += "&X-Amz-Security-Token=" + uri_encode(credentials.session_token);
  }
  signature.query += "&X-Amz-Signature=" + signature.signature;
  return signature;
}

}  // namespace jitbot::adapters::aws
