// A job's first policy, and its record as a TopologyPolicy. Nothing is measured
// before the workers run, so the first plan assumes every link alike; the policy
// controller re-plans from measured rates once the job runs. Pure; thread-safe.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_INITIAL_POLICY_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_INITIAL_POLICY_H_

#include <string>
#include <vector>

#include "core/policy/policy.h"
#include "core/topology/topology.h"
#include "operator/api/job_spec.h"
#include "operator/controllers/desired_state.h"

namespace geostorm::controllers {

// A full mesh of the job's DCs, every link at one guessed rate (only relative rates
// matter to the planners): what is known before any link is measured.
core::Topology UniformGuess(const api::JobSpec& spec);
// Plans `spec`'s strategy, roots, multipath and sizes on UniformGuess(spec).
[[nodiscard]] absl::StatusOr<core::Policy> PlanInitialPolicy(const api::JobSpec& spec, uint64_t version);
// What the plan depends on: a new value means a new policy version.
std::string PlanFingerprint(const api::JobSpec& spec);
// The root DCs of the policy's shards, in shard order, each once.
std::vector<std::string> PolicyRoots(const core::Policy& policy);

// TopologyPolicy `<job>-v<version>`, owned by `owner` (the GeoTrainingJob).
Json TopologyPolicyObject(const JobRef& job, const Json& owner, const core::Policy& policy,
                          const std::string& plan_fingerprint);
// The ConfigMap `<job>-<dc>-policy` (key policy.json) the DC's gateway reads;
// `policy_json` is core::ToJson(policy), made once for all DCs.
Json PolicyConfigMap(const JobRef& job, const std::string& dc, const std::string& policy_json);

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_INITIAL_POLICY_H_
