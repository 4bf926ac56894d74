// Multipath auxiliary transmission: relay routes that take part of a tree edge's
// bytes around the busiest physical link.
//
// Greedy rebalancing on the fluid load model: take the resource with the highest
// load/rate; among the tree edges crossing it, take the one with the most bytes
// still on it; find the relay path from the edge's sender to its receiver whose
// busiest resource is least loaded (never crossing the bottleneck); move just
// enough bytes that the bottleneck and the path's busiest resource finish together.
// Repeat while the busiest time drops by a useful amount. Pure; thread-safe.
#ifndef GEOSTORM_CORE_PLANNER_AUX_ROUTES_H_
#define GEOSTORM_CORE_PLANNER_AUX_ROUTES_H_

#include "core/network_view.h"
#include "core/policy/policy.h"

namespace geostorm::core {

struct AuxOptions {
  int max_routes = 0;       // 0: 4 per DC
  double min_gain = 0.002;  // stop when a route shortens the busiest time by less
};

// Adds aux routes to `policy` (which must be valid on `view`).
void AddAuxRoutes(const NetworkView& view, Policy& policy, const AuxOptions& options = {});

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_AUX_ROUTES_H_
