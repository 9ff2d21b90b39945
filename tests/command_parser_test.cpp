// The /jit grammar: a table of good and bad inputs, quotes of every kind, Slack's entities.
#include <catch2/catch.hpp>

#include "bot/command_parser.hpp"

using namespace jitbot::bot;
using namespace std::chrono_literals;

namespace {

Command parse_ok(const std::string& text) {
  auto result = parse_command(text);
  if (auto* failure = std::get_if<ParseError>(&result))
    FAIL("unexpected error for [" << text << "]: " << failure->message);
  return std::get<Command>(result);
}

ParseError parse_bad(const std::string& text) {
  auto result = parse_command(text);
  if (std::holds_alternative<Command>(result)) FAIL("expected an error for [" << text << "]");
  return std::get<ParseError>(result);
}

constexpr const char* id = "req_01M7YSPS118T6ST16TZ78XKMA5";

}  // namespace

TEST_CASE("a full request in every flag style", "[parser]") {
  auto spaced = parse_ok(
      "request --provider aws --role prod-infra-admin --scope 123456789012 --duration 2h --reason \"INC-4421\"");
  CHECK(spaced.verb == Verb::request);
  CHECK(spaced.request.provider == "aws");
  CHECK(spaced.request.role == "prod-infra-admin");
  CHECK(spaced.request.scope == "123456789012");
  CHECK(spaced.request.duration == 2h);
  CHECK(spaced.request.reason == "INC-4421");
  CHECK_FALSE(spaced.request.break_glass);

  auto equals = parse_ok(
      "/jit request --provider=gcp --role=roles/viewer --scope=dev-1 --duration=1h30m "
      "--reason='db is slow' --break-glass");
  CHECK(equals.request.provider == "gcp");
  CHECK(equals.request.duration == 90min);
  CHECK(equals.request.reason == "db is slow");
  CHECK(equals.request.break_glass);

  auto reordered = parse_ok("request --break-glass --reason x --duration 90s --scope s --role r --provider p");
  CHECK(reordered.request.duration == 90s);
  CHECK(reordered.request.break_glass);
}

TEST_CASE("curly quotes from Slack clients, and apostrophes inside words", "[parser]") {
  auto curly =
      parse_ok("request --provider aws --role r --scope s --duration 1h --reason \u201cdon\u2019t page me\u201d");
  CHECK(curly.request.reason == "don\u2019t page me");
  auto single = parse_ok("request --provider aws --role r --scope s --duration 1h --reason \u2018fix it\u2019");
  CHECK(single.request.reason == "fix it");
  auto equals = parse_ok("request --provider aws --role r --scope s --duration 1h --reason=\u201cA B\u201d");
  CHECK(equals.request.reason == "A B");
  auto unquoted = parse_ok("request --provider aws --role r --scope s --duration 1h --reason don't touch prod");
  CHECK(unquoted.request.reason == "don't touch prod");
}

TEST_CASE("a quoted value is never a flag; an inline reason may run over words", "[parser]") {
  auto dashes = parse_ok("request --provider aws --role r --scope s --duration 1h --reason \"--force push\"");
  CHECK(dashes.request.reason == "--force push");
  auto glass = parse_ok("request --provider aws --role r --scope s --duration 1h --reason \"--break-glass\"");
  CHECK_FALSE(glass.request.break_glass);
  auto inline_words = parse_ok("request --provider aws --role r --scope s --duration 1h --reason=fix the db");
  CHECK(inline_words.request.reason == "fix the db");
  auto backwards = parse_ok("request --provider aws --role r --scope s --duration 1h --reason \u2019a b\u2019");
  CHECK(backwards.request.reason == "a b");
}

TEST_CASE("Slack's entities are decoded once", "[parser]") {
  auto command = parse_ok(
      "request --provider aws --role r --scope s --duration 1h --reason \"a &amp; b &lt;!channel&gt; &amp;lt;\"");
  CHECK(command.request.reason == "a & b <!channel> &lt;");
}

TEST_CASE("decisions, lists and help", "[parser]") {
  CHECK(parse_ok(std::string{"approve "} + id).verb == Verb::approve);
  CHECK(parse_ok(std::string{"approve "} + id).request_id == id);
  auto deny = parse_ok(std::string{"deny "} + id + " not during the freeze");
  CHECK(deny.verb == Verb::deny);
  CHECK(deny.note == "not during the freeze");
  CHECK(parse_ok(std::string{"revoke "} + id).verb == Verb::revoke);
  CHECK(parse_ok(std::string{"cancel "} + id).verb == Verb::cancel);
  CHECK(parse_ok("status").request_id.empty());
  CHECK(parse_ok(std::string{"status "} + id).request_id == id);
  CHECK(parse_ok("list").list_scope == ListScope::recent);
  CHECK(parse_ok("list --mine").list_scope == ListScope::mine);
  CHECK(parse_ok("list --pending").list_scope == ListScope::pending);
  CHECK(parse_ok("list --active").list_scope == ListScope::active);
  CHECK(parse_ok("help").verb == Verb::help);
  CHECK(parse_ok("").verb == Verb::help);
  CHECK(parse_ok("APPROVE req_01m7ysps118t6st16tz78xkma5").request_id == id);  // IDs are case-insensitive
}

TEST_CASE("bad input gets a message that says what is wrong, and the usage", "[parser]") {
  struct Case {
    std::string text;
    std::string says;
  };
  const std::vector<Case> cases{
      {"request --provider aws --role r --scope s --reason x", "Missing --duration"},
      {"request --role r --scope s --duration 1h --reason x", "Missing --provider"},
      {"request --provider aws --role r --scope s --duration soon --reason x", "not a duration"},
      {"request --provider aws --role r --scope s --duration 0s --reason x", "not a duration"},
      {"request --provider aws --role r --scope s --duration 9000h --reason x",
       "\"9000h\" is too long (at most 8784h)"},
      {"request --provider aws --role r --scope s --duration 99999999999999999999h --reason x", "is too long"},
      {"request --provider aws --provider gcp --role r --scope s --duration 1h --reason x", "given twice"},
      {"request --provider aws --role r --scope s --duration 1h --reason x --colour blue", "Unknown option --colour"},
      {"request --provider aws --role --scope s --duration 1h --reason x", "--role needs a value"},
      {"request --provider aws --role r --scope s --duration 1h --reason \"unterminated", "not closed"},
      {"request aws r s", "Unexpected \"aws\""},
      {"request --provider aws --role r --scope s --duration 1h --reason x --break-glass=yes", "takes no value"},
      {"approve", "Which request?"},
      {"approve 42", "not a request ID"},
      {"approve req_short", "not a request ID"},
      {std::string{"approve "} + id + " extra", "Too many words"},
      {"list --everything", "Unknown option --everything"},
      {"grant me access", "Unknown command \"grant\""},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto error = parse_bad(c.text);
    CHECK(error.message.find(c.says) != std::string::npos);
    CHECK(error.usage.find("/jit") != std::string::npos);
  }
}

TEST_CASE("the word splitter keeps quoted spaces and empty quoted values", "[parser]") {
  auto words = std::get<std::vector<Word>>(split_words("a \"b c\" '' --x=\"y z\""));
  CHECK(words == std::vector<Word>{{"a", false}, {"b c", true}, {"", true}, {"--x=y z", false}});
}

TEST_CASE("a straight quote written twice inside a quoted value stands for itself", "[parser]") {
  auto words = std::get<std::vector<Word>>(split_words("--reason='it''s fine' \"say \"\"hi\"\"\" ''"));
  CHECK(words == std::vector<Word>{{"--reason=it's fine", false}, {"say \"hi\"", true}, {"", true}});
}

TEST_CASE("an unknown command names the commands once, with no doubled usage", "[parser]") {
  auto error = parse_bad("frobnicate now");
  CHECK(error.message.find("The commands are request, approve, deny") != std::string::npos);
  CHECK(error.usage == "/jit help");
  CHECK((error.message + "\nUsage: " + error.usage).find("Usage: Usage:") == std::string::npos);
}
