// The engine's promises, one failure at a time: durable jobs with leases, an outbox that
// cannot be poisoned or clogged, text that is always valid UTF-8, and the operator's tools.
#include <SQLiteCpp/Database.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "bot/inbox.hpp"
#include "bot/job_runner.hpp"
#include "bot/random_ids.hpp"
#include "bot/waker.hpp"
#include "harness.hpp"
#include "workflows/outbox.hpp"
#include "workflows/text.hpp"
#include "workflows/wording.hpp"

using namespace jitbot;
using namespace jitbot::testing;
using workflows::BackendCall;
using workflows::NoticeEvent;
using workflows::NoticeKind;
using workflows::RequestState;

namespace {

/// The SQLite store, except that recording the result of one request's job throws once, as a
/// locked or full database would.
class FaultyStore final : public workflows::RequestStore {
 public:
  explicit FaultyStore(storage::Database& inner) : inner_(inner) {}
  std::string fail_recording_of;
  std::atomic<int> failing_input_commits{0};  ///< this many commits that consume an input throw

  bool commit(const workflows::Change& change) override {
    if (change.settles && change.request.id == fail_recording_of) {
      fail_recording_of.clear();
      throw std::runtime_error("database is locked");
    }
    if (change.consumes_input && failing_input_commits > 0) {
      --failing_input_commits;
      throw std::runtime_error("database is locked");
    }
    return inner_.commit(change);
  }
  std::optional<workflows::Request> find(const std::string& id) override { return inner_.find(id); }
  std::vector<workflows::Request> list(const workflows::RequestFilter& f) override { return inner_.list(f); }
  std::vector<workflows::Request> due_requests(workflows::Instant now) override { return inner_.due_requests(now); }
  std::optional<workflows::Instant> next_due_at() override { return inner_.next_due_at(); }
  std::vector<workflows::AuditEntry> audit_trail(const std::string& id) override { return inner_.audit_trail(id); }
  void record_refusal(const workflows::AuditEntry& entry) override { inner_.record_refusal(entry); }
  std::optional<workflows::Job> claim_job(workflows::Instant now, workflows::Instant lease,
                                          const workflows::JobFilter& filter) override {
    return inner_.claim_job(now, lease, filter);
  }
  void settle_job(const workflows::JobSettlement& s, const std::optional<workflows::AuditEntry>& a) override {
    inner_.settle_job(s, a);
  }
  std::optional<workflows::Instant> next_job_at() override { return inner_.next_job_at(); }
  std::vector<workflows::Job> jobs_of(const std::string& id) override { return inner_.jobs_of(id); }
  std::optional<workflows::Notice> claim_notice(workflows::Instant now, workflows::Instant lease) override {
    return inner_.claim_notice(now, lease);
  }
  void mark_delivered(std::int64_t id) override { inner_.mark_delivered(id); }
  void mark_posted(std::int64_t id, const workflows::PostedMessage& posted) override { inner_.mark_posted(id, posted); }
  bool newer_card_waits(const workflows::Notice& n) override { return inner_.newer_card_waits(n); }
  void mark_failed_delivery(const workflows::Notice& n, const std::string& e,
                            const std::optional<workflows::Instant>& at,
                            const std::vector<workflows::Notice>& announcements) override {
    inner_.mark_failed_delivery(n, e, at, announcements);
  }
  std::optional<workflows::Instant> next_notice_at() override { return inner_.next_notice_at(); }
  std::vector<workflows::Notice> list_notices(const workflows::OutboxFilter& f) override {
    return inner_.list_notices(f);
  }
  bool retry_notice(std::int64_t id, workflows::Instant now) override { return inner_.retry_notice(id, now); }
  std::int64_t put_input(const workflows::Input& input) override { return inner_.put_input(input); }
  std::optional<workflows::Input> claim_input(workflows::Instant now, workflows::Instant lease) override {
    return inner_.claim_input(now, lease);
  }
  void finish_input(std::int64_t id) override { inner_.finish_input(id); }
  void retry_input(std::int64_t id, workflows::Instant at) override { inner_.retry_input(id, at); }
  int count_break_glass(const std::string& requester, workflows::Instant since) override {
    return inner_.count_break_glass(requester, since);
  }
  std::optional<std::string> alert_location(const std::string& id, const std::string& target) override {
    return inner_.alert_location(id, target);
  }
  void save_alert_location(const std::string& id, const std::string& target, const std::string& location) override {
    inner_.save_alert_location(id, target, location);
  }
  std::optional<std::string> card_location(const std::string& id) override { return inner_.card_location(id); }
  void save_card_location(const std::string& id, const std::string& location) override {
    inner_.save_card_location(id, location);
  }

 private:
  storage::Database& inner_;
};

/// Approves the standard request with both approvers, without running the grant.
std::string approved_request(Harness& h, const std::string& duration = "2h") {
  auto reply = h.jit->handle_command("U0ALICE", "request --provider aws --role admin --scope 123456789012 --duration " +
                                                    duration + " --reason \"INC-1\"");
  REQUIRE(reply.ok);
  auto id = h.store.list({}).front().id;
  h.jit->handle_button("U0BOB", "approve", id);
  h.jit->handle_button("U0CAROL", "approve", id);
  REQUIRE(h.state(id) == RequestState::approved);
  return id;
}

bot::Backends scripted_backends(ScriptedBackend*& backend) {
  auto owned = std::make_unique<ScriptedBackend>();
  backend = owned.get();
  bot::Backends backends;
  backends["scripted"] = bot::BackendEntry{std::move(owned), std::chrono::seconds{60}, 4};
  return backends;
}

}  // namespace

TEST_CASE("worker threads start as items overlap: one at first, one more while all are busy, never past the count",
          "[engine]") {
  bot::WorkerThreads threads;
  std::mutex mutex;
  std::condition_variable changed;
  int waiting_items = 0, held = 0, done = 0;
  bool released = false;
  threads.start("test-worker", 3, [&] {
    for (;;) {
      auto ticket = threads.waker.ticket();
      std::unique_lock lock(mutex);
      if (waiting_items > 0) {
        --waiting_items;
        lock.unlock();
        bot::WorkerThreads::Busy busy(threads);  // holds its item until released, like a slow backend
        lock.lock();
        ++held;
        changed.notify_all();
        changed.wait(lock, [&] { return released; });
        --held;
        ++done;
        changed.notify_all();
        continue;
      }
      lock.unlock();
      if (!threads.waker.wait(ticket, std::chrono::milliseconds{20})) return;
    }
  });
  CHECK(threads.started() == 1);  // nothing to do yet: one thread waits

  {
    std::lock_guard lock(mutex);
    waiting_items = 5;
  }
  threads.waker.kick();
  std::unique_lock lock(mutex);
  // Each thread that takes an item while all are busy starts another, which takes the next.
  REQUIRE(changed.wait_for(lock, std::chrono::seconds{10}, [&] { return held == 3; }));
  CHECK(threads.started() == 3);  // the count: the other two items wait for a free thread
  CHECK(waiting_items == 2);
  released = true;
  changed.notify_all();
  REQUIRE(changed.wait_for(lock, std::chrono::seconds{10}, [&] { return done == 5; }));
  lock.unlock();
  CHECK(threads.started() == 3);
  threads.stop();
}

TEST_CASE("an approval writes a grant job in its own transaction", "[engine][jobs]") {
  Harness h;
  auto id = approved_request(h);
  auto jobs = h.store.jobs_of(id);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].action == BackendCall::Action::grant);
  CHECK(jobs[0].backend == "scripted");
  h.jit->settle();
  CHECK(h.state(id) == RequestState::active);
  CHECK(h.store.jobs_of(id).empty());  // finished with the grant's own transition
}

TEST_CASE("a claimed job is not claimed twice until its lease runs out", "[engine][jobs]") {
  Harness h;
  auto id = approved_request(h);
  auto now = h.clock.now();
  auto first = h.store.claim_job(now, now + 90s, {});
  REQUIRE(first);
  CHECK_FALSE(h.store.claim_job(now, now + 90s, {}));
  // The worker that holds it dies; when the lease ends the job is someone else's.
  auto again = h.store.claim_job(now + 91s, now + 181s, {});
  REQUIRE(again);
  CHECK(again->id == first->id);
  CHECK(again->attempts == 1);  // the dead worker's run counts
  CHECK(again->request_id == id);
}

TEST_CASE("a backend at its max_concurrent is skipped, other backends' jobs are not", "[engine][jobs]") {
  Harness h;
  auto id = approved_request(h);
  auto now = h.clock.now();
  workflows::JobFilter busy;
  busy.busy_backends = {"scripted"};
  CHECK_FALSE(h.store.claim_job(now, now + 90s, busy));
  workflows::JobFilter other;
  other.busy_backends = {"another"};
  auto job = h.store.claim_job(now, now + 90s, other);
  REQUIRE(job);
  CHECK(job->request_id == id);
}

TEST_CASE(
    "kill -9 mid-grant: the re-run grants once more with the same key, and the expiry counts from the first "
    "start",
    "[engine][jobs][restart]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  std::string id;
  workflows::Instant started;
  {
    Harness h(two_approver_policy(), file);
    id = approved_request(h, "1h");
    auto job = h.store.claim_job(h.clock.now(), h.clock.now() + 90s, {});
    REQUIRE(job);
    started = h.clock.now();
    REQUIRE(h.jit->workflow().start_job(*job));  // the backend call would begin here; then the process dies
  }
  Harness restarted(two_approver_policy(), file);
  restarted.clock.set(started + 10min);
  restarted.store.release_leases();  // what jitbot run and the shell do at start-up
  restarted.jit->run_due();
  CHECK(restarted.state(id) == RequestState::active);
  REQUIRE(restarted.backend->grants.size() == 1);
  CHECK(restarted.backend->grants[0].request_id == id);
  CHECK(restarted.store.find(id)->expires_at == started + 1h);  // not 1h from the re-run
  restarted.jit->run_due();
  CHECK(restarted.backend->grants.size() == 1);
}

TEST_CASE(
    "a worker that outlived its lease starts the grant from the request it read at its claim: the expiry still "
    "counts from the first start",
    "[engine][jobs]") {
  Harness h;
  auto id = approved_request(h, "1h");
  auto slow = h.store.claim_job_with_request(h.clock.now(), h.clock.now() + 90s, {});
  REQUIRE(slow);
  REQUIRE(slow->request);
  CHECK(slow->request->id == id);
  CHECK_FALSE(slow->request->grant_started_at);
  // The first worker stalls past its lease; a second one claims the job and starts the grant.
  h.clock.advance(91s);
  auto second = h.store.claim_job_with_request(h.clock.now(), h.clock.now() + 90s, {});
  REQUIRE(second);
  auto first_start = h.clock.now();
  REQUIRE(h.jit->workflow().start_job(second->job, second->request));
  // The first worker wakes with its copy, read before that start: it must not start the clock again.
  h.clock.advance(5min);
  auto call = h.jit->workflow().start_job(slow->job, slow->request);
  REQUIRE(call);
  CHECK(call->expires_at == first_start + 1h);
  CHECK(h.store.find(id)->grant_started_at == first_start);
}

TEST_CASE("a job whose request this jitbot cannot read keeps its claim, and is retried with the reason audited",
          "[engine][jobs]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  Harness h(two_approver_policy(), file);
  auto id = approved_request(h);
  SQLite::Database(file, SQLite::OPEN_READWRITE)
      .exec("UPDATE requests SET state = 'FROM_A_NEWER_JITBOT' WHERE id = '" + id + "'");
  auto claim = h.store.claim_job_with_request(h.clock.now(), h.clock.now() + 90s, {});
  REQUIRE(claim);
  CHECK_FALSE(claim->request_read);
  workflows::AccessWorkflow workflow(h.policy, h.store, h.directory, h.clock, h.ids);
  ScriptedBackend* backend = nullptr;
  auto backends = scripted_backends(backend);
  bot::run_job(*claim, workflow, backends);

  CHECK(backend->grants.empty());
  auto jobs = h.store.jobs_of(id);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].not_before > h.clock.now());  // due again after a backoff, not at once in a loop
  CHECK_FALSE(jobs[0].last_error.empty());
  CHECK(h.store.audit_trail(id).back().action == "grant_job_error");
}

TEST_CASE("an exception while recording one job leaves the others alone, and that one is retried", "[engine][jobs]") {
  Harness h;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(approved_request(h));
  FaultyStore faulty(h.store);
  faulty.fail_recording_of = ids[1];
  workflows::AccessWorkflow workflow(h.policy, faulty, h.directory, h.clock, h.ids);
  ScriptedBackend* backend = nullptr;
  auto backends = scripted_backends(backend);
  while (auto job = faulty.claim_job(h.clock.now(), h.clock.now() + 90s, {})) bot::run_job(*job, workflow, backends);

  CHECK(h.state(ids[0]) == RequestState::active);
  CHECK(h.state(ids[2]) == RequestState::active);
  CHECK(h.state(ids[1]) == RequestState::approved);  // not lost, not stuck: due again shortly
  auto jobs = h.store.jobs_of(ids[1]);
  REQUIRE(jobs.size() == 1);
  CHECK(jobs[0].last_error == "database is locked");
  CHECK(jobs[0].not_before > h.clock.now());
  auto trail = h.store.audit_trail(ids[1]);
  CHECK(trail.back().action == "grant_job_error");

  h.clock.advance(10s);
  while (auto job = faulty.claim_job(h.clock.now(), h.clock.now() + 90s, {})) bot::run_job(*job, workflow, backends);
  CHECK(h.state(ids[1]) == RequestState::active);
  CHECK(backend->grants.size() == 4);  // three grants, and the one whose recording failed once more
}

TEST_CASE("a revoke to a backend that is gone from the config fails with what to do, and keeps retrying",
          "[engine][jobs]") {
  Harness h;
  auto id = h.submit("1h");
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  workflows::AccessWorkflow workflow(h.policy, h.store, h.directory, h.clock, h.ids);
  h.clock.advance(1h);
  workflow.tick();
  auto job = h.store.claim_job(h.clock.now(), h.clock.now() + 90s, {});
  REQUIRE(job);
  bot::run_job(*job, workflow, bot::Backends{});  // "scripted" was renamed away
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::revoke_failed);
  CHECK(request.last_error.find("not configured") != std::string::npos);
  CHECK(request.last_error.find("requests resolve") != std::string::npos);
  CHECK(h.store.jobs_of(id).size() == 1);
}

TEST_CASE("a notice that can never be delivered is parked and announced once; the rest go out", "[engine][outbox]") {
  auto policy = two_approver_policy();
  policy.roles[0].approvals_channel = "C0GONE";
  Harness h(policy);
  h.chat.missing_channels = {"C0GONE"};
  auto first = h.submit();
  auto second = h.submit();
  h.jit->settle();
  // Both cards were refused for good; each is parked and announced to both incident channels.
  auto parked = h.store.list_notices({true, 0});
  REQUIRE(parked.size() == 2);
  CHECK(parked[0].last_error == "channel_not_found");
  CHECK(h.chat.count(NoticeKind::incident_alert, NoticeEvent::notice_parked) == 4);
  // Parked notices hold up nothing: the DMs of the same requests still go out.
  h.click("U0BOB", "deny", first);
  CHECK(h.chat.count(NoticeKind::requester_dm, NoticeEvent::denied) == 1);

  // Fixed by a human (the bot invited to the channel): retry brings it back.
  h.chat.missing_channels.clear();
  REQUIRE(h.store.retry_notice(parked[1].id, h.clock.now()));
  h.jit->settle();
  CHECK(h.store.card_location(second).has_value());
  // Still parked: the first request's card and its update after the deny, each on its own.
  auto still = h.store.list_notices({true, 0});
  REQUIRE(still.size() == 2);
  CHECK(still[0].request_id == first);
  CHECK(still[1].request_id == first);
}

TEST_CASE("a notice whose request this jitbot cannot read fails on its own, and the notices behind it go out",
          "[engine][outbox]") {
  ScratchDir dir;
  auto file = (dir.path() / "jitbot.db").string();
  Harness h(two_approver_policy(), file);
  for (const char* reason : {"INC-1", "INC-2"}) {
    REQUIRE(h.jit
                ->handle_command("U0ALICE", std::string{"request --provider aws --role admin --scope 123456789012 "
                                                        "--duration 2h --reason "} +
                                                reason)
                .ok);
  }
  auto requests = h.store.list({});
  REQUIRE(requests.size() == 2);
  auto unreadable = requests[0].reason == "INC-1" ? requests[0].id : requests[1].id;
  auto readable = requests[0].reason == "INC-1" ? requests[1].id : requests[0].id;
  // A newer jitbot wrote a state this one does not know, before the first card went out.
  SQLite::Database(file, SQLite::OPEN_READWRITE)
      .exec("UPDATE requests SET state = 'FROM_A_NEWER_JITBOT' WHERE id = '" + unreadable + "'");
  h.jit->settle();

  CHECK(h.store.card_location(readable).has_value());
  CHECK_FALSE(h.store.card_location(unreadable).has_value());
  auto waiting = h.store.undelivered_notices();
  REQUIRE(waiting.size() == 1);
  CHECK(waiting[0].request_id == unreadable);
  CHECK(waiting[0].attempts == 1);  // a failed attempt: retried with backoff, then parked and announced
  CHECK(waiting[0].last_error.find("cannot read the request") != std::string::npos);
  CHECK(h.store.next_notice_at() > h.clock.now());
}

TEST_CASE("a failing notice backs off on its own and is parked after its attempts", "[engine][outbox]") {
  Harness h;
  h.chat.down = true;
  auto id = h.submit();
  auto notice = h.store.undelivered_notices().at(0);
  std::vector<workflows::Instant> due_times;  // when each retry fell due
  for (int attempt = 1; attempt < 20; ++attempt) {
    auto due = h.store.next_notice_at().value();
    REQUIRE(due > h.clock.now());
    due_times.push_back(due);
    h.clock.set(due);
    h.jit->settle();
  }
  auto parked = h.store.list_notices({true, 0});
  REQUIRE(parked.size() == 1);
  CHECK(parked[0].id == notice.id);
  CHECK(parked[0].attempts == 20);
  // Exponential: each wait at least 1.5x the one before, within the cap (5 minutes).
  CHECK(due_times[1] - due_times[0] >= 3s);
  for (std::size_t i = 2; i < due_times.size() && due_times[i - 1] - due_times[i - 2] < 150s; ++i) {
    CHECK((due_times[i] - due_times[i - 1]) * 2 >= (due_times[i - 1] - due_times[i - 2]) * 3);
  }
  CHECK(h.state(id) == RequestState::pending);  // the request itself is untouched
}

TEST_CASE("notices are picked by due time, never as the oldest N", "[engine][outbox]") {
  Harness h;
  h.chat.down = true;
  for (int i = 0; i < 210; ++i) {  // more than any window: their cards fail and wait for a retry
    h.clock.advance(1ms);
    h.submit();
  }
  h.chat.down = false;
  // Newer requests' cards go out at once, although 210 older ones come first by ID.
  for (int i = 0; i < 20; ++i) {
    h.clock.advance(1ms);
    h.submit();
  }
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::submitted) == 20);
  h.advance(3s);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::submitted) == 230);
}

TEST_CASE("text from outside is made valid UTF-8 and cut at character boundaries", "[engine][text]") {
  CHECK(workflows::is_valid_utf8("plain ascii"));
  CHECK(workflows::is_valid_utf8("h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x94\x91"));
  CHECK_FALSE(workflows::is_valid_utf8("cut \xE2\x82"));
  CHECK_FALSE(workflows::is_valid_utf8("\xC0\xAF"));          // overlong '/'
  CHECK_FALSE(workflows::is_valid_utf8("\xED\xA0\x80"));      // a surrogate
  CHECK_FALSE(workflows::is_valid_utf8("\xF4\x90\x80\x80"));  // past U+10FFFF
  CHECK(workflows::repair_utf8("ok \xFF end") == "ok \xEF\xBF\xBD end");
  CHECK(workflows::repair_utf8("cut \xE2\x82") == "cut \xEF\xBF\xBD\xEF\xBF\xBD");

  std::string euros;
  for (int i = 0; i < 300; ++i) euros += "\xE2\x82\xAC";  // 900 bytes of 3-byte characters
  for (std::size_t limit = 1; limit < 40; ++limit) {
    auto cut = workflows::cut_utf8(euros, limit);
    CHECK(cut.size() <= std::max<std::size_t>(limit, 3));
    CHECK(workflows::is_valid_utf8(cut));
  }
}

TEST_CASE("a backend failure cut mid-character still reaches the card as valid text", "[engine][text]") {
  Harness h;
  h.backend->fail_grants = true;
  std::string long_error;
  for (int i = 0; i < 400; ++i) long_error += "\xC3\xA9";  // 800 bytes of 'é'
  h.backend->grant_error = long_error.substr(0, 499);      // cut mid-character, as a careless backend would
  auto id = h.submit();
  h.click("U0BOB", "approve", id);
  h.click("U0CAROL", "approve", id);
  auto request = h.store.find(id).value();
  CHECK(request.state == RequestState::grant_failed);
  CHECK(workflows::is_valid_utf8(request.last_error));
  CHECK(request.last_error.size() <= 500);
  CHECK(h.chat.count(NoticeKind::approval_card, NoticeEvent::grant_failed) >= 1);
  CHECK(h.store.list_notices({true, 0}).empty());
}

TEST_CASE("the operator can revoke, cancel and resolve from the CLI's workflow, audited by name", "[engine][admin]") {
  Harness h;
  auto active = h.submit("1h");
  h.click("U0BOB", "approve", active);
  h.click("U0CAROL", "approve", active);
  auto pending = h.submit();
  auto& workflow = h.jit->workflow();

  auto cancelled = workflow.cancel_by_operator("cli:ops", pending, "duplicate");
  CHECK(cancelled.ok);
  CHECK(h.state(pending) == RequestState::cancelled);
  CHECK_FALSE(workflow.cancel_by_operator("cli:ops", active, "").ok);  // not pending: refused

  h.backend->failing_revokes = 100;  // the cloud is down
  CHECK(workflow.revoke_by_operator("cli:ops", active, "offboarding").ok);
  h.jit->settle();
  CHECK(h.state(active) == RequestState::revoke_failed);

  auto resolved = workflow.resolve_by_operator("cli:ops", active, "removed in the AWS console");
  CHECK(resolved.ok);
  auto request = h.store.find(active).value();
  CHECK(request.state == RequestState::revoked);
  CHECK_FALSE(request.ending_as);
  CHECK(h.store.jobs_of(active).empty());  // no more retries
  auto trail = h.store.audit_trail(active);
  CHECK(trail.back().actor == "cli:ops");
  CHECK(trail.back().action == "resolve");
  CHECK(trail.back().detail.find("removed in the AWS console") != std::string::npos);
  CHECK_FALSE(workflow.resolve_by_operator("cli:ops", active, "again").ok);
}

TEST_CASE("an input whose handling hits a locked database is tried again, not dropped", "[engine][inbox]") {
  ScratchDir dir;
  auto path = (dir.path() / "jitbot.db").string();
  Harness h(two_approver_policy(), path);
  FaultyStore faulty(h.store);
  faulty.failing_input_commits = 1;
  bot::SystemClock clock;  // the inbox's thread reads the time while this one waits
  CountingIds ids(clock);
  std::mutex mutex;
  std::condition_variable answered;
  std::vector<bot::Reply> replies;
  {
    bot::EngineParts parts{path, faulty, h.policy, h.directory, clock, ids};
    bot::Inbox inbox(
        parts,
        [&](const workflows::Input&, const bot::Reply& reply) {
          std::lock_guard lock(mutex);
          replies.push_back(reply);
          answered.notify_all();
        },
        1);
    workflows::Input input;
    input.kind = workflows::Input::Kind::command;
    input.actor = "U0ALICE";
    input.text = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason \"INC-7\"";
    inbox.keep(input);
    {
      std::unique_lock lock(mutex);
      REQUIRE(answered.wait_for(lock, 60s, [&] { return !replies.empty(); }));
    }
    inbox.stop();
  }
  CHECK(faulty.failing_input_commits == 0);  // the first try did fail
  // One answer, from the try that worked: no "internal error" first, and the request exists.
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].ok);
  auto requests = h.store.list({});
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].reason == "INC-7");
  CHECK(h.store.figures(clock.now()).inbox_waiting == 0);
}

TEST_CASE("an input kept in the inbox is removed by the transition that handles it", "[engine][inbox]") {
  Harness h;
  workflows::Input input;
  input.kind = workflows::Input::Kind::command;
  // Break-glass: a repeated one is not refused as a duplicate, so the second handling reaches the commit.
  input.actor = "U0ONCALL";
  input.text = "request --provider aws --role admin --scope 123456789012 --duration 1h --reason x --break-glass";
  input.received_at = h.clock.now();
  input.id = h.store.put_input(input);
  auto claimed = h.store.claim_input(h.clock.now(), h.clock.now() + 60s);
  REQUIRE(claimed);
  CHECK_FALSE(h.store.claim_input(h.clock.now(), h.clock.now() + 60s));  // leased

  workflows::AccessWorkflow workflow(h.policy, h.store, h.directory, h.clock, h.ids);
  bot::InputHandler handler(h.policy, h.store, workflow);
  bool consumed = false;
  auto reply = handler.handle(*claimed, consumed);
  CHECK(reply.ok);
  CHECK(consumed);
  CHECK(h.store.list({}).size() == 1);
  // Gone in the same transaction: even with the lease over, nobody handles it again.
  CHECK_FALSE(h.store.claim_input(h.clock.now() + 61s, h.clock.now() + 120s));
  // A second thread that claimed it before (its lease lapsed mid-handling) writes nothing.
  bool again = false;
  CHECK_THROWS_AS(handler.handle(*claimed, again), workflows::InputAlreadyHandled);
  CHECK(h.store.list({}).size() == 1);
}
