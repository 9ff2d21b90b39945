#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

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

  AnchorPoster(std::filesystem::path anchor_file, std::string channel, std::chrono::seconds interval, Post post);
  ~AnchorPoster();
  AnchorPoster(const AnchorPoster&) = delete;
  AnchorPoster& operator=(const AnchorPoster&) = delete;

  void stop();

  /// The message for one anchor ("SEQ:HASH:MAC").
  static std::string message(const std::string& anchor);

 private:
  void run();
  void post_if_changed();

  std::filesystem::path anchor_file_;
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
