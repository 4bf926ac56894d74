// A job's rollout state as TopologyPolicy objects: what is saved loads back, a
// dropped pending version stays as Aborted, and versions are never reused.
#include "operator/controllers/topology_policy_store.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include "operator/controllers/initial_policy.h"
#include "tests/support/kube_emulator.h"

namespace geostorm::controllers {
namespace {

using kube::Json;

class TopologyPolicyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::ClusterConfig config;
    config.server = emulator_.url();
    host_ = *kube::MakeClient(config);
    // The CRD as JSON (it is written in YAML): only what the store needs.
    const kube::Resource crds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                              false};
    ASSERT_TRUE(host_
                    ->Create(crds, "", Json::parse(R"({"metadata": {"name": "topologypolicies.geostorm.io"},
      "spec": {"group": "geostorm.io", "scope": "Namespaced",
               "names": {"plural": "topologypolicies", "kind": "TopologyPolicy"},
               "versions": [{"name": "v1alpha1", "served": true, "storage": true}]}})"))
                    .ok());
  }

  static core::Activation Activation(uint64_t version, uint64_t at) {
    absl::StatusOr<api::JobSpec> spec = api::ParseJobSpec("j", Json::parse(R"({"dataCenters": [
      {"name": "a", "replicas": 1, "template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}},
      {"name": "b", "replicas": 1, "template": {"spec": {"containers": [{"name": "t", "image": "t"}]}}}],
      "sync": {"modelBytes": 4000000, "chunkBytes": 1048576, "roots": 1}})"));
    return {*PlanInitialPolicy(*spec, version), at};
  }

  std::vector<std::string> Phases() {
    std::vector<std::string> phases;
    const absl::StatusOr<kube::ListResult> listed = host_->List(kube::kTopologyPolicies, "default", JobSelector(job_));
    for (const Json& p : listed->items) {
      phases.push_back(
          absl::StrCat(p["metadata"]["name"].get<std::string>(), "=", p["spec"]["phase"].get<std::string>()));
    }
    return phases;
  }

  testing::KubeEmulator emulator_;
  std::unique_ptr<kube::Client> host_;
  const JobRef job_{"default", "j"};
  const Json owner_ = {{"apiVersion", "geostorm.io/v1alpha1"}, {"metadata", {{"uid", "job-uid"}}}};
};

TEST_F(TopologyPolicyStoreTest, SavesAndLoadsTheRolloutState) {
  TopologyPolicyStore store(*host_, job_, owner_, "plan-1");
  EXPECT_TRUE(absl::IsNotFound(store.Load().status()));

  control::RolloutState state;
  state.AddCommitted(Activation(1, 0));
  state.AddCommitted(Activation(2, 10));
  state.pending = Activation(3, 20);
  state.next_version = 4;
  ASSERT_TRUE(store.Save(state).ok());
  EXPECT_EQ(Phases(), (std::vector<std::string>{"j-v1=Committed", "j-v2=Committed", "j-v3=Pending"}));

  TopologyPolicyStore reader(*host_, job_, owner_);
  absl::StatusOr<control::RolloutState> loaded = reader.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->committed.size(), 2u);
  EXPECT_EQ(loaded->committed[1].policy.version, 2u);
  EXPECT_EQ(loaded->committed[1].activate_at, 10u);
  ASSERT_TRUE(loaded->pending.has_value());
  EXPECT_EQ(loaded->pending->activate_at, 20u);
  EXPECT_EQ(loaded->pending->policy.shards.size(), state.pending->policy.shards.size());
  EXPECT_EQ(loaded->next_version, 4u);
  EXPECT_EQ(reader.PlanFingerprintOf(2), "plan-1");
  const Json v1 = *host_->Get(kube::kTopologyPolicies, "default", "j-v1");
  EXPECT_EQ(v1["metadata"]["ownerReferences"][0]["uid"], "job-uid");
}

TEST_F(TopologyPolicyStoreTest, ADroppedPendingVersionIsAbortedAndNeverReused) {
  TopologyPolicyStore store(*host_, job_, owner_);
  control::RolloutState state;
  state.AddCommitted(Activation(1, 0));
  state.pending = Activation(2, 5);
  state.next_version = 3;
  ASSERT_TRUE(store.Save(state).ok());
  state.pending.reset();  // the rollout of v2 was aborted
  ASSERT_TRUE(store.Save(state).ok());
  EXPECT_EQ(Phases(), (std::vector<std::string>{"j-v1=Committed", "j-v2=Aborted"}));
  absl::StatusOr<control::RolloutState> loaded = TopologyPolicyStore(*host_, job_, owner_).Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_FALSE(loaded->pending.has_value());
  ASSERT_EQ(loaded->committed.size(), 1u);
  EXPECT_EQ(loaded->next_version, 3u);  // v2 is spent

  // Only the last kKeep committed policies come back.
  for (uint64_t v = 3; v <= 6; ++v) state.AddCommitted(Activation(v, v * 10));
  ASSERT_TRUE(store.Save(state).ok());
  loaded = TopologyPolicyStore(*host_, job_, owner_).Load();
  ASSERT_EQ(loaded->committed.size(), control::RolloutState::kKeep);
  EXPECT_EQ(loaded->committed.back().policy.version, 6u);
  EXPECT_EQ(loaded->next_version, 7u);
}

}  // namespace
}  // namespace geostorm::controllers
