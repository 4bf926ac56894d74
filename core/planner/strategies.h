// The strategies behind MakePlanner(). Internal to core/planner; use MakePlanner().
#ifndef GEOSTORM_CORE_PLANNER_STRATEGIES_H_
#define GEOSTORM_CORE_PLANNER_STRATEGIES_H_

#include <memory>

#include "core/planner/planner.h"

namespace geostorm::core {

std::unique_ptr<Planner> MakeStarPlanner();
std::unique_ptr<Planner> MakeShardedPsPlanner();
std::unique_ptr<Planner> MakeRingPlanner();
std::unique_ptr<Planner> MakeMlnetPlanner();
std::unique_ptr<Planner> MakeTsenginePlanner();
std::unique_ptr<Planner> MakeFaptPlanner();         // netstorm-paper
std::unique_ptr<Planner> MakeTreePackingPlanner();  // netstorm

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_STRATEGIES_H_
