// netstorm-paper: NetStorm's multi-root fastest aggregation path trees (FAPT), as
// published.
//   - Edge cost is seconds per byte, 1/B, on the neighbour overlay.
//   - Root r's tree is the in-tree of shortest (fastest) paths to r.
//   - Root r's score is the tree's aggregate-forward delay: the sum over depth
//     levels of the slowest link's 1/B at that level.
//   - The best R roots are kept (PlanOptions::roots, default 3); root r gets a share
//     of the model proportional to 1/score, so all roots finish together.
//   - The broadcast uses the reversed tree.
//   - Multipath: aux relay routes around the busiest links (see aux_routes.h).
#ifndef GEOSTORM_CORE_PLANNER_FAPT_H_
#define GEOSTORM_CORE_PLANNER_FAPT_H_

#include <vector>

#include "core/network_view.h"

namespace geostorm::core {

// The aggregate-forward delay score of an in-tree (seconds per byte).
double AggregateForwardDelay(const NetworkView& view, const std::vector<int>& parent);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_FAPT_H_
