// The member clusters the operator can reach, by GeoCluster name ("" is the host
// cluster, where a data center with no `cluster` runs). Each has a client and
// informers on the pods, Services, Secrets and ConfigMaps geostorm manages there
// (kManaged); their events
// call `on_change` with the owning job's key. Thread-safe.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_CLUSTER_REGISTRY_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_CLUSTER_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/kube/informer.h"

namespace geostorm::controllers {

struct MemberCluster {
  std::string name;
  std::unique_ptr<kube::Client> client;
  // For the periodic reachability check: a short timeout and no retries, so that
  // a partitioned cluster is seen as such in seconds, not after the client's retries.
  std::unique_ptr<kube::Client> probe;
  std::unique_ptr<kube::Informer> pods;
  std::unique_ptr<kube::Informer> services;
  std::unique_ptr<kube::Informer> secrets;
  std::unique_ptr<kube::Informer> configmaps;
  std::string config_fingerprint;

  kube::Informer& informer(const kube::Resource& r) const;
  // Creates the namespace once per member (it may hold other things: never deleted).
  absl::Status EnsureNamespace(const std::string& ns) const;
  // The pods of job `ns/job` here, from the informer: name -> pod. With `dc`, only
  // that data center's.
  std::map<std::string, kube::Json> JobPods(const std::string& ns, const std::string& job,
                                            const std::string& dc = "") const;

 private:
  mutable std::mutex mu_;
  mutable std::set<std::string> namespaces_;
};

// What the operator manages in member clusters.
inline const std::vector<const kube::Resource*> kManaged = {&kube::kPods, &kube::kServices, &kube::kSecrets,
                                                            &kube::kConfigMaps};

class ClusterRegistry {
 public:
  using OnChange = std::function<void(const std::string& job_key)>;

  ClusterRegistry(OnChange on_change, kube::InformerOptions informer_options, kube::ClientOptions client_options,
                  std::chrono::milliseconds probe_timeout = std::chrono::seconds(5));
  ~ClusterRegistry();

  // Adds or replaces member `name`. Waits up to `sync_timeout` for its informers;
  // an unreachable cluster is an error. A ready member whose `config` is unchanged
  // is kept, once its API server answers a probe.
  absl::Status Set(const std::string& name, const kube::ClusterConfig& config, std::chrono::milliseconds sync_timeout);
  // Marks `name` known but unusable, with the reason a job's status will show.
  void SetError(const std::string& name, const std::string& reason);
  void Remove(const std::string& name);

  // NotFound (no such GeoCluster) or FailedPrecondition (known, not ready: why).
  absl::StatusOr<std::shared_ptr<const MemberCluster>> Get(const std::string& name) const;
  std::vector<std::shared_ptr<const MemberCluster>> All() const;

 private:
  const OnChange on_change_;
  const kube::InformerOptions informer_options_;
  const kube::ClientOptions client_options_;
  kube::ClientOptions probe_options_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<MemberCluster>> members_;
  std::map<std::string, std::string> errors_;
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_CLUSTER_REGISTRY_H_
