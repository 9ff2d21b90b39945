// The /jit grammar: a table of good and bad inputs, quotes of every kind, Slack's entities.
#include <catch2/catch.hpp>

#include "bot/command_parser.hpp"

using namespace jitbot::bot;
using namespace std::chrono_literals;
using jitbot::workflows::Action;
using jitbot::workflows::ListScope;
using jitbot::workflows::Refusal;
using jitbot::workflows::RefusalReason;
using Kind = jitbot::workflows::Action::Kind;

namespace {

Action parse_ok(const std::string& text) {
  auto result = parse_command(text);
  if (auto* failure = std::get_if<Refusal>(&result))
    FAIL("unexpected error for [" << text << "]: " << jitbot::workflows::describe(*failure));
  return std::get<Action>(result);
}

Refusal parse_bad(const std::string& text) {
  auto result = parse_command(text);
  if (std::holds_alternative<Action>(result)) FAIL("expected an error for [" << text << "]");
  return std::get<Refusal>(result);
}

constexpr const char* id = "req_01M7YSPS118T6ST16TZ78XKMA5";

}  // namespace

TEST_CASE("a full request in every flag style", "[parser]") {
  auto spaced = parse_ok(
      "request --provider aws --role prod-infra-admin --scope 123456789012 --duration 2h --reason \"INC-4421\"");
  CHECK(spaced.kind == Kind::request);
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
  CHECK(parse_ok(std::string{"approve "} + id).kind == Kind::approve);
  CHECK(parse_ok(std::string{"approve "} + id).request_id == id);
  auto deny = parse_ok(std::string{"deny "} + id + " not during the freeze");
  CHECK(deny.kind == Kind::deny);
  CHECK(deny.note == "not during the freeze");
  CHECK(parse_ok(std::string{"revoke "} + id).kind == Kind::revoke);
  CHECK(parse_ok(std::string{"cancel "} + id).kind == Kind::cancel);
  CHECK(parse_ok("status").request_id.empty());
  CHECK(parse_ok(std::string{"status "} + id).request_id == id);
  CHECK(parse_ok("list").list_scope == ListScope::recent);
  CHECK(parse_ok("list --mine").list_scope == ListScope::mine);
  CHECK(parse_ok("list --pending").list_scope == ListScope::pending);
  CHECK(parse_ok("list --active").list_scope == ListScope::active);
  CHECK(parse_ok("help").kind == Kind::help);
  CHECK(parse_ok("").kind == Kind::help);
  CHECK(parse_ok("APPROVE req_01m7ysps118t6st16tz78xkma5").request_id == id);  // IDs are case-insensitive
}

TEST_CASE("bad input is refused with a reason, and words that say what is wrong, and the usage", "[parser]") {
  struct Case {
    std::string text;
    RefusalReason reason;
    std::string says;
  };
  const std::vector<Case> cases{
      {"request --provider aws --role r --scope s --reason x", RefusalReason::options_missing, "Missing --duration."},
      {"request --role r --scope s --duration 1h", RefusalReason::options_missing, "Missing --provider, --reason."},
      {"request --provider aws --role r --scope s --duration soon --reason x", RefusalReason::duration_malformed,
       "\"soon\" is not a duration"},
      {"request --provider aws --role r --scope s --duration 0s --reason x", RefusalReason::duration_malformed,
       "not a duration"},
      {"request --provider aws --role r --scope s --duration 9000h --reason x", RefusalReason::duration_beyond_limit,
       "\"9000h\" is too long (at most 8784h)"},
      {"request --provider aws --role r --scope s --duration 99999999999999999999h --reason x",
       RefusalReason::duration_beyond_limit, "is too long"},
      {"request --provider aws --provider gcp --role r --scope s --duration 1h --reason x",
       RefusalReason::option_repeated, "--provider is given twice"},
      {"request --provider aws --role r --scope s --duration 1h --reason x --colour blue",
       RefusalReason::unknown_option, "Unknown option --colour"},
      {"request --provider aws --role --scope s --duration 1h --reason x", RefusalReason::option_needs_value,
       "--role needs a value"},
      {"request --provider aws --role r --scope s --duration 1h --reason \"unterminated", RefusalReason::quote_unclosed,
       "not closed"},
      {"request aws r s", RefusalReason::value_without_flag, "Unexpected \"aws\""},
      {"request --provider aws --role r --scope s --duration 1h --reason x --break-glass=yes",
       RefusalReason::option_takes_no_value, "--break-glass takes no value"},
      {"approve", RefusalReason::request_id_missing, "Which request?"},
      {"approve 42", RefusalReason::request_id_malformed, "\"42\" is not a request ID"},
      {"approve req_short", RefusalReason::request_id_malformed, "not a request ID"},
      {std::string{"approve "} + id + " extra", RefusalReason::words_after_id, "Too many words"},
      {std::string{"extend "} + id, RefusalReason::duration_missing, "How much longer?"},
      {std::string{"extend "} + id + " 1h please", RefusalReason::extra_after_duration, "Unexpected \"please\""},
      {std::string{"extend "} + id + " 1h --reason", RefusalReason::option_needs_value, "--reason needs a value"},
      {"list --everything", RefusalReason::unknown_option, "Unknown option --everything"},
      {"list --mine --active", RefusalReason::too_many_options, "at most one option"},
      {"grant me access", RefusalReason::unknown_command, "Unknown command \"grant\""},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    auto refusal = parse_bad(c.text);
    CHECK(refusal.reason == c.reason);
    auto words = jitbot::workflows::describe(refusal);
    CHECK(words.find(c.says) != std::string::npos);
    CHECK(words.find("\nUsage: /jit") != std::string::npos);
  }
}

TEST_CASE("a click is read by its stored name, and an unknown one is refused", "[parser]") {
  jitbot::workflows::Input click;
  click.kind = jitbot::workflows::Input::Kind::click;
  click.text = "extend";
  click.target = id;
  REQUIRE_FALSE(read_action(click).has_value());
  CHECK(click.action->kind == Kind::take_extension);
  CHECK(click.action->request_id == id);
  // Inbox rows already written spell clicks these ways; each must keep reading back.
  const std::vector<std::pair<std::string, Kind>> stored{
      {"approve", Kind::approve},           {"deny", Kind::deny},
      {"deny_form", Kind::deny_form},       {"revoke", Kind::revoke},
      {"acknowledge", Kind::acknowledge},   {"extend", Kind::take_extension},
      {"request_form", Kind::request_form}, {"home", Kind::home},
  };
  for (const auto& [name, kind] : stored) {
    CHECK(click_kind(name) == kind);
    CHECK(click_name(kind) == name);
  }
  jitbot::workflows::Input forged = click;
  forged.action.reset();
  forged.text = "grant_admin";
  auto refusal = read_action(forged);
  REQUIRE(refusal.has_value());
  CHECK(refusal->reason == RefusalReason::unknown_button);
  CHECK_FALSE(forged.action.has_value());
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
  auto refusal = parse_bad("frobnicate now");
  CHECK(refusal.reason == RefusalReason::unknown_command);
  CHECK(refusal.asked == "frobnicate");
  CHECK(refusal.expected == "/jit help");
  auto words = jitbot::workflows::describe(refusal);
  CHECK(words.find("The commands are request, approve, deny") != std::string::npos);
  CHECK(words.find("Usage: Usage:") == std::string::npos);
}
