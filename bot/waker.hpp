#pragma once

#include <pthread.h>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
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
class WorkerThreads {
 public:
  WorkerThreads() = default;
  ~WorkerThreads() { stop(); }
  WorkerThreads(const WorkerThreads&) = delete;
  WorkerThreads& operator=(const WorkerThreads&) = delete;

  /// Starts `count` threads running `loop`, named `name` (up to 15 characters) so that
  /// `top -H` and a profiler show which part of jitbot spends the time.
  void start(const std::string& name, int count, const std::function<void()>& loop) {
    for (int i = 0; i < count; ++i) {
      threads_.emplace_back(loop);
      pthread_setname_np(threads_.back().native_handle(), name.substr(0, 15).c_str());
    }
  }

  /// Wakes every thread and joins them once each has finished the item in hand. Idempotent.
  void stop() {
    waker.stop();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

  Waker waker;

 private:
  std::vector<std::thread> threads_;
};

}  // namespace jitbot::bot
