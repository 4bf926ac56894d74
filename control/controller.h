// Controller: the policy controller's reconcile loop, shared by the operator and
// `geostorm local`. Every interval it
//   1. reads the link matrix from its LinkSource (Prometheus, or the sidecars'
//      reports); when the source fails it keeps the last good matrix and policy,
//      and says so (log, status, metrics);
//   2. asks the gateways to probe links whose estimates went stale, and after a
//      link's rate changed, every link last measured before the change;
//   3. re-plans (Replan: hysteresis on predicted time, or a link gone), and rolls
//      a new policy out through the ControlService.
// Between passes it watches the matrix, and a change starts the next pass early.
// Metrics (prometheus-cpp, on the registry given):
//   geostorm_controller_policy_versions_published_total{job}
//   geostorm_controller_rollouts_total{job,outcome="committed|aborted"}
//   geostorm_controller_replan_duration_seconds{job} (histogram)
//   geostorm_controller_predicted_iteration_seconds{job}, ..._observed_iteration_seconds{job},
//   geostorm_controller_t_min_seconds{job}
//   geostorm_controller_link_matrix_age_seconds{job}, geostorm_controller_source_up{job}
//   geostorm_controller_link_bytes_per_second{job,src,dst}: the matrix as planned on
#ifndef GEOSTORM_CONTROL_CONTROLLER_H_
#define GEOSTORM_CONTROL_CONTROLLER_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "control/control_service.h"
#include "control/link_source.h"
#include "control/replanner.h"

namespace prometheus {
class Registry;
}

namespace geostorm::control {

struct ControllerConfig {
  std::string job = "job";
  ReplanOptions replan;
  std::chrono::milliseconds interval{10000};
  // Between passes the link matrix is read this often, and a change of a link's
  // rate starts the next pass at once.
  std::chrono::milliseconds watch{500};
  // After probes sent for a change, the next pass comes this soon.
  std::chrono::milliseconds probe_wait{1000};
  double stale_after_seconds = 10;
  // When a link's estimate has moved (LinkMatrix::kChange), links last measured
  // more than this long before the change are probed too, and a new plan waits for
  // them one pass.
  double stale_after_change_seconds = 1;
  // A new policy runs this many iterations before the next may replace it: the link
  // estimates must first show how the links carry it, or the controller chases its
  // own moves (93 rollouts in four minutes on klonet-9dc-dynamic without it).
  uint64_t settle_iterations = 3;
  // ...unless it runs, or on the links as now measured would run, this many times
  // slower than it was predicted to.
  double misplanned_ratio = 2.0;
  // Tests of the rollout protocol: roll a different policy out as soon as the last
  // one is decided and the job has moved on an iteration (cycling strategies).
  bool force_every_iteration = false;
};

struct ControllerStatus {
  bool source_ok = true;
  std::string source_message;  // the last read's error, when the source failed
  std::string last_decision;
  double matrix_age_seconds = 0;
};

class Controller {
 public:
  Controller(ControllerConfig config, core::Topology topology, ControlService* service,
             std::unique_ptr<LinkSource> source, const std::shared_ptr<prometheus::Registry>& registry = nullptr);
  ~Controller();

  // One pass of the loop. Returns what it did, or why it did nothing.
  std::string ReconcileOnce();
  // Loops until `stop`.
  void Run(const std::atomic<bool>& stop);

  ControllerStatus status() const;

 private:
  struct Metrics;
  bool Publish(core::Policy policy, const std::string& reason);  // true when committed
  void ForceLoop(const std::atomic<bool>& stop);
  void UpdateMetrics();
  // Reads the source into the matrix, and its health into the status.
  absl::Status ReadSource(Clock::time_point now);
  // The pass after the read: probes, re-plans and rolls out.
  std::string Reconcile(Clock::time_point now);

  const ControllerConfig config_;
  ControlService* const service_;
  std::unique_ptr<LinkSource> source_;
  LinkMatrix matrix_;
  std::vector<core::DirectedLink> planned_;  // the rates the policy in force was planned on
  Clock::time_point change_seen_{};          // the matrix's last change already answered with probes
  bool awaited_probes_ = false;              // the last pass kept the policy to wait for probes
  std::unique_ptr<Metrics> metrics_;
  mutable std::mutex mu_;
  ControllerStatus status_;
};

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_CONTROLLER_H_
