#include "core/planner/planner.h"

#include "absl/strings/str_cat.h"
#include "core/lower_bound.h"
#include "core/planner/strategies.h"
#include "core/sim/simulator.h"

namespace geostorm::core {

absl::StatusOr<Policy> Planner::Plan(const NetworkView& view, const PlanOptions& options) const {
  if (view.size() < 2) return absl::InvalidArgumentError("a plan needs at least 2 DCs");
  absl::StatusOr<Policy> policy = Build(view, options);
  if (!policy.ok()) return policy.status();
  if (absl::Status s = ValidatePolicy(*policy, view); !s.ok()) {
    return absl::InternalError(absl::StrCat(name(), " produced an invalid policy: ", s.message()));
  }
  if (policy->predicted_seconds <= 0) {  // Build did not simulate its choice
    absl::StatusOr<SimResult> sim = Simulate(view, *policy);
    if (!sim.ok()) return sim.status();
    policy->predicted_seconds = sim->iteration_seconds;
  }
  policy->t_min_seconds = TMinSeconds(view);
  return policy;
}

std::unique_ptr<Planner> MakePlanner(const std::string& strategy) {
  if (strategy == "star") return MakeStarPlanner();
  if (strategy == "sharded-ps") return MakeShardedPsPlanner();
  if (strategy == "ring") return MakeRingPlanner();
  if (strategy == "mlnet") return MakeMlnetPlanner();
  if (strategy == "tsengine") return MakeTsenginePlanner();
  if (strategy == "netstorm-paper") return MakeFaptPlanner();
  if (strategy == "netstorm") return MakeTreePackingPlanner();
  return nullptr;
}

const std::vector<std::string>& StrategyNames() {
  static const std::vector<std::string> kNames = {"star",     "sharded-ps",     "ring",    "mlnet",
                                                  "tsengine", "netstorm-paper", "netstorm"};
  return kNames;
}

absl::StatusOr<Policy> PlanTopology(const Topology& topology, const std::string& strategy, int64_t model_bytes,
                                    int64_t chunk_bytes, const PlanOptions& options) {
  std::unique_ptr<Planner> planner = MakePlanner(strategy);
  if (!planner) return absl::InvalidArgumentError(absl::StrCat("unknown strategy '", strategy, "'"));
  absl::StatusOr<NetworkView> view = BuildView(topology, planner->overlay(), model_bytes, chunk_bytes);
  if (!view.ok()) return view.status();
  return planner->Plan(*view, options);
}

Policy EmptyPolicy(const NetworkView& view, const std::string& strategy, const PlanOptions& options) {
  Policy p;
  p.version = options.version;
  p.strategy = strategy;
  p.data_centers = view.dcs();
  p.model_bytes = view.model_bytes();
  p.chunk_bytes = view.chunk_bytes();
  return p;
}

}  // namespace geostorm::core
