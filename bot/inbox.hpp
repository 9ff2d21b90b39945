#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bot/input_handler.hpp"
#include "bot/job_workers.hpp"
#include "bot/waker.hpp"
#include "storage/database.hpp"

namespace jitbot::bot {

/// Sends a person the answer to their input (in Slack: a POST to the response_url).
using Answer = std::function<void(const workflows::Input& input, const Reply& reply)>;

/// Chat input, from the moment it is acked until it is handled. What changes state is written
/// to the inbox table before the ack (keep()) and removed by the transition that handles it,
/// so a crash loses none and handles none twice; read-only questions (status, list) are kept
/// in memory only. Up to sixteen threads handle input side by side, started as inputs overlap,
/// so inputs that wait on a slow directory lookup (a user group, an on-call schedule, a ticket)
/// hold up only themselves, unless sixteen wait at once.
///
/// A kept input is written already claimed and handed to the threads in memory, so no thread
/// claims it from the table. The table is swept once a second, for what a previous process
/// left (at start-up) or a replica that died left, and for inputs whose claim lapsed.
class Inbox {
 public:
  Inbox(EngineParts parts, Answer answer, int threads = 16);
  /// Lets the threads finish the input in hand, then joins them. Idempotent.
  void stop() { workers_.stop(); }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  /// Writes the input to the inbox table; call before acking. Throws when it cannot be kept.
  void keep(workflows::Input input);

  /// Queues a read-only question (nothing is lost if a crash drops it); false when too many
  /// wait already, so a flood cannot grow memory without bound.
  bool ask(workflows::Input input);

 private:
  void work();
  std::optional<workflows::Input> next(workflows::RequestStore& store);
  std::optional<workflows::Input> next_in_memory(workflows::Instant now);
  std::optional<workflows::Input> sweep(workflows::RequestStore& store, workflows::Instant now);
  void handle(InputHandler& handler, workflows::RequestStore& store, workflows::Input& input);
  /// After a failed handling: true when the input is kept for another try.
  bool retry_later(workflows::RequestStore& store, const workflows::Input& input);

  EngineParts parts_;
  Answer answer_;
  std::chrono::seconds lease_;
  std::mutex queue_mutex_;
  std::deque<workflows::Input> questions_;
  std::deque<workflows::Input> kept_;  ///< written and claimed by keep(), not yet handled
  workflows::Instant next_sweep_{};    ///< at once at start-up: what a previous process left
  bool sweep_found_ = false;           ///< the last sweep found one: there may be more
  std::mutex writer_mutex_;
  std::unique_ptr<storage::Database> writer_;  ///< the network thread's connection, for keep()
  WorkerThreads workers_;                      ///< last: joined before the rest goes
};

}  // namespace jitbot::bot
