#pragma once

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

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

/// A few threads that run the same loop until stop(), sharing one Waker: the common shape of
/// the inbox, the job workers, the scheduler and the couriers. Declare it as the owner's last
/// member, so its threads are joined before anything they use is destroyed.
///
/// Threads start as they are needed: one at first, and one more whenever every started thread
/// is busy with an item (see Busy), up to the count. So a bot that never runs two backend calls
/// at once has one job worker, not sixteen, each with its stack and its wake-ups; and when
/// every started thread is held up (a slow backend, a slow directory), the next item still finds
/// a thread free.
class WorkerThreads {
 public:
  WorkerThreads() = default;
  ~WorkerThreads() { stop(); }
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  /// Starts a thread running `loop`, and up to `count` in all as they are needed, named `name`
  /// (up to 15 characters) so that `top -H` and a profiler show which part of jitbot spends the time.
  void start(const std::string& name, int count, std::function<void()> loop) {
    std::lock_guard lock(threads_mutex_);
    name_ = name.substr(0, 15);
    max_threads_ = static_cast<std::size_t>(std::max(count, 1));
    loop_ = std::move(loop);
    start_one();
  }

  /// Held by a thread while it works on an item. When every started thread is busy, one more
  /// starts (up to the count), so the next item does not wait for these to finish.
  class Busy {
   public:
    explicit Busy(WorkerThreads& threads) : threads_(threads) {
      std::lock_guard lock(threads_.threads_mutex_);
      if (++threads_.busy_ == threads_.threads_.size() && threads_.threads_.size() < threads_.max_threads_ &&
          !threads_.stopping_) {
        threads_.start_one();
      }
    }
    ~Busy() {
      std::lock_guard lock(threads_.threads_mutex_);
      --threads_.busy_;
    }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    WorkerThreads& threads_;
  };

  /// Wakes every thread and joins them once each has finished the item in hand. Idempotent.
  void stop() {
    {
      std::lock_guard lock(threads_mutex_);
      stopping_ = true;  // no thread starts after this, so threads_ no longer changes
    }
    waker.stop();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  /// How many threads have started so far.
  std::size_t started() {
    std::lock_guard lock(threads_mutex_);
    return threads_.size();
  }

  Waker waker;

 private:
  /// With threads_mutex_ held. Without a thread to spare, the busy ones carry on; the next
  /// Busy tries again.
  void start_one() {
    try {
      threads_.emplace_back(loop_);
      pthread_setname_np(threads_.back().native_handle(), name_.c_str());
    } catch (const std::system_error&) {
      if (threads_.empty()) throw;  // not even one: the owner cannot work at all
    }
  }

  std::mutex threads_mutex_;
  std::vector<std::thread> threads_;
  std::size_t busy_ = 0;
  std::size_t max_threads_ = 1;
  bool stopping_ = false;
  std::string name_;
  std::function<void()> loop_;
};

}  // namespace jitbot::bot
