#include "operator/controllers/topology_policy_store.h"

#include "absl/strings/str_cat.h"
#include "core/policy/policy_codec.h"
#include "core/status_macros.h"
#include "operator/controllers/initial_policy.h"

namespace geostorm::controllers {
namespace {

using kube::Json;

constexpr char kCommitted[] = "Committed";
constexpr char kPending[] = "Pending";
constexpr char kAborted[] = "Aborted";

// Objects written before phases existed are committed ones.
std::string PhaseOf(const Json& object) { return object["spec"].value("phase", kCommitted); }

}  // namespace

TopologyPolicyStore::TopologyPolicyStore(kube::Client& host, JobRef job, Json owner, std::string plan_fingerprint)
    : host_(host), job_(std::move(job)), owner_(std::move(owner)), plan_fingerprint_(std::move(plan_fingerprint)) {}

absl::StatusOr<control::RolloutState> TopologyPolicyStore::Load() {
  absl::StatusOr<kube::ListResult> listed = host_.List(kube::kTopologyPolicies, job_.ns, JobSelector(job_));
  if (!listed.ok()) return listed.status();
  objects_.clear();
  for (Json& object : listed->items) {
    const uint64_t version = object["spec"].value("version", uint64_t{0});
    objects_[version] = std::move(object);
  }
  if (objects_.empty()) return absl::NotFoundError(absl::StrCat("no TopologyPolicy for job ", job_.ns, "/", job_.name));
  control::RolloutState state;
  state.next_version = objects_.rbegin()->first + 1;
  for (const auto& [version, object] : objects_) {
    const std::string phase = PhaseOf(object);
    if (phase == kAborted) continue;
    absl::StatusOr<core::Policy> policy = core::FromJson(object["spec"].value("policy", Json::object()).dump());
    if (!policy.ok()) {
      return absl::DataLossError(absl::StrCat("TopologyPolicy ", object["metadata"].value("name", ""),
                                              ": spec.policy: ", policy.status().message()));
    }
    core::Activation activation{*std::move(policy), object["spec"].value("fromIteration", uint64_t{0})};
    if (phase == kPending) {
      state.pending = std::move(activation);
    } else {
      state.AddCommitted(std::move(activation));
    }
  }
  return state;
}

absl::Status TopologyPolicyStore::Write(const core::Activation& activation, const std::string& phase) {
  const uint64_t version = activation.policy.version;
  auto known = objects_.find(version);
  if (known != objects_.end() && PhaseOf(known->second) == phase &&
      known->second["spec"].value("fromIteration", uint64_t{0}) == activation.activate_at) {
    return absl::OkStatus();
  }
  const std::string fingerprint =
      known != objects_.end() ? known->second["spec"].value("specFingerprint", plan_fingerprint_) : plan_fingerprint_;
  Json object = TopologyPolicyObject(job_, owner_, activation.policy, fingerprint);
  object["spec"]["phase"] = phase;
  object["spec"]["fromIteration"] = activation.activate_at;
  absl::StatusOr<Json> written = host_.Apply(kube::kTopologyPolicies, object);
  if (!written.ok()) return written.status();
  objects_[version] = *std::move(written);
  return absl::OkStatus();
}

absl::Status TopologyPolicyStore::Save(const control::RolloutState& state) {
  for (const core::Activation& activation : state.committed) {
    RETURN_IF_ERROR(Write(activation, kCommitted));
  }
  if (state.pending) {
    RETURN_IF_ERROR(Write(*state.pending, kPending));
  }
  // A pending version the state no longer holds was decided against: keep it, as Aborted.
  for (auto& [version, object] : objects_) {
    const bool still_pending = state.pending && state.pending->policy.version == version;
    if (PhaseOf(object) != kPending || still_pending) continue;
    absl::StatusOr<Json> marked = host_.MergePatch(
        kube::kTopologyPolicies, job_.ns, object["metadata"].value("name", ""), {{"spec", {{"phase", kAborted}}}});
    if (!marked.ok()) return marked.status();
    object = *std::move(marked);
  }
  return absl::OkStatus();
}

std::string TopologyPolicyStore::PlanFingerprintOf(uint64_t version) const {
  auto it = objects_.find(version);
  return it == objects_.end() ? "" : it->second["spec"].value("specFingerprint", "");
}

}  // namespace geostorm::controllers
