// Test support: child processes, free ports and a plain HTTP GET, for tests that
// run the real binaries on loopback. Not thread-safe; one owner per object.
#ifndef GEOSTORM_TESTS_SUPPORT_PROCESS_H_
#define GEOSTORM_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace geostorm::testing {

// A child process (posix_spawn) with stdout and stderr in `log_path`. Killed
// (SIGKILL) when destroyed if still running, and when a sanitizer halts the test.
// A program that cannot be started exits 127 at once, with the reason in its log.
class Process {
 public:
  Process(const std::vector<std::string>& argv, const std::string& log_path);
  Process(Process&& other) noexcept;
  Process& operator=(Process&&) = delete;
  ~Process();

  // The exit code, or nullopt if it is still running after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  void Signal(int signal);
  // SIGSTOP, returning once every thread of it has stopped; or SIGCONT.
  void Freeze(bool frozen);
  bool running();
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const;

 private:
  void Reaped(int wait_status);  // waitpid's status: the exit code kept, the pid untracked

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// A TCP port on 127.0.0.1 that was free a moment ago, from a block of ports
// that no other test process running at the same time draws from. Only for
// programs that cannot bind port 0 and say which port they got (Prometheus): our
// own processes do (their event files), and addresses needed before a process
// starts are Unix sockets.
int FreePort();

// The body of http://127.0.0.1:port/path, or an empty string on failure.
std::string HttpGet(int port, const std::string& path);

// The sum of the series of metric `name` on http://127.0.0.1:port/metrics whose
// labels include every one of `labels` (each as `key="value"`); 0 when none does
// or nothing answers.
double MetricSum(int port, const std::string& name, const std::vector<std::string>& labels);

// A fresh temporary directory, removed with its contents when destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace geostorm::testing

#endif  // GEOSTORM_TESTS_SUPPORT_PROCESS_H_
