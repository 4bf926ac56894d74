// Planner: turns a NetworkView into a Policy. Every strategy sits behind this one
// interface and is chosen by name:
//
//   star            one parameter server, push then pull (MXNet ps-lite, GeoMX global PS)
//   sharded-ps      every DC serves an equal slice, push then pull
//   ring            bandwidth-aware ring all-reduce (NCCL, Gloo)
//   mlnet           balanced binary trees, one per DC, blind to bandwidth (MLNET)
//   tsengine        greedy throughput-aware trees from one root (TSEngine)
//   netstorm-paper  NetStorm as published: multi-root fastest aggregation path trees
//   netstorm        ours: congestion-aware tree packing plus multipath relays
//
// Plan() fills the whole policy, including the predicted iteration time (from the
// flow-level simulator) and T_min. Planners are stateless and thread-safe.
//
//   auto planner = MakePlanner("netstorm");
//   absl::StatusOr<NetworkView> view = BuildView(topology, planner->overlay(), m, c);
//   absl::StatusOr<Policy> policy = planner->Plan(*view, {});
#ifndef GEOSTORM_CORE_PLANNER_PLANNER_H_
#define GEOSTORM_CORE_PLANNER_PLANNER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/network_view.h"
#include "core/policy/policy.h"
#include "core/topology/topology.h"

namespace geostorm::core {

struct PlanOptions {
  int roots = 0;          // number of roots; 0 lets the strategy choose
  int star_root = -1;     // star: the parameter server DC; -1 picks the best one
  bool multipath = true;  // netstorm and netstorm-paper: add aux relay routes
  // netstorm: the packing LP at any size, with column generation until no tree
  // would lower T (slow on large WANs; what bench/planner_scale compares against).
  bool full_packing = false;
  uint64_t version = 1;
};

class Planner {
 public:
  virtual ~Planner() = default;

  virtual std::string name() const = 0;
  // The overlay this strategy plans on when the topology is physical.
  virtual Overlay overlay() const = 0;

  // Plans, validates and predicts. Errors say why no policy exists (for example,
  // a DC that no link reaches).
  [[nodiscard]] absl::StatusOr<Policy> Plan(const NetworkView& view, const PlanOptions& options) const;

 protected:
  // The strategy itself: shards, trees and aux routes, and predicted_seconds when
  // it simulated the policy on `view` to choose it. Plan() does the rest.
  virtual absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const = 0;
};

// A planner by strategy name, or nullptr for an unknown name.
std::unique_ptr<Planner> MakePlanner(const std::string& strategy);

// Every strategy name, baselines first and `netstorm` last.
const std::vector<std::string>& StrategyNames();

// Convenience for the CLI and tests: builds the strategy's view of a topology
// (at `links`, its configured rates by default) and plans on it.
[[nodiscard]] absl::StatusOr<Policy> PlanTopology(const Topology& topology, const std::string& strategy,
                                                  int64_t model_bytes, int64_t chunk_bytes,
                                                  const PlanOptions& options = {});

// An empty policy for a view: DCs, sizes, strategy name and version filled in.
Policy EmptyPolicy(const NetworkView& view, const std::string& strategy, const PlanOptions& options);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_PLANNER_H_
