// RolloutState: what the controller must remember across a restart to resolve a
// rollout: the committed policies (with the iteration each applies from), the
// version that was being prepared, if any, and the next unused version number
// (versions are never reused, even after an abort).
//
// StateStore keeps it: a file for local runs (written atomically), the
// TopologyPolicy resources under the operator.
#ifndef GEOSTORM_CONTROL_ROLLOUT_STATE_H_
#define GEOSTORM_CONTROL_ROLLOUT_STATE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/policy/policy.h"

namespace geostorm::control {

struct RolloutState {
  std::vector<core::Activation> committed;  // oldest first; the last is in force
  std::optional<core::Activation> pending;  // prepared, not yet decided
  uint64_t next_version = 1;

  // Committed policies kept: enough for a sidecar that reconnects while its peers
  // still finish iterations of the previous one.
  static constexpr size_t kKeep = 3;
  void AddCommitted(core::Activation a);
};

std::string ToJson(const RolloutState& state);
[[nodiscard]] absl::StatusOr<RolloutState> RolloutStateFromJson(const std::string& text);

class StateStore {
 public:
  virtual ~StateStore() = default;
  // NotFound when nothing was saved yet.
  [[nodiscard]] virtual absl::StatusOr<RolloutState> Load() = 0;
  [[nodiscard]] virtual absl::Status Save(const RolloutState& state) = 0;
};

class FileStateStore final : public StateStore {
 public:
  explicit FileStateStore(std::string path) : path_(std::move(path)) {}
  absl::StatusOr<RolloutState> Load() override;
  absl::Status Save(const RolloutState& state) override;  // write, fsync, rename

 private:
  std::string path_;
};

class MemoryStateStore final : public StateStore {
 public:
  absl::StatusOr<RolloutState> Load() override;
  absl::Status Save(const RolloutState& state) override;

 private:
  std::optional<RolloutState> state_;
};

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_ROLLOUT_STATE_H_
