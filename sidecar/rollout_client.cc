#include "sidecar/rollout_client.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "core/policy/policy_codec.h"
#include "sidecar/control_link.h"

namespace geostorm::sidecar {
namespace {

// The committed policies of a Current, oldest first, and its pending one.
std::vector<core::Activation> ActivationsOf(const v1::Current& current, std::optional<core::Activation>* pending) {
  std::vector<core::Activation> committed;
  for (const v1::Activation& a : current.committed()) {
    absl::StatusOr<core::Policy> p = core::FromProto(a.policy());
    if (!p.ok()) {
      spdlog::error("controller sent a committed policy that does not decode: {}", std::string(p.status().message()));
      continue;
    }
    committed.push_back({*std::move(p), a.activate_at()});
  }
  if (current.has_pending()) {
    absl::StatusOr<core::Policy> p = core::FromProto(current.pending().policy());
    if (p.ok()) {
      *pending = core::Activation{*std::move(p), current.pending().activate_at()};
    } else {
      spdlog::error("controller sent a pending policy that does not decode: {}", std::string(p.status().message()));
    }
  }
  return committed;
}

v1::PrepareAck AckOf(const RolloutGate::Answer& a) {
  v1::PrepareAck ack;
  ack.set_version(a.version);
  ack.set_ok(a.status.ok());
  if (!a.status.ok()) ack.set_error(std::string(a.status.message()));
  return ack;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RolloutClient>> RolloutClient::Connect(
    Options options, const std::shared_ptr<grpc::ChannelCredentials>& credentials) {
  std::unique_ptr<RolloutClient> client(new RolloutClient(std::move(options)));
  RolloutClient* self = client.get();
  ControlLink::Callbacks callbacks;
  callbacks.hello = [self] {
    v1::Hello h;
    h.set_job(self->options_.job);
    h.set_data_center(self->options_.data_center);
    std::lock_guard<std::mutex> lock(self->mu_);
    if (self->gate_) h.set_iteration(self->gate_->highest());
    return h;
  };
  callbacks.on_update = [self](const v1::PolicyUpdate& u) { self->OnUpdate(u); };
  callbacks.progress = [self] {
    std::lock_guard<std::mutex> lock(self->mu_);
    if (!self->gate_) {
      v1::Progress p;
      p.set_job(self->options_.job);
      p.set_data_center(self->options_.data_center);
      return p;
    }
    return self->hooks_.progress();
  };
  const std::string controller = client->options_.controller;
  client->link_ = std::make_unique<ControlLink>(controller, credentials, std::move(callbacks));
  const std::chrono::milliseconds wait = client->options_.first_policy_timeout;
  std::unique_lock<std::mutex> lock(client->mu_);
  if (!client->changed_.wait_for(lock, wait, [&] { return !client->early_.empty(); })) {
    lock.unlock();
    return absl::UnavailableError(
        absl::StrCat("--controller ", controller, ": no policy within ", wait.count() / 1000, " s"));
  }
  std::optional<core::Activation> pending;
  client->initial_ = ActivationsOf(client->early_.front().current(), &pending);
  lock.unlock();
  if (client->initial_.empty()) return absl::InvalidArgumentError("the controller sent no usable committed policy");
  return client;
}

RolloutClient::RolloutClient(Options options) : options_(std::move(options)) {}

RolloutClient::~RolloutClient() { link_.reset(); }

void RolloutClient::Attach(RolloutGate* gate, Hooks hooks) {
  std::vector<v1::PolicyUpdate> early;
  {
    std::lock_guard<std::mutex> lock(mu_);
    gate_ = gate;
    hooks_ = std::move(hooks);
    early.swap(early_);
  }
  for (const v1::PolicyUpdate& u : early) Apply(u);
}

void RolloutClient::Report(v1::Progress progress) { link_->Report(std::move(progress)); }

void RolloutClient::OnUpdate(const v1::PolicyUpdate& u) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!gate_) {  // kept for Attach, in order; the first one answers Connect
      if (!early_.empty() || u.has_current()) early_.push_back(u);
      changed_.notify_all();
      return;
    }
  }
  Apply(u);
}

void RolloutClient::Apply(const v1::PolicyUpdate& u) {
  std::optional<RolloutGate::Answer> answer;
  switch (u.update_case()) {
    case v1::PolicyUpdate::kCurrent: {
      std::optional<core::Activation> pending;
      const std::vector<core::Activation> committed = ActivationsOf(u.current(), &pending);
      answer = gate_->Settle(committed, std::move(pending));
      break;
    }
    case v1::PolicyUpdate::kPrepare: {
      absl::StatusOr<core::Policy> p = core::FromProto(u.prepare().policy());
      if (p.ok()) {
        answer = gate_->Prepare({*std::move(p), u.prepare().activate_at()});
      } else {
        answer = RolloutGate::Answer{
            u.prepare().policy().version(),
            absl::InvalidArgumentError(absl::StrCat("policy does not decode: ", p.status().message()))};
      }
      break;
    }
    case v1::PolicyUpdate::kCommit:
      if (absl::Status s = gate_->Commit(u.commit().version()); !s.ok()) {
        spdlog::error("{}: {}", options_.data_center, std::string(s.message()));
      }
      break;
    case v1::PolicyUpdate::kAbort:
      spdlog::warn("{}: policy v{} aborted: {}", options_.data_center, u.abort().version(), u.abort().reason());
      gate_->Abort(u.abort().version());
      break;
    default:
      break;
  }
  if (u.has_probe()) hooks_.probe({u.probe().peers().begin(), u.probe().peers().end()});
  if (u.has_schedule() && hooks_.schedule) hooks_.schedule(u.schedule().local_steps());
  if (answer && !options_.ignore_prepare) {
    v1::Progress p = hooks_.progress();
    *p.mutable_ack() = AckOf(*answer);
    link_->Report(std::move(p));
  }
  hooks_.released();
}

}  // namespace geostorm::sidecar
