#include "bot/inbox.hpp"

#include <spdlog/spdlog.h>

#include "bot/error_throttle.hpp"
#include "bot/lease_keeper.hpp"
#include "storage/sqlite_store.hpp"

namespace jitbot::bot {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("inbox");
  return instance;
}

constexpr auto poll_interval = 1000ms;
/// Input is handled in milliseconds, or in seconds when the directory is slow; a claim that
/// outlives this belonged to a process that died.
constexpr auto input_lease = 120s;

/// Every inbox thread fails the same way while the database is down: said once a minute.
ErrorThrottle& repeated() {
  static ErrorThrottle throttle;
  return throttle;
}
/// An input whose handling failed, or was cut short by jitbot dying, this many times is dropped
/// with an answer that says so: it may be what kills it.
constexpr int max_input_attempts = 3;
/// A failed handling (a locked or unreachable database, most often) is tried again this soon.
constexpr auto input_retry_delay = 2s;
/// Read-only questions waiting in memory; beyond this the ack says "busy, ask again".
constexpr std::size_t max_waiting_questions = 10000;

}  // namespace

Inbox::Inbox(EngineParts parts, Answer answer, int threads)
    : parts_(std::move(parts)),
      answer_(std::move(answer)),
      lease_(parts_.leases ? parts_.leases->lease(input_lease) : input_lease) {
  // WAL with synchronous=NORMAL: a kept input survives a crash of jitbot (the threat while
  // Slack waits for the ack) at no fsync per input; an OS crash may lose the last few.
  writer_ = storage::open_database(parts_.database, 1);
  // The network thread waits for this before it acks; Slack wants the ack within 3 s.
  if (auto* file = dynamic_cast<storage::SqliteStore*>(writer_.get()))
    file->set_busy_timeout(std::chrono::milliseconds{1500});
  workers_.start("inbox", threads, [this] { work(); });
}

void Inbox::keep(workflows::Input input) {
  input.received_at = parts_.clock.now();
  input.lease_until = input.received_at + lease_;
  {
    std::lock_guard lock(writer_mutex_);
    input.id = writer_->put_input(input);
  }
  {
    std::lock_guard lock(queue_mutex_);
    kept_.push_back(std::move(input));
  }
  workers_.waker.kick();
}

bool Inbox::ask(workflows::Input input) {
  input.received_at = parts_.clock.now();
  {
    std::lock_guard lock(queue_mutex_);
    if (questions_.size() >= max_waiting_questions) return false;
    questions_.push_back(std::move(input));
  }
  workers_.waker.kick();
  return true;
}

std::optional<workflows::Input> Inbox::next_in_memory(workflows::Instant now) {
  std::lock_guard lock(queue_mutex_);
  if (!questions_.empty()) {
    auto question = std::move(questions_.front());
    questions_.pop_front();
    return question;
  }
  while (!kept_.empty()) {
    auto input = std::move(kept_.front());
    kept_.pop_front();
    // A claim that lapsed while the input waited here may be another's by now: the sweep
    // claims it again, as it would for a process that died.
    if (input.lease_until && *input.lease_until > now) return input;
  }
  return std::nullopt;
}

std::optional<workflows::Input> Inbox::sweep(workflows::RequestStore& store, workflows::Instant now) {
  {
    std::lock_guard lock(queue_mutex_);
    if (!sweep_found_ && now < next_sweep_) return std::nullopt;
    next_sweep_ = now + poll_interval;
  }
  auto input = store.claim_input(now, now + lease_);
  std::lock_guard lock(queue_mutex_);
  sweep_found_ = input.has_value();
  return input;
}

std::optional<workflows::Input> Inbox::next(workflows::RequestStore& store) {
  auto now = parts_.clock.now();
  if (auto input = next_in_memory(now)) return input;
  return sweep(store, now);
}

void Inbox::handle(InputHandler& handler, workflows::RequestStore& store, workflows::Input& input) {
  Reply reply;
  bool consumed = false;
  if (input.attempts >= max_input_attempts) {
    logger()->error("dropped input {} from {}: handling it failed or was cut short {} times", input.id, input.actor,
                    input.attempts);
    reply = {false,
             "jitbot could not handle this (it failed several times). Check with /jit status whether "
             "anything changed, and tell the jitbot admins."};
  } else {
    try {
      reply = handler.handle(input, consumed);
    } catch (const workflows::InputAlreadyHandled&) {
      return;  // another thread, whose claim outlived a lapsed lease, handled and answered it
    } catch (const std::exception& e) {
      logger()->error("could not handle input {} from {}: {}", input.id, input.actor, e.what());
      if (retry_later(store, input)) return;  // answered when a later try succeeds, or gives up
      reply = {false,
               "jitbot hit an internal error. Check with /jit status whether anything changed, and tell the "
               "jitbot admins if it happens again."};
    }
  }
  // A transition already removed it; a refusal, a read-only answer or a failure did not.
  if (input.id != 0 && !consumed) store.finish_input(input.id);
  answer_(input, reply);
}

bool Inbox::retry_later(workflows::RequestStore& store, const workflows::Input& input) {
  // Read-only questions are not kept; the person asks again. A kept input is tried again, up
  // to the limit, rather than dropped for a fault that may last a moment.
  if (input.id == 0 || input.attempts + 1 >= max_input_attempts) return false;
  try {
    store.retry_input(input.id, parts_.clock.now() + input_retry_delay);
  } catch (const std::exception& e) {
    // The database is still failing: the input's lease runs out, and the sweep claims it then.
    logger()->error("could not hand input {} back for another try: {}", input.id, e.what());
  }
  return true;
}

void Inbox::work() {
  auto& store = parts_.store;
  workflows::AccessWorkflow workflow(parts_.policy, store, parts_.directory, parts_.clock, parts_.ids);
  workflow.use_on_call(parts_.on_call);
  workflow.use_tickets(parts_.tickets);
  InputHandler handler(parts_.policy, store, workflow);
  for (;;) {
    auto ticket = workers_.waker.ticket();
    try {
      while (auto input = next(store)) {
        LeaseKeeper::Hold held(parts_.leases, storage::LeaseKind::input, input->id);
        WorkerThreads::Busy busy(workers_);
        handle(handler, store, *input);
        if (workers_.waker.stopped()) return;
      }
    } catch (const std::exception& e) {
      repeated().error(*logger(), "inbox", std::string{"inbox: "} + e.what());
    }
    if (!workers_.waker.wait(ticket, poll_interval)) return;
  }
}

}  // namespace jitbot::bot
