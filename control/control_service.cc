#include "control/control_service.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/policy_codec.h"
#include "core/status_macros.h"
#include "geostorm/v1/control.grpc.pb.h"

namespace geostorm::control {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kOvertakenRetries = 2;

void ToProto(const core::Activation& a, v1::Prepare* out) {
  core::ToProto(a.policy, out->mutable_policy());
  out->set_activate_at(a.activate_at);
}

// One Subscribe stream: updates wait here until its handler writes them.
struct Subscriber {
  std::deque<v1::PolicyUpdate> queue;
  bool closed = false;
};

class ControlServiceImpl final : public ControlService, public v1::Control::Service {
 public:
  ControlServiceImpl(ControlServiceConfig config, StateStore* store) : config_(std::move(config)), store_(store) {}

  absl::Status Init(const core::Policy& initial) {
    absl::StatusOr<RolloutState> loaded = store_->Load();
    if (loaded.ok()) {
      state_ = *std::move(loaded);
    } else if (absl::IsNotFound(loaded.status())) {
      core::Policy p = initial;
      p.version = state_.next_version++;
      state_.AddCommitted({std::move(p), 0});
    } else {
      return loaded.status();
    }
    if (state_.committed.empty()) return absl::InvalidArgumentError("rollout state: no committed policy");
    if (state_.pending) {
      spdlog::warn("job {}: the rollout of policy v{} was interrupted by a restart: aborting it", config_.job,
                   state_.pending->policy.version);
      state_.pending.reset();
      ++counters_.aborted;
    }
    return store_->Save(state_);
  }

  grpc::Service* grpc() override { return this; }

  // A gateway that begins activate_at before the Prepare reaches it refuses: the
  // rollout was overtaken, not wrong (likelier the slower the control channel is
  // against an iteration). It is tried again at once, with one more iteration of
  // lead each time, as a new version.
  absl::StatusOr<uint64_t> Rollout(core::Policy policy) override {
    for (uint64_t extra = 0;; ++extra) {
      bool overtaken = false;
      absl::StatusOr<uint64_t> v = RolloutOnce(policy, config_.lead + extra, overtaken);
      if (v.ok() || !overtaken || extra == kOvertakenRetries) return v;
      spdlog::info("job {}: {}; trying again at once, {} iterations ahead", config_.job,
                   std::string(v.status().message()), config_.lead + extra + 1);
    }
  }

  absl::StatusOr<uint64_t> RolloutOnce(core::Policy policy, uint64_t lead, bool& overtaken) {
    std::unique_lock<std::mutex> lock(mu_);
    if (stopping_) return absl::CancelledError("shutting down");
    if (rolling_out_) return absl::FailedPreconditionError("a rollout is already in progress");
    if (state_.pending) {
      // A decision that could not be saved: it is still pending in the store, so
      // abort it first, and only tell the gateways once that is saved.
      RETURN_IF_ERROR(Decide(state_.pending->policy.version, false, "its decision could not be saved"));
    }
    for (const std::string& dc : config_.gateways) {
      if (!reports_[dc].connected) {
        ++counters_.aborted;
        return absl::UnavailableError(absl::StrCat("gateway ", dc, " is not connected; keeping policy v",
                                                   state_.committed.back().policy.version));
      }
    }
    uint64_t highest = 0;
    for (const auto& [dc, r] : reports_) highest = std::max(highest, r.iteration);
    policy.version = state_.next_version++;
    const uint64_t version = policy.version;
    const uint64_t activate_at = highest + lead;
    state_.pending = core::Activation{std::move(policy), activate_at};
    acks_.clear();
    if (absl::Status s = store_->Save(state_); !s.ok()) {
      state_.pending.reset();
      ++counters_.aborted;
      return s;
    }
    rolling_out_ = true;
    v1::PolicyUpdate prepare;
    ToProto(*state_.pending, prepare.mutable_prepare());
    Broadcast(prepare);
    const auto deadline = Clock::now() + config_.prepare_timeout;
    std::string refusal;
    changed_.wait_until(lock, deadline, [&] {
      for (const auto& [dc, ack] : acks_) {
        if (!ack.empty()) refusal = absl::StrCat(dc, " refused: ", ack);
      }
      return stopping_ || !refusal.empty() || AllAcked();
    });
    const bool commit = !stopping_ && refusal.empty() && AllAcked();
    if (!commit && refusal.empty()) refusal = absl::StrCat("no acknowledgement from ", Missing(), " in time");
    rolling_out_ = false;
    for (const auto& [dc, r] : reports_) overtaken = overtaken || (!commit && r.iteration >= activate_at);
    RETURN_IF_ERROR(Decide(version, commit, refusal));
    if (commit) return version;
    return absl::AbortedError(absl::StrCat("policy v", version, " aborted: ", refusal));
  }

  core::Activation Current() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return state_.committed.back();
  }

  std::map<std::string, GatewayReport> Reports() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return reports_;
  }

  RolloutCounters counters() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return counters_;
  }

  void Probe(const std::string& dc, const std::vector<std::string>& peers) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = subscribers_.find(dc);
    if (it == subscribers_.end()) return;
    v1::PolicyUpdate u;
    for (const std::string& p : peers) u.mutable_probe()->add_peers(p);
    it->second->queue.push_back(std::move(u));
    changed_.notify_all();
  }

  void Shutdown() override {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    changed_.notify_all();
  }

  // ---- gRPC ----

  grpc::Status Subscribe(grpc::ServerContext* context, const v1::Hello* hello,
                         grpc::ServerWriter<v1::PolicyUpdate>* writer) override {
    if (hello->job() != config_.job) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("job '", hello->job(), "' is not this controller's job '", config_.job, "'"));
    }
    const std::string& dc = hello->data_center();
    if (std::find(config_.gateways.begin(), config_.gateways.end(), dc) == config_.gateways.end()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          absl::StrCat("'", dc, "' is not a DC of job ", config_.job));
    }
    auto self = std::make_shared<Subscriber>();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (auto old = subscribers_.find(dc); old != subscribers_.end()) old->second->closed = true;
      subscribers_[dc] = self;
      GatewayReport& r = reports_[dc];
      r.connected = true;
      r.iteration = std::max(r.iteration, hello->iteration());
      // Current first, under the lock, so that no Prepare or decision can come
      // before it or be missed.
      v1::PolicyUpdate current;
      for (const core::Activation& a : state_.committed) {
        v1::Activation* out = current.mutable_current()->add_committed();
        core::ToProto(a.policy, out->mutable_policy());
        out->set_activate_at(a.activate_at);
      }
      if (state_.pending) ToProto(*state_.pending, current.mutable_current()->mutable_pending());
      self->queue.push_back(std::move(current));
      r.local_steps = 0;  // it has heard no schedule yet
      Reschedule();
      changed_.notify_all();
    }
    spdlog::info("job {}: gateway {} subscribed (at iteration {})", config_.job, dc, hello->iteration());
    std::mt19937_64 random(std::hash<std::string>()(dc) ^
                           static_cast<uint64_t>(Clock::now().time_since_epoch().count()));
    for (;;) {
      v1::PolicyUpdate update;
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait_for(lock, std::chrono::milliseconds(200),
                          [&] { return stopping_ || self->closed || !self->queue.empty(); });
        if (stopping_ || self->closed || context->IsCancelled()) break;
        if (self->queue.empty()) continue;
        update = std::move(self->queue.front());
        self->queue.pop_front();
      }
      if (config_.inject_delay.count() > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(random() % (config_.inject_delay.count() + 1)));
      }
      if (!writer->Write(update)) break;
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (subscribers_[dc] == self) {
      subscribers_.erase(dc);
      reports_[dc].connected = false;
      changed_.notify_all();
    }
    return grpc::Status::OK;
  }

  grpc::Status Report(grpc::ServerContext*, grpc::ServerReader<v1::Progress>* reader, v1::ReportReply*) override {
    v1::Progress p;
    while (reader->Read(&p)) {
      std::lock_guard<std::mutex> lock(mu_);
      if (p.job() != config_.job || !reports_.count(p.data_center())) continue;  // not subscribed
      GatewayReport& r = reports_[p.data_center()];
      r.iteration = std::max(r.iteration, p.iteration());
      r.policy_version = p.policy_version();
      if (p.iteration_seconds() > 0) r.iteration_seconds = p.iteration_seconds();
      r.error = p.error();
      if (p.step_seconds() > 0 && p.step_seconds() != r.step_seconds) {
        r.step_seconds = p.step_seconds();
        Reschedule();
      }
      const auto now = Clock::now();
      for (const v1::LinkEstimate& l : p.links()) r.links[l.dst()] = {l.bytes_per_second(), l.age_seconds(), now};
      if (p.has_ack() && state_.pending && p.ack().version() == state_.pending->policy.version) {
        acks_[p.data_center()] = p.ack().ok() ? "" : p.ack().error();
      }
      changed_.notify_all();
    }
    return grpc::Status::OK;
  }

 private:
  // Under mu_. ESync: sends each subscribed gateway its local steps when they changed
  // by more than a quarter.
  void Reschedule() {
    if (config_.sync_mode != "esync") return;
    std::map<std::string, double> step_seconds;
    for (const std::string& dc : config_.gateways) {
      auto r = reports_.find(dc);
      step_seconds[dc] = r == reports_.end() ? 0 : r->second.step_seconds;
    }
    for (const auto& [dc, steps] : EsyncLocalSteps(step_seconds, config_.esync)) {
      auto sub = subscribers_.find(dc);
      if (sub == subscribers_.end()) continue;
      GatewayReport& r = reports_[dc];  // subscribed, so present
      // Step times are noisy: a change of a quarter or less is not worth a message.
      if (r.local_steps > 0 && std::abs(steps - r.local_steps) * 4 <= r.local_steps) continue;
      r.local_steps = steps;
      v1::PolicyUpdate u;
      u.mutable_schedule()->set_local_steps(steps);
      sub->second->queue.push_back(std::move(u));
      spdlog::info("job {}: esync: {} takes {} local steps ({:.3f} s each)", config_.job, dc, steps, r.step_seconds);
    }
    changed_.notify_all();
  }

  // Under mu_. Saves the decision on the pending version, then tells every
  // gateway. The state in memory changes only once the store holds it, so that no
  // subscriber hears of a decision a restart would not know.
  absl::Status Decide(uint64_t version, bool commit, const std::string& reason) {
    RolloutState next = state_;
    v1::PolicyUpdate decision;
    if (commit) {
      next.AddCommitted(*std::move(next.pending));
      decision.mutable_commit()->set_version(version);
    } else {
      decision.mutable_abort()->set_version(version);
      decision.mutable_abort()->set_reason(reason);
    }
    next.pending.reset();
    if (absl::Status s = store_->Save(next); !s.ok()) {
      spdlog::error("job {}: cannot save the decision on policy v{}: {}", config_.job, version,
                    std::string(s.message()));
      return absl::Status(s.code(), absl::StrCat("saving the decision on policy v", version, ": ", s.message()));
    }
    state_ = std::move(next);
    Broadcast(decision);
    if (commit) {
      ++counters_.committed;
      spdlog::info("job {}: policy v{} committed, from iteration {}", config_.job, version,
                   state_.committed.back().activate_at);
    } else {
      ++counters_.aborted;
      spdlog::warn("job {}: policy v{} aborted: {}", config_.job, version, reason);
    }
    return absl::OkStatus();
  }

  void Broadcast(const v1::PolicyUpdate& update) {
    for (auto& [dc, s] : subscribers_) s->queue.push_back(update);
    changed_.notify_all();
  }

  bool AllAcked() const {
    return std::all_of(config_.gateways.begin(), config_.gateways.end(), [&](const std::string& dc) {
      auto it = acks_.find(dc);
      return it != acks_.end() && it->second.empty();
    });
  }

  std::string Missing() const {
    std::vector<std::string> missing;
    for (const std::string& dc : config_.gateways) {
      if (!acks_.count(dc)) missing.push_back(dc);
    }
    return absl::StrJoin(missing, ", ");
  }

  const ControlServiceConfig config_;
  StateStore* const store_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  RolloutState state_;
  std::map<std::string, std::shared_ptr<Subscriber>> subscribers_;
  std::map<std::string, GatewayReport> reports_;
  std::map<std::string, std::string> acks_;  // DC -> "" (acknowledged) or why it refused
  RolloutCounters counters_;
  bool stopping_ = false;
  bool rolling_out_ = false;  // a Rollout call is waiting for acknowledgements
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlService>> ControlService::Create(ControlServiceConfig config, StateStore* store,
                                                                       const core::Policy& initial) {
  if (config.gateways.empty()) return absl::InvalidArgumentError("the job has no DCs");
  auto service = std::make_unique<ControlServiceImpl>(std::move(config), store);
  RETURN_IF_ERROR(service->Init(initial));
  return service;
}

}  // namespace geostorm::control
