// Native backends: their config (keys per type, refusals at load), and the pure parts each one
// relies on (the http signature, Azure's stable GUIDs, Kubernetes names, kubeconfig reading).
// Their conversations with the services are tested end to end against the fakes in tests/backends.
#include <catch2/catch.hpp>

#include "adapters/credentials/azure_backend.hpp"
#include "adapters/credentials/digest.hpp"
#include "adapters/credentials/http_backend.hpp"
#include "adapters/credentials/kubernetes_backend.hpp"
#include "config/config.hpp"
#include "support.hpp"

using namespace jitbot;
using namespace jitbot::testing;

namespace {

const std::string bot = R"(
[bot]
database = "jit.db"
[slack]
approvals_channel = "C0APPROVALS"
)";

std::string role_on(const std::string& backend, const std::string& provider, const std::string& name) {
  return "\n[[roles]]\nprovider = \"" + provider + "\"\nname = \"" + name + "\"\nscopes = [\"*\"]\nbackend = \"" +
         backend + "\"\nrequesters = [\"*\"]\napprovers = [\"U0BOB\"]\nmax_duration = \"4h\"\n";
}

const std::string aws_backend = R"(
[[backends]]
name = "aws"
type = "aws"
region = "eu-west-1"
instance_arn = "arn:aws:sso:::instance/ssoins-1"
identity_store_id = "d-1"
endpoint_url = "https://127.0.0.1:8443"
poll_interval = "5s"
[backends.roles.admin]
permission_set_arn = "arn:aws:sso:::permissionSet/ssoins-1/ps-1"
console = true
console_role_arn = "arn:aws:iam::{scope}:role/Console"
[backends.principals]
U0ALICE = "user-1"
)";

/// `text` with `line` inserted after the line that starts with `key`.
std::string with_line_after(std::string text, const std::string& key, const std::string& line) {
  auto end = text.find('\n', text.find("\n" + key) + 1);
  return text.insert(end + 1, line + "\n");
}

}  // namespace

TEST_CASE("an aws backend's keys, roles and principals are read", "[native][config]") {
  ScratchDir dir;
  auto config = config::load_config(dir.write("jitbot.toml", bot + aws_backend + role_on("aws", "aws", "admin")));
  const auto& backend = config.backends.at(0);
  CHECK(backend.type == "aws");
  CHECK(backend.setting("region") == "eu-west-1");
  CHECK(backend.setting("profile").empty());
  CHECK(backend.poll_interval == std::chrono::seconds{5});
  CHECK(backend.roles.at("admin").permission_set_arn == "arn:aws:sso:::permissionSet/ssoins-1/ps-1");
  CHECK(backend.roles.at("admin").console);
  CHECK(backend.principals.at("U0ALICE") == "user-1");
}

TEST_CASE("native backend configs are refused with the key and the reason", "[native][config]") {
  ScratchDir dir;
  dir.write("ca.pem", "not really a certificate");
  struct Case {
    std::string text;
    std::string says;
  };
  const std::vector<Case> cases{
      {bot + "[[backends]]\nname = \"a\"\ntype = \"aws\"\nregion = \"eu-west-1\"\n",
       "backends[0].instance_arn: is required"},
      {bot + with_line_after(aws_backend, "poll_interval", "secret_access_key = \"wJalr…\"") +
           role_on("aws", "aws", "admin"),
       "secret_access_key: unknown key"},
      {bot + aws_backend + role_on("aws", "aws", "poweruser"),
       "has no [backends.roles.\"poweruser\"] with the permission_set_arn"},
      {bot + "[[backends]]\nname = \"g\"\ntype = \"gcp\"\n" + role_on("g", "gcp", "roles/editor"),
       "\"roles/editor\" is a basic role"},
      {bot + "[[backends]]\nname = \"g\"\ntype = \"gcp\"\ntoken_env = \"T\"\ntoken_command = [\"gcloud\"]\n",
       "give token_env or token_command, not both"},
      {bot + "[[backends]]\nname = \"z\"\ntype = \"azure\"\n" + role_on("z", "azure", "Contributor"),
       "has no [backends.roles.\"Contributor\"] role_definition_id"},
      {bot + "[[backends]]\nname = \"h\"\ntype = \"http\"\nurl = \"ftp://x\"\n", "url: must start with https://"},
      {bot + "[[backends]]\nname = \"h\"\ntype = \"http\"\nurl = \"https://x\"\nca_file = \"nope.pem\"\n",
       "nope.pem does not exist"},
      {bot + "[[backends]]\nname = \"d\"\ntype = \"duplocloud\"\n", "backends[0].url: is required"},
      {bot + "[[backends]]\nname = \"k\"\ntype = \"kubernetes\"\ntoken = \"abc\"\n", "backends[0].token: unknown key"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK_THAT(config_error_of(dir, c.text), Catch::Contains(c.says));
  }
  // An azure role named by its role definition GUID needs no mapping.
  CHECK(config_error_of(dir, bot + "[[backends]]\nname = \"z\"\ntype = \"azure\"\nca_file = \"ca.pem\"\n" +
                                 role_on("z", "azure", "b24988ac-6180-42a0-ab88-20f7382dd24c")) == "(no error)");
}

TEST_CASE("the http backend's signature is Slack's scheme with the v0 prefix", "[native]") {
  // Recomputed independently: HMAC-SHA256("s3cret", "v0:1700000000:{}").
  auto expected = "v0=" + adapters::to_hex(adapters::hmac_sha256("s3cret", "v0:1700000000:{}"));
  CHECK(adapters::HttpBackend::signature("s3cret", "1700000000", "{}") == expected);
  CHECK(expected.size() == 3 + 64);
  CHECK(adapters::HttpBackend::signature("s3cret", "1700000001", "{}") != expected);
  CHECK(adapters::HttpBackend::signature("other", "1700000000", "{}") != expected);
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2", "[native]") {
  CHECK(adapters::to_hex(adapters::hmac_sha256("Jefe", "what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("Azure request names are GUIDs, stable per request and action", "[native]") {
  auto grant = adapters::AzureBackend::request_guid("req_01ABC", "grant");
  CHECK(grant == adapters::AzureBackend::request_guid("req_01ABC", "grant"));
  CHECK(grant != adapters::AzureBackend::request_guid("req_01ABC", "revoke"));
  CHECK(grant != adapters::AzureBackend::request_guid("req_01ABD", "grant"));
  REQUIRE(grant.size() == 36);
  CHECK(grant[8] == '-');
  CHECK(grant[14] == '5');                                          // name-based version
  CHECK(std::string("89ab").find(grant[19]) != std::string::npos);  // RFC 4122 variant
}

TEST_CASE("Kubernetes binding names are valid object names", "[native]") {
  CHECK(adapters::KubernetesBackend::binding_name("req_01M7YYJG7NPN7CTQMSS40NN7EY") ==
        "jitbot-req-01m7yyjg7npn7ctqmss40nn7ey");
}

TEST_CASE("a kubeconfig gives the server, the CA and the token of the chosen context", "[native]") {
  ScratchDir dir;
  std::string ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  auto file = dir.write("kubeconfig", R"(apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: )" + adapters::base64_encode(ca) +
                                          R"(
    server: https://127.0.0.1:6443
  name: prod
- cluster:
    certificate-authority: ca.crt
    server: "https://10.0.0.1:6443"
  name: staging
contexts:
- context: {cluster: prod, user: bot}
  name: prod
- context: {cluster: staging, user: bot-file}
  name: staging
current-context: prod
users:
- name: bot
  user:
    token: abc123
- name: bot-file
  user:
    tokenFile: token
)");
  auto prod = adapters::load_kubernetes_access(file.string(), "");
  CHECK(prod.server == "https://127.0.0.1:6443");
  CHECK(prod.ca_pem == ca);
  CHECK(prod.token == "abc123");
  auto staging = adapters::load_kubernetes_access(file.string(), "staging");
  CHECK(staging.server == "https://10.0.0.1:6443");
  CHECK(staging.ca_file == (dir.path() / "ca.crt").string());
  CHECK(staging.token_file == (dir.path() / "token").string());
  CHECK_THROWS_WITH(adapters::load_kubernetes_access(file.string(), "dev"),
                    Catch::Contains("no context named \"dev\""));
}

TEST_CASE("a token_command's token comes back whole, however long", "[native]") {
  // Entra ID access tokens are JWTs of a few kilobytes; a cut one is refused with 401.
  ScratchDir dir;
  auto script = dir.write("token.sh", "#!/bin/sh\necho 'warming up' >&2\nprintf 'x%.0s' $(seq 1 3000)\necho\n", true);
  adapters::cloud::TokenSource source("z", "UNUSED_TOKEN_ENV", {script.string()});
  CHECK(source.token() == std::string(3000, 'x'));
}

TEST_CASE("text cut for a cloud field never splits a character", "[native]") {
  CHECK(adapters::cloud::utf8_prefix("héllo", 2) == "h");  // 'é' is two bytes: dropped, not halved
  CHECK(adapters::cloud::utf8_prefix("héllo", 3) == "hé");
  CHECK(adapters::cloud::utf8_prefix("short", 200) == "short");
}
