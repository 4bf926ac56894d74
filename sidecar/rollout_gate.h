// RolloutGate: where a gateway waits for the controller during a rollout, with no
// gRPC. It wraps the PolicySwitch (engine/policy_switch.h) with what the sidecar
// needs around it:
//   - AdmitIteration() blocks a worker's iteration that a prepared policy holds,
//     until the rollout is committed or aborted, or the deadline passes;
//   - Offer() keeps a peer's chunk of a held iteration aside (bounded in bytes)
//     instead of feeding the engine; TakeReleased() hands such chunks back once
//     their iteration is no longer held;
//   - Prepare/Commit/Abort/Settle apply the controller's messages, activating
//     committed policies in the engine through the Engine hooks.
//
//   RolloutGate gate({latest_version, activate, check}, 64 << 20);
//   if (!gate.AdmitIteration(t, deadline).ok()) ...;       // a worker's iteration
//   absl::StatusOr<bool> now = gate.Offer(envelope, deadline);  // a peer's chunk
//   RolloutGate::Answer a = gate.Prepare(next);            // then tell the controller
//   gate.Commit(v);  for (Envelope& e : gate.TakeReleased()) engine.Accept(e);
//
// Thread-safe. Lock order: the gate's mutex is taken before the engine's (the
// activate hook runs under it), never after.
#ifndef GEOSTORM_SIDECAR_ROLLOUT_GATE_H_
#define GEOSTORM_SIDECAR_ROLLOUT_GATE_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/policy/policy.h"
#include "sidecar/engine/policy_switch.h"
#include "wire/envelope.h"

namespace geostorm::sidecar {

class RolloutGate {
 public:
  using Clock = std::chrono::steady_clock;

  // What the gate asks of the engine. All are called under the gate's mutex.
  struct Engine {
    std::function<uint64_t()> latest_version;  // the newest committed version it holds
    // Applies a committed policy from its iteration on; an error is logged by the gate.
    std::function<absl::Status(core::Activation)> activate;
    // Whether this gateway can run a prepared policy at all (DCs, sizes, peer addresses).
    std::function<absl::Status(const core::Policy&)> check;
    // Told of each Prepare that passed `check` (may be empty).
    std::function<void(const core::Activation&)> prepared;
  };

  // The answer to a Prepare, for the controller.
  struct Answer {
    uint64_t version = 0;
    absl::Status status;
  };

  RolloutGate(Engine engine, int64_t max_held_bytes);

  // Waits until iteration t may start here. kDeadlineExceeded names the policy
  // version that held it.
  [[nodiscard]] absl::Status AdmitIteration(uint64_t t, Clock::time_point deadline);

  // A chunk from a peer or member. true: feed it to the engine now. false: it was
  // kept for a held iteration (and moved out of `e`). kResourceExhausted when the
  // held chunks already fill the bound and the rollout was not decided by `deadline`.
  [[nodiscard]] absl::StatusOr<bool> Offer(wire::Envelope& e, Clock::time_point deadline);

  // Chunks whose iteration is no longer held, oldest first: feed them to the engine.
  std::vector<wire::Envelope> TakeReleased();

  // The controller's messages.
  Answer Prepare(core::Activation next);
  [[nodiscard]] absl::Status Commit(uint64_t version);
  void Abort(uint64_t version);
  // A Current after a (re)subscription: activates what the engine lacks, drops a
  // prepared version the controller no longer has pending, and prepares `pending`.
  std::optional<Answer> Settle(const std::vector<core::Activation>& committed, std::optional<core::Activation> pending);

  uint64_t highest() const;  // the highest iteration touched here
  std::optional<uint64_t> prepared_version() const;
  int64_t held_bytes() const;

 private:
  Answer PrepareLocked(core::Activation next);
  absl::Status ActivateLocked(core::Activation a);

  const Engine engine_;
  const int64_t max_held_bytes_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  PolicySwitch switch_;
  std::vector<wire::Envelope> held_;
  int64_t held_bytes_ = 0;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_ROLLOUT_GATE_H_
