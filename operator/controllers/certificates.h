// A job's mTLS material: one CA per job, and per data center a certificate for
// both server and client use, with the gateway's DNS names. ECDSA P-256, via
// OpenSSL. Thread-safe.
//
//   absl::StatusOr<KeyPair> ca = MakeCertificateAuthority("geostorm job default/resnet");
//   absl::StatusOr<KeyPair> eu = MakeCertificate(*ca, "resnet-eu", {"resnet-eu-gateway"});
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATES_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATES_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace geostorm::controllers {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

[[nodiscard]] absl::StatusOr<KeyPair> MakeCertificateAuthority(const std::string& common_name, int days = 3650);
// `names` are DNS names or IP addresses.
[[nodiscard]] absl::StatusOr<KeyPair> MakeCertificate(const KeyPair& ca, const std::string& common_name,
                                                      const std::vector<std::string>& names, int days = 825);
// Whether the PEM certificate is for the DNS name `name` (false when it is not PEM).
bool CertifiesName(const std::string& cert_pem, const std::string& name);

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATES_H_
