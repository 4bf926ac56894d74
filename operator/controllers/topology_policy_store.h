// The rollout state of one job kept as its TopologyPolicy objects (a
// control::StateStore): every committed or pending activation is the object
// `<job>-v<version>`, owned by the job, with spec.phase Committed, Pending or
// Aborted and spec.fromIteration the iteration it applies from. Load() rebuilds the
// state from them; versions are never reused (the next is one past the highest
// object, and a pending version that was dropped is marked Aborted, not deleted).
// `kubectl get topologypolicies` is therefore the job's policy history.
// Not thread-safe; one per job and caller.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_TOPOLOGY_POLICY_STORE_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_TOPOLOGY_POLICY_STORE_H_

#include <map>
#include <string>

#include "control/rollout_state.h"
#include "operator/controllers/desired_state.h"
#include "operator/kube/client.h"

namespace geostorm::controllers {

class TopologyPolicyStore final : public control::StateStore {
 public:
  // `owner` is the GeoTrainingJob; `plan_fingerprint` is written into objects this
  // store creates (what the plan was made for).
  TopologyPolicyStore(kube::Client& host, JobRef job, kube::Json owner, std::string plan_fingerprint = "");

  absl::StatusOr<control::RolloutState> Load() override;
  absl::Status Save(const control::RolloutState& state) override;

  // After Load(): the plan fingerprint recorded with `version` ("" if none).
  std::string PlanFingerprintOf(uint64_t version) const;

 private:
  absl::Status Write(const core::Activation& activation, const std::string& phase);

  kube::Client& host_;
  const JobRef job_;
  const kube::Json owner_;
  const std::string plan_fingerprint_;
  std::map<uint64_t, kube::Json> objects_;  // by version, as last read or written
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_TOPOLOGY_POLICY_STORE_H_
