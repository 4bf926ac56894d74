// PolicySwitch: a gateway's side of the rollout protocol in control.proto, with
// no I/O. It tracks the highest iteration this gateway has touched (started by a
// worker, or seen in a chunk) and at most one prepared policy.
//
//   - Prepare(v, activate_at) is refused when iteration activate_at has already
//     been touched here, so no iteration can ever run on two versions.
//   - While v is prepared, iterations from activate_at on are held: Admit() says
//     no, and the caller waits or keeps their chunks aside.
//   - Commit(v) hands back the policy to give the engine from activate_at on;
//     Abort(v) drops it. Either releases the held iterations.
//   - Settle() applies a Current message after a (re)subscription: committed
//     versions newer than the engine's are handed back, and a prepared version
//     the controller no longer knows is dropped.
// Not thread-safe: the sidecar serialises calls.
#ifndef GEOSTORM_SIDECAR_ENGINE_POLICY_SWITCH_H_
#define GEOSTORM_SIDECAR_ENGINE_POLICY_SWITCH_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "core/policy/policy.h"

namespace geostorm::sidecar {

using core::Activation;

class PolicySwitch {
 public:
  // `committed_version`: the newest version the engine holds.
  [[nodiscard]] absl::Status Prepare(Activation next, uint64_t committed_version);
  [[nodiscard]] absl::StatusOr<Activation> Commit(uint64_t version);
  void Abort(uint64_t version);
  // committed: oldest first. Returns what the engine lacks, oldest first.
  std::vector<Activation> Settle(const std::vector<Activation>& committed, const std::optional<Activation>& pending,
                                 uint64_t committed_version);

  // True, and the iteration counts as touched, unless a prepared policy holds it.
  bool Admit(uint64_t iteration);
  bool Held(uint64_t iteration) const { return prepared_ && iteration >= prepared_->activate_at; }

  // The highest iteration touched; 0 before any.
  uint64_t highest() const { return highest_; }
  std::optional<uint64_t> prepared_version() const;

 private:
  std::optional<Activation> prepared_;
  uint64_t highest_ = 0;
  bool touched_ = false;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_ENGINE_POLICY_SWITCH_H_
