// The exec backend against real scripts: the stdin contract, success, failure, timeout, garbage.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "adapters/credentials/exec_backend.hpp"
#include "support.hpp"

using namespace jitbot;
using namespace jitbot::testing;

namespace {

workflows::BackendCall sample_call(workflows::BackendCall::Action action = workflows::BackendCall::Action::grant) {
  workflows::BackendCall call;
  call.action = action;
  call.backend = "test";
  call.request_id = "req_01M7YSPS118T6ST16TZ78XKMA5";
  call.provider = "aws";
  call.role = "prod-infra-admin";
  call.scope = "123456789012";
  call.duration = 2h;
  call.expires_at = workflows::parse_rfc3339("2026-11-21T12:00:00Z").value();
  call.reason = "INC-4421 \"quoted\" & <b>";
  call.requester = {"U0ALICE", "alice@example.com", "Alice"};
  call.approvers = {"U0BOB"};
  call.grant_id = "g-1";
  return call;
}

adapters::ExecBackend backend_for(const std::filesystem::path& script, std::chrono::seconds timeout = 10s) {
  return adapters::ExecBackend("test", {script.string()}, timeout);
}

}  // namespace

TEST_CASE("exec: argv gets the action and stdin carries the whole request", "[exec]") {
  ScratchDir dir;
  auto script =
      dir.write("backend.sh",
                "#!/bin/sh\necho \"$1\" > \"$(dirname \"$0\")/argv\"\ncat > \"$(dirname \"$0\")/stdin\"\n"
                "echo '{\"grant_id\":\"g-42\",\"console_url\":\"https://console.example/x\",\"message\":\"ok\","
                "\"expires_at\":\"2026-11-21T12:00:00Z\"}'\n",
                true);
  auto result = backend_for(script).grant(sample_call());
  REQUIRE(result.ok);
  CHECK(result.grant_id == "g-42");
  CHECK(result.console_url == "https://console.example/x");
  CHECK(result.message == "ok");
  CHECK(result.expires_at == workflows::parse_rfc3339("2026-11-21T12:00:00Z"));
  CHECK(dir.read("argv") == "grant\n");

  auto input = nlohmann::json::parse(dir.read("stdin"));
  CHECK(input["version"] == 1);  // grant documents are unchanged since version 1
  CHECK(input["action"] == "grant");
  CHECK(input["request_id"] == "req_01M7YSPS118T6ST16TZ78XKMA5");
  CHECK(input["provider"] == "aws");
  CHECK(input["role"] == "prod-infra-admin");
  CHECK(input["scope"] == "123456789012");
  CHECK(input["duration_seconds"] == 7200);
  CHECK(input["expires_at"] == "2026-11-21T12:00:00Z");
  CHECK(input["reason"] == "INC-4421 \"quoted\" & <b>");
  CHECK(input["break_glass"] == false);
  CHECK(input["requester"]["slack_user_id"] == "U0ALICE");
  CHECK(input["requester"]["email"] == "alice@example.com");
  CHECK(input["requester"]["name"] == "Alice");
  CHECK(input["approvers"] == nlohmann::json::array({"U0BOB"}));
  CHECK_FALSE(input.contains("grant_id"));
}

TEST_CASE("exec: revoke carries the grant_id; empty stdout is success", "[exec]") {
  ScratchDir dir;
  auto script = dir.write(
      "backend.sh", "#!/bin/sh\necho \"$1\" > \"$(dirname \"$0\")/argv\"\ncat > \"$(dirname \"$0\")/stdin\"\n", true);
  auto result = backend_for(script).revoke(sample_call(workflows::BackendCall::Action::revoke));
  CHECK(result.ok);
  CHECK(dir.read("argv") == "revoke\n");
  auto input = nlohmann::json::parse(dir.read("stdin"));
  CHECK(input["action"] == "revoke");
  CHECK(input["grant_id"] == "g-1");
}

namespace {

workflows::BackendCall extend_call() {
  auto call = sample_call(workflows::BackendCall::Action::extend);
  call.previous_expires_at = call.expires_at;
  call.expires_at = call.expires_at + 1h;
  call.duration = 3h;
  return call;
}

}  // namespace

TEST_CASE("exec: extend gets argv extend and a version 2 document with the previous expiry", "[exec][extend]") {
  ScratchDir dir;
  auto script = dir.write("backend.sh",
                          "#!/bin/sh\necho \"$1\" >> \"$(dirname \"$0\")/argv\"\ncat > \"$(dirname \"$0\")/stdin\"\n"
                          "echo '{\"message\":\"moved\"}'\n",
                          true);
  auto result = backend_for(script).extend(extend_call());
  REQUIRE(result.ok);
  CHECK(result.message == "moved");
  CHECK(dir.read("argv") == "extend\n");
  auto input = nlohmann::json::parse(dir.read("stdin"));
  CHECK(input["version"] == 2);
  CHECK(input["action"] == "extend");
  CHECK(input["expires_at"] == "2026-11-21T13:00:00Z");
  CHECK(input["previous_expires_at"] == "2026-11-21T12:00:00Z");
  CHECK(input["duration_seconds"] == 3 * 3600);
  CHECK(input["grant_id"] == "g-1");
}

TEST_CASE("exec: a program that does not know extend (exit 3) is asked to grant again until the new end",
          "[exec][extend]") {
  ScratchDir dir;
  auto script = dir.write("backend.sh",
                          "#!/bin/sh\necho \"$1\" >> \"$(dirname \"$0\")/argv\"\n"
                          "cat > \"$(dirname \"$0\")/stdin-$1\"\n"
                          "case \"$1\" in grant|revoke) exit 0;; *) echo \"unknown action $1\" >&2; exit 3;; esac\n",
                          true);
  auto result = backend_for(script).extend(extend_call());
  REQUIRE(result.ok);
  CHECK(dir.read("argv") == "extend\ngrant\n");
  auto grant = nlohmann::json::parse(dir.read("stdin-grant"));
  CHECK(grant["version"] == 1);  // what a program written for version 1 expects
  CHECK(grant["action"] == "grant");
  CHECK(grant["expires_at"] == "2026-11-21T13:00:00Z");
  CHECK_FALSE(grant.contains("previous_expires_at"));

  // Any other failure of extend is a failure, not a reason to grant.
  auto failing = dir.write("failing.sh", "#!/bin/sh\ncat >/dev/null\necho 'quota exceeded' >&2\nexit 1\n", true);
  auto failed = backend_for(failing).extend(extend_call());
  CHECK_FALSE(failed.ok);
  CHECK(failed.error == "quota exceeded");
}

TEST_CASE("exec: a backend that never reads its stdin still succeeds", "[exec]") {
  // Plenty of scripts use only $1. With a request larger than a pipe holds, jitbot's write meets
  // a closed pipe (EPIPE), which must neither kill jitbot nor fail the call.
  ScratchDir dir;
  auto script = dir.write("backend.sh", "#!/bin/sh\nexec 0<&-\necho '{\"grant_id\":\"g-7\"}'\n", true);
  auto call = sample_call();
  call.reason = std::string(256 * 1024, 'x');
  auto result = backend_for(script).grant(call);
  REQUIRE(result.ok);
  CHECK(result.grant_id == "g-7");
}

TEST_CASE("exec: text that is not valid UTF-8 reaches the backend repaired, not as a failed call", "[exec][text]") {
  // The edges repair what they take in; this is the last line of defence should a stray byte
  // get past them (a row written by an older jitbot, say).
  ScratchDir dir;
  auto script = dir.write("backend.sh", "#!/bin/sh\ncat > \"$(dirname \"$0\")/stdin\"\necho '{}'\n", true);
  auto call = sample_call();
  call.reason = "caf\xff fix";
  auto result = backend_for(script).grant(call);
  REQUIRE(result.ok);
  auto input = nlohmann::json::parse(dir.read("stdin"));
  CHECK(input["reason"] == "caf\uFFFD fix");
}

TEST_CASE("exec: a non-zero exit fails with the last stderr line", "[exec]") {
  ScratchDir dir;
  auto script = dir.write("backend.sh",
                          "#!/bin/sh\ncat >/dev/null\necho 'calling AWS...' >&2\n"
                          "echo '   AccessDenied: not authorized to CreateAccountAssignment  ' >&2\nexit 3\n",
                          true);
  auto result = backend_for(script).grant(sample_call());
  CHECK_FALSE(result.ok);
  CHECK(result.error == "AccessDenied: not authorized to CreateAccountAssignment");
}

TEST_CASE("exec: a silent failure still says what happened", "[exec]") {
  ScratchDir dir;
  auto script = dir.write("backend.sh", "#!/bin/sh\nexit 7\n", true);
  auto result = backend_for(script).grant(sample_call());
  CHECK_FALSE(result.ok);
  CHECK(result.error == "backend test exited with status 7");
}

TEST_CASE("exec: a hung backend is killed, with everything it started", "[exec]") {
  ScratchDir dir;
  auto script =
      dir.write("backend.sh",
                "#!/bin/sh\nsleep 60 &\necho $! > \"$(dirname \"$0\")/child\"\necho 'waiting for the API' >&2\n"
                "wait\n",
                true);
  auto result = backend_for(script, 1s).grant(sample_call());
  CHECK_FALSE(result.ok);
  CHECK(result.error == "backend test timed out after 1s (waiting for the API)");
  auto child = std::stoi(dir.read("child"));
  // The grandchild was in the killed process group. Dead means gone or a zombie (state Z):
  // in a container, nobody may reap an orphan.
  auto dead = [](int pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string fields;
    std::getline(stat, fields);
    auto after_name = fields.rfind(')');
    return fields.empty() || (after_name != std::string::npos && fields.substr(after_name + 2, 1) == "Z");
  };
  bool gone = false;
  for (int i = 0; i < 200 && !gone; ++i) {
    gone = dead(child);
    if (!gone) std::this_thread::sleep_for(10ms);
  }
  CHECK(gone);
}

TEST_CASE("exec: a background helper holding stdout does not turn success into a timeout", "[exec]") {
  ScratchDir dir;
  auto script = dir.write("backend.sh", "#!/bin/sh\ncat >/dev/null\nsleep 30 &\necho '{\"grant_id\":\"g-7\"}'\n", true);
  auto result = backend_for(script, 5s).grant(sample_call());
  CHECK(result.ok);
  CHECK(result.grant_id == "g-7");
}

TEST_CASE("exec: garbage on stdout is a failure, not a silent success", "[exec]") {
  ScratchDir dir;
  SECTION("not JSON") {
    auto script = dir.write("backend.sh", "#!/bin/sh\necho 'granted!'\n", true);
    auto result = backend_for(script).grant(sample_call());
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("not a JSON object") != std::string::npos);
  }
  SECTION("JSON of the wrong shape") {
    auto script = dir.write("backend.sh", "#!/bin/sh\necho '{\"grant_id\": 42}'\n", true);
    auto result = backend_for(script).grant(sample_call());
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("not a string") != std::string::npos);
  }
  SECTION("a bad expires_at") {
    auto script = dir.write("backend.sh", "#!/bin/sh\necho '{\"expires_at\": \"tomorrow\"}'\n", true);
    auto result = backend_for(script).grant(sample_call());
    CHECK_FALSE(result.ok);
    CHECK(result.error.find("RFC 3339") != std::string::npos);
  }
}

TEST_CASE("exec: a missing program fails clearly", "[exec]") {
  ScratchDir dir;
  auto result = backend_for(dir.path() / "nope.sh").grant(sample_call());
  CHECK_FALSE(result.ok);
  CHECK(result.error.find("cannot run") != std::string::npos);
  CHECK(result.error.find("nope.sh") != std::string::npos);
}

TEST_CASE("exec: the backend sees PATH, HOME, LANG, TZ and what its config names, nothing else", "[exec][security]") {
  ScratchDir dir;
  // Realistic lengths, so that a leak of part of one is caught too.
  const std::vector<std::string> secrets{
      "xoxb-1111111111-2222222222222-AbCdEfGhIjKlMnOpQrStUvWx", "xapp-1-A0123456789-1234567890123-0a1b2c3d4e5f6a7b8c9d",
      "http-backend-signing-secret-5f1c2d3e4a5b4c6d", "ya29.a0AfB_byC-another-backends-token-9Zq"};
  ::setenv("SLACK_BOT_TOKEN", secrets[0].c_str(), 1);
  ::setenv("SLACK_APP_TOKEN", secrets[1].c_str(), 1);
  ::setenv("JITBOT_HTTP_SECRET", secrets[2].c_str(), 1);
  ::setenv("GOOGLE_OAUTH_ACCESS_TOKEN", secrets[3].c_str(), 1);
  ::setenv("JITBOT_TEST_MARKER", "named", 1);
  ::setenv("TZ", "UTC", 1);
  auto script = dir.write("backend.sh", "#!/bin/sh\nenv > \"$(dirname \"$0\")/env\"\n", true);
  adapters::ExecBackend backend("test", {script.string()}, 10s, {"JITBOT_TEST_MARKER"});
  auto result = backend.grant(sample_call());
  for (const char* name : {"SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "JITBOT_HTTP_SECRET", "GOOGLE_OAUTH_ACCESS_TOKEN"}) {
    ::unsetenv(name);
  }
  REQUIRE(result.ok);
  auto env = dir.read("env");
  CHECK(env.find("JITBOT_TEST_MARKER=named") != std::string::npos);
  CHECK(env.find("PATH=") != std::string::npos);
  CHECK(env.find("TZ=UTC") != std::string::npos);
  for (const auto& secret : secrets) {
    INFO("a backend's environment shows (part of) a secret starting " << secret.substr(0, 6) << ":\n" << env);
    CHECK_FALSE(jitbot::testing::shows_secret(env, secret));
  }
  // Every line is an allowed variable, or one the shell sets for itself.
  std::istringstream lines(env);
  for (std::string line; std::getline(lines, line);) {
    auto name = line.substr(0, line.find('='));
    bool allowed = name == "PATH" || name == "HOME" || name == "LANG" || name == "TZ" || name == "JITBOT_TEST_MARKER" ||
                   name == "PWD" || name == "SHLVL" || name == "_" || name == "OLDPWD";
    INFO("unexpected variable in a backend's environment: " << name);
    CHECK(allowed);
  }
}

TEST_CASE("exec: the backend inherits no descriptor of jitbot's beyond stdin, stdout and stderr", "[exec][security]") {
  ScratchDir dir;
  // A descriptor jitbot holds open without close-on-exec, as a socket opened by a library would be.
  int leaky = ::open(dir.path().c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(leaky > 2);
  // What each of the shell's descriptors points at (the shell may hold its own script open).
  auto script = dir.write(
      "backend.sh", "#!/bin/sh\nfor f in /proc/$$/fd/*; do readlink \"$f\"; done > \"$(dirname \"$0\")/fds\"\nexit 0\n",
      true);
  auto result = backend_for(script).grant(sample_call());
  ::close(leaky);
  REQUIRE(result.ok);
  auto listed = dir.read("fds");
  INFO("what the backend's descriptors point at:\n" << listed);
  std::istringstream lines(listed);
  std::set<std::string> targets;
  for (std::string line; std::getline(lines, line);) targets.insert(line);
  CHECK(targets.count(dir.path().string()) == 0);  // jitbot's leaky descriptor
  CHECK(std::none_of(targets.begin(), targets.end(), [](const std::string& t) { return t.rfind("socket:", 0) == 0; }));
}

TEST_CASE("the secrets check catches any 12 characters of a secret, not only the whole", "[security]") {
  const std::string secret = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ";
  CHECK(jitbot::testing::shows_secret("token=" + secret, secret));
  CHECK(jitbot::testing::shows_secret("error: ...X2VjEJr//////..." + secret.substr(20, 12), secret));
  CHECK_FALSE(jitbot::testing::shows_secret("error: " + secret.substr(20, 11) + " cut", secret));
  CHECK(jitbot::testing::shows_secret("xoxb-1 here", "xoxb-1"));
}
