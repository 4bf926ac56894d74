#include "control/credentials.h"

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace geostorm::control {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(what, ": cannot read '", path, "'"));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<Credentials> MakeCredentials(const TlsFiles& files, bool insecure) {
  if (insecure) {
    static std::once_flag warned;  // once per process (the operator makes credentials per job)
    std::call_once(warned, [] {
      spdlog::warn(
          "--insecure: plaintext gRPC; peers are not authenticated and nothing is encrypted (local runs only)");
    });
    return Credentials{grpc::InsecureServerCredentials(), grpc::InsecureChannelCredentials()};
  }
  if (files.cert.empty() || files.key.empty() || files.ca.empty()) {
    return absl::InvalidArgumentError("give --tls-cert, --tls-key and --tls-ca, or --insecure for plaintext");
  }
  // Read once now, so that a file that is missing or empty is an error naming its
  // flag rather than a failed handshake later.
  for (const auto& [path, flag] :
       {std::pair{files.cert, "--tls-cert"}, std::pair{files.key, "--tls-key"}, std::pair{files.ca, "--tls-ca"}}) {
    absl::StatusOr<std::string> text = ReadFile(path, flag);
    if (!text.ok()) return text.status();
    if (text->empty()) return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is empty"));
  }
  if (files.reload < std::chrono::seconds(1)) return absl::InvalidArgumentError("--tls-reload-s must be at least 1");
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files.key, files.cert, files.ca, static_cast<unsigned>(files.reload.count()));
  grpc::experimental::TlsServerCredentialsOptions server(provider);
  server.watch_root_certs();
  server.watch_identity_key_cert_pairs();
  server.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::experimental::TlsChannelCredentialsOptions channel;
  channel.set_certificate_provider(provider);
  channel.watch_root_certs();
  channel.watch_identity_key_cert_pairs();
  return Credentials{grpc::experimental::TlsServerCredentials(server), grpc::experimental::TlsCredentials(channel)};
}

std::string DataCenterIdentity(const std::string& job, const std::string& dc, bool insecure) {
  return insecure ? "" : absl::StrCat(dc, ".", job, ".geostorm");
}

std::vector<std::string> DataCentersNamed(const std::string& job, const std::vector<std::string>& dns_names) {
  const std::string suffix = DataCenterIdentity(job, "");  // ".<job>.geostorm"
  std::vector<std::string> dcs;
  for (const std::string& name : dns_names) {
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix)) {
      dcs.push_back(name.substr(0, name.size() - suffix.size()));
    }
  }
  return dcs;
}

}  // namespace geostorm::control
