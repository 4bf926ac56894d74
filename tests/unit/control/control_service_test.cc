// The control service with two gateways played by the generated gRPC stubs, in
// process, and a state store that can fail: a decision that cannot be saved is
// never heard, and the next rollout resolves it.
#include "control/control_service.h"

#include <gtest/gtest.h>

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <thread>

#include "core/planner/planner.h"
#include "geostorm/v1/control.grpc.pb.h"

namespace geostorm::control {
namespace {

// Keeps the state in memory; the save numbered `fail_at` fails, as a full disk would.
class MemoryStore final : public StateStore {
 public:
  absl::StatusOr<RolloutState> Load() override {
    std::lock_guard<std::mutex> lock(mu);
    if (!saved) return absl::NotFoundError("nothing saved");
    return *saved;
  }
  absl::Status Save(const RolloutState& state) override {
    std::lock_guard<std::mutex> lock(mu);
    if (++saves == fail_at) return absl::UnavailableError("disk full");
    saved = state;
    return absl::OkStatus();
  }
  std::mutex mu;
  std::optional<RolloutState> saved;
  int saves = 0;
  int fail_at = -1;
};

// A gateway: subscribes, writes down every update ("current", "prepare 2",
// "commit 2", "abort 2", "schedule 3"), and acknowledges every Prepare on its
// Report stream, but for the first `overtaken` ones: it begins their activate_at
// before they arrive (reports it) and refuses them, as a gateway does.
class FakeGateway {
 public:
  FakeGateway(const std::shared_ptr<grpc::Channel>& channel, std::string dc)
      : stub_(v1::Control::NewStub(channel)), dc_(std::move(dc)) {
    report_ = stub_->Report(&report_context_, &reply_);
    v1::Hello hello;
    hello.set_job("job");
    hello.set_data_center(dc_);
    subscription_ = stub_->Subscribe(&subscribe_context_, hello);
    reader_ = std::thread([this] { Read(); });
  }
  ~FakeGateway() {
    subscribe_context_.TryCancel();
    report_context_.TryCancel();
    reader_.join();
  }
  bool WaitFor(const std::string& update) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(20),
                             [&] { return std::find(updates_.begin(), updates_.end(), update) != updates_.end(); });
  }
  std::vector<std::string> updates() {
    std::lock_guard<std::mutex> lock(mu_);
    return updates_;
  }
  bool WaitForUpdates(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    return changed_.wait_for(lock, std::chrono::seconds(20), [&] { return updates_.size() >= n; });
  }
  void ReportStep(double seconds) {
    v1::Progress p = Progress();
    p.set_step_seconds(seconds);
    Write(p);
  }
  void ReportIteration(uint64_t t) {  // as a gateway does when it begins t
    v1::Progress p = Progress();
    p.set_iteration(t);
    Write(p);
  }
  uint64_t last_activate_at() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_activate_at_;
  }
  void Overtake(int prepares) {
    std::lock_guard<std::mutex> lock(mu_);
    overtaken_ = prepares;
  }

 private:
  void Read() {
    v1::PolicyUpdate u;
    while (subscription_->Read(&u)) {
      std::string seen;
      if (u.has_current())
        seen = u.current().has_pending() ? "current pending " + std::to_string(u.current().pending().policy().version())
                                         : "current";
      if (u.has_prepare()) seen = "prepare " + std::to_string(u.prepare().policy().version());
      if (u.has_commit()) seen = "commit " + std::to_string(u.commit().version());
      if (u.has_abort()) seen = "abort " + std::to_string(u.abort().version());
      if (u.has_schedule()) seen = "schedule " + std::to_string(u.schedule().local_steps());
      if (u.has_prepare()) {
        bool overtake = false;
        {
          std::lock_guard<std::mutex> lock(mu_);
          last_activate_at_ = u.prepare().activate_at();
          overtake = overtaken_ > 0;
          if (overtake) --overtaken_;
        }
        if (overtake) ReportIteration(u.prepare().activate_at());
        v1::Progress p = Progress();
        p.mutable_ack()->set_version(u.prepare().policy().version());
        p.mutable_ack()->set_ok(!overtake);
        if (overtake) p.mutable_ack()->set_error("iteration has already started here");
        Write(p);
      }
      std::lock_guard<std::mutex> lock(mu_);
      updates_.push_back(seen);
      changed_.notify_all();
    }
  }

  v1::Progress Progress() const {
    v1::Progress p;
    p.set_job("job");
    p.set_data_center(dc_);
    return p;
  }

  void Write(const v1::Progress& p) {
    std::lock_guard<std::mutex> lock(write_mu_);
    report_->Write(p);
  }

  std::unique_ptr<v1::Control::Stub> stub_;
  const std::string dc_;
  std::mutex write_mu_;
  grpc::ClientContext report_context_, subscribe_context_;
  v1::ReportReply reply_;
  std::unique_ptr<grpc::ClientWriter<v1::Progress>> report_;
  std::unique_ptr<grpc::ClientReader<v1::PolicyUpdate>> subscription_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<std::string> updates_;
  uint64_t last_activate_at_ = 0;
  int overtaken_ = 0;
};

core::Policy Plan() {
  absl::StatusOr<core::Topology> t = core::ParseTopology("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 100\n", "t");
  EXPECT_TRUE(t.ok()) << t.status();
  absl::StatusOr<core::Policy> p = core::PlanTopology(*t, "netstorm", 1 << 20, 16 << 10);
  EXPECT_TRUE(p.ok()) << p.status();
  return *p;
}

// Job "job" with gateways a and b.
ControlServiceConfig TwoGateways() {
  ControlServiceConfig config;
  config.job = "job";
  config.gateways = {"a", "b"};
  return config;
}

// The service on a loopback port, and a channel to it; shut down when it goes.
struct Served {
  explicit Served(grpc::Service* service) {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service);
    server = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  }
  ~Served() { server->Shutdown(); }
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

// Gateway `g` reports that it began iteration t; returns once the service has it.
void ReportAndWait(ControlService& service, FakeGateway& g, const std::string& dc, uint64_t t) {
  g.ReportIteration(t);
  for (int i = 0; i < 200 && service.Reports()[dc].iteration < t; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

TEST(ControlService, ADecisionThatCannotBeSavedIsNeverHeardAndTheNextRolloutAbortsIt) {
  MemoryStore store;
  absl::StatusOr<std::unique_ptr<ControlService>> service = ControlService::Create(TwoGateways(), &store, Plan());
  ASSERT_TRUE(service.ok()) << service.status();
  Served served((*service)->grpc());
  const std::shared_ptr<grpc::Channel>& channel = served.channel;
  {
    FakeGateway a(channel, "a"), b(channel, "b");
    ASSERT_TRUE(a.WaitFor("current") && b.WaitFor("current"));

    {
      std::lock_guard<std::mutex> lock(store.mu);
      store.fail_at = store.saves + 2;  // the prepare is saved, the decision is not
    }
    absl::StatusOr<uint64_t> failed = (*service)->Rollout(Plan());
    ASSERT_FALSE(failed.ok());
    EXPECT_NE(failed.status().message().find("saving the decision on policy v2"), std::string::npos) << failed.status();
    EXPECT_NE(failed.status().message().find("disk full"), std::string::npos);
    EXPECT_EQ((*service)->Current().policy.version, 1u);  // memory holds what the store holds: v2 pending

    FakeGateway late(channel, "b");  // a gateway that reconnects now hears v2 as pending, as a restart would
    ASSERT_TRUE(late.WaitFor("current pending 2"));

    absl::StatusOr<uint64_t> next = (*service)->Rollout(Plan());
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, 3u);
    ASSERT_TRUE(a.WaitFor("commit 3"));
    EXPECT_EQ(a.updates(), (std::vector<std::string>{"current", "prepare 2", "abort 2", "prepare 3", "commit 3"}));
    {
      // Not held across Shutdown: the service saves to the store under its own lock,
      // so holding the store's while taking the service's would invert the order.
      std::lock_guard<std::mutex> lock(store.mu);
      ASSERT_TRUE(store.saved.has_value());
      EXPECT_EQ(store.saved->committed.back().policy.version, 3u);
      EXPECT_FALSE(store.saved->pending.has_value());
    }
    (*service)->Shutdown();
  }
}

// Gateways report each iteration as they begin it, so by default a new policy
// starts at the next one: a rate change costs no more slow iterations than that.
TEST(ControlService, ANewPolicyStartsAtTheIterationAfterTheHighestReported) {
  MemoryStore store;
  absl::StatusOr<std::unique_ptr<ControlService>> service = ControlService::Create(TwoGateways(), &store, Plan());
  ASSERT_TRUE(service.ok()) << service.status();
  Served served((*service)->grpc());
  {
    FakeGateway a(served.channel, "a"), b(served.channel, "b");
    ASSERT_TRUE(a.WaitFor("current") && b.WaitFor("current"));
    a.ReportIteration(7);
    ReportAndWait(**service, b, "b", 9);
    absl::StatusOr<uint64_t> v = (*service)->Rollout(Plan());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(a.last_activate_at(), 10u);
    EXPECT_EQ(b.last_activate_at(), 10u);
    EXPECT_EQ((*service)->Current().activate_at, 10u);
    (*service)->Shutdown();
  }
}

// A Prepare that arrives after its gateway began activate_at is refused; the
// rollout is tried again at once, one iteration further ahead each time, twice
// at most, as new versions.
TEST(ControlService, AnOvertakenRolloutIsTriedAgainAtOnceFurtherAhead) {
  MemoryStore store;
  absl::StatusOr<std::unique_ptr<ControlService>> service = ControlService::Create(TwoGateways(), &store, Plan());
  ASSERT_TRUE(service.ok()) << service.status();
  Served served((*service)->grpc());
  {
    FakeGateway a(served.channel, "a"), b(served.channel, "b");
    ASSERT_TRUE(a.WaitFor("current") && b.WaitFor("current"));
    ReportAndWait(**service, b, "b", 9);
    a.Overtake(1);
    absl::StatusOr<uint64_t> v = (*service)->Rollout(Plan());
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(*v, 3u);
    ASSERT_TRUE(a.WaitFor("commit 3"));
    EXPECT_EQ(a.updates(), (std::vector<std::string>{"current", "prepare 2", "abort 2", "prepare 3", "commit 3"}));
    EXPECT_EQ((*service)->Current().activate_at, 12u);  // a began 10, v2's: 10 + 2

    b.Overtake(3);  // three in a row: the third refusal stands
    absl::StatusOr<uint64_t> lost = (*service)->Rollout(Plan());
    ASSERT_FALSE(lost.ok());
    EXPECT_NE(lost.status().message().find("policy v6 aborted: b refused"), std::string::npos) << lost.status();
    EXPECT_EQ((*service)->Current().policy.version, 3u);
    (*service)->Shutdown();
  }
}

// ESync's state service: each gateway hears its DC's local steps after Current,
// and again whenever the reported step times change them.
TEST(ControlService, EsyncSchedulesMoreLocalStepsForFasterDataCenters) {
  MemoryStore store;
  ControlServiceConfig config = TwoGateways();
  config.sync_mode = "esync";
  config.esync = {2, 8};
  absl::StatusOr<std::unique_ptr<ControlService>> service = ControlService::Create(config, &store, Plan());
  ASSERT_TRUE(service.ok()) << service.status();
  Served served((*service)->grpc());
  const std::shared_ptr<grpc::Channel>& channel = served.channel;
  {
    FakeGateway a(channel, "a"), b(channel, "b");
    ASSERT_TRUE(a.WaitFor("schedule 2") && b.WaitFor("schedule 2"));
    b.ReportStep(0.3);  // b is 3x slower than a: a takes 3x the slowest's 2 steps
    a.ReportStep(0.1);
    ASSERT_TRUE(a.WaitFor("schedule 6"));
    a.ReportStep(0.01);  // 30x faster: capped at 8
    ASSERT_TRUE(a.WaitFor("schedule 8"));
    b.ReportStep(0.01);  // as fast as a now
    ASSERT_TRUE(a.WaitForUpdates(5));
    EXPECT_EQ(a.updates(),
              (std::vector<std::string>{"current", "schedule 2", "schedule 6", "schedule 8", "schedule 2"}));
    EXPECT_EQ(b.updates(), (std::vector<std::string>{"current", "schedule 2"}));  // the slowest throughout
    (*service)->Shutdown();
  }
}

TEST(EsyncLocalSteps, TheSlowestTakesTheBaseStepsAndUnmeasuredOnesToo) {
  const std::map<std::string, int> steps = EsyncLocalSteps({{"a", 0.1}, {"b", 0.25}, {"c", 0}, {"d", 0.05}}, {2, 8});
  EXPECT_EQ(steps, (std::map<std::string, int>{{"a", 5}, {"b", 2}, {"c", 2}, {"d", 8}}));  // d: 10, capped
}

}  // namespace
}  // namespace geostorm::control
