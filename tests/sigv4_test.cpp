// Walks the official AWS Signature V4 test suite (tests/vectors/aws-sigv4, from awslabs/aws-c-auth):
// every case's canonical request, string to sign and signature must match byte for byte, in
// both the Authorization-header and the presigned-query forms.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "adapters/credentials/aws/sigv4.hpp"
#include "workflows/time.hpp"

namespace fs = std::filesystem;
using namespace jitbot::adapters::aws;

namespace {

const fs::path suite = fs::path(JITBOT_SOURCE_DIR) / "tests" / "vectors" / "aws-sigv4";

std::string read(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// request.txt: request line, headers (an indented line continues the previous value), blank line, body.
SigningRequest parse_request(const std::string& text) {
  SigningRequest request;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);
  auto first_space = line.find(' ');
  auto last_space = line.rfind(' ');
  request.method = line.substr(0, first_space);
  auto target = line.substr(first_space + 1, last_space - first_space - 1);
  auto question = target.find('?');
  request.path = target.substr(0, question);
  if (question != std::string::npos) request.query = target.substr(question + 1);
  while (std::getline(in, line) && !line.empty()) {
    if (line.front() == ' ' || line.front() == '\t') {
      request.headers.back().second += "\n" + line;
    } else {
      auto colon = line.find(':');
      request.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
    }
  }
  std::ostringstream body;
  body << in.rdbuf();
  request.body = body.str();
  return request;
}

struct Case {
  SigningRequest request;
  AwsCredentials credentials;
  SigningOptions options;
};

Case load_case(const fs::path& folder) {
  auto context = nlohmann::json::parse(read(folder / "context.json"));
  Case c;
  c.request = parse_request(read(folder / "request.txt"));
  c.credentials.access_key_id = context["credentials"]["access_key_id"];
  c.credentials.secret_access_key = context["credentials"]["secret_access_key"];
  c.credentials.session_token = context["credentials"].value("token", "");
  c.options.region = context["region"];
  c.options.service = context["service"];
  c.options.time = std::chrono::time_point_cast<std::chrono::seconds>(
      *jitbot::workflows::parse_rfc3339(context["timestamp"].get<std::string>()));
  c.options.normalize_path = context.value("normalize", true);
  c.options.sign_body = context.value("sign_body", false);
  c.options.omit_session_token = context.value("omit_session_token", false);
  c.options.expires = std::chrono::seconds{context.value("expiration_in_seconds", 3600)};
  return c;
}

std::vector<fs::path> case_folders() {
  std::vector<fs::path> folders;
  for (const auto& entry : fs::directory_iterator(suite)) {
    if (entry.is_directory()) folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  return folders;
}

}  // namespace

TEST_CASE("SigV4 reproduces every case of the official suite, header and query forms", "[sigv4]") {
  auto folders = case_folders();
  REQUIRE(folders.size() >= 30);
  for (const auto& folder : folders) {
    auto name = folder.filename().string();
    auto c = load_case(folder);
    for (std::string form : {"header", "query"}) {
      INFO(name << " (" << form << " form)");
      auto signature = form == "header" ? sign_with_headers(c.request, c.credentials, c.options)
                                        : sign_with_query(c.request, c.credentials, c.options);
      CHECK(signature.canonical_request == read(folder / (form + "-canonical-request.txt")));
      CHECK(signature.string_to_sign == read(folder / (form + "-string-to-sign.txt")));
      CHECK(signature.signature == read(folder / (form + "-signature.txt")));
    }
  }
}

TEST_CASE("SigV4 header form produces the suite's Authorization header", "[sigv4]") {
  for (const auto& folder : case_folders()) {
    auto c = load_case(folder);
    auto signature = sign_with_headers(c.request, c.credentials, c.options);
    auto authorization = std::find_if(signature.headers.begin(), signature.headers.end(),
                                      [](const auto& header) { return header.first == "Authorization"; });
    REQUIRE(authorization != signature.headers.end());
    INFO(folder.filename().string());
    CHECK(read(folder / "header-signed-request.txt").find("Authorization:" + authorization->second + "\n") !=
          std::string::npos);
  }
}

TEST_CASE("SigV4 signature changes with the secret, the body and the time", "[sigv4]") {
  auto c = load_case(suite / "post-vanilla");
  auto base = sign_with_headers(c.request, c.credentials, c.options).signature;
  auto other_secret = c.credentials;
  other_secret.secret_access_key += "x";
  CHECK(sign_with_headers(c.request, other_secret, c.options).signature != base);
  auto other_body = c.request;
  other_body.body = "{}";
  CHECK(sign_with_headers(other_body, c.credentials, c.options).signature != base);
  auto later = c.options;
  later.time += std::chrono::seconds{1};
  CHECK(sign_with_headers(c.request, c.credentials, later).signature != base);
}
