// A job's mTLS material: one CA per job, and per data center a certificate for
// both server and client use, with the gateway's DNS names. ECDSA P-256, via
// OpenSSL. Thread-safe.
//
//   absl::StatusOr<KeyPair> ca = MakeCertificateAuthority("geostorm job default/resnet");
//   absl::StatusOr<KeyPair> eu = MakeCertificate(*ca, "resnet-eu", {"resnet-eu-gateway"});
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATES_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATES_H_

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace geostorm::controllers {

struct KeyPair {
  std::string cert_pem;
  std::string key_pem;
};

inline constexpr std::chrono::seconds kCaValidity = std::chrono::hours(24 * 3650);
inline constexpr std::chrono::seconds kCertificateValidity = std::chrono::hours(24 * 825);

// Each is valid from 5 minutes ago (clock skew) for `validity` from now.
[[nodiscard]] absl::StatusOr<KeyPair> MakeCertificateAuthority(const std::string& common_name,
                                                               std::chrono::seconds validity = kCaValidity);
// `names` are DNS names or IP addresses.
[[nodiscard]] absl::StatusOr<KeyPair> MakeCertificate(const KeyPair& ca, const std::string& common_name,
                                                      const std::vector<std::string>& names,
                                                      std::chrono::seconds validity = kCertificateValidity);
// When the PEM certificate is due to be renewed: once less than a third of its
// validity period is left. nullopt when it is not PEM.
std::optional<std::chrono::system_clock::time_point> RenewalTime(const std::string& cert_pem);
// Whether the PEM certificate is for the DNS name `name` (false when it is not PEM).
bool CertifiesName(const std::string& cert_pem, const std::string& name);

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATES_H_
