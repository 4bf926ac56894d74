// geostorm-operator's process: leader election, then informers, work queues and
// worker threads for the GeoCluster and GeoTrainingJob controllers, a periodic
// resync, and an HTTP endpoint with /healthz, /readyz and /metrics (reconcile
// counts and errors, durations, queue depth, leadership). A standby replica
// serves /healthz and /readyz while it waits for the Lease.
#ifndef GEOSTORM_OPERATOR_MANAGER_H_
#define GEOSTORM_OPERATOR_MANAGER_H_

#include <chrono>
#include <string>

#include "operator/controllers/cluster_controller.h"
#include "operator/controllers/job_controller.h"
#include "operator/kube/client.h"
#include "operator/kube/config.h"
#include "operator/leader_election.h"

namespace geostorm::manager {

struct ManagerOptions {
  kube::ClusterConfig host;
  LeaderElectionOptions leader;
  controllers::JobControllerOptions jobs;
  controllers::ClusterControllerOptions clusters;
  // With an advertise host, each job gets a live policy controller (see policy_runner.h).
  controllers::PolicyRunnerOptions control;
  std::string health_listen = "127.0.0.1:8081";  // port 0: a free one, written to port_file
  std::string port_file;                         // the health port, once listening; empty: not written
  int workers = 2;
  std::chrono::milliseconds resync{60000};
  std::chrono::seconds watch_timeout{300};
};

// Runs until `stop` (exit code 0) or until leadership is lost (1).
int Run(const ManagerOptions& options, kube::StopToken* stop);

}  // namespace geostorm::manager

#endif  // GEOSTORM_OPERATOR_MANAGER_H_
