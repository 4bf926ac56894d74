// Lower bounds on one iteration's synchronisation time.
//
// T_min (DESIGN.md section 1): for every split of the DCs into two non-empty sides,
// the whole M-byte result must cross the cut in each direction, so
//   T_min = M / (minimum over directed cuts of the capacity crossing it).
// The minimum directed cut is found with max-flow (Boost.Graph) between DC 0 and
// every other DC, in both directions.
//
// The aggregation bound: with sum-and-forward, every byte of the gradient needs at
// least N-1 transmissions to be summed and N-1 more to be spread, so
//   T_agg = 2 (N-1) M / (sum of all link capacities).
// No tree-based schedule beats max(T_min, T_agg); we report both.
// Thread-safe: pure functions.
#ifndef GEOSTORM_CORE_LOWER_BOUND_H_
#define GEOSTORM_CORE_LOWER_BOUND_H_

#include "core/network_view.h"

namespace geostorm::core {

// The minimum directed cut capacity, in bytes/s, over the view's resources.
double MinCutBytesPerSecond(const NetworkView& view);

// T_min in seconds for the view's model size.
//   double t = TMinSeconds(view);  // e.g. 1.333 s for 100 MB over a 600 Mbit/s cut
double TMinSeconds(const NetworkView& view);

// T_agg in seconds (see above).
double AggregationBoundSeconds(const NetworkView& view);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_LOWER_BOUND_H_
