// The reconcile loop with fakes at its seams: a scripted link source and a control
// service that records what it is asked to do.
#include "control/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <thread>

#include "core/planner/planner.h"

namespace geostorm::control {
namespace {

class ScriptedSource final : public LinkSource {
 public:
  std::string name() const override { return "script"; }
  absl::StatusOr<std::vector<LinkSample>> Read() override {
    std::lock_guard<std::mutex> lock(mu);
    return next;
  }
  std::mutex mu;  // for tests that change `next` while the loop runs
  absl::StatusOr<std::vector<LinkSample>> next = std::vector<LinkSample>{};
};

class RecordingService final : public ControlService {
 public:
  explicit RecordingService(core::Policy initial) : current{std::move(initial), 0} {}
  grpc::Service* grpc() override { return nullptr; }
  absl::StatusOr<uint64_t> Rollout(core::Policy policy) override {
    policy.version = current.policy.version + 1;
    rollouts.push_back(policy);
    current = {std::move(policy), 0};
    ++counters_.committed;
    return current.policy.version;
  }
  core::Activation Current() const override { return current; }
  std::map<std::string, GatewayReport> Reports() const override { return reports; }
  RolloutCounters counters() const override { return counters_; }
  void Probe(const std::string& dc, const std::vector<std::string>& peers) override { probes[dc] = peers; }
  void Shutdown() override {}

  core::Activation current;
  std::vector<core::Policy> rollouts;
  std::map<std::string, GatewayReport> reports;
  std::map<std::string, std::vector<std::string>> probes;

 private:
  RolloutCounters counters_;
};

constexpr double kMbit = core::kBytesPerMbit;

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    topology_ = *core::ParseTopology("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\n", "mesh");
    config_.replan.model_bytes = 8 << 20;
    config_.replan.chunk_bytes = 64 << 10;
    service_ = std::make_unique<RecordingService>(
        *core::PlanTopology(topology_, "netstorm", config_.replan.model_bytes, config_.replan.chunk_bytes));
  }
  std::unique_ptr<Controller> Make(std::unique_ptr<ScriptedSource> source) {
    source_ = source.get();
    return std::make_unique<Controller>(config_, topology_, service_.get(), std::move(source));
  }
  // Every ordered pair at `mbps`, but a -> b at `ab_mbps`; all fresh.
  static std::vector<LinkSample> Matrix(double mbps, double ab_mbps) {
    std::vector<LinkSample> out;
    for (const char* s : {"a", "b", "c"}) {
      for (const char* d : {"a", "b", "c"}) {
        if (std::string(s) == d) continue;
        const bool ab = std::string(s) == "a" && std::string(d) == "b";
        out.push_back({s, d, (ab ? ab_mbps : mbps) * kMbit, 0});
      }
    }
    return out;
  }

  // A re-planned policy, v2, in force from iteration 10; gateway a has reached 11.
  GatewayReport& ReplannedPolicyAtIteration11() {
    service_->current.policy.version = 2;
    service_->current.activate_at = 10;
    GatewayReport& a = service_->reports["a"];
    a.iteration = 11;
    return a;
  }

  core::Topology topology_;
  ControllerConfig config_;
  std::unique_ptr<RecordingService> service_;
  ScriptedSource* source_ = nullptr;
};

TEST_F(ControllerTest, AFailingSourceKeepsThePolicyAndSaysWhy) {
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  source_->next = absl::UnavailableError("prometheus at http://127.0.0.1:9: connection refused");
  const std::string outcome = controller->ReconcileOnce();
  EXPECT_NE(outcome.find("connection refused"), std::string::npos) << outcome;
  EXPECT_FALSE(controller->status().source_ok);
  EXPECT_NE(controller->status().source_message.find("connection refused"), std::string::npos);
  EXPECT_TRUE(service_->rollouts.empty());
}

TEST_F(ControllerTest, ASlowedLinkIsPlannedAroundOnceAndThenLeftAlone) {
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  source_->next = Matrix(100, 100);
  controller->ReconcileOnce();
  EXPECT_TRUE(service_->rollouts.empty());  // as planned: nothing to gain
  EXPECT_TRUE(controller->status().source_ok);

  source_->next = Matrix(100, 5);  // a -> b at a twentieth
  controller->ReconcileOnce();
  ASSERT_EQ(service_->rollouts.size(), 1u);
  controller->ReconcileOnce();  // the same matrix: the new policy already fits it
  EXPECT_EQ(service_->rollouts.size(), 1u) << controller->status().last_decision;
}

TEST_F(ControllerTest, ANewPolicyRunsItsSettleIterationsBeforeTheNext) {
  config_.settle_iterations = 3;
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  ReplannedPolicyAtIteration11();
  source_->next = Matrix(100, 60);  // the policy in force would now take 1.7 times its prediction
  const std::string outcome = controller->ReconcileOnce();
  EXPECT_TRUE(service_->rollouts.empty());
  EXPECT_NE(outcome.find("until it has run 3 iterations"), std::string::npos) << outcome;
  service_->reports["a"].iteration = 13;
  controller->ReconcileOnce();
  EXPECT_EQ(service_->rollouts.size(), 1u) << controller->status().last_decision;
}

TEST_F(ControllerTest, APolicyRunningFarSlowerThanPredictedNeedNotSettle) {
  config_.settle_iterations = 3;
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  GatewayReport& a = ReplannedPolicyAtIteration11();
  a.policy_version = 2;
  source_->next = Matrix(100, 60);
  controller->ReconcileOnce();  // no iteration time yet: it settles
  EXPECT_TRUE(service_->rollouts.empty());
  EXPECT_NE(controller->status().last_decision.find("until it has run"), std::string::npos)
      << controller->status().last_decision;
  a.iteration_seconds = 3 * service_->current.policy.predicted_seconds;
  controller->ReconcileOnce();
  EXPECT_EQ(service_->rollouts.size(), 1u) << controller->status().last_decision;
}

// Before any iteration has shown it: the matrix as now measured already predicts
// the policy in force at far more than its prediction (a -> b at a twentieth).
TEST_F(ControllerTest, APolicyTheNewRatesMakeFarSlowerNeedNotSettle) {
  config_.settle_iterations = 3;
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  ReplannedPolicyAtIteration11();
  source_->next = Matrix(100, 5);
  controller->ReconcileOnce();
  EXPECT_EQ(service_->rollouts.size(), 1u) << controller->status().last_decision;
}

TEST_F(ControllerTest, LinksWithoutFreshEstimatesAreProbed) {
  config_.stale_after_seconds = 30;
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  std::vector<LinkSample> samples = Matrix(100, 100);
  for (LinkSample& s : samples) {
    if (s.src == "c" && s.dst == "a") s.age_seconds = 120;
  }
  source_->next = samples;
  controller->ReconcileOnce();
  ASSERT_TRUE(service_->probes.count("c"));
  EXPECT_EQ(service_->probes["c"], std::vector<std::string>{"a"});
}

// One link's rate changed: the others may have changed too without carrying
// anything to show it. Links not measured for stale_after_change are probed, and
// the re-plan waits for them one pass.
TEST_F(ControllerTest, AChangedLinkHasTheOthersProbedBeforeTheReplan) {
  config_.stale_after_seconds = 10;
  config_.stale_after_change_seconds = 2;
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  const auto aged = [](std::vector<LinkSample> samples) {
    for (LinkSample& s : samples) {
      if (s.src != "a" || s.dst != "b") s.age_seconds = 5;
    }
    return samples;
  };
  source_->next = aged(Matrix(100, 100));
  controller->ReconcileOnce();
  EXPECT_TRUE(service_->probes.empty());  // 5 s old, and nothing changed: fresh enough

  source_->next = aged(Matrix(100, 5));  // a -> b at a twentieth
  const std::string outcome = controller->ReconcileOnce();
  EXPECT_TRUE(service_->rollouts.empty()) << outcome;
  EXPECT_NE(outcome.find("have probed links not measured since a change"), std::string::npos) << outcome;
  EXPECT_EQ(service_->probes["a"], std::vector<std::string>{"c"});
  EXPECT_EQ(service_->probes["b"], (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(service_->probes["c"], (std::vector<std::string>{"a", "b"}));

  service_->probes.clear();
  source_->next = Matrix(100, 5);  // the probes answered: every link fresh
  controller->ReconcileOnce();
  EXPECT_TRUE(service_->probes.empty());
  EXPECT_EQ(service_->rollouts.size(), 1u) << controller->status().last_decision;
}

// The wait is for one pass only: links whose probes brought nothing back by then
// (and further changes, which the probes' answers are) do not hold the plan again.
TEST_F(ControllerTest, ThePlanWaitsForProbesOnePassOnly) {
  config_.stale_after_change_seconds = 2;
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  const auto c_aged = [](std::vector<LinkSample> samples) {
    for (LinkSample& s : samples) {
      if (s.src == "c") s.age_seconds = 5;  // c's probes bring nothing back
    }
    return samples;
  };
  source_->next = c_aged(Matrix(100, 100));
  controller->ReconcileOnce();
  std::vector<LinkSample> samples = c_aged(Matrix(100, 5));
  source_->next = samples;
  controller->ReconcileOnce();
  EXPECT_TRUE(service_->rollouts.empty());
  EXPECT_EQ(service_->probes["c"], (std::vector<std::string>{"a", "b"}));
  samples[0].bytes_per_second *= 2;  // and another change comes in
  source_->next = samples;
  controller->ReconcileOnce();
  EXPECT_EQ(service_->rollouts.size(), 1u) << controller->status().last_decision;
}

// The loop watches the matrix between passes: a change starts the next pass at
// once, not after the interval.
TEST_F(ControllerTest, AChangeBetweenPassesStartsTheNextAtOnce) {
  config_.interval = std::chrono::seconds(600);
  config_.watch = std::chrono::milliseconds(50);
  std::unique_ptr<Controller> controller = Make(std::make_unique<ScriptedSource>());
  source_->next = Matrix(100, 100);
  std::atomic<bool> stop{false};
  std::thread loop([&] { controller->Run(stop); });
  const auto wait_for = [&](const std::string& text) {
    for (int i = 0; i < 200; ++i) {
      if (controller->status().last_decision.find(text) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  EXPECT_TRUE(wait_for("keeping policy")) << controller->status().last_decision;
  {
    std::lock_guard<std::mutex> lock(source_->mu);
    source_->next = Matrix(100, 5);
  }
  EXPECT_TRUE(wait_for("faster")) << controller->status().last_decision;  // in 10 s, not 600
  stop = true;
  loop.join();
}

}  // namespace
}  // namespace geostorm::control
