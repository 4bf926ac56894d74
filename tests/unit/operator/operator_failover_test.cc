// The operator's leader killed (SIGKILL) while its live policy controller has a
// rollout undecided: two real geostorm-operator processes share one API emulator's
// Lease, and three gateways (the sidecar's own ControlLink) dial the job's control
// address as they would the operator's Service. The standby takes the Lease, starts
// the job's controller on the same port, aborts the undecided version in the job's
// TopologyPolicies, and the gateways reconnect and go on; no version is reused.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "control/credentials.h"
#include "geostorm/v1/control.pb.h"
#include "operator/kube/client.h"
#include "operator/kube/resource.h"
#include "sidecar/control_link.h"
#include "tests/support/kube_emulator.h"

namespace geostorm {
namespace {

using kube::Json;

template <typename Predicate>
bool Within(std::chrono::milliseconds timeout, Predicate done) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

// A gateway that reports iterations and link rates but never acknowledges a
// Prepare: every rollout stays undecided until the controller's prepare timeout.
// The a-b link is 100 times slower than the others, so a plan on the measured
// rates differs from the operator's first plan (on a uniform guess).
class SilentGateway {
 public:
  SilentGateway(const std::string& address, const std::string& dc, const std::vector<std::string>& dcs) {
    sidecar::ControlLink::Callbacks callbacks;
    callbacks.hello = [dc] {
      v1::Hello hello;
      hello.set_job("default.j");
      hello.set_data_center(dc);
      return hello;
    };
    callbacks.on_update = [this](const v1::PolicyUpdate& update) {
      std::lock_guard<std::mutex> lock(mu_);
      if (update.has_current()) ++currents_;
      if (update.has_prepare()) prepared_.push_back(update.prepare().policy().version());
    };
    callbacks.progress = [this, dc, dcs] {
      v1::Progress progress;
      progress.set_job("default.j");
      progress.set_data_center(dc);
      progress.set_iteration(++iteration_);
      progress.set_policy_version(1);
      progress.set_iteration_seconds(1);
      for (const std::string& peer : dcs) {
        if (peer == dc) continue;
        v1::LinkEstimate* link = progress.add_links();
        link->set_dst(peer);
        const bool slow = (dc == "a" && peer == "b") || (dc == "b" && peer == "a");
        link->set_bytes_per_second(slow ? 1e6 : 1e8);
      }
      return progress;
    };
    link_ = std::make_unique<sidecar::ControlLink>(address, control::MakeCredentials({}, true)->channel, callbacks,
                                                   std::chrono::milliseconds(100));
  }
  int currents() {
    std::lock_guard<std::mutex> lock(mu_);
    return currents_;
  }
  std::vector<uint64_t> prepared() {
    std::lock_guard<std::mutex> lock(mu_);
    return prepared_;
  }

 private:
  std::mutex mu_;
  int currents_ = 0;
  std::vector<uint64_t> prepared_;
  std::atomic<uint64_t> iteration_{0};
  std::unique_ptr<sidecar::ControlLink> link_;
};

class OperatorFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    kubeconfig_ = host_.WriteKubeconfig(dir_.path(), "host");
    testing::Process apply({"/usr/bin/env", "kubectl", "--kubeconfig", kubeconfig_, "apply", "-f",
                            std::string(GEOSTORM_SOURCE_DIR) + "/crds"},
                           dir_.path() + "/kubectl.log");
    ASSERT_EQ(apply.Wait(std::chrono::seconds(60)), 0) << apply.Log();
    kube::ClusterConfig config;
    config.server = host_.url();
    client_ = *kube::MakeClient(config);
  }

  // As the chart's Deployment runs it, with a 2 s Lease and each job's live
  // controller on 127.0.0.1 (plaintext, for the test's gateways).
  std::unique_ptr<testing::Process> StartOperator(const std::string& identity) {
    const std::vector<std::string> argv = {std::string(GEOSTORM_BIN_DIR) + "/geostorm-operator",
                                           "--kubeconfig=" + kubeconfig_,
                                           "--identity=" + identity,
                                           "--lease-namespace=default",
                                           "--lease-duration-s=2",
                                           "--retry-s=0.3",
                                           "--resync-s=1",
                                           "--health-listen=127.0.0.1:0",
                                           "--control-host=127.0.0.1",
                                           "--control-bind=127.0.0.1",
                                           "--control-insecure"};
    return std::make_unique<testing::Process>(argv, dir_.path() + "/operator-" + identity + ".log");
  }

  // The phase of TopologyPolicy j-vN, or "" while there is none.
  std::string Phase(uint64_t version) {
    absl::StatusOr<Json> policy = client_->Get(kube::kTopologyPolicies, "default", absl::StrCat("j-v", version));
    return policy.ok() ? (*policy)["spec"].value("phase", "") : "";
  }

  testing::TempDir dir_;
  testing::KubeEmulator host_;
  std::string kubeconfig_;
  std::unique_ptr<kube::Client> client_;
};

TEST_F(OperatorFailover, AKilledLeaderMidRolloutLeavesItsVersionToTheStandbyToAbort) {
  std::unique_ptr<testing::Process> leader = StartOperator("op-a");
  const std::vector<std::string> dcs = {"a", "b", "c"};
  Json job = {{"apiVersion", "geostorm.io/v1alpha1"},
              {"kind", "GeoTrainingJob"},
              {"metadata", {{"name", "j"}, {"namespace", "default"}}},
              {"spec",
               {{"dataCenters", Json::array()},
                {"sync", {{"strategy", "netstorm"}, {"roots", 1}, {"reconcileInterval", "1s"}}}}}};
  for (const std::string& dc : dcs) {
    job["spec"]["dataCenters"].push_back(
        {{"name", dc},
         {"replicas", 1},
         {"template", {{"spec", {{"containers", {{{"name", "t"}, {"image", "t:1"}}}}}}}}});
  }
  ASSERT_TRUE(client_->Create(kube::kGeoTrainingJobs, "default", job).ok());
  int port = 0;
  ASSERT_TRUE(Within(std::chrono::seconds(20), [&] {
    absl::StatusOr<Json> stored = client_->Get(kube::kGeoTrainingJobs, "default", "j");
    port = stored.ok() ? stored->value("status", Json::object()).value("controlPort", 0) : 0;
    return port > 0;
  })) << leader->Log();
  const std::string address = absl::StrCat("127.0.0.1:", port);  // what the operator's Service would forward

  std::vector<std::unique_ptr<SilentGateway>> gateways;
  for (const std::string& dc : dcs) gateways.push_back(std::make_unique<SilentGateway>(address, dc, dcs));
  // The leader plans on the measured rates and prepares v2, which nobody acknowledges.
  ASSERT_TRUE(Within(std::chrono::seconds(20), [&] { return Phase(2) == "Pending"; })) << leader->Log();
  leader->Signal(SIGKILL);
  ASSERT_TRUE(leader->Wait(std::chrono::seconds(5)).has_value());
  ASSERT_EQ(Phase(2), "Pending") << "the leader decided v2 before it was killed: the test did not test";
  const int currents_before = gateways[0]->currents();

  std::unique_ptr<testing::Process> standby = StartOperator("op-b");
  EXPECT_TRUE(Within(std::chrono::seconds(20), [&] { return Phase(2) == "Aborted"; })) << standby->Log();
  EXPECT_EQ(Phase(1), "Committed");
  // The gateways reconnected to the same address and heard the standby's state.
  for (auto& gateway : gateways) {
    EXPECT_TRUE(Within(std::chrono::seconds(10), [&] { return gateway->currents() > currents_before; }))
        << standby->Log();
  }
  // The standby's controller plans again from the gateways' reports: a new version,
  // never 2 again.
  EXPECT_TRUE(Within(std::chrono::seconds(20), [&] { return !Phase(3).empty(); })) << standby->Log();
  EXPECT_EQ(Phase(2), "Aborted");
  for (auto& gateway : gateways) {
    const std::vector<uint64_t> prepared = gateway->prepared();
    EXPECT_EQ(std::count(prepared.begin(), prepared.end(), 2u), 1) << "v2 prepared twice";
  }
  gateways.clear();
}

}  // namespace
}  // namespace geostorm
