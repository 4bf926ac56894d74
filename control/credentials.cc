#include "control/credentials.h"

#include <grpcpp/grpcpp.h>
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
  absl::StatusOr<std::string> cert = ReadFile(files.cert, "--tls-cert");
  absl::StatusOr<std::string> key = ReadFile(files.key, "--tls-key");
  absl::StatusOr<std::string> ca = ReadFile(files.ca, "--tls-ca");
  for (const auto* s : {&cert, &key, &ca}) {
    if (!s->ok()) return s->status();
  }
  grpc::SslServerCredentialsOptions server(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  server.pem_root_certs = *ca;
  server.pem_key_cert_pairs.push_back({*key, *cert});
  grpc::SslCredentialsOptions channel;
  channel.pem_root_certs = *ca;
  channel.pem_private_key = *key;
  channel.pem_cert_chain = *cert;
  return Credentials{grpc::SslServerCredentials(server), grpc::SslCredentials(channel)};
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
