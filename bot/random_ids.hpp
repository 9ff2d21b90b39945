#pragma once

#include <mutex>
#include <random>

#include "workflows/ports.hpp"
#include "workflows/request_id.hpp"

namespace jitbot::bot {

/// Request IDs from the clock and the operating system's entropy.
class RandomIds final : public workflows::IdSource {
 public:
  explicit RandomIds(const workflows::Clock& clock) : clock_(clock) {}

  std::string next_request_id() override {
    std::array<std::uint8_t, 10> randomness{};
    {
      std::lock_guard lock(mutex_);  // several input threads share one source
      for (auto& byte : randomness) byte = static_cast<std::uint8_t>(device_());
    }
    return workflows::make_request_id(clock_.now(), randomness);
  }

 private:
  const workflows::Clock& clock_;
  std::mutex mutex_;
  std::random_device device_;
};

/// The wall clock.
class SystemClock final : public workflows::Clock {
 public:
  workflows::Instant now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  }
};

}  // namespace jitbot::bot
