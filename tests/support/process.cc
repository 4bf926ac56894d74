#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

// Declared here, weak: defined only in a sanitizer build.
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));  // NOLINT

namespace geostorm::testing {
namespace {

// The children still running. A sanitizer that halts a test exits without running
// destructors, and would leave them (API emulators, sidecars) behind: its death
// callback kills them. Lock-free, as that callback may run anywhere.
std::atomic<pid_t> live_children[512];

void KillLiveChildren() {
  for (std::atomic<pid_t>& slot : live_children) {
    if (const pid_t pid = slot.load(); pid > 0) ::kill(pid, SIGKILL);
  }
}

void Track(pid_t pid) {
  static const bool registered = [] {
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(KillLiveChildren);
    return true;
  }();
  (void)registered;
  for (std::atomic<pid_t>& slot : live_children) {
    pid_t empty = 0;
    if (slot.compare_exchange_strong(empty, pid)) return;
  }
}

void Untrack(pid_t pid) {
  for (std::atomic<pid_t>& slot : live_children) {
    pid_t tracked = pid;
    if (slot.compare_exchange_strong(tracked, 0)) return;
  }
}

}  // namespace

Process::Process(const std::vector<std::string>& argv, const std::string& log_path) : log_path_(log_path) {
  // posix_spawn, not fork: the tests run gRPC threads, and a forked child may only
  // do async-signal-safe work before exec. The log is opened in the child.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int error = ::posix_spawn(&pid_, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {  // the program or the log could not be opened: say so where the log would be
    pid_ = -1;
    status_ = 127;
    std::ofstream(log_path) << "cannot start " << argv.front() << ": " << std::strerror(error) << "\n";
    return;
  }
  Track(pid_);
}

Process::Process(Process&& other) noexcept
    : pid_(other.pid_), status_(other.status_), log_path_(std::move(other.log_path_)) {
  other.pid_ = -1;
}

Process::~Process() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    Wait(std::chrono::seconds(5));
  }
}

void Process::Freeze(bool frozen) {
  if (!running()) return;
  ::kill(pid_, frozen ? SIGSTOP : SIGCONT);
  int status = 0;
  if (frozen && ::waitpid(pid_, &status, WUNTRACED) == pid_ && !WIFSTOPPED(status)) Reaped(status);
}

bool Process::running() {
  if (pid_ <= 0 || status_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    Reaped(status);
    return false;
  }
  return true;
}

void Process::Reaped(int wait_status) {
  status_ = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  Untrack(pid_);
}

std::optional<int> Process::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return status_;
}

void Process::Signal(int signal) {
  if (running()) ::kill(pid_, signal);
}

std::string Process::Log() const {
  std::ifstream in(log_path_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

namespace {

bool CanBind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

int FreePort() {
  // Each test process takes ports from its own block below the kernel's
  // ephemeral range, chosen by its pid: tests run in parallel (ctest -j) would
  // otherwise race for the same kernel-chosen port between "free" and "bound".
  constexpr int kBlock = 40;
  static int next = 10000 + static_cast<int>(::getpid() % 500) * kBlock;
  static const int end = next + kBlock;
  while (next < end) {
    const int port = next++;
    if (CanBind(port)) return port;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // block used up: ask the kernel
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return "";
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::write(fd, request.data(), request.size()) < 0) {
    ::close(fd);
    return "";
  }
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

double MetricSum(int port, const std::string& name, const std::vector<std::string>& labels) {
  const std::string body = HttpGet(port, "/metrics");
  std::string pattern = "^" + name + "\\{";
  for (const std::string& l : labels) pattern += "(?=[^}]*" + l + ")";
  std::regex line(pattern + "[^}]*\\} ([0-9.e+]+)$", std::regex::multiline | std::regex::ECMAScript);
  double total = 0;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), line); it != std::sregex_iterator(); ++it) {
    total += std::stod((*it)[1]);
  }
  return total;
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "geostorm-test-XXXXXX").string();
  path_ = ::mkdtemp(pattern.data());
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

}  // namespace geostorm::testing
