// Fluid load model: how many bytes a policy puts on each resource (physical link),
// and the time that implies if every resource streamed at full rate for the
// whole iteration. Planners use it to compare candidates cheaply; the simulator
// gives the real prediction. Pure functions, thread-safe.
#ifndef GEOSTORM_CORE_PLANNER_LINK_LOAD_H_
#define GEOSTORM_CORE_PLANNER_LINK_LOAD_H_

#include <vector>

#include "core/network_view.h"
#include "core/policy/policy.h"

namespace geostorm::core {

struct ResourceLoads {
  std::vector<double> reduce;     // bytes per resource during the reduce phase
  std::vector<double> broadcast;  // bytes per resource during the broadcast phase
};

ResourceLoads LoadsOf(const NetworkView& view, const Policy& policy);

// Lower estimate of the iteration time: the busiest resource's bytes over its rate.
// With a phase barrier the two phases cannot overlap, so their times add up.
double FluidSeconds(const NetworkView& view, const Policy& policy);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_LINK_LOAD_H_
