#include "operator/controllers/initial_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"

namespace geostorm::controllers {

core::Topology UniformGuess(const api::JobSpec& spec) {
  core::Topology topology;
  topology.name = "uniform guess";
  topology.kind = core::TopologyKind::kMesh;
  for (const api::DataCenterSpec& dc : spec.data_centers) topology.data_centers.push_back(dc.name);
  const int n = static_cast<int>(topology.data_centers.size());
  for (int from = 0; from < n; ++from) {
    for (int to = 0; to < n; ++to) {
      if (from != to) topology.links.push_back({from, to, 1000});
    }
  }
  return topology;
}

absl::StatusOr<core::Policy> PlanInitialPolicy(const api::JobSpec& spec, uint64_t version) {
  core::PlanOptions options;
  options.roots = spec.roots;
  options.multipath = spec.multipath;
  options.version = version;
  return core::PlanTopology(UniformGuess(spec), spec.strategy, spec.model_bytes, spec.chunk_bytes, options);
}

std::string PlanFingerprint(const api::JobSpec& spec) {
  std::vector<std::string> dcs;
  for (const api::DataCenterSpec& dc : spec.data_centers) dcs.push_back(dc.name);
  return absl::StrCat(spec.strategy, "/roots=", spec.roots, "/multipath=", spec.multipath, "/model=", spec.model_bytes,
                      "/chunk=", spec.chunk_bytes, "/dcs=", absl::StrJoin(dcs, ","));
}

std::vector<std::string> PolicyRoots(const core::Policy& policy) {
  std::vector<std::string> roots;
  for (const core::ShardPlan& shard : policy.shards) {
    const std::string& dc = policy.data_centers[shard.root];
    if (std::find(roots.begin(), roots.end(), dc) == roots.end()) roots.push_back(dc);
  }
  return roots;
}

Json TopologyPolicyObject(const JobRef& job, const Json& owner, const core::Policy& policy,
                          const std::string& plan_fingerprint) {
  const Json owner_ref = {{"apiVersion", owner.value("apiVersion", "geostorm.io/v1alpha1")},
                          {"kind", "GeoTrainingJob"},
                          {"name", job.name},
                          {"uid", owner["metadata"].value("uid", "")},
                          {"controller", true},
                          {"blockOwnerDeletion", true}};
  return {{"apiVersion", "geostorm.io/v1alpha1"},
          {"kind", "TopologyPolicy"},
          {"metadata",
           {{"name", absl::StrCat(job.name, "-v", policy.version)},
            {"namespace", job.ns},
            {"labels", {{kManagedByLabel, kManagedBy}, {kJobNamespaceLabel, job.ns}, {kJobNameLabel, job.name}}},
            {"ownerReferences", Json::array({owner_ref})}}},
          {"spec",
           {{"jobName", job.name},
            {"version", policy.version},
            {"strategy", policy.strategy},
            {"roots", PolicyRoots(policy)},
            {"predictedSeconds", std::round(policy.predicted_seconds * 1000) / 1000},
            {"fromIteration", 0},
            {"specFingerprint", plan_fingerprint},
            {"policy", Json::parse(core::ToJson(policy, -1))}}}};
}

Json PolicyConfigMap(const JobRef& job, const std::string& dc, const std::string& policy_json) {
  Json object = {
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata",
       {{"name", absl::StrCat(job.name, "-", dc, "-policy")},
        {"namespace", job.ns},
        {"labels",
         {{kManagedByLabel, kManagedBy}, {kJobNamespaceLabel, job.ns}, {kJobNameLabel, job.name}, {kDcLabel, dc}}}}},
      {"data", {{"policy.json", policy_json}}}};
  Stamp(object);
  return object;
}

}  // namespace geostorm::controllers
