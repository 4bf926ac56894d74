// Test support: the Kubernetes API emulator (kube_emulator.py) as a child process
// on a free loopback port, one per emulated cluster. Not thread-safe.
#ifndef GEOSTORM_TESTS_SUPPORT_KUBE_EMULATOR_H_
#define GEOSTORM_TESTS_SUPPORT_KUBE_EMULATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace geostorm::testing {

class KubeEmulator {
 public:
  // `flags` go to the emulator (e.g. "--split-events"). Blocks until it listens.
  explicit KubeEmulator(const std::vector<std::string>& flags = {});

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // A kubeconfig for it, written under `dir`; returns its path.
  std::string WriteKubeconfig(const std::string& dir, const std::string& name) const;
  std::string Log() const { return process_->Log(); }
  // Stops (SIGSTOP) or resumes the emulator: while stopped, the kernel still takes
  // connections but nothing answers, as behind a network partition.
  void Freeze(bool frozen) { process_->Freeze(frozen); }

 private:
  TempDir dir_;
  std::unique_ptr<Process> process_;
  int port_ = 0;
};

// The emulator script's path.
std::string KubeEmulatorScript();

}  // namespace geostorm::testing

#endif  // GEOSTORM_TESTS_SUPPORT_KUBE_EMULATOR_H_
