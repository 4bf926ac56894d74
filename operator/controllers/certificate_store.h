// CertificateStore: each job's mTLS material (its CA, a certificate per DC for
// the gateway's names, and one for its policy controller), kept in the host
// Secret `<job>-geostorm-ca` owned by the job, and cached per job UID. What is
// missing is minted and written back; what is there is reused, so certificates
// survive operator restarts. A DC's or the controller's certificate with less than a
// third of its validity left is renewed, from the same CA; the job's reconcile
// then updates the member Secrets, and the running sidecars reload their files.
//
// A Secret that cannot be read back (a value that is not base64, a certificate
// without its key) is an error naming the Secret and the key. It is never
// replaced with a new CA: that would silently invalidate every certificate the
// job's pods already hold.
//
//   CertificateStore store(host, "geostorm-operator.geostorm.svc");
//   absl::StatusOr<std::map<std::string, KeyPair>> pairs = store.Ensure(job, spec);
//   const KeyPair& ca = pairs->at(CertificateStore::kCaKey);
//
// Thread-safe.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATE_STORE_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATE_STORE_H_

#include <map>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "operator/api/job_spec.h"
#include "operator/controllers/certificates.h"
#include "operator/kube/client.h"

namespace geostorm::controllers {

class CertificateStore {
 public:
  static constexpr char kCaKey[] = "ca";
  static constexpr char kControllerKey[] = "controller";
  using Pairs = std::map<std::string, KeyPair>;  // by key

  // `controller_host`: the name the job's policy controller is dialled by, for its
  // certificate; empty when the operator runs no policy controllers.
  CertificateStore(kube::Client& host, std::string controller_host)
      : host_(host), controller_host_(std::move(controller_host)) {}

  // Every pair the job needs, by key: kCaKey, each DC's name, and kControllerKey.
  [[nodiscard]] absl::StatusOr<std::map<std::string, KeyPair>> Ensure(const kube::Json& job, const api::JobSpec& spec);
  // Drops the cache of a job that is gone.
  void Forget(const std::string& uid);

 private:
  bool Complete(const std::map<std::string, KeyPair>& pairs, const api::JobSpec& spec) const;
  // What the job's Secret holds; empty when there is none.
  absl::StatusOr<std::map<std::string, KeyPair>> Read(const std::string& ns, const std::string& name);
  absl::Status Write(const kube::Json& job, const std::string& name, const std::map<std::string, KeyPair>& pairs);

  kube::Client& host_;
  const std::string controller_host_;
  std::mutex mu_;
  std::map<std::string, std::map<std::string, KeyPair>> cache_;  // by job uid
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_CERTIFICATE_STORE_H_
