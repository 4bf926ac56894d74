// gRPC credentials for sidecars and the controller: mutual TLS from PEM files
// (servers require and verify client certificates), or plaintext when asked for
// explicitly (local runs). The files are read again every `reload`, so a renewed
// certificate written over them (the operator's Secret, updated in place by the
// kubelet) serves every handshake after that without a restart; connections made
// before keep theirs.
#ifndef GEOSTORM_CONTROL_CREDENTIALS_H_
#define GEOSTORM_CONTROL_CREDENTIALS_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
class ChannelCredentials;
}  // namespace grpc

namespace geostorm::control {

struct TlsFiles {
  std::string cert, key, ca;  // PEM files; all three, or none with `insecure`
  std::chrono::seconds reload = std::chrono::seconds(10);
};

struct Credentials {
  std::shared_ptr<grpc::ServerCredentials> server;
  std::shared_ptr<grpc::ChannelCredentials> channel;
};

// Errors name the flag (--tls-cert, --tls-key, --tls-ca) that is missing or unreadable.
[[nodiscard]] absl::StatusOr<Credentials> MakeCredentials(const TlsFiles& files, bool insecure);

// The name a DC's sidecar certificate carries (as a DNS subject alternative name),
// "<dc>.<job>.geostorm", and that a sidecar dialling that DC over TLS requires: a
// certificate from the job's CA for another DC is refused. Empty when `insecure`.
std::string DataCenterIdentity(const std::string& job, const std::string& dc, bool insecure = false);

// The DCs of `job` that a certificate with these DNS names speaks for: each
// "<dc>.<job>.geostorm" names dc, and "*.<job>.geostorm" names every DC ("*").
std::vector<std::string> DataCentersNamed(const std::string& job, const std::vector<std::string>& dns_names);

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_CREDENTIALS_H_
