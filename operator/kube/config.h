// How to reach one Kubernetes API server: from a kubeconfig (contexts, client
// certificates, bearer tokens, CA data or files, insecure-skip-tls-verify) or from a
// pod's service account. Pure parsing; no I/O beyond reading the named files.
//
//   absl::StatusOr<ClusterConfig> config = LoadKubeconfig("/etc/kube/config", "");
//   auto client = MakeClient(*config);
#ifndef GEOSTORM_OPERATOR_KUBE_CONFIG_H_
#define GEOSTORM_OPERATOR_KUBE_CONFIG_H_

#include <string>

#include "absl/status/statusor.h"

namespace geostorm::kube {

struct ClusterConfig {
  std::string server;           // https://host:port or http://host:port
  std::string ca_pem;           // trust these CAs (empty: the system's)
  std::string client_cert_pem;  // client-certificate authentication
  std::string client_key_pem;
  std::string token;       // a bearer token given inline
  std::string token_file;  // or a file holding it, re-read periodically
  bool insecure_skip_tls_verify = false;
  std::string namespace_ = "default";  // the context's namespace
};

// Parses kubeconfig YAML. `context` empty means current-context. Relative file
// paths resolve against `base_dir`. Errors name the kubeconfig field at fault.
[[nodiscard]] absl::StatusOr<ClusterConfig> ParseKubeconfig(const std::string& yaml, const std::string& context,
                                                            const std::string& base_dir);
[[nodiscard]] absl::StatusOr<ClusterConfig> LoadKubeconfig(const std::string& path, const std::string& context);

// In-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account under `root`
// (normally /var/run/secrets/kubernetes.io/serviceaccount).
[[nodiscard]] absl::StatusOr<ClusterConfig> InClusterConfig(const std::string& root);

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_CONFIG_H_
