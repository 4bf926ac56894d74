// The GeoCluster reconciler: reads the cluster's Secret (a kubeconfig under
// `kubeconfig`, or `token` and `ca.crt` with spec.server), builds a client, checks
// it reaches the API server, registers it (with its informers) and sets the Ready
// condition with the reason when it cannot. Re-checks periodically. Thread-safe.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_CLUSTER_CONTROLLER_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_CLUSTER_CONTROLLER_H_

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "operator/controllers/cluster_registry.h"
#include "operator/controllers/event_recorder.h"

namespace geostorm::controllers {

struct ClusterControllerOptions {
  std::chrono::milliseconds recheck{30000};       // a Ready cluster is checked again after this
  std::chrono::milliseconds retry{5000};          // and an unready one after this
  std::chrono::milliseconds sync_timeout{10000};  // for a new member's informers
};

class ClusterController {
 public:
  // `on_ready_change` is told when a cluster becomes usable or stops being usable,
  // so jobs waiting on it are reconciled.
  ClusterController(kube::Client& host, kube::Informer& clusters, ClusterRegistry& registry, EventRecorder& events,
                    std::function<void()> on_ready_change, ClusterControllerOptions options = {});

  [[nodiscard]] absl::StatusOr<std::optional<std::chrono::milliseconds>> Reconcile(const std::string& name);

 private:
  absl::StatusOr<kube::ClusterConfig> ConfigFor(const kube::Json& cluster);
  // True when `ready` is news for the cluster (and records it).
  bool Announce(const std::string& name, bool ready);

  kube::Client& host_;
  kube::Informer& clusters_;
  ClusterRegistry& registry_;
  EventRecorder& events_;
  const std::function<void()> on_ready_change_;
  const ClusterControllerOptions options_;
  // The readiness last announced (log and Event) per cluster: the informer's copy of
  // the status may not show the last patch yet, and a flip is said once.
  std::mutex announced_mu_;
  std::map<std::string, bool> announced_;
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_CLUSTER_CONTROLLER_H_
