#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "storage/audit_chain.hpp"

namespace jitbot::bot {

/// Posts the audit trail's head anchor to a channel whenever it has changed, at most once per
/// interval, on a thread of its own. A copy held by Slack cannot be rewritten by someone who can
/// write the database and the anchor file beside it, so `jitbot audit verify --anchor` can check
/// against it. A failed post is logged and tried again next time with the newer anchor, which
/// covers everything the older one did.
class AnchorPoster {
 public:
  /// Posts `text` to `channel`; returns an empty string on success, else what went wrong.
  using Post = std::function<std::string(const std::string& channel, const std::string& text)>;

  /// The newest record as written: the anchor file beside a SQLite database, or PostgreSQL's
  /// newest record sealed with the key (replicas on several machines share no file).
  using ReadHead = std::function<std::optional<storage::AuditAnchor>()>;

  /// Where replicas share the database, one posts each head: `claim` says whether this one
  /// should post the head at a sequence (false: another did, or a newer one), and `release` gives
  /// the claim back when the post failed. Empty for one process.
  struct Turns {
    std::function<bool(std::int64_t sequence)> claim;
    std::function<void(std::int64_t sequence)> release;
  };

  AnchorPoster(ReadHead read_head, std::string channel, std::chrono::seconds interval, Post post, Turns turns = {});
  ~AnchorPoster();
  AnchorPoster(const AnchorPoster&) = delete;
  AnchorPoster& operator=(const AnchorPoster&) = delete;

  void stop();

  /// The message for one anchor ("SEQ:HASH:MAC").
  static std::string message(const std::string& anchor);

 private:
  void run();
  void post_if_changed();

  ReadHead read_head_;
  Turns turns_;
  std::string channel_;
  std::chrono::seconds interval_;
  Post post_;
  std::string last_posted_;
  std::mutex mutex_;
  std::condition_variable stopping_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace jitbot::bot
