#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace jitbot::bot {

/// Lets threads that poll the database for work sleep until there may be some. A thread takes
/// a ticket before it looks for work and waits with it after finding none, so a kick that came
/// in between is never missed. wait() also returns after a timeout, so work that another
/// process wrote (the admin CLI) or whose time came is found anyway.
class Waker {
 public:
  using Ticket = std::uint64_t;

  Ticket ticket() {
    std::lock_guard lock(mutex_);
    return generation_;
  }

  /// There may be work: wakes one waiting thread (each takes one item at a time).
  void kick() {
    {
      std::lock_guard lock(mutex_);
      ++generation_;
    }
    changed_.notify_one();
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    changed_.notify_all();
  }

  /// Waits for a kick after `seen`, stop() or the timeout; false once stopped.
  bool wait(Ticket seen, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return stopped_ || generation_ != seen; });
    return !stopped_;
  }

  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopped_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::uint64_t generation_ = 0;
  bool stopped_ = false;
};

/// How long a polling thread that found nothing may sleep: until `due`, at most `poll`. A due
/// time already passed means the work is held by someone else (a lease, a busy backend, an
/// earlier notice of its lane), who kicks when done; then only the poll interval applies.
inline std::chrono::milliseconds idle_wait(std::chrono::system_clock::duration until_due, bool has_due,
                                           std::chrono::milliseconds poll) {
  if (!has_due || until_due <= std::chrono::system_clock::duration::zero()) return poll;
  return std::min(poll, std::chrono::ceil<std::chrono::milliseconds>(until_due));
}

}  // namespace jitbot::bot
