// The real binary: a scripted terminal session from request to expiry, and the CLI's exit codes.
#include <sys/wait.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <regex>

#include "adapters/shell/terminal_chat.hpp"
#include "support.hpp"

using namespace jitbot::testing;

namespace {

struct Run {
  int exit_code = -1;
  std::string output;
};

/// Runs a shell command line, capturing stdout and stderr together.
Run run(const std::string& command) {
  Run result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::string quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

/// The example config, pointed at a scratch database and demo-backend log.
std::filesystem::path scratch_config(const ScratchDir& dir) {
  std::ifstream in(std::string{JITBOT_SOURCE_DIR} + "/config/examples/jitbot.toml");
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  std::string examples = std::string{JITBOT_SOURCE_DIR} + "/config/examples/";
  text.replace(text.find("\"demo-backend.sh\""), 17, "\"" + examples + "demo-backend.sh\"");
  return dir.write("jitbot.toml", text);
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a scripted terminal session goes from request to approval, grant and expiry", "[shell][e2e]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  auto script = dir.write("session.txt",
                          "# Alice asks, a non-approver and Alice herself try to approve, Bob approves.\n"
                          "/as U0ALICE\n"
                          "/jit request --provider aws --role prod-infra-admin --scope 123456789012 --duration 2h "
                          "--reason \u201cINC-4421 db failover\u201d\n"
                          "click 1\n"
                          "/as U0DAVE\n"
                          "click 1\n"
                          "/as U0BOB\n"
                          "click 1\n"
                          "click 1\n"
                          "/wait 1h59m\n"
                          "/jit list --active\n"
                          "/wait 1m\n"
                          "/jit list --active\n");
  auto log = dir.path() / "demo.log";
  auto session = run("DEMO_BACKEND_LOG=" + quoted(log) + " " + JITBOT_BINARY + " shell --manual-clock --config " +
                     quoted(config) + " < " + quoted(script));
  INFO(session.output);
  REQUIRE(session.exit_code == 0);
  const auto& out = session.output;

  std::smatch match;
  REQUIRE(std::regex_search(out, match, std::regex{"Request (req_[0-9A-Z]{26}) submitted"}));
  const std::string id = match[1];
  CHECK(out.find("── #C0APPROVALS · approval card · " + id) != std::string::npos);
  CHECK(out.find("Reason: INC-4421 db failover") != std::string::npos);
  CHECK(out.find("You cannot approve or deny your own request.") != std::string::npos);
  CHECK(out.find("You are not an approver for aws/prod-infra-admin.") != std::string::npos);
  CHECK(out.find("You approved " + id) != std::string::npos);
  CHECK(out.find("is already active") != std::string::npos);  // Bob's second click changed nothing
  CHECK(out.find("· backend demo grant " + id + ": ok") != std::string::npos);
  CHECK(out.find("── DM to U0ALICE (Alice Liddell) ──\n  Your access is active") != std::string::npos);
  CHECK(out.find("· backend demo revoke " + id + ": ok") != std::string::npos);
  CHECK(out.find("has expired and was removed") != std::string::npos);
  // Ten minutes before the end, Alice is warned and offered as long again.
  CHECK(out.find("123456789012 for 2h) ends at ") != std::string::npos);
  CHECK(std::regex_search(out, std::regex{"\\[[0-9]+\\] Extend by 2h"}));
  // Still active one minute before expiry, and gone after it.
  auto before = out.find("/jit list --active");
  auto after = out.find("/jit list --active", before + 1);
  CHECK(out.substr(before, after - before).find(id + "  ACTIVE") != std::string::npos);
  CHECK(out.substr(after).find("Active access (yours, and for roles you approve): none.") != std::string::npos);

  std::ifstream log_file(log);
  std::string calls{std::istreambuf_iterator<char>(log_file), std::istreambuf_iterator<char>()};
  CHECK(count(calls, " grant " + id + " aws/prod-infra-admin on 123456789012 for U0ALICE (alice@example.com)") == 1);
  CHECK(count(calls, " revoke " + id + " ") == 1);

  auto listed = run(std::string{JITBOT_BINARY} + " requests list --config " + quoted(config));
  CHECK(listed.exit_code == 0);
  CHECK(listed.output.find(id + "  EXPIRED") != std::string::npos);
  auto audit = run(std::string{JITBOT_BINARY} + " audit verify --config " + quoted(config));
  // request, Alice's and Dave's refused approvals, approve, grant, Bob's second (refused) click,
  // expiry started, revoke done
  CHECK(audit.exit_code == 0);
  CHECK(audit.output.find("audit trail intact: 9 records") != std::string::npos);
}

TEST_CASE("the shell picks up where a previous run left off", "[shell][restart]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  auto log = dir.path() / "demo.log";
  std::string env = "DEMO_BACKEND_LOG=" + quoted(log) + " ";
  auto first = dir.write("first.txt",
                         "/as U0ALICE\n/jit request --provider kubernetes --role view --scope payments --duration 5m "
                         "--reason look\n/as U0APPROVER1\nclick 1\n");
  auto first_run = run(env + JITBOT_BINARY + " shell --config " + quoted(config) + " < " + quoted(first));
  REQUIRE(first_run.exit_code == 0);
  REQUIRE(first_run.output.find("· backend demo grant") != std::string::npos);
  // A second process finds the active grant in the database and revokes it on time.
  auto second = dir.write("second.txt", "/jit list --active\n/wait 6m\n");
  auto second_run =
      run(env + JITBOT_BINARY + " shell --manual-clock --config " + quoted(config) + " < " + quoted(second));
  INFO(second_run.output);
  CHECK(second_run.exit_code == 0);
  CHECK(second_run.output.find("ACTIVE  kubernetes/view on payments") != std::string::npos);
  CHECK(second_run.output.find("· backend demo revoke") != std::string::npos);
  CHECK(second_run.output.find("has expired and was removed") != std::string::npos);
}

TEST_CASE("the shell shows break-glass alerts, pages and webhooks, re-alerts, and the review", "[shell][incident]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  {
    std::ofstream append(config, std::ios::app);
    // The example alerts Slack (C0INCIDENT, re-alerting every 30m); a webhook and a pager join it.
    append << "\n[[alerts]]\nname = \"siem\"\ntype = \"webhook\"\nurl = \"https://siem.example/hook\"\n"
              "secret_env = \"SIEM_SECRET\"\n"
              "[[alerts]]\nname = \"pager\"\ntype = \"pagerduty\"\n";
  }
  std::string env = "DEMO_BACKEND_LOG=" + quoted(dir.path() / "demo.log") + " ";
  auto first = dir.write("first.txt",
                         "/as U0ONCALL\n"
                         "/jit request --provider aws --role prod-infra-admin --scope 123456789012 --duration 1h "
                         "--reason \"INC-7 db down\" --break-glass\n"
                         "/wait 31m\n");
  auto first_run =
      run(env + JITBOT_BINARY + " shell --manual-clock --config " + quoted(config) + " < " + quoted(first));
  INFO(first_run.output);
  REQUIRE(first_run.exit_code == 0);
  std::smatch match;
  REQUIRE(std::regex_search(first_run.output, match, std::regex{"Break-glass request (req_[0-9A-Z]{26})"}));
  const std::string id = match[1];
  const auto& out = first_run.output;
  CHECK(out.find("── #C0INCIDENT · 🚨 BREAK-GLASS ALERT · " + id) != std::string::npos);
  CHECK(out.find("── → PagerDuty page pager · trigger (break_glass) · " + id) != std::string::npos);
  CHECK(out.find("── → webhook siem · break_glass · " + id) != std::string::npos);
  CHECK(out.find("── → webhook siem · granted · " + id) != std::string::npos);
  CHECK(out.find("Not reviewed yet") != std::string::npos);
  CHECK(out.find("[2] Acknowledge") != std::string::npos);
  CHECK(out.find("── #C0INCIDENT · 🚨 STILL NOT REVIEWED · " + id) != std::string::npos);
  CHECK(out.find("── #C0SECURITY") == std::string::npos);  // only the configured sinks
  auto waiting = run(std::string{JITBOT_BINARY} + " requests list --unreviewed --config " + quoted(config));
  CHECK(waiting.exit_code == 0);
  CHECK(waiting.output.find(id + "  ACTIVE") != std::string::npos);
  CHECK(waiting.output.find("[break-glass, NOT reviewed]") != std::string::npos);

  auto second =
      dir.write("second.txt", "/as U0ONCALL\n/jit ack " + id + " fine\n/as U0BOB\n/jit list --unreviewed\n/jit ack " +
                                  id + " INC-7 confirmed with the IC\n/jit list --unreviewed\n/wait 2h\n");
  auto second_run =
      run(env + JITBOT_BINARY + " shell --manual-clock --config " + quoted(config) + " < " + quoted(second));
  INFO(second_run.output);
  REQUIRE(second_run.exit_code == 0);
  const auto& later = second_run.output;
  CHECK(later.find("You cannot review your own break-glass request " + id) != std::string::npos);
  CHECK(later.find(id + "  ACTIVE") != std::string::npos);  // listed as unreviewed before the ack
  CHECK(later.find("You reviewed break-glass request " + id) != std::string::npos);
  CHECK(later.find("Reviewed by U0BOB at") != std::string::npos);
  CHECK(later.find("── → PagerDuty page pager · resolve (reviewed) · " + id) != std::string::npos);
  CHECK(later.find("Break-glass requests not yet reviewed (review with /jit ack ID): none.") != std::string::npos);
  // Reviewed: no re-alert in the two hours after, though the access expires meanwhile.
  CHECK(later.find("STILL NOT REVIEWED") == std::string::npos);
  CHECK(later.find("has expired") != std::string::npos);
  auto none = run(std::string{JITBOT_BINARY} + " requests list --unreviewed --config " + quoted(config));
  CHECK(none.output == "No break-glass request is waiting for review.\n");
}

TEST_CASE("the shell asks for a request field by field, and refuses what the role does not allow", "[shell][form]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  auto script = dir.write("form.txt",
                          "/as U0ONCALL\n/jit request\n9\naws/prod-infra-admin\n999999999999\n30m\n"
                          "INC-9 it's down\nno\n"
                          "/jit request\n1\n123456789012\nsoon\n45m\nINC-9 db\nyes\n"
                          "/as U0ALICE\n/jit request\n/cancel\n/jit list --mine\n");
  auto session = run("DEMO_BACKEND_LOG=" + quoted(dir.path() / "demo.log") + " " + JITBOT_BINARY +
                     " shell --manual-clock --config " + quoted(config) + " < " + quoted(script));
  INFO(session.output);
  REQUIRE(session.exit_code == 0);
  const auto& out = session.output;
  CHECK(out.find("    1) aws/prod-infra-admin\n    2) kubernetes/view") != std::string::npos);
  CHECK(out.find("Choose one of the roles listed") != std::string::npos);
  CHECK(out.find("? scope (allowed: 123456789012)") != std::string::npos);
  // The form goes through the same rules as the command.
  CHECK(out.find("Scope 999999999999 is not allowed for aws/prod-infra-admin") != std::string::npos);
  CHECK(out.find("Give a duration like 30m") != std::string::npos);
  CHECK(out.find("Break-glass request req_") != std::string::npos);  // oscar may, and said yes
  CHECK(out.find("break glass: grant now") != std::string::npos);
  // Alice may not break glass: she is never asked; she cancelled, so she has nothing.
  auto alice = out.substr(out.find("U0ALICE> /jit request"));
  CHECK(alice.find("break glass") == std::string::npos);
  CHECK(alice.find("No request made.") != std::string::npos);
  CHECK(alice.find("Your requests: none.") != std::string::npos);
}

TEST_CASE("stray bytes typed in the shell are repaired where they enter, so the grant and revoke still run",
          "[shell][text]") {
  // A reason pasted from a Latin-1 terminal: 0xFF and 0xFE are never valid UTF-8. Kept as typed,
  // they made every backend call for this request fail (its JSON could not be written), and
  // the failed grant's clean-up retry for ever.
  ScratchDir dir;
  auto config = scratch_config(dir);
  auto script = dir.write("bytes.txt",
                          "/as U0ALICE\n"
                          "/jit request --provider aws --role prod-infra-admin --scope 123456789012 --duration 1h "
                          "--reason \"caf\xff\xfe fix\"\n"
                          "/as U0BOB\nclick 1\n/wait 1h\n");
  auto log = dir.path() / "demo.log";
  auto session = run("DEMO_BACKEND_LOG=" + quoted(log) + " " + JITBOT_BINARY + " shell --manual-clock --config " +
                     quoted(config) + " < " + quoted(script));
  INFO(session.output);
  REQUIRE(session.exit_code == 0);
  std::smatch match;
  REQUIRE(std::regex_search(session.output, match, std::regex{"Request (req_[0-9A-Z]{26}) submitted"}));
  const std::string id = match[1];
  CHECK(session.output.find("Reason: caf\uFFFD\uFFFD fix") != std::string::npos);
  CHECK(session.output.find("· backend demo grant " + id + ": ok") != std::string::npos);
  CHECK(session.output.find("· backend demo revoke " + id + ": ok") != std::string::npos);
  CHECK(session.output.find("could not be started") == std::string::npos);

  auto shown = run(std::string{JITBOT_BINARY} + " requests show " + id + " --config " + quoted(config));
  CHECK(shown.exit_code == 0);
  CHECK(shown.output.find("caf\uFFFD\uFFFD fix") != std::string::npos);
}

TEST_CASE("the CLI's exit codes: 0 for success, 2 for usage and config errors", "[cli]") {
  ScratchDir dir;
  CHECK(run(std::string{JITBOT_BINARY} + " --version").output.find("jitbot 0.") != std::string::npos);
  CHECK(run(std::string{JITBOT_BINARY} + " --version").exit_code == 0);
  CHECK(run(std::string{JITBOT_BINARY} + " --help").exit_code == 0);
  CHECK(run(std::string{JITBOT_BINARY}).exit_code == 2);
  auto unknown = run(std::string{JITBOT_BINARY} + " frobnicate");
  CHECK(unknown.exit_code == 2);
  CHECK(unknown.output.find("unknown command \"frobnicate\"") != std::string::npos);
  CHECK(run(std::string{JITBOT_BINARY} + " shell").exit_code == 2);  // no --config
  auto bad = dir.write("bad.toml", "[bot]\npending_timeout = \"soon\"\n");
  auto checked = run(std::string{JITBOT_BINARY} + " check-config --config " + quoted(bad));
  CHECK(checked.exit_code == 2);
  CHECK(checked.output.find(bad.string() + ":2: bot.pending_timeout") != std::string::npos);
  auto good =
      run(std::string{JITBOT_BINARY} + " check-config --config " + JITBOT_SOURCE_DIR + "/config/examples/jitbot.toml");
  CHECK(good.exit_code == 0);
  CHECK(good.output.find("is valid") != std::string::npos);
  // Global options may come after the subcommand too.
  auto late_option = run(std::string{JITBOT_BINARY} + " check-config --log-level info --config " + JITBOT_SOURCE_DIR +
                         "/config/examples/jitbot.toml");
  CHECK(late_option.exit_code == 0);
}

TEST_CASE("untrusted text cannot drive the terminal", "[shell][security]") {
  CHECK(jitbot::adapters::terminal_safe("ok\x1b[2Jwiped") == "ok\\x1b[2Jwiped");
  CHECK(jitbot::adapters::terminal_safe("line\nbreak") == "line\\x0abreak");
  CHECK(jitbot::adapters::terminal_safe_multiline("a\nb\x07") == "a\n    b\\x07");
}

TEST_CASE("the audit CLI: a keyed trail verifies, a cut or edited one does not, and exports as JSON Lines",
          "[cli][audit][security]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  const std::string key = "JITBOT_AUDIT_KEY=cli-test-audit-key-0123456789abcdef0123 ";
  std::string env = key + "DEMO_BACKEND_LOG=" + quoted(dir.path() / "demo.log") + " ";
  auto script = dir.write("session.txt",
                          "/as U0ALICE\n/jit request --provider kubernetes --role view --scope payments --duration 5m "
                          "--reason look\n/as U0APPROVER1\nclick 1\n/as U0MALLORY\n/jit approve "
                          "req_01AAAAAAAAAAAAAAAAAAAAAAAA\n");
  REQUIRE(run(env + JITBOT_BINARY + " shell --config " + quoted(config) + " < " + quoted(script)).exit_code == 0);
  std::string jitbot = std::string{JITBOT_BINARY} + " ";
  std::string with_config = " --config " + quoted(config);

  auto verified = run(env + jitbot + "audit verify" + with_config);
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
  CHECK_THAT(verified.output, Catch::Contains("audit trail intact") && Catch::Contains("sealed with the audit key") &&
                                  Catch::Contains("reaches the head anchor"));
  // Without the key, keyed records cannot be checked: that is a failure, not a pass.
  CHECK(run(jitbot + "audit verify" + with_config).exit_code == 1);

  auto exported = run(env + jitbot + "audit export --since 2000-01-01T00:00:00Z" + with_config);
  CHECK(exported.exit_code == 0);
  CHECK(count(exported.output, "\"sealed\":\"hmac-sha256\"") >= 3);
  CHECK_THAT(exported.output, Catch::Contains("\"action\":\"refused_approve\"") && Catch::Contains("\"U0MALLORY\""));
  CHECK(run(jitbot + "audit export --since yesterday" + with_config).exit_code == 2);

  auto database = dir.path() / "jitbot.db";
  REQUIRE(std::filesystem::exists(database));
  // Someone with the database file rewrites what a record says, as sqlite3 would: verify names it.
  {
    SQLite::Database db(database.string(), SQLite::OPEN_READWRITE);
    std::string original_detail = db.execAndGet("SELECT detail FROM audit WHERE sequence = 2").getString();
    db.exec("UPDATE audit SET detail = 'nothing to see' WHERE sequence = 2");
    auto edited = run(env + jitbot + "audit verify" + with_config);
    INFO(edited.output);
    CHECK(edited.exit_code == 1);
    CHECK_THAT(edited.output, Catch::Contains("record 2 was altered after it was written"));
    CHECK_THAT(edited.output, !Catch::Contains("record 3"));  // the first bad record, not a later one
    SQLite::Statement put_back(db, "UPDATE audit SET detail = ? WHERE sequence = 2");
    put_back.bind(1, original_detail);
    put_back.exec();
  }
  REQUIRE(run(env + jitbot + "audit verify" + with_config).exit_code == 0);

  // Cut the last record off: the rest is a valid chain, but the anchor beside the database says more.
  SQLite::Database(database.string(), SQLite::OPEN_READWRITE)
      .exec("DELETE FROM audit WHERE sequence = (SELECT MAX(sequence) FROM audit)");
  auto cut = run(env + jitbot + "audit verify" + with_config);
  CHECK(cut.exit_code == 1);
  CHECK_THAT(cut.output, Catch::Contains("the last 1 were removed"));

  // A read-only command never creates a database where there is none.
  std::ifstream in(config);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string original = "database = \"jitbot.db\"";
  text.replace(text.find(original), original.size(), "database = \"missing.db\"");
  auto elsewhere = dir.write("elsewhere.toml", text);
  auto missing = run(env + jitbot + "audit verify --config " + quoted(elsewhere));
  CHECK(missing.exit_code == 1);
  CHECK_THAT(missing.output, Catch::Contains("no database at"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "missing.db"));
}

TEST_CASE("jitbot run refuses to start without an audit key", "[cli][audit][security]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  auto started = run("env -u JITBOT_AUDIT_KEY SLACK_APP_TOKEN=xapp-1 SLACK_BOT_TOKEN=xoxb-1 " +
                     std::string{JITBOT_BINARY} + " run --config " + quoted(config));
  CHECK(started.exit_code == 2);
  CHECK_THAT(started.output, Catch::Contains("no audit key: set JITBOT_AUDIT_KEY or [bot] audit_key_file"));
  auto short_key = run("JITBOT_AUDIT_KEY=short SLACK_APP_TOKEN=xapp-1 SLACK_BOT_TOKEN=xoxb-1 " +
                       std::string{JITBOT_BINARY} + " run --config " + quoted(config));
  CHECK(short_key.exit_code == 2);
  CHECK_THAT(short_key.output, Catch::Contains("must be at least 32"));
}

TEST_CASE("jitbot backup refuses a missing database and copies an existing one", "[backup][cli]") {
  ScratchDir dir;
  auto config = scratch_config(dir);
  auto copy = dir.path() / "copy.db";
  auto backup = std::string{JITBOT_BINARY} + " backup --config " + quoted(config) + " --to " + quoted(copy) + " 2>&1";
  auto missing = run(backup);
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("no database at") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(copy));

  auto session = run(std::string{JITBOT_BINARY} + " shell --manual-clock --config " + quoted(config) + " < " +
                     quoted(dir.write("s.txt",
                                      "/jit request --provider aws --role prod-infra-admin --scope "
                                      "123456789012 --duration 1h --reason backup-test\n")));
  REQUIRE(session.exit_code == 0);
  auto made = run(backup);
  INFO(made.output);
  CHECK(made.exit_code == 0);
  CHECK(made.output.find("Backed up") != std::string::npos);
  CHECK(std::filesystem::exists(copy.string() + ".audit-head"));

  // Restored: a config pointing at the copy sees the request, and its audit trail verifies.
  std::ifstream in(config);
  std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  text.replace(text.find("database = \"jitbot.db\""), 22, "database = \"copy.db\"");
  auto restored = dir.write("restored.toml", text);
  auto listed = run(std::string{JITBOT_BINARY} + " requests list --config " + quoted(restored) + " 2>&1");
  CHECK(listed.output.find("PENDING") != std::string::npos);
  auto verified = run(std::string{JITBOT_BINARY} + " audit verify --config " + quoted(restored) + " 2>&1");
  INFO(verified.output);
  CHECK(verified.exit_code == 0);
}
