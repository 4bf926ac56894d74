// A job's first policy: planned for its DCs, strategy, roots and sizes, and recorded
// as a TopologyPolicy owned by the job.
#include "operator/controllers/initial_policy.h"

#include <gtest/gtest.h>

#include "core/policy/policy_codec.h"

namespace geostorm::controllers {
namespace {

api::JobSpec Spec(const std::string& strategy) {
  Json spec = Json::parse(R"({"dataCenters": [], "sync": {"roots": 2, "modelBytes": 8000000, "chunkBytes": 1048576}})");
  for (const char* dc : {"eu", "us", "ap"}) {
    spec["dataCenters"].push_back(
        {{"name", dc},
         {"replicas", 1},
         {"template", Json::parse(R"({"spec": {"containers": [{"name": "t", "image": "t"}]}})")}});
  }
  spec["sync"]["strategy"] = strategy;
  return *api::ParseJobSpec("resnet", spec);
}

TEST(InitialPolicy, PlansTheSpecAndRecordsIt) {
  absl::StatusOr<core::Policy> policy = PlanInitialPolicy(Spec("netstorm"), 1);
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->version, 1u);
  EXPECT_EQ(policy->strategy, "netstorm");
  EXPECT_EQ(policy->data_centers, (std::vector<std::string>{"eu", "us", "ap"}));
  EXPECT_EQ(policy->model_bytes, 8000000);
  EXPECT_EQ(policy->chunk_bytes, 1048576);
  const std::vector<std::string> roots = PolicyRoots(*policy);
  EXPECT_GE(roots.size(), 1u);
  // netstorm-paper keeps exactly spec.sync.roots roots (netstorm chooses its own).
  EXPECT_EQ(PolicyRoots(*PlanInitialPolicy(Spec("netstorm-paper"), 1)).size(), 2u);

  const Json owner = {{"apiVersion", "geostorm.io/v1alpha1"}, {"metadata", {{"uid", "u-1"}}}};
  const Json record = TopologyPolicyObject({"ml", "resnet"}, owner, *policy, PlanFingerprint(Spec("netstorm")));
  EXPECT_EQ(record["metadata"]["name"], "resnet-v1");
  EXPECT_EQ(record["metadata"]["ownerReferences"][0]["uid"], "u-1");
  EXPECT_EQ(record["spec"]["roots"], Json(roots));
  absl::StatusOr<core::Policy> back = core::FromJson(record["spec"]["policy"].dump());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->shards.size(), policy->shards.size());

  const Json config_map = PolicyConfigMap({"ml", "resnet"}, "us", core::ToJson(*policy));
  EXPECT_EQ(config_map["metadata"]["name"], "resnet-us-policy");
  EXPECT_TRUE(core::FromJson(config_map["data"]["policy.json"].get<std::string>()).ok());
}

TEST(InitialPolicy, FingerprintFollowsWhatThePlanDependsOn) {
  EXPECT_EQ(PlanFingerprint(Spec("netstorm")), PlanFingerprint(Spec("netstorm")));
  EXPECT_NE(PlanFingerprint(Spec("netstorm")), PlanFingerprint(Spec("ring")));
  api::JobSpec more = Spec("netstorm");
  more.data_centers[0].replicas = 5;  // workers per DC do not change the plan
  EXPECT_EQ(PlanFingerprint(more), PlanFingerprint(Spec("netstorm")));
  more.chunk_bytes *= 2;
  EXPECT_NE(PlanFingerprint(more), PlanFingerprint(Spec("netstorm")));
  for (const char* strategy : {"star", "sharded-ps", "ring", "mlnet", "tsengine", "netstorm-paper"}) {
    EXPECT_TRUE(PlanInitialPolicy(Spec(strategy), 1).ok()) << strategy;
  }
}

}  // namespace
}  // namespace geostorm::controllers
