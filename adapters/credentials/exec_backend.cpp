#include "adapters/credentials/exec_backend.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

extern char** environ;

namespace jitbot::adapters {
namespace {

using workflows::BackendCall;
using workflows::BackendResult;
using Clock = std::chrono::steady_clock;

constexpr std::size_t max_output_bytes = 1 << 20;
constexpr std::chrono::milliseconds exit_grace{500};

std::shared_ptr<spdlog::logger> logger() {
  static auto instance = spdlog::default_logger()->clone("exec");
  return instance;
}

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

std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return {};
  auto start = text.find_last_of('\n', end);
  start = start == std::string::npos ? 0 : start + 1;
  auto line = text.substr(start, end - start + 1);
  auto first = line.find_first_not_of(" \t");
  line = first == std::string::npos ? std::string{} : line.substr(first);
  if (line.size() > 500) line = line.substr(0, 500) + "…";
  return line;
}

struct Finished {
  bool timed_out = false;
  int wait_status = 0;
  std::string out;
  std::string err;
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

Finished run_process(const std::vector<std::string>& argv, const std::string& input, workflows::Seconds timeout) {
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

  Finished result;
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

BackendResult interpret(const std::string& backend, const Finished& finished, workflows::Seconds timeout) {
  BackendResult result;
  std::string stderr_reason = last_line(finished.err);
  if (finished.timed_out) {
    result.error = "backend " + backend + " timed out after " + workflows::format_duration(timeout) +
                   (stderr_reason.empty() ? "" : " (" + stderr_reason + ")");
    return result;
  }
  if (WIFSIGNALED(finished.wait_status)) {
    result.error = stderr_reason.empty() ? "backend " + backend + " was killed by signal " +
                                               std::to_string(WTERMSIG(finished.wait_status))
                                         : stderr_reason;
    return result;
  }
  int code = WEXITSTATUS(finished.wait_status);
  if (code != 0) {
    result.error =
        stderr_reason.empty() ? "backend " + backend + " exited with status " + std::to_string(code) : stderr_reason;
    return result;
  }
  if (finished.out.find_first_not_of(" \t\r\n") == std::string::npos) {
    result.ok = true;
    return result;
  }
  auto reply = nlohmann::json::parse(finished.out, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    result.error = "backend " + backend + " succeeded but printed something that is not a JSON object";
    return result;
  }
  auto text = [&](const char* key) -> std::optional<std::string> {
    if (!reply.contains(key) || reply[key].is_null()) return std::string{};
    if (!reply[key].is_string()) return std::nullopt;
    return reply[key].get<std::string>();
  };
  auto grant_id = text("grant_id"), expires = text("expires_at"), console = text("console_url"),
       message = text("message");
  if (!grant_id || !expires || !console || !message) {
    result.error =
        "backend " + backend + " printed JSON whose grant_id, expires_at, console_url or message is not a string";
    return result;
  }
  if (!expires->empty()) {
    result.expires_at = workflows::parse_rfc3339(*expires);
    if (!result.expires_at) {
      result.error = "backend " + backend + " printed an expires_at that is not RFC 3339: " + *expires;
      return result;
    }
  }
  result.ok = true;
  result.grant_id = *grant_id;
  result.console_url = *console;
  result.message = *message;
  return result;
}

}  // namespace

ExecBackend::ExecBackend(std::string name, std::vector<std::string> command, workflows::Seconds timeout)
    : name_(std::move(name)), command_(std::move(command)), timeout_(timeout) {
  // A backend that exits before reading its stdin must not kill the bot with SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
}

std::string ExecBackend::stdin_document(const BackendCall& call) {
  bool grant = call.action == BackendCall::Action::grant;
  nlohmann::json document{
      {"version", 1},
      {"action", grant ? "grant" : "revoke"},
      {"request_id", call.request_id},
      {"provider", call.provider},
      {"role", call.role},
      {"scope", call.scope},
      {"duration_seconds", call.duration.count()},
      {"expires_at", workflows::format_rfc3339(call.expires_at)},
      {"reason", call.reason},
      {"break_glass", call.break_glass},
      {"requester",
       {{"slack_user_id", call.requester.user_id}, {"email", call.requester.email}, {"name", call.requester.name}}},
      {"approvers", call.approvers},
  };
  if (!grant) document["grant_id"] = call.grant_id;
  return document.dump();
}

BackendResult ExecBackend::grant(const BackendCall& call) { return run(call); }
BackendResult ExecBackend::revoke(const BackendCall& call) { return run(call); }

BackendResult ExecBackend::run(const BackendCall& call) {
  std::vector<std::string> argv = command_;
  argv.emplace_back(call.action == BackendCall::Action::grant ? "grant" : "revoke");
  const char* action = call.action == BackendCall::Action::grant ? "grant" : "revoke";
  try {
    auto started = Clock::now();
    Finished finished = run_process(argv, stdin_document(call), timeout_);
    BackendResult result = interpret(name_, finished, timeout_);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
    if (result.ok) {
      logger()->info("{} {} for {} succeeded in {} ms", name_, action, call.request_id, took.count());
    } else {
      logger()->warn("{} {} for {} failed in {} ms: {}", name_, action, call.request_id, took.count(), result.error);
    }
    return result;
  } catch (const std::exception& e) {
    BackendResult result;
    result.error = "backend " + name_ + " could not be started: " + e.what();
    logger()->error("{}", result.error);
    return result;
  }
}

}  // namespace jitbot::adapters
