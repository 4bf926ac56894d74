#include "tests/support/kube_emulator.h"

#include <chrono>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace geostorm::testing {

std::string KubeEmulatorScript() { return std::string(GEOSTORM_SOURCE_DIR) + "/tests/support/kube_emulator.py"; }

KubeEmulator::KubeEmulator(const std::vector<std::string>& flags) {
  const std::string port_file = dir_.path() + "/port";
  std::vector<std::string> argv = {"/usr/bin/python3", KubeEmulatorScript(), "--port-file", port_file};
  argv.insert(argv.end(), flags.begin(), flags.end());
  process_ = std::make_unique<Process>(argv, dir_.path() + "/emulator.log");
  for (int i = 0; i < 200 && port_ == 0; ++i) {
    std::ifstream in(port_file);
    if (!(in >> port_)) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (!process_->running()) break;
  }
  if (port_ == 0) throw std::runtime_error("the Kubernetes API emulator did not start: " + process_->Log());
}

std::string KubeEmulator::WriteKubeconfig(const std::string& dir, const std::string& name) const {
  const std::string path = dir + "/" + name + ".kubeconfig";
  std::ofstream out(path);
  out << "apiVersion: v1\nkind: Config\nclusters:\n- name: " << name << "\n  cluster: {server: \"" << url()
      << "\"}\ncontexts:\n- name: " << name << "\n  context: {cluster: " << name
      << ", namespace: default}\ncurrent-context: " << name << "\n";
  return path;
}

}  // namespace geostorm::testing
