#pragma once

#include "config/config.hpp"
#include "workflows/ports.hpp"

namespace jitbot::adapters {

/// The directory from the config's [directory] section: the terminal's only source of
/// users and groups.
class StaticDirectory final : public workflows::Directory {
 public:
  explicit StaticDirectory(config::DirectoryConfig directory) : directory_(std::move(directory)) {}

  bool is_member(const std::string& user_id, const std::string& group_id) override;
  workflows::UserProfile profile(const std::string& user_id) override;

 private:
  config::DirectoryConfig directory_;
};

}  // namespace jitbot::adapters
