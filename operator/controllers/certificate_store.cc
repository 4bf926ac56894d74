#include "operator/controllers/certificate_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "control/credentials.h"
#include "core/status_macros.h"
#include "operator/controllers/desired_state.h"

namespace geostorm::controllers {

using kube::Json;

namespace {

// Whether `key` is there and need not be renewed yet.
bool Current(const std::map<std::string, KeyPair>& pairs, const std::string& key) {
  auto it = pairs.find(key);
  if (it == pairs.end()) return false;
  std::optional<std::chrono::system_clock::time_point> renewal = RenewalTime(it->second.cert_pem);
  return renewal && std::chrono::system_clock::now() < *renewal;
}

}  // namespace

bool CertificateStore::Complete(const std::map<std::string, KeyPair>& pairs, const api::JobSpec& spec) const {
  return pairs.count(kCaKey) &&
         std::all_of(spec.data_centers.begin(), spec.data_centers.end(),
                     [&](const api::DataCenterSpec& dc) { return Current(pairs, dc.name); }) &&
         (controller_host_.empty() || Current(pairs, kControllerKey));
}

absl::StatusOr<std::map<std::string, KeyPair>> CertificateStore::Ensure(const Json& job, const api::JobSpec& spec) {
  const std::string ns = job["metadata"].value("namespace", "");
  const std::string job_name = job["metadata"].value("name", "");
  const std::string uid = job["metadata"].value("uid", "");
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto cached = cache_.find(uid);
    if (cached != cache_.end() && Complete(cached->second, spec)) return cached->second;
  }
  const std::string name = absl::StrCat(job_name, "-geostorm-ca");
  ASSIGN_OR_RETURN(Pairs pairs, Read(ns, name));
  bool changed = false;
  if (!pairs.count(kCaKey)) {
    if (!pairs.empty()) {  // certificates without the CA that signed them
      return absl::FailedPreconditionError(absl::StrCat("Secret ", ns, "/", name,
                                                        " holds certificates but no CA (ca.crt, ca.key); delete it "
                                                        "to mint a new CA and new certificates"));
    }
    ASSIGN_OR_RETURN(pairs[kCaKey], MakeCertificateAuthority(absl::StrCat("geostorm job ", ns, "/", job_name)));
    changed = true;
  }
  const JobRef ref{ns, job_name};
  for (const api::DataCenterSpec& dc : spec.data_centers) {
    // A certificate minted before sidecars checked their peers' DC names is minted
    // again, and one with less than a third of its validity left is renewed.
    const std::string identity = control::DataCenterIdentity(SidecarJobName(ref), dc.name);
    if (Current(pairs, dc.name) && CertifiesName(pairs[dc.name].cert_pem, identity)) continue;
    if (pairs.count(dc.name)) spdlog::info("job {}/{}: renewing DC {}'s certificate", ns, job_name, dc.name);
    const std::string gateway = GatewayServiceName(ref, dc.name);
    const std::string headless = absl::StrCat(job_name, "-", dc.name);
    ASSIGN_OR_RETURN(pairs[dc.name], MakeCertificate(pairs[kCaKey], absl::StrCat(job_name, "-", dc.name),
                                                     {identity, gateway, absl::StrCat(gateway, ".", ns, ".svc"),
                                                      absl::StrCat(gateway, ".", ns, ".svc.cluster.local"),
                                                      absl::StrCat("*.", headless, ".", ns, ".svc"),
                                                      absl::StrCat("*.", headless, ".", ns, ".svc.cluster.local")}));
    changed = true;
  }
  if (!controller_host_.empty() && !Current(pairs, kControllerKey)) {
    // The job's policy controller serves the gateways under the operator's address.
    ASSIGN_OR_RETURN(pairs[kControllerKey],
                     MakeCertificate(pairs[kCaKey], absl::StrCat(job_name, " policy controller"), {controller_host_}));
    changed = true;
  }
  if (changed) RETURN_IF_ERROR(Write(job, name, pairs));
  std::lock_guard<std::mutex> lock(mu_);
  cache_[uid] = pairs;
  return pairs;
}

void CertificateStore::Forget(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  cache_.erase(uid);
}

absl::StatusOr<std::map<std::string, KeyPair>> CertificateStore::Read(const std::string& ns, const std::string& name) {
  std::map<std::string, KeyPair> pairs;
  absl::StatusOr<Json> secret = host_.Get(kube::kSecrets, ns, name);
  if (absl::IsNotFound(secret.status())) return pairs;
  if (!secret.ok()) return secret.status();
  const Json data = secret->value("data", Json::object());
  for (const auto& [key, value] : data.items()) {
    const size_t dot = key.rfind('.');
    const std::string part = dot == std::string::npos ? "" : key.substr(dot);
    if (part != ".crt" && part != ".key") continue;  // not ours
    std::string decoded;
    if (!value.is_string() || !absl::Base64Unescape(value.get<std::string>(), &decoded) || decoded.empty()) {
      return absl::DataLossError(
          absl::StrCat("Secret ", ns, "/", name, ": data.", key, " is not a base64-encoded PEM value"));
    }
    KeyPair& pair = pairs[key.substr(0, dot)];
    (part == ".crt" ? pair.cert_pem : pair.key_pem) = decoded;
  }
  for (const auto& [key, pair] : pairs) {
    if (pair.cert_pem.empty() || pair.key_pem.empty()) {
      return absl::DataLossError(absl::StrCat("Secret ", ns, "/", name, ": data.", key,
                                              pair.cert_pem.empty() ? ".crt" : ".key", " is missing"));
    }
  }
  return pairs;
}

absl::Status CertificateStore::Write(const Json& job, const std::string& name,
                                     const std::map<std::string, KeyPair>& pairs) {
  const std::string ns = job["metadata"].value("namespace", "");
  const std::string job_name = job["metadata"].value("name", "");
  Json data = Json::object();
  for (const auto& [key, pair] : pairs) {
    data[key + ".crt"] = absl::Base64Escape(pair.cert_pem);
    data[key + ".key"] = absl::Base64Escape(pair.key_pem);
  }
  const Json owner = {
      {"apiVersion", job.value("apiVersion", "")}, {"kind", "GeoTrainingJob"}, {"name", job_name},
      {"uid", job["metadata"].value("uid", "")},   {"controller", true},       {"blockOwnerDeletion", true}};
  const Json object = {
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"labels", {{kManagedByLabel, kManagedBy}, {kJobNamespaceLabel, ns}, {kJobNameLabel, job_name}}},
        {"ownerReferences", Json::array({owner})}}},
      {"type", "Opaque"},
      {"data", data}};
  return host_.Apply(kube::kSecrets, object).status();
}

}  // namespace geostorm::controllers
