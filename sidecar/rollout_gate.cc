#include "sidecar/rollout_gate.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"

namespace geostorm::sidecar {
namespace {

int64_t BytesOf(const wire::Envelope& e) { return e.data ? static_cast<int64_t>(e.data->size() * sizeof(float)) : 0; }

}  // namespace

RolloutGate::RolloutGate(Engine engine, int64_t max_held_bytes)
    : engine_(std::move(engine)), max_held_bytes_(max_held_bytes) {}

absl::Status RolloutGate::AdmitIteration(uint64_t t, Clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  if (changed_.wait_until(lock, deadline, [&] { return switch_.Admit(t); })) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("iteration ", t,
                                                  " waited for the controller to commit or abort policy v",
                                                  switch_.prepared_version().value_or(0)));
}

absl::StatusOr<bool> RolloutGate::Offer(wire::Envelope& e, Clock::time_point deadline) {
  const int64_t bytes = BytesOf(e);
  std::unique_lock<std::mutex> lock(mu_);
  bool admitted = false;
  changed_.wait_until(lock, deadline, [&] {
    admitted = switch_.Admit(e.iteration);
    return admitted || held_bytes_ + bytes <= max_held_bytes_;
  });
  if (admitted) return true;
  if (held_bytes_ + bytes > max_held_bytes_) {
    return absl::ResourceExhaustedError(absl::StrCat("iteration ", e.iteration, " waits for policy v",
                                                     switch_.prepared_version().value_or(0),
                                                     " to be committed or aborted, and the chunks held for it fill "
                                                     "the queue"));
  }
  held_bytes_ += bytes;
  held_.push_back(std::move(e));
  return false;
}

std::vector<wire::Envelope> RolloutGate::TakeReleased() {
  std::vector<wire::Envelope> ready;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = held_.begin(); it != held_.end();) {
    if (switch_.Admit(it->iteration)) {
      held_bytes_ -= BytesOf(*it);
      ready.push_back(std::move(*it));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  changed_.notify_all();
  return ready;
}

RolloutGate::Answer RolloutGate::Prepare(core::Activation next) {
  std::lock_guard<std::mutex> lock(mu_);
  return PrepareLocked(std::move(next));
}

RolloutGate::Answer RolloutGate::PrepareLocked(core::Activation next) {
  Answer answer{next.policy.version, engine_.check(next.policy)};
  if (answer.status.ok() && engine_.prepared) engine_.prepared(next);
  if (answer.status.ok()) answer.status = switch_.Prepare(std::move(next), engine_.latest_version());
  if (!answer.status.ok()) {
    spdlog::warn("refusing policy v{}: {}", answer.version, std::string(answer.status.message()));
  }
  changed_.notify_all();
  return answer;
}

absl::Status RolloutGate::Commit(uint64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::StatusOr<core::Activation> a = switch_.Commit(version);
  changed_.notify_all();
  if (!a.ok()) return a.status();
  return ActivateLocked(*std::move(a));
}

void RolloutGate::Abort(uint64_t version) {
  std::lock_guard<std::mutex> lock(mu_);
  switch_.Abort(version);
  changed_.notify_all();
}

std::optional<RolloutGate::Answer> RolloutGate::Settle(const std::vector<core::Activation>& committed,
                                                       std::optional<core::Activation> pending) {
  std::lock_guard<std::mutex> lock(mu_);
  for (core::Activation& a : switch_.Settle(committed, pending, engine_.latest_version())) {
    ActivateLocked(std::move(a)).IgnoreError();  // logged there
  }
  changed_.notify_all();
  if (!pending) return std::nullopt;
  return PrepareLocked(*std::move(pending));
}

absl::Status RolloutGate::ActivateLocked(core::Activation a) {
  const uint64_t v = a.policy.version;
  const uint64_t from = a.activate_at;
  absl::Status s = engine_.activate(std::move(a));
  if (!s.ok()) {
    spdlog::error("cannot activate policy v{}: {}", v, std::string(s.message()));
    return s;
  }
  spdlog::info("policy v{} committed, from iteration {}", v, from);
  return absl::OkStatus();
}

uint64_t RolloutGate::highest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return switch_.highest();
}

std::optional<uint64_t> RolloutGate::prepared_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return switch_.prepared_version();
}

int64_t RolloutGate::held_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_bytes_;
}

}  // namespace geostorm::sidecar
