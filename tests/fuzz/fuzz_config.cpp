// The TOML config loader on arbitrary bytes: a config is valid or refused with a ConfigError
// that names the file, never a crash or another exception.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path file =
      std::filesystem::temp_directory_path() / ("jitbot-fuzz-config-" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    jitbot::config::load_config(file);
  } catch (const jitbot::config::ConfigError& e) {
    if (std::string(e.what()).find(file.string()) != 0) __builtin_trap();  // the error names the file
  }
  return 0;
}
