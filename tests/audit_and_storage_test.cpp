// The SQLite store: a file database keeps everything across reopen; the audit chain notices tampering.
#include <SQLiteCpp/SQLiteCpp.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>
#include <thread>

#include "harness.hpp"
#include "storage/migrations.hpp"
#include "storage/shared_connections.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::RequestState;

TEST_CASE("reopening a file database keeps requests, approvals, audit, outbox and cards", "[storage]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  workflows::Request before;
  {
    Harness h(two_approver_policy(), file);
    id = h.submit();
    h.click("U0BOB", "approve", id);
    h.chat.down = true;
    h.click("U0CAROL", "approve", id);  // granted; its notices wait in the outbox
    before = h.store.find(id).value();
    REQUIRE(before.state == RequestState::active);
  }
  storage::SqliteStore reopened(file);
  auto after = reopened.find(id).value();
  CHECK(after.state == RequestState::active);
  CHECK(after.version == before.version);
  CHECK(after.requester == "U0ALICE");
  CHECK(after.reason == "INC-1 deploy fix");
  CHECK(after.duration == before.duration);
  CHECK(after.expires_at == before.expires_at);
  CHECK(after.grant_id == before.grant_id);
  REQUIRE(after.approvals.size() == 2);
  CHECK(after.approvals[0].approver == "U0BOB");
  CHECK(after.approvals[1].approver == "U0CAROL");
  CHECK(reopened.audit_trail(id).size() == 4);  // request, approve, approve, grant
  // From the outage: the granted card (which replaced the held "granting" one) and the DM.
  CHECK(reopened.undelivered_notices().size() == 2);
  CHECK(reopened.card_location(id).has_value());
  CHECK(reopened.verify_audit().intact);
  CHECK(reopened.schema_version() == static_cast<int>(jitbot::storage::migrations().size()));
}

TEST_CASE("the audit hash chain notices an edited or deleted record", "[storage][audit]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  {
    Harness h(two_approver_policy(), file);
    auto id = h.submit();
    h.click("U0BOB", "approve", id);
    h.type("U0CAROL", "deny " + id + " no");
  }
  {
    storage::SqliteStore store(file);
    auto verdict = store.verify_audit();
    CHECK(verdict.intact);
    CHECK(verdict.records == 3);
  }
  SECTION("an edited actor") {
    SQLite::Database(file, SQLite::OPEN_READWRITE).exec("UPDATE audit SET actor = 'U0MALLORY' WHERE sequence = 2");
    auto verdict = storage::SqliteStore(file).verify_audit();
    CHECK_FALSE(verdict.intact);
    CHECK(verdict.first_bad_sequence == 2);
    CHECK(verdict.problem.find("altered") != std::string::npos);
  }
  SECTION("a deleted record") {
    SQLite::Database(file, SQLite::OPEN_READWRITE).exec("DELETE FROM audit WHERE sequence = 2");
    auto verdict = storage::SqliteStore(file).verify_audit();
    CHECK_FALSE(verdict.intact);
    CHECK(verdict.records == 1);
    CHECK(verdict.problem.find("missing") != std::string::npos);
  }
}

TEST_CASE("a file that is not a database gives a clear error", "[storage]") {
  ScratchDir dir;
  auto file = dir.write("not.db", "this is not sqlite, just text that is long enough to have a header\n");
  try {
    storage::SqliteStore store(file.string());
    store.find("req_x");
    FAIL("opening garbage should have failed");
  } catch (const std::exception& e) {
    CHECK(std::string{e.what()}.find(file.string()) != std::string::npos);
  }
}

TEST_CASE("upgrading a database from before the engine turns unfinished work into jobs", "[storage][restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  {
    // A database as the previous release left it: schema 2, one grant and one revoke interrupted.
    SQLite::Database db(file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    const auto& steps = storage::migrations();
    db.exec(steps[0]);
    db.exec(steps[1]);
    db.exec("PRAGMA user_version=2");
    const char* insert =
        "INSERT INTO requests (id, version, state, provider, role, scope, duration_seconds, reason, requester, "
        "created_at, pending_deadline, backend, ending_as, expires_at) VALUES (?, 2, ?, 'aws', 'admin', "
        "'123456789012', 3600, 'INC-1', 'U0ALICE', 0, 0, 'scripted', ?, 1000)";
    SQLite::Statement approved(db, insert);
    approved.bind(1, "req_01GRANTINTERRUPTED0000000");
    approved.bind(2, "APPROVED");
    approved.bind(3);
    approved.exec();
    SQLite::Statement ending(db, insert);
    ending.bind(1, "req_01REVOKEINTERRUPTED000000");
    ending.bind(2, "ACTIVE");
    ending.bind(3, "EXPIRED");
    ending.exec();
  }
  storage::SqliteStore upgraded(file);
  CHECK(upgraded.schema_version() == static_cast<int>(storage::migrations().size()));
  auto grant = upgraded.jobs_of("req_01GRANTINTERRUPTED0000000");
  REQUIRE(grant.size() == 1);
  CHECK(grant[0].action == workflows::BackendCall::Action::grant);
  auto revoke = upgraded.jobs_of("req_01REVOKEINTERRUPTED000000");
  REQUIRE(revoke.size() == 1);
  CHECK(revoke[0].action == workflows::BackendCall::Action::revoke);
  CHECK(revoke[0].backend == "scripted");
}

TEST_CASE("threads sharing a few connections all get their writes, and a failed call gives its connection back",
          "[storage][engine]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  storage::SharedConnections shared(file, 2);

  // A call that throws (the input it consumes is gone) must not keep its connection: with a
  // capacity of 2, a third failure would otherwise wait for ever.
  for (int i = 0; i < 3; ++i) {
    workflows::Change change;
    change.request.id = "req_gone_" + std::to_string(i);
    change.consumes_input = 424242;
    CHECK_THROWS_AS(shared.commit(change), workflows::InputAlreadyHandled);
  }
  CHECK_FALSE(shared.find("req_gone_0").has_value());  // rolled back

  constexpr int threads = 12;
  constexpr int per_thread = 40;
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&shared, t] {
      for (int i = 0; i < per_thread; ++i) {
        workflows::Input input;
        input.actor = "U" + std::to_string(t);
        input.text = "status " + std::to_string(i);
        shared.put_input(input);
      }
    });
  }
  for (auto& writer : writers) writer.join();

  std::set<std::int64_t> claimed;
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  while (auto input = shared.claim_input(now, now + std::chrono::minutes{1})) claimed.insert(input->id);
  CHECK(claimed.size() == static_cast<std::size_t>(threads * per_thread));
}

namespace {

const std::string audit_key = "an-audit-key-of-more-than-32-bytes-0123456789";

/// Three audited transitions (request, approve, deny) in a file database sealed with `key`.
std::string audited_database(const ScratchDir& dir, const std::string& key) {
  auto file = (dir.path() / "jitbot.db").string();
  Harness h(two_approver_policy(), file, key);
  auto id = h.submit();
  h.click("U0BOB", "approve", id);
  h.type("U0CAROL", "deny " + id + " no");
  return file;
}

}  // namespace

TEST_CASE("records sealed with the audit key verify only with that key", "[storage][audit][security]") {
  ScratchDir dir;
  auto file = audited_database(dir, audit_key);
  auto head = storage::read_anchor(storage::anchor_path(file));
  REQUIRE(head);
  CHECK_FALSE(head->mac.empty());  // the anchor is sealed too
  auto verdict = storage::SqliteStore(file, audit_key).verify_audit(head);
  CHECK(verdict.intact);
  CHECK(verdict.keyed_records == 3);

  auto wrong = storage::SqliteStore(file, std::string(40, 'x')).verify_audit();
  CHECK_FALSE(wrong.intact);
  CHECK(wrong.first_bad_sequence == 1);
  auto none = storage::SqliteStore(file).verify_audit();
  CHECK_FALSE(none.intact);
  CHECK_THAT(none.problem, Catch::Contains("the audit key, which was not given"));

  SECTION("a chain rebuilt without the key does not verify") {
    // What someone with write access to the file can do: recompute every hash, unkeyed.
    SQLite::Database db(file, SQLite::OPEN_READWRITE);
    db.exec("UPDATE audit SET actor = 'U0MALLORY' WHERE sequence = 2");
    auto request_id = db.execAndGet("SELECT request_id FROM audit LIMIT 1").getString();
    auto entries = storage::SqliteStore(file).audit_trail(request_id);
    REQUIRE(entries.size() == 3);
    std::string previous = storage::genesis_hash;
    for (int sequence = 1; sequence <= 3; ++sequence) {
      auto hash = storage::audit_hash(previous, entries[static_cast<std::size_t>(sequence - 1)]);
      SQLite::Statement update(db, "UPDATE audit SET prev_hash = ?, hash = ?, keyed = 0 WHERE sequence = ?");
      update.bind(1, previous);
      update.bind(2, hash);
      update.bind(3, sequence);
      update.exec();
      previous = hash;
    }
    CHECK(storage::SqliteStore(file).verify_audit().intact);  // without the key it looks fine…
    // …but not with the key: nothing is sealed with it any more.
    auto verdict = storage::SqliteStore(file, audit_key).verify_audit(head);
    CHECK_FALSE(verdict.intact);
    CHECK_THAT(verdict.problem, Catch::Contains("no record is sealed with the audit key given"));
    // Nor does a rewritten anchor help without the key.
    storage::AuditAnchor forged{3, previous, {}};
    CHECK_FALSE(storage::SqliteStore(file, audit_key).verify_audit(forged).intact);
  }
  SECTION("without the key, jitbot refuses to append to a keyed trail rather than break it") {
    storage::SqliteStore unkeyed(file);
    workflows::AuditEntry entry;
    entry.request_id = "req_x";
    entry.actor = "U0MALLORY";
    entry.action = "approve";
    CHECK_THROWS_WITH(unkeyed.record_refusal(entry), Catch::Contains("sealed with a key: give jitbot the same key"));
    CHECK(storage::SqliteStore(file, audit_key).verify_audit(head).intact);
  }
  SECTION("a plain record slipped in after keyed ones is a downgrade") {
    SQLite::Database db(file, SQLite::OPEN_READWRITE);
    auto last = db.execAndGet("SELECT hash FROM audit WHERE sequence = 3").getString();
    workflows::AuditEntry entry;
    entry.sequence = 4;
    entry.request_id = "req_x";
    entry.actor = "U0MALLORY";
    entry.action = "approve";
    SQLite::Statement insert(
        db,
        "INSERT INTO audit (sequence, request_id, at, actor, action, from_state, to_state, detail, "
        "prev_hash, hash, keyed) VALUES (4, 'req_x', 0, 'U0MALLORY', 'approve', '', '', '', ?, ?, 0)");
    insert.bind(1, last);
    insert.bind(2, storage::audit_hash(last, entry));
    insert.exec();
    auto verdict = storage::SqliteStore(file, audit_key).verify_audit(head);
    CHECK_FALSE(verdict.intact);
    CHECK(verdict.first_bad_sequence == 4);
    CHECK_THAT(verdict.problem, Catch::Contains("not sealed with the key"));
  }
}

TEST_CASE("deleting the last audit records is noticed through the head anchor", "[storage][audit][security]") {
  ScratchDir dir;
  auto file = audited_database(dir, audit_key);
  auto anchor = storage::read_anchor(storage::anchor_path(file));
  REQUIRE(anchor);
  CHECK(anchor->sequence == 3);
  CHECK(storage::SqliteStore(file, audit_key).verify_audit(anchor).anchor_checked);

  SQLite::Database(file, SQLite::OPEN_READWRITE).exec("DELETE FROM audit WHERE sequence >= 2");
  auto without_anchor = storage::SqliteStore(file).verify_audit();
  CHECK(without_anchor.intact == false);  // record 1 is keyed; without the key nothing can be vouched for
  // With the key but no anchor, the end of the chain cannot be vouched for either.
  auto no_anchor = storage::SqliteStore(file, audit_key).verify_audit();
  CHECK_FALSE(no_anchor.intact);
  CHECK_THAT(no_anchor.problem, Catch::Contains("no head anchor"));
  auto verdict = storage::SqliteStore(file, audit_key).verify_audit(anchor);
  CHECK_FALSE(verdict.intact);
  CHECK_THAT(verdict.problem, Catch::Contains("the last 2 were removed"));
}

TEST_CASE("refused actions leave an audit record saying who tried what and why not", "[audit][security]") {
  Harness h;
  auto id = h.submit();
  h.click("U0MALLORY", "approve", id);  // not an approver
  h.click("U0ALICE", "approve", id);    // her own request
  h.click("U0BOB", "erase", id);        // a forged button
  h.type("U0MALLORY", "status " + id);  // someone else's request
  auto trail = h.store.audit_trail(id);
  std::vector<std::string> refused;
  for (const auto& entry : trail) {
    if (entry.action.rfind("refused_", 0) == 0) refused.push_back(entry.actor + " " + entry.action);
  }
  CHECK(refused == std::vector<std::string>{"U0MALLORY refused_approve", "U0ALICE refused_approve",
                                            "U0BOB refused_click", "U0MALLORY refused_status"});
  CHECK_THAT(trail.at(1).detail, Catch::Contains("approver"));
  CHECK(h.store.verify_audit().intact);
}

TEST_CASE("a backup taken while the bot writes is a whole database whose audit trail verifies", "[storage][backup]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  auto copy = dir.path() / "backup" / "jitbot-copy.db";
  std::filesystem::create_directories(copy.parent_path());
  Harness h(two_approver_policy(), file, audit_key);
  auto id = h.submit();
  REQUIRE(h.click("U0BOB", "approve", id).ok);

  // A second connection keeps writing while the copy is taken: the copy is one consistent moment.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    storage::SqliteStore other(file, audit_key);
    workflows::AuditEntry entry;
    entry.request_id = id;
    entry.actor = "U0MALLORY";
    entry.action = "refused_status";
    while (!stop) other.record_refusal(entry);
  });
  std::int64_t records = h.sqlite().backup_to(copy);
  stop = true;
  writer.join();
  CHECK(records >= 2);  // the request and its approval, and whatever the writer had added by then

  storage::SqliteStore restored(copy.string(), audit_key);
  CHECK(restored.find(id).value().approvals.size() == 1);
  auto anchor = storage::read_anchor(storage::anchor_path(copy));
  REQUIRE(anchor);
  CHECK(anchor->sequence == records);
  auto verdict = restored.verify_audit(anchor);
  CHECK(verdict.intact);
  CHECK(verdict.anchor_checked);
  CHECK_FALSE(std::filesystem::exists(copy.string() + ".partial"));

  // Taken again over the old copy, it is replaced whole, as one file.
  CHECK(h.sqlite().backup_to(copy) >= records);
  CHECK_FALSE(std::filesystem::exists(copy.string() + ".partial-wal"));
  CHECK_FALSE(std::filesystem::exists(copy.string() + ".partial-shm"));

  // Without the key, a sealed chain is not backed up: its copy's anchor could not be sealed.
  storage::SqliteStore keyless(file);
  CHECK_THROWS_WITH(keyless.backup_to(dir.path() / "keyless.db"), Catch::Contains("sealed with a key"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "keyless.db"));
}

namespace {

/// A new pending request with its audit record and card, as a workflow would commit it.
workflows::Change submitted(const std::string& id, workflows::Instant at) {
  auto change = pending_request_change(id, at, "INC-" + id);
  workflows::Notice card;
  card.kind = workflows::NoticeKind::approval_card;
  card.event = workflows::NoticeEvent::submitted;
  card.target = "C0APPROVALS";
  card.request_id = id;
  card.next_attempt_at = at;
  change.notices.push_back(card);
  return change;
}

}  // namespace

TEST_CASE("writes committed together keep their own outcomes, and the audit chain and its anchor stay whole",
          "[storage][engine]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  storage::SharedConnections shared(file, 3, audit_key);
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());

  // Many threads write at once, so their writes share transactions. Each writer also sends a
  // write that fails (its input is gone) and one that loses its race (a stale version): those
  // two must undo only themselves, never the writes committed beside them.
  constexpr int threads = 8;
  constexpr int rounds = 30;
  std::atomic<int> committed{0};  // counted, not checked, in the threads: Catch's checks are not thread-safe
  std::atomic<int> refused{0};
  std::atomic<int> stale{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < threads; ++t) {
    writers.emplace_back([&, t] {
      for (int round = 0; round < rounds; ++round) {
        auto id = "req_" + std::to_string(t) + "_" + std::to_string(round);
        if (shared.commit(submitted(id, now))) ++committed;

        auto orphan = submitted("gone_" + id, now);
        orphan.consumes_input = 900000 + t * rounds + round;  // no such input
        try {
          shared.commit(orphan);
        } catch (const workflows::InputAlreadyHandled&) {
          ++refused;
        }

        auto late = submitted(id, now);
        late.request.version = 3;
        late.expected_version = 2;  // it is at version 1
        late.request.reason = "overwritten";
        if (!shared.commit(late)) ++stale;

        workflows::Input input;
        input.actor = "U" + std::to_string(t);
        input.text = "status";
        input.received_at = now;
        shared.put_input(input);
      }
    });
  }
  for (auto& writer : writers) writer.join();

  CHECK(committed.load() == threads * rounds);
  CHECK(refused.load() == threads * rounds);
  CHECK(stale.load() == threads * rounds);
  workflows::RequestFilter everything;
  everything.limit = 10 * threads * rounds;
  auto requests = shared.list(everything);
  CHECK(requests.size() == static_cast<std::size_t>(threads * rounds));
  for (const auto& request : requests) {
    CHECK(request.id.rfind("req_", 0) == 0);  // nothing of a failed write is left
    CHECK(request.version == 1);
    CHECK(request.reason != "overwritten");
  }
  workflows::OutboxFilter all_notices;
  all_notices.limit = 0;
  CHECK(shared.list_notices(all_notices).size() == static_cast<std::size_t>(threads * rounds));
  std::set<std::int64_t> inputs;
  while (auto input = shared.claim_input(now, now + std::chrono::minutes{1})) inputs.insert(input->id);
  CHECK(inputs.size() == static_cast<std::size_t>(threads * rounds));

  // One record per request, in one chain, and the anchor names its newest record.
  auto anchor = storage::read_anchor(storage::anchor_path(file));
  REQUIRE(anchor);
  CHECK(anchor->sequence == threads * rounds);
  auto verdict = shared.verify_audit(anchor);
  CHECK(verdict.intact);
  CHECK(verdict.records == threads * rounds);
  CHECK(verdict.anchor_checked);
}

TEST_CASE("a write alone in its group commits, loses its race or fails in a transaction of its own",
          "[storage][engine]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  storage::SharedConnections shared(file, 2, audit_key);
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());

  // One thread writes, so every group holds one write.
  auto first = submitted("req_alone", now);
  first.request.approvals.push_back({"U0FIRST", now});
  REQUIRE(shared.commit(first));

  auto late = submitted("req_alone", now);
  late.request.version = 3;
  late.expected_version = 2;  // it is at version 1
  late.request.reason = "overwritten";
  CHECK_FALSE(shared.commit(late));

  // A second approval: only the one the store does not hold yet is written, and both read back
  // in the order they were given, with the request.
  auto second = submitted("req_alone", now);
  second.request.version = 2;
  second.expected_version = 1;
  second.request.approvals = {{"U0FIRST", now}, {"U0SECOND", now + std::chrono::seconds{1}}};
  second.stored_approvals = 1;
  second.notices.clear();
  REQUIRE(shared.commit(second));

  auto found = shared.find("req_alone");
  REQUIRE(found);
  CHECK(found->version == 2);
  CHECK(found->reason != "overwritten");
  REQUIRE(found->approvals.size() == 2);
  CHECK(found->approvals[0].approver == "U0FIRST");
  CHECK(found->approvals[1].approver == "U0SECOND");
  auto unapproved = submitted("req_none", now);
  REQUIRE(shared.commit(unapproved));
  REQUIRE(shared.find("req_none"));
  CHECK(shared.find("req_none")->approvals.empty());
  CHECK_FALSE(shared.find("req_missing"));

  // Nothing of the lost race is left: one card per committed submission, and a whole chain whose
  // anchor names its newest record.
  workflows::OutboxFilter all_notices;
  all_notices.limit = 0;
  CHECK(shared.list_notices(all_notices).size() == 2);
  auto anchor = storage::read_anchor(storage::anchor_path(file));
  REQUIRE(anchor);
  auto verdict = shared.verify_audit(anchor);
  CHECK(verdict.intact);
  CHECK(verdict.anchor_checked);
  CHECK(anchor->sequence == verdict.records);
}

TEST_CASE("a long write-ahead log is copied into the database while jitbot runs", "[storage][engine]") {
  // Commits leave checkpoints to a thread of their own. If that thread never ran, every row would
  // stay in the log file, which would grow for as long as jitbot runs.
  ScratchDir dir;
  auto file = dir.path() / "jitbot.db";
  storage::SharedConnections shared(file.string(), 2);
  auto empty_size = std::filesystem::file_size(file);

  workflows::Input input;
  input.actor = "U0ALICE";
  input.text = std::string(3000, 'x');  // about a page each, so the log passes its limit soon
  constexpr int inputs = 4000;
  for (int i = 0; i < inputs; ++i) shared.put_input(input);

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
  while (std::filesystem::file_size(file) < empty_size + 4'000'000 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  CHECK(std::filesystem::file_size(file) >= empty_size + 4'000'000);  // most rows are in the database itself
  CHECK(std::filesystem::file_size(file.string() + "-wal") < 80'000'000);
  auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  CHECK(shared.figures(now).inbox_waiting == inputs);  // and nothing was lost on the way
}
