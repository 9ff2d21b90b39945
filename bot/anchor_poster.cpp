#include "bot/anchor_poster.hpp"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include "storage/audit_chain.hpp"

namespace jitbot::bot {

AnchorPoster::AnchorPoster(ReadHead read_head, std::string channel, std::chrono::seconds interval, Post post,
                           Turns turns)
    : read_head_(std::move(read_head)),
      turns_(std::move(turns)),
      channel_(std::move(channel)),
      interval_(interval),
      post_(std::move(post)),
      thread_([this] { run(); }) {}

AnchorPoster::~AnchorPoster() { stop(); }

void AnchorPoster::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  stopping_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string AnchorPoster::message(const std::string& anchor) {
  return "jitbot audit head: `" + anchor +
         "`\nTo check that the audit trail has not been cut or rewritten since: `jitbot audit verify --anchor " +
         anchor + "`";
}

void AnchorPoster::run() {
  pthread_setname_np(pthread_self(), "audit-anchor");
  // Once at start (a restart may follow appends that were never posted), then every interval.
  post_if_changed();
  std::unique_lock lock(mutex_);
  while (!stopping_.wait_for(lock, interval_, [this] { return stopped_; })) {
    lock.unlock();
    post_if_changed();
    lock.lock();
  }
}

void AnchorPoster::post_if_changed() {
  try {
    auto anchor = read_head_();
    if (!anchor) return;  // nothing appended yet
    std::string text = anchor->to_string();
    if (text == last_posted_) return;
    if (turns_.claim && !turns_.claim(anchor->sequence)) {
      last_posted_ = text;  // another replica posts this head, or posted a newer one
      return;
    }
    if (auto error = post_(channel_, message(text)); !error.empty()) {
      spdlog::warn("could not post the audit head to {}: {}; trying again in {}s", channel_, error, interval_.count());
      if (turns_.release) turns_.release(anchor->sequence);
      return;
    }
    last_posted_ = text;
  } catch (const std::exception& e) {
    spdlog::warn("could not post the audit head to {}: {}", channel_, e.what());
  }
}

}  // namespace jitbot::bot
