#include "operator/controllers/dry_run.h"

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"
#include "operator/controllers/certificate_store.h"
#include "operator/controllers/initial_policy.h"

namespace geostorm::controllers {

std::vector<std::pair<const kube::Resource*, Json>> DcObjects(const JobRef& job, const api::JobSpec& spec,
                                                              const std::string& dc,
                                                              const std::map<std::string, KeyPair>& certificates,
                                                              const std::string& policy_json) {
  std::vector<std::pair<const kube::Resource*, Json>> objects = {
      {&kube::kServices, HeadlessService(job, spec, dc)},
      {&kube::kServices, GatewayService(job, spec, dc)},
      {&kube::kSecrets, TlsSecret(job, dc, certificates.at(CertificateStore::kCaKey).cert_pem, certificates.at(dc))}};
  if (!policy_json.empty()) objects.emplace_back(&kube::kConfigMaps, PolicyConfigMap(job, dc, policy_json));
  return objects;
}

absl::Status DryRunJob(const JobRef& job, const api::JobSpec& spec,
                       const std::vector<std::shared_ptr<const MemberCluster>>& members,
                       const std::map<std::string, KeyPair>& certificates, const std::string& policy_json,
                       const std::string& controller_address) {
  for (size_t i = 0; i < spec.data_centers.size(); ++i) {
    const api::DataCenterSpec& dc = spec.data_centers[i];
    const MemberCluster& member = *members[i];
    RETURN_IF_ERROR(member.EnsureNamespace(job.ns));
    std::vector<std::pair<const kube::Resource*, Json>> objects =
        DcObjects(job, spec, dc.name, certificates, policy_json);
    std::map<std::string, std::string> peers;  // addresses are not known yet; any will do
    for (const api::DataCenterSpec& other : spec.data_centers) {
      if (other.name != dc.name) peers[other.name] = absl::StrCat("0.0.0.0:", spec.data_port);
    }
    for (int replica = 0; replica < std::min(dc.replicas, 2); ++replica) {  // a gateway's pod, and a member's
      Json pod = WorkerPod(job, spec, i, replica, peers, controller_address);
      // A pass that read the job before the Created condition reached its cache
      // finds the pods made: they were admitted, and applying these stand-in peer
      // addresses to them would be refused as a change to an immutable pod.
      absl::StatusOr<Json> existing =
          member.client->Get(kube::kPods, job.ns, pod["metadata"]["name"].get<std::string>());
      if (existing.ok()) continue;
      if (!absl::IsNotFound(existing.status())) return existing.status();
      objects.emplace_back(&kube::kPods, std::move(pod));
    }
    for (const auto& [resource, object] : objects) {
      absl::Status s = member.client->DryRunApply(*resource, object);
      if (absl::IsInvalidArgument(s)) {
        // The client's message is "<request>: <the server's reason>"; the request says nothing to a user.
        const std::string message(s.message());
        const size_t reason = message.find(": ");
        return absl::InvalidArgumentError(absl::StrCat(
            "spec.dataCenters[", i, "]: cluster '", member.name.empty() ? "(host)" : member.name, "' would refuse ",
            object["kind"].get<std::string>(), " ", object["metadata"]["name"].get<std::string>(), ": ",
            reason == std::string::npos ? message : message.substr(reason + 2)));
      }
      RETURN_IF_ERROR(s);
    }
  }
  return absl::OkStatus();
}

}  // namespace geostorm::controllers
