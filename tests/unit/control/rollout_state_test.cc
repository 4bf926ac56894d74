#include "control/rollout_state.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/planner/planner.h"
#include "tests/unit/core/test_networks.h"

namespace geostorm::control {
namespace {

core::Policy Plan(const std::string& strategy, uint64_t version) {
  absl::StatusOr<core::Policy> p =
      core::PlanTopology(core::fixtures::MustLoad("mesh-4dc-uniform.yaml"), strategy, 1 << 20, 1 << 16);
  EXPECT_TRUE(p.ok()) << p.status();
  p->version = version;
  return *p;
}

TEST(RolloutState, RoundTripsThroughJson) {
  RolloutState s;
  s.AddCommitted({Plan("star", 1), 0});
  s.AddCommitted({Plan("netstorm", 2), 17});
  s.pending = core::Activation{Plan("ring", 4), 30};
  s.next_version = 5;
  absl::StatusOr<RolloutState> back = RolloutStateFromJson(ToJson(s));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->committed.size(), 2u);
  EXPECT_EQ(back->committed[1].activate_at, 17u);
  EXPECT_EQ(back->committed[1].policy.strategy, "netstorm");
  EXPECT_EQ(back->committed[1].policy.shards.size(), s.committed[1].policy.shards.size());
  ASSERT_TRUE(back->pending.has_value());
  EXPECT_EQ(back->pending->policy.version, 4u);
  EXPECT_EQ(back->next_version, 5u);
}

TEST(RolloutState, KeepsOnlyTheLastFewCommittedPolicies) {
  RolloutState s;
  for (uint64_t v = 1; v <= 5; ++v) s.AddCommitted({Plan("star", v), v});
  ASSERT_EQ(s.committed.size(), RolloutState::kKeep);
  EXPECT_EQ(s.committed.front().policy.version, 3u);
  EXPECT_EQ(s.committed.back().policy.version, 5u);
}

TEST(FileStateStore, SavesLoadsAndNamesTheFileOnErrors) {
  const std::string path = ::testing::TempDir() + "/rollout-state-test.json";
  std::remove(path.c_str());
  FileStateStore store(path);
  EXPECT_TRUE(absl::IsNotFound(store.Load().status()));
  RolloutState s;
  s.AddCommitted({Plan("ring", 1), 0});
  s.next_version = 2;
  ASSERT_TRUE(store.Save(s).ok());
  absl::StatusOr<RolloutState> back = store.Load();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->committed.back().policy.strategy, "ring");

  std::ofstream(path) << "{\"nextVersion\": 2, \"committed\": [{\"activateAt\": 0}]}";
  absl::Status bad = store.Load().status();
  EXPECT_TRUE(absl::IsInvalidArgument(bad));
  EXPECT_NE(bad.message().find(path), std::string::npos) << bad;
  EXPECT_NE(bad.message().find("committed[0]"), std::string::npos) << bad;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace geostorm::control
