#pragma once
// A whole bot on an in-memory SQLite store (or a SQLite file, or a PostgreSQL URL), a manual
// clock and scripted ports, driven the way a chat adapter drives it: commands and clicks in,
// notices out.

#include <memory>

#include "bot/jit_bot.hpp"
#include "storage/database.hpp"
#include "storage/sqlite_store.hpp"
#include "support.hpp"

namespace jitbot::testing {

struct Harness {
  explicit Harness(workflows::Policy p = two_approver_policy(),
                   const std::string& database = ":memory:", const std::string& audit_key = {})
      : policy(std::move(p)),
        owned_store(storage::open_database(database, 1, audit_key)),
        store(*owned_store),
        clock(test_start()),
        ids(clock) {
    auto owned = std::make_unique<ScriptedBackend>();
    backend = owned.get();
    bot::Backends backends;
    backends["scripted"] = bot::BackendEntry{std::move(owned), std::chrono::seconds{60}, 4};
    jit = std::make_unique<bot::JitBot>(policy, store, directory, chat, clock, ids, std::move(backends));
    directory.groups["S0LEADS"] = {"U0DAVE"};
  }

  /// Types a command and lets everything it started finish, as the shell does.
  bot::Reply type(const std::string& user, const std::string& text) {
    auto reply = jit->handle_command(user, text);
    jit->settle();
    return reply;
  }

  bot::Reply click(const std::string& user, const std::string& action, const std::string& id) {
    auto reply = jit->handle_button(user, action, id);
    jit->settle();
    return reply;
  }

  /// Submits the standard request as U0ALICE and returns its ID. Each has a reason of its own
  /// ("INC-1 deploy fix", "… #2", …): an identical pending request would be refused as a duplicate.
  std::string submit(const std::string& duration = "2h") {
    ++submitted;
    std::string reason = submitted == 1 ? "INC-1 deploy fix" : "INC-1 deploy fix #" + std::to_string(submitted);
    auto reply = type("U0ALICE", "request --provider aws --role admin --scope 123456789012 --duration " + duration +
                                     " --reason \"" + reason + "\"");
    REQUIRE(reply.ok);
    auto requests = store.list({});
    REQUIRE(!requests.empty());
    return requests.front().id;
  }

  workflows::RequestState state(const std::string& id) { return store.find(id).value().state; }

  void advance(std::chrono::milliseconds by) {
    clock.advance(by);
    jit->run_due();
  }

  /// The store as a SQLite one, for what only SQLite does (backup_to).
  storage::SqliteStore& sqlite() { return dynamic_cast<storage::SqliteStore&>(store); }

  workflows::Policy policy;
  std::unique_ptr<storage::Database> owned_store;
  storage::Database& store;
  workflows::ManualClock clock;
  FakeDirectory directory;
  CountingIds ids;
  RecordingChat chat;
  ScriptedBackend* backend = nullptr;
  int submitted = 0;
  std::unique_ptr<bot::JitBot> jit;
};

}  // namespace jitbot::testing
