// A job is created whole or refused whole. Before anything of a job is created,
// every member's API server is asked (server-side dry run, dryRun=All: nothing is
// stored) whether it would accept every object the job makes there: the Services,
// the TLS Secret, the policy ConfigMap and the worker pods (a gateway's and a
// member's; a pod that exists already was admitted, and is not asked about
// again). Thread-safe (it only reads its arguments and calls the clients).
//
//   absl::Status s = DryRunJob(ref, spec, members, certificates, policy_json, controller);
//   if (absl::IsInvalidArgument(s)) -> InvalidSpec, create nothing
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_DRY_RUN_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_DRY_RUN_H_

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "operator/controllers/cluster_registry.h"
#include "operator/controllers/desired_state.h"
#include "operator/kube/resource.h"

namespace geostorm::controllers {

// The Services, Secret and (without a controller: empty `policy_json` skips it)
// policy ConfigMap of one DC, as Provision applies them.
std::vector<std::pair<const kube::Resource*, Json>> DcObjects(const JobRef& job, const api::JobSpec& spec,
                                                              const std::string& dc,
                                                              const std::map<std::string, KeyPair>& certificates,
                                                              const std::string& policy_json);

// OK when every member would accept every object; InvalidArgument naming the DC,
// its cluster, the object and the server's reason for the first it refuses; other
// errors (a member unreachable) as they come, to retry. Makes the job's namespace
// in each member, as creating would (namespaces are shared, never the job's own).
[[nodiscard]] absl::Status DryRunJob(const JobRef& job, const api::JobSpec& spec,
                                     const std::vector<std::shared_ptr<const MemberCluster>>& members,
                                     const std::map<std::string, KeyPair>& certificates, const std::string& policy_json,
                                     const std::string& controller_address);

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_DRY_RUN_H_
