// The live policy controller of each running job, inside the operator: for every
// job, control/'s ControlService (the rollout protocol the gateways subscribe to)
// on its own gRPC port, its state in the job's TopologyPolicies
// (TopologyPolicyStore), and a Controller that re-plans from measured link rates
// (Prometheus when the job names it, else the gateways' own reports). gRPC stays
// in policy_runner.cc. Thread-safe.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_POLICY_RUNNER_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_POLICY_RUNNER_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/policy/policy.h"
#include "operator/api/job_spec.h"
#include "operator/controllers/certificates.h"
#include "operator/controllers/desired_state.h"
#include "operator/kube/client.h"

namespace geostorm::controllers {

struct PolicyRunnerOptions {
  std::string advertise_host;         // what gateways dial (the operator's Service or address)
  std::string bind_host = "0.0.0.0";  // where the per-job servers listen
  bool insecure = false;              // plaintext gRPC (tests only); else mTLS with the job's CA
  // The ports the per-job servers may take, inclusive (a Service forwards them);
  // 0: any free port.
  int first_port = 0;
  int last_port = 0;
};

struct JobPolicyView {
  std::string address;  // host:port the job's gateways dial
  int port = 0;
  uint64_t version = 0;
  std::vector<std::string> roots;
  uint64_t iteration = 0;  // the highest a gateway reported
};

class PolicyRunners {
 public:
  PolicyRunners(kube::Client& host, PolicyRunnerOptions options);
  ~PolicyRunners();

  // Starts job `uid`'s controller if it is not running (`initial` is its first
  // policy when nothing is stored yet; `certificates` has "ca" and "controller"),
  // and returns what it shows.
  // `port` is the one the job used before (0: any): pods keep their arguments
  // across operator restarts when it is free.
  [[nodiscard]] absl::StatusOr<JobPolicyView> Ensure(const kube::Json& job, const api::JobSpec& spec,
                                                     const core::Policy& initial,
                                                     const std::map<std::string, KeyPair>& certificates, int port);
  void Stop(const std::string& uid);
  const std::string& advertise_host() const { return options_.advertise_host; }

 private:
  struct Runner;
  kube::Client& host_;
  const PolicyRunnerOptions options_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<Runner>> runners_;
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_POLICY_RUNNER_H_
