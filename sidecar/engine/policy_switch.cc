#include "sidecar/engine/policy_switch.h"

#include "absl/strings/str_cat.h"

namespace geostorm::sidecar {

absl::Status PolicySwitch::Prepare(Activation next, uint64_t committed_version) {
  const uint64_t v = next.policy.version;
  if (v <= committed_version) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy v", v, " is not newer than v", committed_version, ", in force here"));
  }
  if (prepared_ && prepared_->policy.version != v) {
    return absl::FailedPreconditionError(
        absl::StrCat("policy v", prepared_->policy.version, " is already prepared here; v", v, " must wait"));
  }
  if (touched_ && next.activate_at <= highest_) {
    return absl::FailedPreconditionError(
        absl::StrCat("iteration ", next.activate_at, " has already started here (at ", highest_, ")"));
  }
  prepared_ = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<Activation> PolicySwitch::Commit(uint64_t version) {
  if (!prepared_ || prepared_->policy.version != version) {
    return absl::FailedPreconditionError(absl::StrCat("commit of policy v", version, ", which is not prepared here"));
  }
  Activation a = std::move(*prepared_);
  prepared_.reset();
  return a;
}

void PolicySwitch::Abort(uint64_t version) {
  if (prepared_ && prepared_->policy.version == version) prepared_.reset();
}

std::vector<Activation> PolicySwitch::Settle(const std::vector<Activation>& committed,
                                             const std::optional<Activation>& pending, uint64_t committed_version) {
  std::vector<Activation> missing;
  for (const Activation& a : committed) {
    if (a.policy.version > committed_version) missing.push_back(a);
  }
  const bool still_pending = prepared_ && pending && pending->policy.version == prepared_->policy.version;
  if (!still_pending) prepared_.reset();
  return missing;
}

bool PolicySwitch::Admit(uint64_t iteration) {
  if (Held(iteration)) return false;
  if (!touched_ || iteration > highest_) highest_ = iteration;
  touched_ = true;
  return true;
}

std::optional<uint64_t> PolicySwitch::prepared_version() const {
  if (!prepared_) return std::nullopt;
  return prepared_->policy.version;
}

}  // namespace geostorm::sidecar
