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
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
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

// A gateway (the sidecar's own ControlLink) that reports iterations and link
// rates. The link between `slow` and `slow2` is 100 times slower than the others,
// so a plan on the measured rates differs from the operator's first plan (on a
// uniform guess); which link is slow can be changed to make the controller plan
// again. A silent gateway never acknowledges a Prepare, so every rollout stays
// undecided until the controller's prepare timeout; otherwise each is accepted.
class FakeGateway {
 public:
  FakeGateway(const std::string& address, const std::string& dc, const std::vector<std::string>& dcs, bool silent)
      : dc_(dc), silent_(silent) {
    sidecar::ControlLink::Callbacks callbacks;
    callbacks.hello = [dc] {
      v1::Hello hello;
      hello.set_job("default.j");
      hello.set_data_center(dc);
      return hello;
    };
    callbacks.on_update = [this](const v1::PolicyUpdate& update) { Heard(update); };
    callbacks.progress = [this, dcs] {
      v1::Progress progress = Progress();
      const std::string slow = SlowLink();
      for (const std::string& peer : dcs) {
        if (peer == dc_) continue;
        v1::LinkEstimate* link = progress.add_links();
        link->set_dst(peer);
        link->set_bytes_per_second(slow.find(dc_) != std::string::npos && slow.find(peer) != std::string::npos ? 1e6
                                                                                                               : 1e8);
      }
      return progress;
    };
    link_ = std::make_unique<sidecar::ControlLink>(address, control::MakeCredentials({}, true)->channel, callbacks,
                                                   std::chrono::milliseconds(100));
  }
  ~FakeGateway() { link_.reset(); }  // before the members its callbacks use

  // Two DC names, e.g. "ab": the link between them is the slow one.
  void SetSlowLink(const std::string& pair) {
    std::lock_guard<std::mutex> lock(mu_);
    slow_ = pair;
  }
  int currents() {
    std::lock_guard<std::mutex> lock(mu_);
    return currents_;
  }
  std::vector<uint64_t> prepared() {
    std::lock_guard<std::mutex> lock(mu_);
    return prepared_;
  }
  std::vector<uint64_t> committed() {
    std::lock_guard<std::mutex> lock(mu_);
    return committed_;
  }
  std::vector<uint64_t> aborted() {
    std::lock_guard<std::mutex> lock(mu_);
    return aborted_;
  }

 private:
  void Heard(const v1::PolicyUpdate& update) {
    std::lock_guard<std::mutex> lock(mu_);
    if (update.has_current()) {
      ++currents_;
      for (const v1::Activation& a : update.current().committed()) Commit(a.policy().version());
    }
    if (update.has_commit()) Commit(update.commit().version());
    if (update.has_abort()) aborted_.push_back(update.abort().version());
    if (update.has_prepare()) {
      const uint64_t version = update.prepare().policy().version();
      prepared_.push_back(version);
      if (silent_) return;
      v1::Progress ack = ProgressLocked();
      ack.mutable_ack()->set_version(version);
      ack.mutable_ack()->set_ok(true);
      link_->Report(ack);
    }
  }
  void Commit(uint64_t version) {  // under mu_
    if (std::find(committed_.begin(), committed_.end(), version) == committed_.end()) committed_.push_back(version);
  }
  v1::Progress Progress() {
    std::lock_guard<std::mutex> lock(mu_);
    return ProgressLocked();
  }
  v1::Progress ProgressLocked() const {
    v1::Progress progress;
    progress.set_job("default.j");
    progress.set_data_center(dc_);
    progress.set_iteration(++iteration_);
    progress.set_policy_version(committed_.empty() ? 1 : committed_.back());
    progress.set_iteration_seconds(1);
    return progress;
  }
  std::string SlowLink() {
    std::lock_guard<std::mutex> lock(mu_);
    return slow_;
  }

  const std::string dc_;
  const bool silent_;
  std::mutex mu_;
  std::string slow_ = "ab";
  int currents_ = 0;
  std::vector<uint64_t> prepared_, committed_, aborted_;
  mutable std::atomic<uint64_t> iteration_{0};
  std::unique_ptr<sidecar::ControlLink> link_;
};

const std::vector<std::string> kDcs = {"a", "b", "c"};

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
                                           "--port-file=" + HealthPortFile(identity),
                                           "--control-host=127.0.0.1",
                                           "--control-bind=127.0.0.1",
                                           "--control-insecure"};
    return std::make_unique<testing::Process>(argv, dir_.path() + "/operator-" + identity + ".log");
  }

  std::string HealthPortFile(const std::string& identity) const { return dir_.path() + "/health-" + identity; }

  int HealthPort(const std::string& identity) const {
    int port = 0;
    std::ifstream(HealthPortFile(identity)) >> port;
    return port;
  }

  // Creates job j (DCs kDcs, re-planning every second) and returns its controller's
  // address once `leader` has started it: what the operator's Service would forward.
  std::string CreateJob(testing::Process& leader) {
    Json job = {{"apiVersion", "geostorm.io/v1alpha1"},
                {"kind", "GeoTrainingJob"},
                {"metadata", {{"name", "j"}, {"namespace", "default"}}},
                {"spec",
                 {{"dataCenters", Json::array()},
                  {"sync", {{"strategy", "netstorm"}, {"roots", 1}, {"reconcileInterval", "1s"}}}}}};
    for (const std::string& dc : kDcs) {
      job["spec"]["dataCenters"].push_back(
          {{"name", dc},
           {"replicas", 1},
           {"template", {{"spec", {{"containers", {{{"name", "t"}, {"image", "t:1"}}}}}}}}});
    }
    EXPECT_TRUE(client_->Create(kube::kGeoTrainingJobs, "default", job).ok());
    int port = 0;
    EXPECT_TRUE(Within(std::chrono::seconds(20), [&] {
      absl::StatusOr<Json> stored = client_->Get(kube::kGeoTrainingJobs, "default", "j");
      port = stored.ok() ? stored->value("status", Json::object()).value("controlPort", 0) : 0;
      return port > 0;
    })) << leader.Log();
    return absl::StrCat("127.0.0.1:", port);
  }

  // One gateway per DC of the job, dialling `address`.
  static std::vector<std::unique_ptr<FakeGateway>> Gateways(const std::string& address, bool silent) {
    std::vector<std::unique_ptr<FakeGateway>> gateways;
    for (const std::string& dc : kDcs) gateways.push_back(std::make_unique<FakeGateway>(address, dc, kDcs, silent));
    return gateways;
  }

  // The phase of TopologyPolicy j-vN, or "" while there is none.
  std::string Phase(uint64_t version) {
    absl::StatusOr<Json> policy = client_->Get(kube::kTopologyPolicies, "default", absl::StrCat("j-v", version));
    return policy.ok() ? (*policy)["spec"].value("phase", "") : "";
  }

  // Every TopologyPolicy of the job: version -> phase.
  std::map<uint64_t, std::string> Phases() {
    std::map<uint64_t, std::string> phases;
    absl::StatusOr<kube::ListResult> listed = client_->List(kube::kTopologyPolicies, "default", "");
    for (const Json& p : listed.ok() ? listed->items : std::vector<Json>()) {
      phases[p["spec"].value("version", uint64_t{0})] = p["spec"].value("phase", "");
    }
    return phases;
  }

  testing::TempDir dir_;
  testing::KubeEmulator host_;
  std::string kubeconfig_;
  std::unique_ptr<kube::Client> client_;
};

TEST_F(OperatorFailover, AKilledLeaderMidRolloutLeavesItsVersionToTheStandbyToAbort) {
  std::unique_ptr<testing::Process> leader = StartOperator("op-a");
  const std::string address = CreateJob(*leader);
  std::vector<std::unique_ptr<FakeGateway>> gateways = Gateways(address, /*silent=*/true);
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
  // (A gateway may never have heard v2: the leader saves a version before it
  // sends the Prepare, and may have died in between.)
  for (auto& gateway : gateways) {
    const std::vector<uint64_t> prepared = gateway->prepared();
    EXPECT_LE(std::count(prepared.begin(), prepared.end(), 2u), 1) << "v2 prepared twice";
  }
  gateways.clear();
}

// A status write refused as stale (409) is a controller's normal lot when others
// write the same object: the job is reconciled again, and that is counted as a
// conflict and logged at info, not as a failed reconcile with a warning.
TEST_F(OperatorFailover, AStatusWriteRefusedAsStaleIsReconciledAgainAsAConflict) {
  const std::string writes = "method=PATCH&path=/apis/geostorm.io/v1alpha1/namespaces/default/geotrainingjobs/j/status";
  ASSERT_EQ(testing::HttpGet(host_.port(), "/debug/fail?code=409&count=2&" + writes), "{}");
  std::unique_ptr<testing::Process> leader = StartOperator("op-a");
  CreateJob(*leader);  // returns once the job's status has been written
  const auto conflicts = [&] {
    return testing::MetricSum(HealthPort("op-a"), "geostorm_operator_reconcile_total",
                              {R"(controller="geotrainingjob")", R"(result="conflict")"});
  };
  EXPECT_TRUE(Within(std::chrono::seconds(10), [&] { return conflicts() >= 2; })) << conflicts() << "\n"
                                                                                  << leader->Log();
  const std::string log = leader->Log();
  EXPECT_NE(log.find("injected failure 409; reconciling again (retry 1)"), std::string::npos) << log;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    EXPECT_FALSE(line.find("[warning]") != std::string::npos && line.find("injected failure 409") != std::string::npos)
        << line;
  }
}

// The host API server answers the live controller's TopologyPolicy writes with 500
// and then 429 in bursts, while the measured rates change and it rolls a new plan
// out. A write that fails after every retry fails its rollout step, never silently:
// every version ends Committed or Aborted in the host, a gateway hears Commit only
// for a version the host holds as Committed, and no version is prepared twice.
TEST_F(OperatorFailover, TopologyPolicyWritesFailingInBurstsLoseNoDecision) {
  std::unique_ptr<testing::Process> leader = StartOperator("op-a");
  const std::string address = CreateJob(*leader);
  std::vector<std::unique_ptr<FakeGateway>> gateways = Gateways(address, /*silent=*/false);
  ASSERT_TRUE(Within(std::chrono::seconds(20), [&] { return Phase(2) == "Committed"; })) << leader->Log();

  // More 500s than one write's attempts, so that a whole save fails; then 429s.
  const std::string writes = "method=PATCH&path=/apis/geostorm.io/v1alpha1/namespaces/default/topologypolicies";
  ASSERT_EQ(testing::HttpGet(host_.port(), "/debug/fail?code=500&count=8&" + writes), "{}");
  ASSERT_EQ(testing::HttpGet(host_.port(), "/debug/fail?code=429&count=3&" + writes), "{}");
  for (auto& gateway : gateways) gateway->SetSlowLink("bc");

  // Settled: the failures are spent, a later version is Committed, nothing is
  // Pending, and every gateway has heard the last commit.
  uint64_t last = 0;
  const auto settled = [&] {
    const Json stats = Json::parse(testing::HttpGet(host_.port(), "/debug/stats"), nullptr, false);
    if (!stats.is_object() || stats.value("failuresLeft", -1) != 0) return false;
    last = 0;
    for (const auto& [version, phase] : Phases()) {
      if (phase == "Pending") return false;
      if (phase == "Committed") last = version;
    }
    return last > 2 && std::all_of(gateways.begin(), gateways.end(),
                                   [&](auto& g) { return !g->committed().empty() && g->committed().back() == last; });
  };
  ASSERT_TRUE(Within(std::chrono::seconds(60), settled)) << leader->Log();
  const std::string log = leader->Log();
  EXPECT_TRUE(log.find("rollout failed") != std::string::npos || log.find("cannot save") != std::string::npos)
      << "no save failed: the test did not test";

  for (auto& gateway : gateways) {
    const std::vector<uint64_t> prepared = gateway->prepared();
    EXPECT_TRUE(std::is_sorted(prepared.begin(), prepared.end()) &&
                std::adjacent_find(prepared.begin(), prepared.end()) == prepared.end())
        << "a version prepared twice";
    for (uint64_t v : gateway->committed()) {
      EXPECT_EQ(Phase(v), "Committed") << "v" << v << " was heard committed";
    }
    for (uint64_t v : gateway->aborted()) EXPECT_EQ(Phase(v), "Aborted") << "v" << v << " was heard aborted";
  }
  gateways.clear();
}

}  // namespace
}  // namespace geostorm
