// SidecarMetrics: the Prometheus series a sidecar exports on /metrics. Their
// names are an interface (dashboards and the controller read them):
//   geostorm_link_throughput_bytes_per_second{job,src,dst}
//   geostorm_link_bytes_total{job,src,dst}, geostorm_link_busy_seconds_total{job,src,dst}
//   geostorm_iteration{job,dc}, geostorm_iteration_duration_seconds{job,dc}
//   geostorm_policy_version{job,dc}
//   geostorm_topology_edge{job,root,src,dst,kind}, geostorm_topology_node{job,dc,role}
//   geostorm_chunks_total{job,dc,phase,outcome}
//   geostorm_chunks_refused_total{job,dc,peer,reason}
// Every series is described in docs/metrics.md.
// Thread-safe.
#ifndef GEOSTORM_SIDECAR_METRICS_H_
#define GEOSTORM_SIDECAR_METRICS_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/policy/policy.h"
#include "sidecar/transport/link_meter.h"

namespace prometheus {
class Exposer;
class Gauge;
class Registry;
}  // namespace prometheus

namespace geostorm::sidecar {

class SidecarMetrics {
 public:
  // Serves /metrics on `listen` (host:port; port 0 picks one). kUnavailable,
  // naming the address and the reason, when it cannot listen there. Never throws.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SidecarMetrics>> Start(const std::string& listen, std::string job,
                                                                             std::string dc);
  ~SidecarMetrics();

  int port() const;

  // outcome: accepted, relayed, rejected, duplicate, checksum_error, dropped.
  void CountChunk(const std::string& phase, const std::string& outcome);
  void IterationDone(uint64_t iteration, double seconds);
  // The policy in force: its version, this DC's node and the edges it sends on
  // (the last policy's topology series are removed).
  void SetPolicy(const core::Policy& policy);
  // The refusal counters of these peers, at zero: a series that exists says "none".
  void StartRefusals(const std::vector<std::string>& peers);
  // A chunk from `peer` refused: reason is checksum_error, duplicate or rejected.
  void CountRefusal(const std::string& peer, const std::string& reason);
  // Copies a link meter's figures into the link series for this DC -> dst.
  void UpdateLink(const std::string& dst, const LinkMeter& meter);

 private:
  SidecarMetrics(std::string job, std::string dc);
  struct Series;
  const std::string job_, dc_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<Series> series_;
  std::mutex mu_;
  std::map<std::string, std::pair<int64_t, double>> last_link_;  // dst -> (bytes, busy) exported
  std::vector<prometheus::Gauge*> topology_;                     // the policy in force's node and edges
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_METRICS_H_
