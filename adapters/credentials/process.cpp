#include "adapters/credentials/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
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

/// The child's environment: ours minus the Slack tokens, which a backend never needs.
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view line{*entry};
    if (line.rfind("SLACK_APP_TOKEN=", 0) == 0 || line.rfind("SLACK_BOT_TOKEN=", 0) == 0) continue;
    env.emplace_back(line);
  }
  return env;
}

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

ProcessOutcome run_process(const std::vector<std::string>& argv, const std::string& input, workflows::Seconds timeout) {
  Pipe in, out, err;
  std::vector<std::string> env = child_environment();
  std::vector<char*> c_argv, c_env;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  for (const auto& e : env) c_env.push_back(const_cast<char*>(e.c_str()));
  c_env.push_back(nullptr);

  // Built before fork: between fork and exec the child may only make async-signal-safe calls.
  const std::string exec_failed = "cannot run " + argv[0] + ": ";
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string{"fork: "} + std::strerror(errno));
  if (pid == 0) {
    // Own process group, so a timeout kills the script and everything it started.
    ::setpgid(0, 0);
    ::signal(SIGPIPE, SIG_DFL);  // an ignored signal would stay ignored across exec
    ::dup2(in.read_end, STDIN_FILENO);
    ::dup2(out.write_end, STDOUT_FILENO);
    ::dup2(err.write_end, STDERR_FILENO);
    ::execve(c_argv[0], c_argv.data(), c_env.data());
    const char* why = errno == ENOENT ? "no such file\n" : errno == EACCES ? "permission denied\n" : "exec failed\n";
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
    ignored = ::write(STDERR_FILENO, why, std::strlen(why));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also from the parent, so the group exists before any kill
  in.close_read();
  out.close_write();
  err.close_write();
  set_nonblocking(in.write_end);
  set_nonblocking(out.read_end);
  set_nonblocking(err.read_end);

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
      result.timed_out = true;
      return result;
    }
    std::vector<pollfd> fds;
    if (in.write_end >= 0) fds.push_back({in.write_end, POLLOUT, 0});
    if (out_open) fds.push_back({out.read_end, POLLIN, 0});
    if (err_open) fds.push_back({err.read_end, POLLIN, 0});
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    // Short polls: the only way to notice the exit of a child whose pipes stay open.
    ::poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long long>(remaining, 0, 20)));
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
  return result;
}

}  // namespace jitbot::adapters
