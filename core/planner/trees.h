// Tree building blocks shared by the planners. Pure functions, thread-safe.
#ifndef GEOSTORM_CORE_PLANNER_TREES_H_
#define GEOSTORM_CORE_PLANNER_TREES_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "core/network_view.h"
#include "core/policy/policy.h"

namespace geostorm::core {

// Cost of sending on overlay link index `link` (an index into view.links()).
using LinkCost = std::function<double(int link)>;

// Seconds per byte on a link alone: 1 / B.
LinkCost InverseRate(const NetworkView& view);

// How MinCostTree finds a minimum-cost arborescence. Contraction (Chu-Liu/Edmonds,
// recursing on a copy of the arcs) costs O(E V) and is what planned every WAN the
// live benchmarks ran on; heaps (Tarjan's O(E log V)) take a 256-DC mesh's 65,280
// links in milliseconds. They may break ties between equal-cost trees apart, which
// can change a plan, so kAuto keeps contraction up to kMaxDcsForContraction DCs.
enum class ArborescenceMethod { kAuto, kContraction, kHeaps };
constexpr int kMaxDcsForContraction = 32;

// The minimum-cost spanning tree with all edges pointing towards (`phase` ==
// kReduce) or away from (kBroadcast) `root`. Every edge of a tree carries the whole
// shard once (chunks are summed or copied at each DC), so the cost of a tree is the
// sum of its edge costs. Returns a parent array, or an empty vector when some DC
// cannot be connected.
std::vector<int> MinCostTree(const NetworkView& view, int root, Phase phase, const LinkCost& cost,
                             ArborescenceMethod method = ArborescenceMethod::kAuto);

// Shortest-path tree towards (kReduce) or away from (kBroadcast) `root`.
// Returns parents, or empty when some DC cannot be connected.
std::vector<int> ShortestPathTree(const NetworkView& view, int root, Phase phase, const LinkCost& cost);

// The same tree with every edge reversed, when the view has all reverse links; used
// to broadcast down the tree a shard was reduced up. Parents are unchanged: the
// array is the same, read the other way.
bool HasReverseLinks(const NetworkView& view, const std::vector<int>& parent, Phase phase);

// Depth of each DC (root = 0).
std::vector<int> Depths(const std::vector<int>& parent);

// Splits `total` chunks in proportion to `shares` (largest remainder). Entries may
// get 0 chunks.
std::vector<int64_t> SplitChunks(const std::vector<double>& shares, int64_t total);

// Appends one shard per entry with a positive count, in order, for consecutive chunks.
void AppendShards(Policy& policy, const std::vector<int64_t>& counts, const std::vector<int>& roots,
                  const std::vector<std::vector<int>>& reduce, const std::vector<std::vector<int>>& broadcast);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_TREES_H_
