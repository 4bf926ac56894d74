// The Kubernetes resource types geostorm-operator touches, and where they live in
// the API's URL space. Plain values; thread-safe.
#ifndef GEOSTORM_OPERATOR_KUBE_RESOURCE_H_
#define GEOSTORM_OPERATOR_KUBE_RESOURCE_H_

#include <string>

namespace geostorm::kube {

struct Resource {
  std::string group;  // "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "/api/v1/namespaces/ns/pods/name/status"; empty parts are left out.
  std::string Path(const std::string& ns, const std::string& name = "", const std::string& subresource = "") const;
};

inline const Resource kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const Resource kPods{"", "v1", "pods", "Pod", true};
inline const Resource kServices{"", "v1", "services", "Service", true};
inline const Resource kSecrets{"", "v1", "secrets", "Secret", true};
inline const Resource kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
inline const Resource kEvents{"", "v1", "events", "Event", true};
inline const Resource kLeases{"coordination.k8s.io", "v1", "leases", "Lease", true};
inline const Resource kGeoTrainingJobs{"geostorm.io", "v1alpha1", "geotrainingjobs", "GeoTrainingJob", true};
inline const Resource kGeoClusters{"geostorm.io", "v1alpha1", "geoclusters", "GeoCluster", false};
inline const Resource kTopologyPolicies{"geostorm.io", "v1alpha1", "topologypolicies", "TopologyPolicy", true};

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_RESOURCE_H_
