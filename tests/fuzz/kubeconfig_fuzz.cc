// A kubeconfig (a member cluster's Secret, or a file). A refusal is an error, never
// an exception or a crash; one that parses names an https or http server.
#include <cstdint>
#include <string>

#include "operator/kube/config.h"
#include "tests/fuzz/require.h"

using geostorm::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<geostorm::kube::ClusterConfig> config =
      geostorm::kube::ParseKubeconfig(text, "", "/nonexistent-fuzz-dir");
  if (!config.ok()) {
    Require(!config.status().message().empty(), "a refusal says why");
    return 0;
  }
  Require(config->server.rfind("https://", 0) == 0 || config->server.rfind("http://", 0) == 0,
          "the server is an http(s) URL: " + config->server);
  return 0;
}
