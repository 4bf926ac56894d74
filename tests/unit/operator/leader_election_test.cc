// Leader election against a fake API: acquiring, losing a race, and an API that
// refuses the writes, whose reason must reach the caller (not "someone else leads").
#include "operator/leader_election.h"

#include <gtest/gtest.h>

#include "tests/unit/operator/fake_client.h"

namespace geostorm::manager {
namespace {

LeaderElectionOptions Options(const std::string& identity) {
  LeaderElectionOptions o;
  o.lease_namespace = "geostorm-system";
  o.lease_name = "geostorm-operator";
  o.identity = identity;
  return o;
}

TEST(LeaderElector, TheFirstCandidateCreatesTheLeaseAndTheSecondWaits) {
  kube::FakeClient api;
  LeaderElector a(api, Options("pod-a")), b(api, Options("pod-b"));
  EXPECT_EQ(a.TryAcquireOrRenew().value(), true);
  EXPECT_EQ(b.TryAcquireOrRenew().value(), false);  // held, and not expired by b's clock
  EXPECT_EQ(a.TryAcquireOrRenew().value(), true);   // renewals
  const kube::Json lease = api.Get(kube::kLeases, "geostorm-system", "geostorm-operator").value();
  EXPECT_EQ(lease["spec"]["holderIdentity"], "pod-a");
}

TEST(LeaderElector, ACreateRefusedByTheServerIsAnErrorWithItsReason) {
  kube::FakeClient api;
  api.fail["create"] = absl::PermissionDeniedError(
      "leases.coordination.k8s.io is forbidden: User \"system:serviceaccount:geostorm-system:geostorm\" cannot create");
  LeaderElector a(api, Options("pod-a"));
  absl::StatusOr<bool> held = a.TryAcquireOrRenew();
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(held.status().message().find("creating Lease geostorm-system/geostorm-operator"), std::string::npos);
  EXPECT_NE(held.status().message().find("cannot create"), std::string::npos);
}

TEST(LeaderElector, ARenewalRefusedByTheServerIsAnErrorButALostRaceIsNot) {
  kube::FakeClient api;
  LeaderElector a(api, Options("pod-a"));
  ASSERT_TRUE(a.TryAcquireOrRenew().value());
  api.fail["replace"] = absl::PermissionDeniedError("cannot update leases");
  absl::StatusOr<bool> renewed = a.TryAcquireOrRenew();
  ASSERT_FALSE(renewed.ok());
  EXPECT_NE(renewed.status().message().find("updating Lease"), std::string::npos);
  EXPECT_NE(renewed.status().message().find("cannot update leases"), std::string::npos);

  api.fail["replace"] = absl::AbortedError("the object has been modified");  // 409: someone wrote first
  EXPECT_EQ(a.TryAcquireOrRenew().value(), false);
}

}  // namespace
}  // namespace geostorm::manager
