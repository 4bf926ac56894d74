#include "sidecar/engine/policy_switch.h"

#include <gtest/gtest.h>

namespace geostorm::sidecar {
namespace {

Activation Version(uint64_t v, uint64_t activate_at) {
  Activation a;
  a.policy.version = v;
  a.activate_at = activate_at;
  return a;
}

TEST(PolicySwitch, HoldsIterationsFromActivateAtUntilCommit) {
  PolicySwitch s;
  ASSERT_TRUE(s.Admit(3));
  ASSERT_TRUE(s.Prepare(Version(2, 5), /*committed_version=*/1).ok());
  EXPECT_TRUE(s.Admit(4));
  EXPECT_FALSE(s.Admit(5));
  EXPECT_FALSE(s.Admit(9));
  EXPECT_EQ(s.highest(), 4u);  // held iterations are not touched
  absl::StatusOr<Activation> a = s.Commit(2);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->activate_at, 5u);
  EXPECT_TRUE(s.Admit(5));
  EXPECT_FALSE(s.prepared_version().has_value());
}

TEST(PolicySwitch, AbortReleasesWithoutAPolicy) {
  PolicySwitch s;
  ASSERT_TRUE(s.Prepare(Version(2, 1), 1).ok());
  EXPECT_FALSE(s.Admit(1));
  s.Abort(3);  // another version: no effect
  EXPECT_FALSE(s.Admit(1));
  s.Abort(2);
  EXPECT_TRUE(s.Admit(1));
  EXPECT_FALSE(s.Commit(2).ok());
}

TEST(PolicySwitch, RefusesAnActivationPointAlreadyStartedOrAnOldVersion) {
  PolicySwitch s;
  ASSERT_TRUE(s.Admit(0));
  EXPECT_FALSE(s.Prepare(Version(2, 0), 1).ok());  // iteration 0 has started
  ASSERT_TRUE(s.Admit(7));
  absl::Status late = s.Prepare(Version(2, 7), 1);
  EXPECT_FALSE(late.ok());
  EXPECT_NE(late.message().find("iteration 7 has already started"), std::string::npos) << late;
  EXPECT_FALSE(s.Prepare(Version(1, 9), 1).ok());  // not newer
  ASSERT_TRUE(s.Prepare(Version(2, 8), 1).ok());
  EXPECT_FALSE(s.Prepare(Version(3, 9), 1).ok());  // one rollout at a time
  EXPECT_TRUE(s.Prepare(Version(2, 8), 1).ok());   // the same one again: idempotent
}

TEST(PolicySwitch, BeforeAnyIterationEvenZeroCanBePrepared) {
  PolicySwitch s;
  EXPECT_TRUE(s.Prepare(Version(2, 0), 1).ok());
  EXPECT_FALSE(s.Admit(0));
}

TEST(PolicySwitch, SettleAppliesMissedCommitsAndDropsForgottenPrepares) {
  PolicySwitch s;
  ASSERT_TRUE(s.Prepare(Version(3, 4), 2).ok());
  // The controller committed v3 while this gateway was cut off.
  std::vector<Activation> missing = s.Settle({Version(1, 0), Version(2, 2), Version(3, 4)}, std::nullopt, 2);
  ASSERT_EQ(missing.size(), 1u);
  EXPECT_EQ(missing[0].policy.version, 3u);
  EXPECT_TRUE(s.Admit(4));

  // A restarted controller aborted v4: Current no longer lists it.
  ASSERT_TRUE(s.Prepare(Version(4, 6), 3).ok());
  EXPECT_TRUE(s.Settle({Version(3, 4)}, std::nullopt, 3).empty());
  EXPECT_TRUE(s.Admit(6));

  // Still pending at the controller: stays prepared.
  ASSERT_TRUE(s.Prepare(Version(5, 8), 3).ok());
  EXPECT_TRUE(s.Settle({Version(3, 4)}, Version(5, 8), 3).empty());
  EXPECT_FALSE(s.Admit(8));
}

}  // namespace
}  // namespace geostorm::sidecar
