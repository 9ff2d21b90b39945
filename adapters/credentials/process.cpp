#include "adapters/credentials/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "workflows/text.hpp"

extern char** environ;

namespace jitbot::adapters {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t max_output_bytes = 1 << 20;
constexpr std::chrono::milliseconds exit_grace{500};

/// A pipe whose ends close themselves.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string{"pipe: "} + std::strerror(errno));
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    close_read();
    close_write();
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void close_read() {
    if (read_end >= 0) ::close(read_end);
    read_end = -1;
  }
  void close_write() {
    if (write_end >= 0) ::close(write_end);
    write_end = -1;
  }
};

/// The child's environment: the always-passed variables and the ones its backend names.
std::vector<std::string> child_environment(const std::vector<std::string>& passed_env) {
  std::vector<std::string> env;
  auto pass = [&env](const std::string& name) {
    if (const char* value = std::getenv(name.c_str())) env.push_back(name + "=" + value);
  };
  for (const char* name : always_passed_env) pass(name);
  for (const auto& name : passed_env) {
    bool already =
        std::find(std::begin(always_passed_env), std::end(always_passed_env), name) != std::end(always_passed_env);
    if (!already) pass(name);
  }
  return env;
}

/// The child's start: its own process group (so a timeout kills the script and everything it
/// started), default SIGPIPE (an ignored signal stays ignored across exec), no blocked signals
/// (jitbot blocks SIGINT/SIGTERM for its signal thread), and its stdio on our pipes.
struct Spawn {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attributes;
  Spawn() {
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawnattr_init(&attributes);
    ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    ::posix_spawnattr_setpgroup(&attributes, 0);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    ::posix_spawnattr_setsigdefault(&attributes, &defaults);
    sigset_t none;
    sigemptyset(&none);
    ::posix_spawnattr_setsigmask(&attributes, &none);
  }
  ~Spawn() {
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attributes);
  }
  Spawn(const Spawn&) = delete;
  Spawn& operator=(const Spawn&) = delete;
  void redirect(int from, int to) { ::posix_spawn_file_actions_adddup2(&actions, from, to); }
  /// After the redirects: nothing of jitbot's (the Slack socket, the database, other children's
  /// pipes) stays open in the child, close-on-exec or not.
  void close_the_rest() { ::posix_spawn_file_actions_addclosefrom_np(&actions, STDERR_FILENO + 1); }
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

/// Reads what `fd` has into `sink`, at most 64 KiB per call so a chatty backend cannot keep
/// us past its deadline; returns false at EOF or error.
bool drain(int fd, std::string& sink) {
  char buffer[4096];
  for (int reads = 0; reads < 16; ++reads) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n > 0) {
      if (sink.size() < max_output_bytes) sink.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
    return false;
  }
  return true;
}

}  // namespace

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return {};
  auto start = text.find_last_of('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  auto line = text.substr(start, end - start + 1);
  auto first = line.find_first_not_of(" \t");
  line = first == std::string::npos ? std::string{} : line.substr(first);
  line = workflows::cut_utf8(line, 500);
  return line;
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) return name;
  const char* path = std::getenv("PATH");
  std::string_view dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (!dirs.empty()) {
    auto colon = dirs.find(':');
    auto dir = dirs.substr(0, colon);
    std::string candidate = std::string(dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return name;
}

ProcessOutcome run_process(const std::vector<std::string>& argv, const std::string& input, workflows::Seconds timeout,
                           const std::vector<std::string>& passed_env) {
  Pipe in, out, err;
  std::vector<std::string> env = child_environment(passed_env);
  std::vector<char*> c_argv, c_env;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  for (const auto& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);

  // posix_spawn, not fork: glibc starts the child with vfork semantics, so the parent's memory
  // is never marked copy-on-write. With many threads and calls at once, fork made every thread
  // of jitbot pay page faults and TLB flushes until each child exec'd.
  Spawn spawn;
  spawn.redirect(in.read_end, STDIN_FILENO);
  spawn.redirect(out.write_end, STDOUT_FILENO);
  spawn.redirect(err.write_end, STDERR_FILENO);
  spawn.close_the_rest();
  pid_t pid = 0;
  int failed = ::posix_spawn(&pid, c_argv[0], &spawn.actions, &spawn.attributes, c_argv.data(), c_env.data());
  if (failed != 0) {
    ProcessOutcome result;
    result.wait_status = 127 << 8;  // what a shell reports for a program it cannot run
    result.err = "cannot run " + argv[0] + ": " +
                 (failed == ENOENT   ? "no such file"
                  : failed == EACCES ? "permission denied"
                                     : std::strerror(failed));
    return result;
  }
  in.close_read();
  out.close_write();
  err.close_write();
  set_nonblocking(in.write_end);
  set_nonblocking(out.read_end);
  set_nonblocking(err.read_end);
  // A descriptor that becomes readable when the child exits, so we sleep in poll() instead of
  // waking every few milliseconds to ask.
  int exit_fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));

  ProcessOutcome result;
  std::size_t written = 0;
  auto deadline = Clock::now() + timeout;
  bool out_open = true, err_open = true, exited = false;
  // Ends when the program has exited and its pipes are closed, or a short grace after it exited
  // (a background child it left may hold stdout open), or at the deadline.
  while (!exited || out_open || err_open) {
    if (Clock::now() >= deadline) {
      if (exited) break;
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &result.wait_status, 0);
      if (exit_fd >= 0) ::close(exit_fd);
      result.timed_out = true;
      return result;
    }
    std::vector<pollfd> fds;
    if (in.write_end >= 0) fds.push_back({in.write_end, POLLOUT, 0});
    if (out_open) fds.push_back({out.read_end, POLLIN, 0});
    if (err_open) fds.push_back({err.read_end, POLLIN, 0});
    if (exit_fd >= 0 && !exited) fds.push_back({exit_fd, POLLIN, 0});
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    // Without a pidfd, short polls are the only way to notice the exit of a child whose pipes
    // stay open.
    long long longest = exit_fd >= 0 ? 1000 : 20;
    ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(remaining, 0, longest)));
    if (in.write_end >= 0) {
      ssize_t n = ::write(in.write_end, input.data() + written, input.size() - written);
      if (n > 0) written += static_cast<std::size_t>(n);
      if (written == input.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) in.close_write();
    }
    if (out_open) out_open = drain(out.read_end, result.out);
    if (err_open) err_open = drain(err.read_end, result.err);
    if (!exited && ::waitpid(pid, &result.wait_status, WNOHANG) == pid) {
      exited = true;
      deadline = std::min(deadline, Clock::now() + exit_grace);
    }
  }
  // The script may have left children holding nothing of ours; they go with the group.
  ::kill(-pid, SIGKILL);
  if (exit_fd >= 0) ::close(exit_fd);
  return result;
}

}  // namespace jitbot::adapters
